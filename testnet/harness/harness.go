package harness

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/node"
)

// SeedEnv names the environment variable that fixes the random seed.
const SeedEnv = "MEDCHAIN_E2E_SEED"

// KeepEnv names the environment variable that, set to 1, keeps the testnet
// directory of passing tests too.
const KeepEnv = "MEDCHAIN_E2E_KEEP"

// Passphrase encrypts the keyrings of harness testnets.
const Passphrase = "medchain-e2e-passphrase"

// Options configure New.
type Options struct {
	// Validators is the number of validator nodes (default 4).
	Validators int
	// ChainID defaults to "medchain-e2e".
	ChainID string
	// Seed drives every random choice; 0 means RunSeed ($MEDCHAIN_E2E_SEED
	// or a seed drawn once per test process). It is logged.
	Seed int64
	// CommitTimeout is how long a node's POST /v1/txs waits for the commit
	// before answering 504 (default 8s).
	CommitTimeout time.Duration
	// DirectPeers makes nodes dial each other directly instead of through
	// the harness's proxies (Partition and Cut then fail).
	DirectPeers bool
	// LogLevel is the nodes' --log-level (default
	// "*:error,state:info,medchain:info,p2p:info,blocksync:info").
	LogLevel string
	// Env is added to every node's environment (after GOMAXPROCS=1).
	Env []string
	// NoStart leaves the nodes stopped after New.
	NoStart bool
}

// Testnet is a running medchain network under test.
type Testnet struct {
	T       *testing.T           // the test that owns the testnet
	Dir     string               // testnet directory: node homes, testnet.json, history.jsonl, report.json
	ChainID string               // chain id of the genesis
	Seed    int64                // seed of every random choice (logged)
	Genesis *cmttypes.GenesisDoc // the shared genesis

	opts     Options
	bin      string
	basePort int
	manifest *node.Testnet

	mu      sync.Mutex
	rng     *rand.Rand
	nodes   []*Node
	proxies map[[2]int]*Proxy
	admins  map[int]client.Signer
	load    *Load

	history     *History
	crashCycles atomic.Int64
	partitions  atomic.Int64
	reports     []Report
}

// New creates a testnet of o.Validators nodes in a fresh directory, starts
// every node and waits until each serves its API. The testnet is torn down
// when the test ends (nodes stopped, proxies closed); its directory is kept
// and logged if the test failed.
func New(t *testing.T, o Options) *Testnet {
	t.Helper()
	if o.Validators == 0 {
		o.Validators = 4
	}
	if o.ChainID == "" {
		o.ChainID = "medchain-e2e"
	}
	if o.CommitTimeout == 0 {
		o.CommitTimeout = 8 * time.Second
	}
	if o.LogLevel == "" {
		o.LogLevel = "*:error,state:info,medchain:info,p2p:info,blocksync:info"
	}
	if o.Seed == 0 {
		seed, err := RunSeed()
		if err != nil {
			t.Fatalf("harness: %v", err)
		}
		o.Seed = seed
	}
	bin := Binary(t)
	dir, err := os.MkdirTemp("", "medchain-e2e-"+sanitize(t.Name())+"-")
	if err != nil {
		t.Fatal(err)
	}
	tn := &Testnet{
		T: t, Dir: dir, ChainID: o.ChainID, Seed: o.Seed, opts: o, bin: bin,
		rng:     rand.New(rand.NewPCG(uint64(o.Seed), 0x6d656463)),
		proxies: map[[2]int]*Proxy{}, admins: map[int]client.Signer{}, history: &History{},
	}
	t.Logf("harness: testnet %s in %s, seed %d (set %s=%d to repeat)", o.ChainID, dir, o.Seed, SeedEnv, o.Seed)
	t.Cleanup(tn.teardown)
	if err := tn.init(); err != nil {
		t.Fatalf("harness: init: %v", err)
	}
	if !o.NoStart {
		tn.Start(tn.All()...)
	}
	return tn
}

var runSeed struct {
	once sync.Once
	seed int64
	err  error
}

