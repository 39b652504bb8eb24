package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	cmtcfg "github.com/cometbft/cometbft/config"
	cmtflags "github.com/cometbft/cometbft/libs/cli/flags"
	"github.com/cometbft/cometbft/libs/log"
	nm "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/spf13/cobra"

	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/node"
)

// benchOptions are the flags of "medchain bench".
type benchOptions struct {
	app        string
	validators int
	duration   time.Duration
	warmup     time.Duration
	rate       float64
	txSize     int
	keep       string
	inflight   int
	workers    int
	signers    int
	presign    int
	basePort   int
	logLevel   string
	pprof      bool
	cpuProfile string
	selfProf   string
	client     string
	progress   time.Duration
	// stateBackend is the medchain nodes' node.Settings.StateBackend.
	stateBackend string
	// indexEvents is the medchain nodes' node.Settings.IndexEvents as
	// --index-events gives it: "" (the default), "none" or a comma list.
	indexEvents string
}

const (
	benchAppMedchain = "medchain"
	benchAppKVStore  = "kvstore"
	benchChainID     = "medchain-bench"
	benchPassphrase  = "medchain-bench-passphrase"
)

// newBenchCmd returns "medchain bench": start a fresh local network of
// medchain or CometBFT kvstore nodes, drive load and report throughput,
// latency, CPU per transaction and peak memory.
func newBenchCmd(g *globals) *cobra.Command {
	o := benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark a fresh local network of medchain (or CometBFT kvstore) nodes",
		Long: "Start a fresh network of --validators node processes on 127.0.0.1 (in a temporary directory,\n" +
			"or --keep DIR), drive load through CometBFT RPC broadcast_tx_sync to the nodes round-robin,\n" +
			"and report committed tx/s, submit-to-commit latency (p50/p99), node CPU time per committed\n" +
			"tx (from /proc, summed over node processes) and peak RSS (max VmHWM over nodes).\n\n" +
			"--app medchain sends real signed transactions from many signers: identity registrations\n" +
			"(X25519 encryption keys), key rotations, and add/remove-member by the genesis organization\n" +
			"admins. --app kvstore runs CometBFT's example kvstore application in the same node\n" +
			"configuration with the same load shape, each transaction replaced by a \"key=value\" of its size.\n\n" +
			"--rate 0 (default) is a closed loop with at most --inflight uncommitted transactions; --rate N\n" +
			"offers N tx/s. The first --warmup of load is not measured; the window is --duration.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := runBench(cmd.Context(), g, o)
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) { res.writeText(w) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.app, "app", benchAppMedchain, "application: medchain or kvstore")
	f.IntVar(&o.validators, "validators", 1, "number of validator nodes (1 to 16)")
	f.DurationVar(&o.duration, "duration", 30*time.Second, "measured window")
	f.DurationVar(&o.warmup, "warmup", 5*time.Second, "load before the measured window (not measured)")
	f.Float64Var(&o.rate, "rate", 0, "offered load in tx/s (0: as fast as possible, closed loop bounded by --inflight)")
	f.IntVar(&o.txSize, "tx-size", 0, "kvstore transaction size in bytes (0: each the size of the medchain transaction it stands for)")
	f.StringVar(&o.keep, "keep", "", "create the network in DIR and keep it (homes, node logs) instead of a temporary directory")
	f.IntVar(&o.inflight, "inflight", 4000, "most submitted but not yet committed transactions at any time")
	f.IntVar(&o.workers, "workers", 64, "concurrent broadcast_tx_sync requests per node")
	f.IntVar(&o.signers, "signers", 4096, "medchain identities registered before the load that rotate keys and become members")
	f.IntVar(&o.presign, "presign", 0, "transactions to pre-sign (0: enough for the rate, or 9000 tx/s with 1 validator and 4500 with more, over warmup+duration)")
	f.IntVar(&o.basePort, "base-port", 0, "first port of the network (0: pick a free range)")
	f.StringVar(&o.logLevel, "log-level", "*:error", "node log filter (the same for both apps)")
	f.BoolVar(&o.pprof, "pprof", false, "serve pprof on every node (rpc.pprof_laddr = 127.0.0.1:BASE+10K+4)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of node0 over the measured window to this file (implies --pprof)")
	f.StringVar(&o.client, "client", "lean", "RPC client of the load generator: lean (JSON-RPC over HTTP with minimal decoding) or cometbft (rpc/client/http)")
	f.StringVar(&o.selfProf, "loadgen-cpuprofile", "", "write a CPU profile of this process (the load generator) to this file")
	_ = f.MarkHidden("loadgen-cpuprofile")
	f.DurationVar(&o.progress, "progress", 5*time.Second, "interval of progress lines on stderr")
	f.StringVar(&o.stateBackend, "state-backend", "", "medchain nodes' state backend: memtree (the default) or iavl (ADR 0015)")
	f.StringVar(&o.indexEvents, "index-events", "", "medchain nodes' index_events: empty for the default (tx.signer), none, or a comma-separated list such as '*' or 'tx.signer,tx.sequence' (ADR 0016)")
	return cmd
}

