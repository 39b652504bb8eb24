package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
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
	d.api, d.rpc, d.p2p = freePort(t), freePort(t), freePort(t)
	d.url = "http://" + d.api
	d.at = []string{"--home", d.home, "--node", d.url}
	return d
}

// start runs "medchain start" with its output in logPath and waits (at
// most 60 s) until GET readyPath on the API answers 200; what names that
// API in the failure.
func (d *devNode) start(logPath, readyPath, what string) *exec.Cmd {
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
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(d.url + readyPath); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	t.Fatalf("%s did not come up within 60s", what)
	return nil
}

// startForTest is start with the log in dir/node.log and the node stopped
// (stopNode) when the test ends.
func (d *devNode) startForTest(readyPath, what string) {
	d.t.Helper()
	cmd := d.start(filepath.Join(d.dir, "node.log"), readyPath, what)
	d.t.Cleanup(func() { _ = stopNode(cmd) })
}

// errStopTimeout is stopNode's answer for a node that outlived its 30 s.
var errStopTimeout = errors.New("node did not stop within 30s of SIGINT")

// stopNode sends the node SIGINT and waits (at most 30 s, then kills it)
// for it to exit; it returns the exit error or errStopTimeout.
func stopNode(cmd *exec.Cmd) error {
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return errStopTimeout
	}
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