// RunSeed is the seed of this test process: $MEDCHAIN_E2E_SEED if set,
// else one drawn from the clock once, so that every testnet of a run
// shares it and the run's summary names one seed.
func RunSeed() (int64, error) {
	runSeed.once.Do(func() {
		if s := os.Getenv(SeedEnv); s != "" {
			runSeed.seed, runSeed.err = strconv.ParseInt(s, 10, 64)
			if runSeed.err != nil {
				runSeed.err = fmt.Errorf("%s=%q is not an integer", SeedEnv, s)
			}
			return
		}
		runSeed.seed = 1 + time.Now().UnixNano()%1_000_000_000
	})
	return runSeed.seed, runSeed.err
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

// maxNodes bounds the port block reserved per testnet (founders + joiners).
const maxNodesExtra = 3

// FreeBasePort returns a base port for a testnet of the given number of
// nodes (node.TestnetPorts layout) whose ports are all free now.
func FreeBasePort(nodes int) (int, error) {
	return pickBasePort(rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)), nodes)
}

// pickBasePort finds a free base port with rng (see node.FreeTestnetBasePort).
func pickBasePort(rng *rand.Rand, nodes int) (int, error) {
	return node.FreeTestnetBasePort(rng.IntN, nodes)
}

func (tn *Testnet) init() error {
	n := tn.opts.Validators
	base, err := pickBasePort(tn.rng, n+maxNodesExtra)
	if err != nil {
		return err
	}
	tn.basePort = base
	// Proxies first: their addresses go into persistent_peers.
	if !tn.opts.DirectPeers {
		for i := range n {
			for j := range n {
				if i == j {
					continue
				}
				p2p, _, _, _ := node.TestnetPorts(base, j)
				p, err := newProxy(i, j, "127.0.0.1:"+strconv.Itoa(p2p))
				if err != nil {
					return err
				}
				tn.proxies[[2]int{i, j}] = p
			}
		}
	}
	mf, err := node.InitTestnet(tn.Dir, node.TestnetOptions{
		Validators: n, ChainID: tn.ChainID, BasePort: base,
		Passphrase: func(bool) ([]byte, error) { return []byte(Passphrase), nil },
		PeerAddr: func(from, to int) string {
			if p := tn.proxies[[2]int{from, to}]; p != nil {
				return p.Addr()
			}
			p2p, _, _, _ := node.TestnetPorts(base, to)
			return "127.0.0.1:" + strconv.Itoa(p2p)
		},
		Tune: func(i int, c *cmtcfg.Config, s *node.Settings) { tn.tune(i, c, s) },
	})
	if err != nil {
		return err
	}
	tn.manifest = mf
	tn.Genesis, err = cmttypes.GenesisDocFromFile(filepath.Join(mf.Nodes[0].Home, "config", "genesis.json"))
	if err != nil {
		return err
	}
	for i, info := range mf.Nodes {
		c, err := client.New(info.APIURL)
		if err != nil {
			return err
		}
		tn.nodes = append(tn.nodes, &Node{Index: i, Info: info, Client: c, tn: tn})
	}
	return nil
}

// tune is the harness's configuration of node i on top of the testnet
// defaults.
func (tn *Testnet) tune(i int, c *cmtcfg.Config, s *node.Settings) {
	s.CommitTimeout = node.Duration(tn.opts.CommitTimeout)
	if !tn.opts.DirectPeers {
		// A node redials an inbound persistent peer at the address that
		// peer advertises, which would bypass the proxies and leak through
		// partitions. Advertise a port of the node's block that nobody
		// listens on: links then only ever come back through the dialer's
		// proxy.
		p2p, _, _, _ := node.TestnetPorts(tn.basePort, i)
		c.P2P.ExternalAddress = "tcp://127.0.0.1:" + strconv.Itoa(p2p+deadPortOffset)
	}
}

// deadPortOffset is the port (within a node's block) the harness makes
// nodes advertise; nothing listens on it.
const deadPortOffset = 9

// teardown stops everything the harness started and keeps or removes the
// directory.
func (tn *Testnet) teardown() {
	t := tn.T
	if l := tn.currentLoad(); l != nil {
		l.Stop()
	}
	var wg sync.WaitGroup
	for _, n := range tn.Nodes() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.stop(10 * time.Second); err != nil {
				t.Logf("harness: teardown: %s: %v", n.Info.Name, err)
			}
		}()
	}
	wg.Wait()
	tn.mu.Lock()
	for _, p := range tn.proxies {
		p.Close()
	}
	tn.mu.Unlock()
	_ = tn.history.WriteJSONL(filepath.Join(tn.Dir, "history.jsonl"))
	if t.Failed() || os.Getenv(KeepEnv) == "1" {
		t.Logf("harness: kept the testnet directory (node logs: %s/node*/node.log, history: %s/history.jsonl)", tn.Dir, tn.Dir)
		return
	}
	if err := os.RemoveAll(tn.Dir); err != nil {
		t.Logf("harness: remove %s: %v", tn.Dir, err)
	}
}

