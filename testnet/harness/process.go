package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/node"
)

// Node is one node of a testnet and the process the harness runs it in.
type Node struct {
	Index  int              // position in the testnet (node<Index>)
	Info   node.TestnetNode // its testnet.json entry: home, addresses, keys, organization
	Client *client.Client   // SDK client of its REST API
	// Env is added to the environment of the node's next starts (after
	// Options.Env), e.g. a test-only hook for one run; clear it to start
	// without.
	Env []string

	tn     *Testnet
	mu     sync.Mutex
	proc   *process
	paused bool
	starts int
}

// process is one run of "medchain start". Only the harness signals it,
// through cmd.Process, and never after Wait has returned.
type process struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error // Wait's result, valid once done is closed
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// LogPath is the node's log file (every run appends to it).
func (n *Node) LogPath() string { return filepath.Join(n.Info.Home, "node.log") }

// Log returns the node's whole log.
func (n *Node) Log() string {
	bz, _ := os.ReadFile(n.LogPath())
	return string(bz)
}

// LogTail returns the last lines of the node's log.
func (n *Node) LogTail(lines int) string {
	bz, _ := os.ReadFile(n.LogPath())
	ls := bytes.Split(bytes.TrimRight(bz, "\n"), []byte("\n"))
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return string(bytes.Join(ls, []byte("\n")))
}

func (n *Node) current() *process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// Running reports whether the node's process is alive (possibly paused).
func (n *Node) Running() bool {
	p := n.current()
	return p != nil && !p.exited()
}

// Up reports whether the node is running and not paused.
func (n *Node) Up() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil && !n.proc.exited() && !n.paused
}

// PID returns the PID of the node's current process, 0 if none runs.
func (n *Node) PID() int {
	p := n.current()
	if p == nil || p.exited() {
		return 0
	}
	return p.cmd.Process.Pid
}

// Exited returns a channel closed when the current process exits, and a
// function returning its exit error then (nil for status 0). With no
// process it returns a closed channel.
func (n *Node) Exited() (<-chan struct{}, func() error) {
	p := n.current()
	if p == nil {
		c := make(chan struct{})
		close(c)
		return c, func() error { return nil }
	}
	return p.done, func() error { return p.err }
}