// newBenchNodeCmd returns the hidden "medchain bench-node": run one node of
// a bench network in --home, with the medchain application or CometBFT's
// kvstore example application, until SIGINT/SIGTERM.
func newBenchNodeCmd(g *globals) *cobra.Command {
	var appName, logLevel string
	cmd := &cobra.Command{
		Use:    "bench-node",
		Short:  "Run one node of a bench network (used by medchain bench)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch appName {
			case benchAppMedchain:
				return node.Run(cmd.Context(), g.home, node.RunOptions{LogLevel: logLevel})
			case benchAppKVStore:
				return runKVStoreNode(cmd.Context(), g.home, logLevel)
			}
			return fmt.Errorf("--app %q: use medchain or kvstore", appName)
		},
	}
	cmd.Flags().StringVar(&appName, "app", benchAppMedchain, "application: medchain or kvstore")
	cmd.Flags().StringVar(&logLevel, "log-level", "*:error", "CometBFT log filter")
	return cmd
}

// runKVStoreNode runs CometBFT with its example kvstore application
// in-process, configured from home exactly as a medchain node is (same
// config.toml, genesis, keys, local ABCI client), until ctx is cancelled.
func runKVStoreNode(ctx context.Context, home, logLevel string) error {
	conf, err := node.LoadCometConfig(home)
	if err != nil {
		return err
	}
	logger, err := cmtflags.ParseLogLevel(logLevel, log.NewTMLogger(log.NewSyncWriter(os.Stdout)), "info")
	if err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	application := kvstore.NewPersistentApplication(conf.DBDir())
	nodeKey, err := p2p.LoadNodeKey(conf.NodeKeyFile())
	if err != nil {
		return fmt.Errorf("load node key: %w", err)
	}
	pv := privval.LoadFilePV(conf.PrivValidatorKeyFile(), conf.PrivValidatorStateFile())
	cn, err := nm.NewNodeWithContext(ctx, conf, pv, nodeKey,
		proxy.NewConnSyncLocalClientCreator(application),
		nm.DefaultGenesisDocProviderFunc(conf), cmtcfg.DefaultDBProvider,
		nm.DefaultMetricsProvider(conf.Instrumentation), logger)
	if err != nil {
		return fmt.Errorf("create CometBFT node: %w", err)
	}
	if err := cn.Start(); err != nil {
		return fmt.Errorf("start CometBFT node: %w", err)
	}
	if err := os.WriteFile(node.PIDFile(home), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	defer os.Remove(node.PIDFile(home))
	<-ctx.Done()
	if cn.IsRunning() {
		_ = cn.Stop()
		cn.Wait()
	}
	return nil
}

// benchNode is one node process of a bench network.
type benchNode struct {
	tn   node.TestnetNode
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
	rpc  *rpchttp.HTTP
	load benchRPC // what the load generator uses
	// pprofAddr is set with --pprof.
	pprofAddr string
}

func (n *benchNode) exited() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

func (n *benchNode) pid() int { return n.cmd.Process.Pid }

func (o *benchOptions) validate() error {
	if o.app != benchAppMedchain && o.app != benchAppKVStore {
		return fmt.Errorf("--app %q: use medchain or kvstore", o.app)
	}
	if o.validators < 1 || o.validators > 16 {
		return fmt.Errorf("--validators %d: use 1 to 16", o.validators)
	}
	if o.duration < time.Second || o.duration > time.Hour {
		return fmt.Errorf("--duration %s: use 1s to 1h", o.duration)
	}
	if o.warmup < 0 || o.warmup > 10*time.Minute {
		return fmt.Errorf("--warmup %s: use 0 to 10m", o.warmup)
	}
	if o.rate < 0 || o.rate > 100000 {
		return fmt.Errorf("--rate %g: use 0 (max) to 100000", o.rate)
	}
	if o.txSize != 0 && (o.txSize < 16 || o.txSize > 64<<10) {
		return fmt.Errorf("--tx-size %d: use 16 to 65536", o.txSize)
	}
	if o.inflight < 1 || o.inflight > 9000 {
		return fmt.Errorf("--inflight %d: use 1 to 9000 (the mempool holds 10000)", o.inflight)
	}
	if o.workers < 1 || o.workers > 256 {
		return fmt.Errorf("--workers %d: use 1 to 256", o.workers)
	}
	if o.signers < 2 || o.signers > 20000 {
		return fmt.Errorf("--signers %d: use 2 to 20000", o.signers)
	}
	if o.presign < 0 || o.presign > 5_000_000 {
		return fmt.Errorf("--presign %d: use 0 (auto) to 5000000", o.presign)
	}
	if o.client != "lean" && o.client != "cometbft" {
		return fmt.Errorf("--client %q: use lean or cometbft", o.client)
	}
	if ie, ok := benchIndexEvents(o.indexEvents); ok {
		if err := app.ValidateIndexEvents(ie); err != nil {
			return fmt.Errorf("--index-events: %w", err)
		}
	}
	if o.progress <= 0 {
		o.progress = 5 * time.Second
	}
	if o.cpuProfile != "" {
		o.pprof = true
	}
	return nil
}

// runBench runs one benchmark and returns its result.
func runBench(ctx context.Context, g *globals, o benchOptions) (res *benchResult, err error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	logf := func(format string, args ...any) { fmt.Fprintf(g.stderr, "bench: "+format+"\n", args...) }

	dir := o.keep
	if dir == "" {
		if dir, err = os.MkdirTemp("", "medchain-bench-"); err != nil {
			return nil, err
		}
		defer func() {
			if err == nil {
				os.RemoveAll(dir)
			} else {
				logf("kept %s for inspection (node logs in node*/node.log)", dir)
			}
		}()
	} else if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	if os.Getenv(keyring.PassphraseEnv) == "" {
		os.Setenv(keyring.PassphraseEnv, benchPassphrase)
	}
	base := o.basePort
	if base == 0 {
		if base, err = node.FreeTestnetBasePort(rand.IntN, o.validators); err != nil {
			return nil, err
		}
	}
	pprofAddr := func(i int) string {
		_, _, _, metrics := node.TestnetPorts(base, i)
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(metrics+1))
	}
	logf("creating a %d-validator %s network in %s (ports %d..)", o.validators, o.app, dir, base)
	tn, err := node.InitTestnet(dir, node.TestnetOptions{
		Validators: o.validators, ChainID: benchChainID, BasePort: base, Passphrase: keyring.EnvOrPrompt(),
		Tune: func(i int, c *cmtcfg.Config, s *node.Settings) {
			s.StateBackend = o.stateBackend
			if ie, ok := benchIndexEvents(o.indexEvents); ok {
				s.IndexEvents = ie
			}
			if o.pprof {
				c.RPC.PprofListenAddress = pprofAddr(i)
			}
		},
	})
	if err != nil {
		return nil, err
	}

	// Pre-sign everything before any node runs.
	t0 := time.Now()
	plan, err := buildBenchPlan(o, tn)
	if err != nil {
		return nil, err
	}
	logf("prepared %d setup and %d load transactions (%d lanes, planned average %.0f bytes) in %s",
		plan.setupCount(), plan.mainCount(), len(plan.lanes), plan.avgSize, time.Since(t0).Round(time.Millisecond))

	nodes, err := startBenchNodes(o, tn, pprofAddr)
	defer stopBenchNodes(nodes, logf)
	if err != nil {
		return nil, err
	}
	if err := waitBenchNodes(ctx, nodes, 90*time.Second); err != nil {
		return nil, err
	}
	logf("%d node(s) up", len(nodes))

	if o.selfProf != "" {
		pf, err := os.Create(o.selfProf)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return nil, err
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	eng := newBenchEngine(o, nodes, logf)
	if n := plan.setupCount(); n > 0 {
		t0 := time.Now()
		if err := eng.runSetup(ctx, plan, 120*time.Second); err != nil {
			return nil, err
		}
		logf("setup: %d transactions committed in %s", n, time.Since(t0).Round(time.Millisecond))
	}
	res, err = eng.runMain(ctx, plan)
	if err != nil {
		return nil, err
	}
	res.App, res.Validators = o.app, o.validators
	if o.app == benchAppMedchain {
		res.StateBackend = o.stateBackend
		res.IndexEvents = o.indexEvents
	}
	res.Machine = benchMachineInfo()
	res.GoVersion = runtime.Version()
	res.Commit = benchCommit()
	for _, n := range nodes {
		if n.exited() {
			return nil, fmt.Errorf("%s exited during the run (%v); see %s", n.tn.Name, n.err, n.log.Name())
		}
	}
	if o.keep != "" {
		res.Dir = dir
	}
	return res, nil
}

func startBenchNodes(o benchOptions, tn *node.Testnet, pprofAddr func(int) string) ([]*benchNode, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the medchain binary: %w", err)
	}
	var nodes []*benchNode
	for i, t := range tn.Nodes {
		lf, err := os.OpenFile(filepath.Join(t.Home, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nodes, err
		}
		c := exec.Command(exe, "bench-node", "--app", o.app, "--home", t.Home, "--log-level", o.logLevel)
		c.Stdout, c.Stderr = lf, lf
		c.SysProcAttr = childProcAttr(syscall.SIGKILL)
		if err := c.Start(); err != nil {
			lf.Close()
			return nodes, fmt.Errorf("start %s: %w", t.Name, err)
		}
		n := &benchNode{tn: t, cmd: c, log: lf, done: make(chan struct{})}
		if o.pprof {
			n.pprofAddr = pprofAddr(i)
		}
		go func() {
			n.err = c.Wait()
			close(n.done)
		}()
		hc := &http.Client{
			Transport: &http.Transport{
				DisableCompression:  true,
				MaxIdleConns:        o.workers + 16,
				MaxIdleConnsPerHost: o.workers + 16,
				IdleConnTimeout:     90 * time.Second,
			},
			Timeout: 60 * time.Second,
		}
		if n.rpc, err = rpchttp.NewWithClient("http://"+t.RPCAddr, "/websocket", hc); err != nil {
			return append(nodes, n), err
		}
		n.load = &leanRPC{url: "http://" + t.RPCAddr, hc: hc}
		if o.client == "cometbft" {
			n.load = cometRPC{n.rpc}
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// waitBenchNodes waits until every node answers and has committed a block.
func waitBenchNodes(ctx context.Context, nodes []*benchNode, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, n := range nodes {
		for {
			if n.exited() {
				return fmt.Errorf("%s exited at start (%v); see %s", n.tn.Name, n.err, n.log.Name())
			}
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			st, err := n.rpc.Status(cctx)
			cancel()
			if err == nil && st.SyncInfo.LatestBlockHeight >= 1 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not commit a block within %s (last error: %v); see %s", n.tn.Name, timeout, err, n.log.Name())
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// stopBenchNodes sends SIGTERM to every node it started, waits up to 15 s,
// then SIGKILLs the rest (bounded).
func stopBenchNodes(nodes []*benchNode, logf func(string, ...any)) {
	for _, n := range nodes {
		if !n.exited() {
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(15 * time.Second)
	for _, n := range nodes {
		select {
		case <-n.done:
		case <-deadline:
		}
	}
	for _, n := range nodes {
		if !n.exited() {
			logf("%s (pid %d) did not stop within 15s; sending SIGKILL", n.tn.Name, n.pid())
			_ = n.cmd.Process.Kill()
			select {
			case <-n.done:
			case <-time.After(5 * time.Second):
			}
		}
		n.log.Close()
	}
}

// benchCommit names the medchain commit under test: the binary's own
// (vcs.revision, "+dirty" if vcs.modified; built with -buildvcs=true where
// GOFLAGS turns VCS stamping off), else HEAD of the git repository in the
// working directory, else "".
func benchCommit() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			if modified == "true" {
				rev += "+dirty"
			}
			return rev
		}
	}
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		c := strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
			c += "+dirty"
		}
		return c
	}
	return ""
}

// benchIndexEvents reads --index-events: ok is false for "" (keep the
// node default); "none" is the empty list.
func benchIndexEvents(v string) (list []string, ok bool) {
	switch v {
	case "":
		return nil, false
	case "none":
		return []string{}, true
	}
	for _, e := range strings.Split(v, ",") {
		list = append(list, strings.TrimSpace(e))
	}
	return list, true
}