// Rand returns a random integer in [0, n) from the testnet's seeded source.
func (tn *Testnet) Rand(n int) int {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return tn.rng.IntN(n)
}

// Manifest returns the testnet.json contents (with joined nodes).
func (tn *Testnet) Manifest() node.Testnet {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return *tn.manifest
}

// Nodes returns every node, founders and joiners, by index.
func (tn *Testnet) Nodes() []*Node {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return append([]*Node(nil), tn.nodes...)
}

// Node returns node i.
func (tn *Testnet) Node(i int) *Node {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return tn.nodes[i]
}

// All returns the indexes of every node.
func (tn *Testnet) All() []int {
	var out []int
	for _, n := range tn.Nodes() {
		out = append(out, n.Index)
	}
	return out
}

// Up returns the indexes of the nodes that are running and not paused.
func (tn *Testnet) Up() []int {
	var out []int
	for _, n := range tn.Nodes() {
		if n.Up() {
			out = append(out, n.Index)
		}
	}
	return out
}

// History returns the operation history of the testnet.
func (tn *Testnet) History() *History { return tn.history }

// CrashCycles is how many Kill calls the test made.
func (tn *Testnet) CrashCycles() int64 { return tn.crashCycles.Load() }

// Partitions is how many Partition and Cut calls the test made.
func (tn *Testnet) Partitions() int64 { return tn.partitions.Load() }

// Start starts the given nodes and waits until each serves /v1/status.
func (tn *Testnet) Start(idx ...int) {
	tn.T.Helper()
	tn.parallel("start", idx, func(n *Node) error {
		if err := n.Start(); err != nil {
			return err
		}
		return n.WaitServing(60 * time.Second)
	})
}

// Stop stops the given nodes gracefully (SIGTERM, then SIGKILL after 15 s).
func (tn *Testnet) Stop(idx ...int) {
	tn.T.Helper()
	tn.T.Logf("harness: SIGTERM %v", names(tn, idx))
	tn.parallel("stop", idx, func(n *Node) error { return n.stop(15 * time.Second) })
}

// Kill crashes the given nodes at once with SIGKILL; one call counts as one
// crash cycle.
func (tn *Testnet) Kill(idx ...int) {
	tn.T.Helper()
	tn.crashCycles.Add(1)
	tn.T.Logf("harness: SIGKILL %v", names(tn, idx))
	tn.parallel("kill", idx, func(n *Node) error { return n.Kill() })
}

// Restart stops (SIGTERM) and starts node i, waiting until it serves.
func (tn *Testnet) Restart(i int) {
	tn.T.Helper()
	tn.Stop(i)
	tn.Start(i)
}

// Pause freezes node i with SIGSTOP.
func (tn *Testnet) Pause(i int) {
	tn.T.Helper()
	tn.T.Logf("harness: SIGSTOP %s", tn.Node(i).Info.Name)
	if err := tn.Node(i).Pause(); err != nil {
		tn.T.Fatalf("harness: pause %s: %v", tn.Node(i).Info.Name, err)
	}
}

// Resume continues node i with SIGCONT.
func (tn *Testnet) Resume(i int) {
	tn.T.Helper()
	tn.T.Logf("harness: SIGCONT %s", tn.Node(i).Info.Name)
	if err := tn.Node(i).Resume(); err != nil {
		tn.T.Fatalf("harness: resume %s: %v", tn.Node(i).Info.Name, err)
	}
}

func names(tn *Testnet, idx []int) []string {
	var out []string
	for _, i := range idx {
		out = append(out, tn.Node(i).Info.Name)
	}
	return out
}

func (tn *Testnet) parallel(verb string, idx []int, f func(*Node) error) {
	tn.T.Helper()
	errs := make([]error, len(idx))
	var wg sync.WaitGroup
	for k, i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = f(tn.Node(i))
		}()
	}
	wg.Wait()
	for k, err := range errs {
		if err != nil {
			tn.T.Fatalf("harness: %s %s: %v", verb, tn.Node(idx[k]).Info.Name, err)
		}
	}
}

// Link returns the proxy of the directed link from -> to, or nil.
func (tn *Testnet) Link(from, to int) *Proxy {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return tn.proxies[[2]int{from, to}]
}

// Cut drops both directions of the link between nodes a and b.
func (tn *Testnet) Cut(a, b int) {
	tn.T.Helper()
	tn.partitions.Add(1)
	tn.cut(a, b)
}

