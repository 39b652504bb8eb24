package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/medchain/medchain/node"
)

// The setup the CLI tests share: build the binary, start a development
// node from it on free ports, wait for its API, run commands against it.

// cli runs the medchain binary built for this test.
type cli struct {
	t   *testing.T
	bin string
	env []string
}

func (c *cli) run(args ...string) (stdout string, err error) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%v: %s", err, errb.String())
	}
	return out.String(), nil
}

func (c *cli) json(v any, args ...string) {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("medchain %s: %v", strings.Join(args, " "), err)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("medchain %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// devNodePorts returns API, RPC and P2P addresses on 127.0.0.1 that are
// free now. They come from the testnet port range (below the kernel's
// ephemeral range, node.FreeTestnetBasePort), not from port 0: a port the
// kernel hands out for a listener and the test closes again can be taken
// as the local port of an outgoing connection before the node binds it,
// and the suite runs many packages' connections at once.
func devNodePorts(t *testing.T) (api, rpc, p2p string) {
	t.Helper()
	base, err := node.FreeTestnetBasePort(rand.IntN, 1)
	if err != nil {
		t.Fatal(err)
	}
	p2pPort, rpcPort, apiPort, _ := node.TestnetPorts(base, 0)
	addr := func(p int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)) }
	return addr(apiPort), addr(rpcPort), addr(p2pPort)
}

// devNode is the medchain binary built for one test, in a temporary
// directory that is also its HOME, and the home, ports and API URL of the
// development node it runs.
type devNode struct {
	*cli
	dir, home     string
	api, rpc, p2p string   // listen addresses
	url           string   // the API's base URL
	at            []string // --home and --node, for commands against the node
}

// newDevNode builds the binary and picks the node's ports; start runs it.
func newDevNode(t *testing.T) *devNode {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "medchain")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	d := &devNode{
		cli:  &cli{t: t, bin: bin, env: append(os.Environ(), "MEDCHAIN_PASSPHRASE=x", "HOME="+dir)},
		dir:  dir,
		home: filepath.Join(dir, "home"),
	}
	d.api, d.rpc, d.p2p = devNodePorts(t)
	d.url = "http://" + d.api
	d.at = []string{"--home", d.home, "--node", d.url}
	return d
}

// start runs "medchain start" with its output in logPath and waits (at
// most startTimeout) until GET readyPath on the API answers 200; what names
// that API in the failure. A node that exits or does not come up fails the
// test with the end of its log (a development chain's: no PHI).
func (d *devNode) start(logPath, readyPath, what string) *nodeProc {
	t := d.t
	t.Helper()
	cmd := exec.Command(d.bin, "start", "--home", d.home, "--api-addr", d.api, "--rpc-addr", d.rpc, "--p2p-addr", d.p2p, "--comet-metrics=false")
	cmd.Env = d.env
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the node has its own handle
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &nodeProc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	hc := &http.Client{Timeout: 5 * time.Second}
	for {
		select {
		case <-p.done:
			t.Fatalf("%s: the node exited before it came up (%v); end of its log:\n%s", what, p.err, logTail(logPath, 40))
		case <-deadline.C:
			p.kill()
			t.Fatalf("%s did not come up within %v; end of the node's log:\n%s", what, startTimeout, logTail(logPath, 40))
		case <-poll.C:
			if resp, err := hc.Get(d.url + readyPath); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return p
				}
			}
		}
	}
}

// startForTest is start with the log in dir/node.log and the node stopped
// (nodeProc.stop) when the test ends.
func (d *devNode) startForTest(readyPath, what string) {
	d.t.Helper()
	p := d.start(filepath.Join(d.dir, "node.log"), readyPath, what)
	d.t.Cleanup(func() { _ = p.stop() })
}

// startTimeout bounds how long start waits for a node's API. A fresh
// development node answers in about a second on an idle machine; the
// bound is for a CI machine running every package's nodes at once.
const startTimeout = 90 * time.Second

// nodeProc is a node process that start launched and one goroutine waits
// on; done is closed when it has exited, with err its exit error.
type nodeProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// exited reports whether the process has exited.
func (p *nodeProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill kills the process (if still running) and waits for it to exit.
func (p *nodeProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// errStopTimeout is stop's answer for a node that outlived its 30 s.
var errStopTimeout = errors.New("node did not stop within 30s of SIGINT")

// stop sends the node SIGINT and waits (at most 30 s, then kills it) for
// it to exit; it returns the exit error or errStopTimeout.
func (p *nodeProc) stop() error {
	if p.exited() {
		return p.err
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
		return p.err
	case <-time.After(30 * time.Second):
		p.kill()
		return errStopTimeout
	}
}

// logTail returns the last n lines of the file at path, or why it could
// not be read.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runAt runs medchain with args and the node's --home and --node, failing
// the test when it fails, and returns its output.
func (d *devNode) runAt(args ...string) string {
	d.t.Helper()
	out, err := d.run(append(args, d.at...)...)
	if err != nil {
		d.t.Fatalf("medchain %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// jsonAt runs medchain with args, the node's --home and --node and -o
// json, and decodes its output into v.
func (d *devNode) jsonAt(v any, args ...string) {
	d.t.Helper()
	d.json(v, append(append(args, d.at...), "-o", "json")...)
}
