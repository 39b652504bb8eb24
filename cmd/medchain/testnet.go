package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/node"
)

func newTestnetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "testnet",
		Short: "Create and run a local multi-validator network (one process per node)",
		Long: "A testnet is a directory D with one node home per validator (D/node0 ... D/node(N-1)), each run\n" +
			"by its own founding organization, and D/testnet.json listing every node's addresses.\n\n" +
			"  medchain testnet init --validators 4 --dir D   create it\n" +
			"  medchain testnet start --dir D                 run every node as a process (Ctrl-C stops all)\n" +
			"  medchain testnet status --dir D -o json        height and app hash of every node\n" +
			"  medchain start --home D/node2                  run (or restart) one node alone",
	}
	cmd.AddCommand(newTestnetInitCmd(g), newTestnetStartCmd(g), newTestnetStatusCmd(g))
	return cmd
}

func newTestnetInitCmd(g *globals) *cobra.Command {
	var o node.TestnetOptions
	var dir string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write N validator homes, one shared genesis and D/testnet.json",
		Long: "Write N validator homes D/node0 ... D/node(N-1). Node K is run by organization orgK\n" +
			"(\"Organization K\", types alternating hospital, clinic, laboratory, pharmacy) whose admin key\n" +
			"\"admin\" is created in D/nodeK/keyring, encrypted with MEDCHAIN_PASSPHRASE (or a passphrase\n" +
			"you are asked for once). Every validator has power 10. Node K listens on 127.0.0.1 ports\n" +
			"BASE+10K (P2P), +1 (CometBFT RPC), +2 (REST API) and +3 (metrics), and dials every other node\n" +
			"as a persistent peer.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("--dir is required")
			}
			tn, err := node.InitTestnet(dir, o)
			if err != nil {
				return err
			}
			return g.print(tn, func(w io.Writer) {
				abs, _ := filepath.Abs(dir)
				fmt.Fprintf(w, "initialised a %d-validator testnet in %s (chain id %s)\n", len(tn.Nodes), abs, tn.ChainID)
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NODE\tORG\tAPI\tRPC\tP2P\tADMIN DID")
				for _, n := range tn.Nodes {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.OrgID, n.APIURL, n.RPCAddr, n.P2PAddr, n.AdminDID)
				}
				tw.Flush()
				fmt.Fprintf(w, "start it with: medchain testnet start --dir %s\n", dir)
			})
		},
	}
	cmd.Flags().IntVar(&o.Validators, "validators", 4, "number of validators (one node and one founding organization each)")
	cmd.Flags().StringVar(&dir, "dir", "", "testnet directory (required)")
	cmd.Flags().StringVar(&o.ChainID, "chain-id", node.DefaultTestnetChainID, "chain id")
	cmd.Flags().IntVar(&o.BasePort, "base-port", node.DefaultTestnetBasePort, "first port; node K uses BASE+10K .. BASE+10K+3")
	return cmd
}

// testnetChild is one node process started by "testnet start".
type testnetChild struct {
	node node.TestnetNode
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed once Wait returned
	err  error         // Wait's result, valid after done
}

func (c *testnetChild) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// runningPID returns the PID recorded in home's PID file if that process
// still exists and is a medchain process, else 0. It only reads /proc.
func runningPID(home string) int {
	bz, err := os.ReadFile(node.PIDFile(home))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(bz)))
	if err != nil || pid <= 0 {
		return 0
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || !strings.Contains(string(cmdline), "medchain") {
		return 0
	}
	return pid
}

