package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/testnet/harness"
)

type cliStatus struct {
	ChainID string `json:"chain_id"`
	Nodes   []struct {
		Name    string `json:"name"`
		Height  int64  `json:"height"`
		AppHash string `json:"app_hash"`
		Error   string `json:"error"`
	} `json:"nodes"`
}

// TestCLITestnet drives the medchain binary the way an operator does:
// "testnet init" writes the homes and testnet.json, "testnet start" runs
// every node as its own process, "testnet status -o json" shows them in
// agreement, SIGTERM to "testnet start" stops every node cleanly (exit
// status 0, PID files removed), and "start --home D/node1" runs one node
// alone, which also stops cleanly on SIGTERM.
func TestCLITestnet(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: runs node processes")
	}
	bin := harness.Binary(t)
	dir := t.TempDir()
	base, err := harness.FreeBasePort(4)
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "MEDCHAIN_PASSPHRASE=cli-test", "GOMAXPROCS=1")
	medchain := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if err != nil {
			return out.String(), &exec.ExitError{ProcessState: cmd.ProcessState, Stderr: errb.Bytes()}
		}
		return out.String(), nil
	}
	if out, err := medchain("testnet", "init", "--validators", "4", "--dir", dir, "--base-port", strconv.Itoa(base)); err != nil {
		t.Fatalf("testnet init: %v\n%s", err, out)
	}
	mf, err := node.LoadTestnet(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range mf.Nodes {
		p2p, rpc, api, metrics := node.TestnetPorts(base, i)
		if n.P2PAddr != "127.0.0.1:"+strconv.Itoa(p2p) || n.RPCAddr != "127.0.0.1:"+strconv.Itoa(rpc) ||
			n.APIURL != "http://127.0.0.1:"+strconv.Itoa(api) || n.MetricsAddr != "127.0.0.1:"+strconv.Itoa(metrics) {
			t.Errorf("node %d addresses: %+v", i, n)
		}
		if n.OrgID != "org"+strconv.Itoa(i) || n.AdminDID == "" || n.NodeID == "" || n.ValidatorPubKey == "" {
			t.Errorf("node %d identity: %+v", i, n)
		}
	}
	if _, err := medchain("testnet", "init", "--validators", "4", "--dir", dir); err == nil {
		t.Error("a second testnet init into the same directory succeeded")
	}

	start := exec.Command(bin, "testnet", "start", "--dir", dir)
	start.Env = env
	var startOut bytes.Buffer
	start.Stdout, start.Stderr = &startOut, &startOut
	if err := start.Start(); err != nil {
		t.Fatal(err)
	}
	startDone := make(chan error, 1)
	go func() { startDone <- start.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = start.Process.Signal(syscall.SIGTERM)
			select {
			case <-startDone:
			case <-time.After(30 * time.Second):
				_ = start.Process.Kill()
			}
		}
	}()

	var st cliStatus
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := medchain("testnet", "status", "--dir", dir, "-o", "json")
		st = cliStatus{}
		if err == nil && json.Unmarshal([]byte(out), &st) == nil && agreeAbove(st, 3) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("testnet status never showed 4 nodes in agreement above height 3: %s\nstart output:\n%s", out, startOut.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("testnet status: %+v", st.Nodes)

	// Ctrl-C (SIGTERM here) stops every node cleanly.
	_ = start.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-startDone:
		stopped = true
		if err != nil {
			t.Errorf("testnet start exited with %v\n%s", err, startOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("testnet start did not stop within 30s of SIGTERM\n%s", startOut.String())
	}
	for _, n := range mf.Nodes {
		log, _ := os.ReadFile(filepath.Join(n.Home, "node.log"))
		if !strings.Contains(string(log), "(exit status 0) ===") {
			t.Errorf("%s did not exit with status 0; end of its log:\n%s", n.Name, tail(string(log), 5))
		}
		if _, err := os.Stat(node.PIDFile(n.Home)); err == nil {
			t.Errorf("%s left its PID file behind", n.Name)
		}
	}
	out, _ := medchain("testnet", "status", "--dir", dir, "-o", "json")
	st = cliStatus{}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if n.Error == "" {
			t.Errorf("%s still answers after the testnet stopped", n.Name)
		}
	}

	// One node alone, restarted from its home; SIGTERM stops it cleanly.
	one := exec.Command(bin, "start", "--home", mf.Nodes[1].Home)
	one.Env = env
	var oneOut bytes.Buffer
	one.Stdout, one.Stderr = &oneOut, &oneOut
	if err := one.Start(); err != nil {
		t.Fatal(err)
	}
	oneDone := make(chan error, 1)
	go func() { oneDone <- one.Wait() }()
	deadline = time.Now().Add(30 * time.Second)
	for {
		out, err := medchain("testnet", "status", "--dir", dir, "-o", "json")
		st = cliStatus{}
		if err == nil && json.Unmarshal([]byte(out), &st) == nil && len(st.Nodes) == 4 && st.Nodes[1].Error == "" && st.Nodes[1].Height > 3 {
			break
		}
		if time.Now().After(deadline) {
			_ = one.Process.Kill()
			<-oneDone
			t.Fatalf("node1 alone did not serve its state: %s\n%s", out, oneOut.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
	if pid, _ := os.ReadFile(node.PIDFile(mf.Nodes[1].Home)); strings.TrimSpace(string(pid)) != strconv.Itoa(one.Process.Pid) {
		t.Errorf("PID file says %q, the process is %d", pid, one.Process.Pid)
	}
	_ = one.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-oneDone:
		if err != nil {
			t.Errorf("medchain start exited with %v after SIGTERM\n%s", err, tail(oneOut.String(), 5))
		}
	case <-time.After(30 * time.Second):
		_ = one.Process.Kill()
		<-oneDone
		t.Fatal("medchain start did not stop within 30s of SIGTERM")
	}
}

// agreeAbove reports whether all 4 nodes answer above height h, with the
// same app hash wherever they are at the same height.
func agreeAbove(st cliStatus, h int64) bool {
	if len(st.Nodes) != 4 {
		return false
	}
	byHeight := map[int64]string{}
	for _, n := range st.Nodes {
		if n.Error != "" || n.Height <= h {
			return false
		}
		if a, ok := byHeight[n.Height]; ok && a != n.AppHash {
			return false
		}
		byHeight[n.Height] = n.AppHash
	}
	return true
}

func tail(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}