func (tn *Testnet) cut(a, b int) {
	tn.T.Helper()
	if tn.opts.DirectPeers {
		tn.T.Fatalf("harness: links cannot be cut with DirectPeers")
	}
	for _, l := range [][2]int{{a, b}, {b, a}} {
		if p := tn.Link(l[0], l[1]); p != nil {
			p.Block()
		}
	}
}

// Partition cuts every link between nodes of different groups, e.g.
// Partition([]int{0, 1}, []int{2, 3}). Nodes in no group keep their links.
func (tn *Testnet) Partition(groups ...[]int) {
	tn.T.Helper()
	tn.partitions.Add(1)
	tn.T.Logf("harness: partition %v", groups)
	for gi, g := range groups {
		for _, h := range groups[gi+1:] {
			for _, a := range g {
				for _, b := range h {
					tn.cut(a, b)
				}
			}
		}
	}
}

// Heal restores every link.
func (tn *Testnet) Heal() {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	healed := false
	for _, p := range tn.proxies {
		if p.Blocked() {
			healed = true
		}
		p.Unblock()
	}
	if healed {
		tn.T.Logf("harness: heal")
	}
}

// Admin returns the signer of the founding admin of organization i (the
// "admin" key in node i's keyring).
func (tn *Testnet) Admin(i int) client.Signer {
	tn.T.Helper()
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if s, ok := tn.admins[i]; ok {
		return s
	}
	if i >= len(tn.manifest.Nodes) || tn.manifest.Nodes[i].AdminKey == "" {
		tn.T.Fatalf("harness: node %d has no founding admin", i)
	}
	info := tn.manifest.Nodes[i]
	kr, err := keyring.Open(node.KeyringDir(info.Home), func(bool) ([]byte, error) { return []byte(Passphrase), nil })
	if err != nil {
		tn.T.Fatalf("harness: keyring of %s: %v", info.Name, err)
	}
	k, err := kr.Get(info.AdminKey)
	if err != nil {
		tn.T.Fatalf("harness: admin key of %s: %v", info.Name, err)
	}
	s := client.KeySigner{Key: k}
	tn.admins[i] = s
	return s
}

// Founders is the number of founding validators.
func (tn *Testnet) Founders() int { return tn.opts.Validators }

// AddNode creates (but does not start) a node that joins the chain from
// the same genesis with fresh node and validator keys, dialing every
// existing node through new proxies. It is a full node until governance
// makes its ValidatorPubKey a validator.
func (tn *Testnet) AddNode() *Node {
	tn.T.Helper()
	existing := tn.Nodes()
	k := len(existing)
	if k >= tn.opts.Validators+maxNodesExtra {
		tn.T.Fatalf("harness: at most %d joiners", maxNodesExtra)
	}
	p2pPort, rpcPort, apiPort, metricsPort := node.TestnetPorts(tn.basePort, k)
	var peers []string
	for _, e := range existing {
		addr := e.Info.P2PAddr
		if !tn.opts.DirectPeers {
			p, err := newProxy(k, e.Index, e.Info.P2PAddr)
			if err != nil {
				tn.T.Fatalf("harness: proxy: %v", err)
			}
			tn.mu.Lock()
			tn.proxies[[2]int{k, e.Index}] = p
			tn.mu.Unlock()
			addr = p.Addr()
		}
		peers = append(peers, e.Info.NodeID+"@"+addr)
	}
	name := "node" + strconv.Itoa(k)
	info, err := node.InitJoin(filepath.Join(tn.Dir, name), tn.Genesis, node.JoinOptions{
		Name: name, P2PPort: p2pPort, RPCPort: rpcPort, APIPort: apiPort, MetricsPort: metricsPort,
		Peers: peers, Tune: func(c *cmtcfg.Config, s *node.Settings) { tn.tune(k, c, s) },
	})
	if err != nil {
		tn.T.Fatalf("harness: add node: %v", err)
	}
	c, err := client.New(info.APIURL)
	if err != nil {
		tn.T.Fatal(err)
	}
	n := &Node{Index: k, Info: info, Client: c, tn: tn}
	tn.mu.Lock()
	tn.nodes = append(tn.nodes, n)
	tn.manifest.Nodes = append(tn.manifest.Nodes, info)
	err = tn.manifest.Save(tn.Dir)
	tn.mu.Unlock()
	if err != nil {
		tn.T.Fatal(err)
	}
	return n
}

// ctx returns a context bounded by d.
func ctxFor(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