// Start runs the node's process: "medchain start --home <home>" with
// GOMAXPROCS=1, appending to node.log. It does not wait for the node to
// serve (see WaitServing).
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil && !n.proc.exited() {
		return fmt.Errorf("%s is already running (pid %d)", n.Info.Name, n.proc.cmd.Process.Pid)
	}
	lf, err := os.OpenFile(n.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	n.starts++
	fmt.Fprintf(lf, "=== harness: start %s (run %d) at %s ===\n", n.Info.Name, n.starts, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(n.tn.bin, "start", "--home", n.Info.Home, "--log-level", n.tn.opts.LogLevel)
	cmd.Stdout, cmd.Stderr = lf, lf
	// The passphrase unlocks the node's vault key at start.
	cmd.Env = append(append(os.Environ(), "GOMAXPROCS=1", keyring.PassphraseEnv+"="+Passphrase), n.tn.opts.Env...)
	cmd.Env = append(cmd.Env, n.Env...)
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		lf.Close()
		return err
	}
	p := &process{cmd: cmd, log: lf, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		fmt.Fprintf(lf, "=== harness: %s (pid %d) exited: %s at %s ===\n", n.Info.Name, cmd.Process.Pid, exitText(p.err), time.Now().UTC().Format(time.RFC3339Nano))
		lf.Close()
		close(p.done)
	}()
	n.proc, n.paused = p, false
	return nil
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// ExitCode returns the exit code of the last process (-1 if killed by a
// signal or still running, 0 if none ran).
func (n *Node) ExitCode() int {
	p := n.current()
	if p == nil {
		return 0
	}
	if !p.exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// WaitServing waits until the node answers GET /v1/status, failing early
// (with the end of its log) if its process exits.
func (n *Node) WaitServing(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	done, exitErr := n.Exited()
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("%s exited (%s) before serving; end of %s:\n%s", n.Info.Name, exitText(exitErr()), n.LogPath(), n.LogTail(15))
		default:
		}
		ctx, cancel := ctxFor(2 * time.Second)
		_, err := n.Client.Status(ctx)
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not serve /v1/status within %s; end of %s:\n%s", n.Info.Name, timeout, n.LogPath(), n.LogTail(15))
}

// signal sends sig to the running process; it never signals a process
// that has exited (its PID may have been reused).
func (n *Node) signal(sig syscall.Signal) error {
	p := n.current()
	if p == nil || p.exited() {
		return fmt.Errorf("%s is not running", n.Info.Name)
	}
	return p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL and waits (up to 10 s) until the process is gone.
func (n *Node) Kill() error {
	p := n.current()
	if p == nil || p.exited() {
		return fmt.Errorf("%s is not running", n.Info.Name)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !p.exited() {
		return err
	}
	select {
	case <-p.done:
		n.mu.Lock()
		n.paused = false
		n.mu.Unlock()
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) still running 10s after SIGKILL", n.Info.Name, p.cmd.Process.Pid)
	}
}

// Stop sends SIGTERM (after SIGCONT if paused), waits up to timeout, then
// SIGKILLs. Stopping a node that is not running does nothing.
func (n *Node) Stop(timeout time.Duration) error { return n.stop(timeout) }

func (n *Node) stop(timeout time.Duration) error {
	p := n.current()
	if p == nil || p.exited() {
		return nil
	}
	n.mu.Lock()
	wasPaused := n.paused
	n.paused = false
	n.mu.Unlock()
	if wasPaused {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
		return fmt.Errorf("%s did not stop within %s of SIGTERM; killed", n.Info.Name, timeout)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) still running 10s after SIGKILL", n.Info.Name, p.cmd.Process.Pid)
	}
}

// Pause freezes the process (SIGSTOP).
func (n *Node) Pause() error {
	if err := n.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	n.mu.Lock()
	n.paused = true
	n.mu.Unlock()
	return nil
}

// Resume continues a paused process (SIGCONT).
func (n *Node) Resume() error {
	if err := n.signal(syscall.SIGCONT); err != nil {
		return err
	}
	n.mu.Lock()
	n.paused = false
	n.mu.Unlock()
	return nil
}

// Status returns the node's /v1/status.
func (n *Node) Status(ctx context.Context) (*types.Status, error) { return n.Client.Status(ctx) }

// Height returns the node's latest committed height (bounded by 3 s).
func (n *Node) Height() (int64, error) {
	ctx, cancel := ctxFor(3 * time.Second)
	defer cancel()
	st, err := n.Client.Status(ctx)
	if err != nil {
		return 0, err
	}
	return st.Height, nil
}

// ErrNotServing is returned by waits on nodes that do not answer.
var ErrNotServing = errors.New("node not serving")

// DataDir is the node's CometBFT data directory.
func (n *Node) DataDir() string { return filepath.Join(n.Info.Home, "data") }

// LogContains reports whether the node's log contains s (case-insensitive).
func (n *Node) LogContains(s string) bool {
	return strings.Contains(strings.ToLower(n.Log()), strings.ToLower(s))
}

// RunLog returns the part of the node's log written by its latest run.
func (n *Node) RunLog() string {
	log := n.Log()
	if k := strings.LastIndex(log, "=== harness: start "); k >= 0 {
		return log[k:]
	}
	return log
}

// WaitCaughtUp waits until the node serves a height of at least h and no
// longer reports catching_up (it left block sync for consensus).
func (n *Node) WaitCaughtUp(h int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last *types.Status
	for time.Now().Before(deadline) {
		ctx, cancel := ctxFor(3 * time.Second)
		st, err := n.Client.Status(ctx)
		cancel()
		if err == nil {
			last = st
			if st.Height >= h && !st.CatchingUp {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if last == nil {
		return fmt.Errorf("%s did not answer within %s", n.Info.Name, timeout)
	}
	return fmt.Errorf("%s at height %d (catching up: %v) after %s, want %d", n.Info.Name, last.Height, last.CatchingUp, timeout, h)
}