func newTestnetStartCmd(g *globals) *cobra.Command {
	var dir string
	var stopTimeout time.Duration
	var gomaxprocs int
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run every node of the testnet in D as a separate process until Ctrl-C",
		Long: "Run every node of the testnet in D as a separate process (this binary's \"start --home D/nodeK\"),\n" +
			"each logging to D/nodeK/node.log. On Ctrl-C (SIGINT) or SIGTERM every node gets SIGTERM; nodes\n" +
			"still running after --stop-timeout get SIGKILL. A node that exits on its own is reported and\n" +
			"the others keep running; restart it alone with \"medchain start --home D/nodeK\".",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("--dir is required")
			}
			return testnetStart(cmd.Context(), g, dir, stopTimeout, gomaxprocs)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "testnet directory (required)")
	cmd.Flags().DurationVar(&stopTimeout, "stop-timeout", 15*time.Second, "how long nodes may take to stop after SIGTERM before they get SIGKILL")
	cmd.Flags().IntVar(&gomaxprocs, "gomaxprocs", 0, "GOMAXPROCS of every node process (0: inherit)")
	return cmd
}

func testnetStart(ctx context.Context, g *globals, dir string, stopTimeout time.Duration, gomaxprocs int) error {
	tn, err := node.LoadTestnet(dir)
	if err != nil {
		return err
	}
	for _, n := range tn.Nodes {
		if pid := runningPID(n.Home); pid != 0 {
			return fmt.Errorf("%s is already running (pid %d, %s); stop it first", n.Name, pid, node.PIDFile(n.Home))
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the medchain binary: %w", err)
	}
	env := os.Environ()
	if gomaxprocs > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(gomaxprocs))
	}
	// Nodes whose keyring holds a vault key unlock it at start; they have
	// no terminal to ask on, so the passphrase is asked here once (unless
	// MEDCHAIN_PASSPHRASE is set), checked, and handed to them in their
	// environment.
	if pass, err := testnetPassphrase(tn); err != nil {
		return err
	} else if pass != nil {
		env = append(env, keyring.PassphraseEnv+"="+string(pass))
	}
	var children []*testnetChild
	exitc := make(chan *testnetChild, len(tn.Nodes))
	defer func() { stopChildren(g, children, stopTimeout) }()
	for _, n := range tn.Nodes {
		lf, err := os.OpenFile(filepath.Join(n.Home, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		fmt.Fprintf(lf, "=== medchain testnet start: %s at %s ===\n", n.Name, time.Now().UTC().Format(time.RFC3339Nano))
		c := exec.Command(exe, "start", "--home", n.Home)
		c.Stdout, c.Stderr, c.Env = lf, lf, env
		c.SysProcAttr = childProcAttr(syscall.SIGTERM)
		if err := c.Start(); err != nil {
			lf.Close()
			return fmt.Errorf("start %s: %w", n.Name, err)
		}
		ch := &testnetChild{node: n, cmd: c, log: lf, done: make(chan struct{})}
		children = append(children, ch)
		go func() {
			ch.err = c.Wait()
			close(ch.done)
			exitc <- ch
		}()
	}
	if g.output == "json" {
		var out []map[string]any
		for _, c := range children {
			out = append(out, map[string]any{"name": c.node.Name, "pid": c.cmd.Process.Pid, "api_url": c.node.APIURL, "log": c.log.Name()})
		}
		_ = g.print(map[string]any{"chain_id": tn.ChainID, "nodes": out}, nil)
	} else {
		tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tPID\tAPI\tLOG")
		for _, c := range children {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", c.node.Name, c.cmd.Process.Pid, c.node.APIURL, c.log.Name())
		}
		tw.Flush()
		fmt.Fprintf(g.stdout, "testnet %s running; Ctrl-C stops every node\n", tn.ChainID)
	}
	left := len(children)
	for left > 0 {
		select {
		case <-ctx.Done():
			fmt.Fprintln(g.stderr, "stopping the testnet ...")
			return nil // the deferred stopChildren stops them
		case c := <-exitc:
			left--
			fmt.Fprintf(g.stderr, "%s exited (%v); see %s; restart it with: medchain start --home %s\n",
				c.node.Name, exitText(c.err), c.log.Name(), c.node.Home)
		}
	}
	return errors.New("every node has exited")
}

// testnetPassphrase returns the keyring passphrase when some node has a
// vault key (nil otherwise), checked by unlocking that key.
func testnetPassphrase(tn *node.Testnet) ([]byte, error) {
	ask := keyring.EnvOrPrompt()
	var pass []byte
	capture := func(confirm bool) ([]byte, error) {
		p, err := ask(confirm)
		if err == nil {
			pass = slices.Clone(p)
		}
		return p, err
	}
	for _, n := range tn.Nodes {
		kr, err := keyring.Open(node.KeyringDir(n.Home), capture)
		if err != nil {
			return nil, err
		}
		if _, err := kr.Info(node.VaultKey); err != nil {
			continue
		}
		if _, err := kr.Get(node.VaultKey); err != nil {
			return nil, fmt.Errorf("%s: unlock its vault key: %w", n.Name, err)
		}
		return pass, nil
	}
	return nil, nil
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// stopChildren sends SIGTERM to every child still running, waits up to
// timeout, then SIGKILLs the rest and waits for them (bounded).
func stopChildren(g *globals, children []*testnetChild, timeout time.Duration) {
	for _, c := range children {
		if !c.exited() {
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(timeout)
	var wg sync.WaitGroup
	for _, c := range children {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-c.done:
			case <-deadline:
			}
		}()
	}
	wg.Wait()
	for _, c := range children {
		if !c.exited() {
			fmt.Fprintf(g.stderr, "%s did not stop within %s; sending SIGKILL\n", c.node.Name, timeout)
			_ = c.cmd.Process.Kill()
			select {
			case <-c.done:
			case <-time.After(5 * time.Second):
				fmt.Fprintf(g.stderr, "%s (pid %d) did not exit after SIGKILL\n", c.node.Name, c.cmd.Process.Pid)
			}
		}
		fmt.Fprintf(c.log, "=== medchain testnet stop: %s at %s (%s) ===\n", c.node.Name, time.Now().UTC().Format(time.RFC3339Nano), exitState(c))
		c.log.Close()
	}
}

func exitState(c *testnetChild) string {
	if !c.exited() {
		return "still running"
	}
	return exitText(c.err)
}

// testnetNodeStatus is one row of "testnet status".
type testnetNodeStatus struct {
	Name       string `json:"name"`
	APIURL     string `json:"api_url"`
	PID        int    `json:"pid,omitempty"`
	Height     int64  `json:"height"`
	AppHash    string `json:"app_hash,omitempty"`
	BlockHash  string `json:"block_hash,omitempty"`
	CatchingUp bool   `json:"catching_up"`
	Error      string `json:"error,omitempty"`
}

func newTestnetStatusCmd(g *globals) *cobra.Command {
	var dir string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every node's height and app hash (or why it cannot be reached)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("--dir is required")
			}
			tn, err := node.LoadTestnet(dir)
			if err != nil {
				return err
			}
			rows := make([]testnetNodeStatus, len(tn.Nodes))
			var wg sync.WaitGroup
			for i, n := range tn.Nodes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rows[i] = nodeStatus(cmd.Context(), n, timeout)
				}()
			}
			wg.Wait()
			out := map[string]any{"chain_id": tn.ChainID, "nodes": rows}
			return g.print(out, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NODE\tHEIGHT\tAPP HASH\tAPI\tSTATUS")
				for _, r := range rows {
					st := "ok"
					if r.CatchingUp {
						st = "catching up"
					}
					if r.Error != "" {
						st = r.Error
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", r.Name, r.Height, r.AppHash, r.APIURL, st)
				}
				tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "testnet directory (required)")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for each node")
	return cmd
}

func nodeStatus(ctx context.Context, n node.TestnetNode, timeout time.Duration) testnetNodeStatus {
	row := testnetNodeStatus{Name: n.Name, APIURL: n.APIURL, PID: runningPID(n.Home)}
	c, err := client.New(n.APIURL)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		row.Error = "unreachable: " + err.Error()
		if errors.Is(err, client.ErrUnreachable) && row.PID == 0 {
			row.Error = "not running"
		}
		return row
	}
	row.Height, row.AppHash, row.BlockHash, row.CatchingUp = st.Height, st.AppHash, st.BlockHash, st.CatchingUp
	return row
}
