package node

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/x/org"
)

// TestnetFile is the manifest InitTestnet writes in the testnet directory.
const TestnetFile = "testnet.json"

// Defaults of a local testnet.
const (
	DefaultTestnetChainID  = "medchain-testnet"
	DefaultTestnetBasePort = 27000
	// TestnetPortStride separates the port blocks of consecutive nodes:
	// node K uses BasePort + K*TestnetPortStride + 0 (P2P), 1 (RPC), 2 (API)
	// and 3 (CometBFT metrics).
	TestnetPortStride = 10
	// TestnetPower is the voting power of every founding validator.
	TestnetPower = 10
	// TestnetAdminKey is the keyring name of each founding admin.
	TestnetAdminKey = "admin"
)

// Testnet is the manifest of a local testnet (D/testnet.json).
type Testnet struct {
	ChainID string        `json:"chain_id"` // the shared genesis's chain id
	Nodes   []TestnetNode `json:"nodes"`    // node0, node1, ...
}

// TestnetNode describes one node of a testnet: where it lives, how to reach
// it, and which organization runs it.
type TestnetNode struct {
	Name        string `json:"name"`         // node<K>, also its moniker
	Home        string `json:"home"`         // absolute path of its home
	APIURL      string `json:"api_url"`      // REST API base URL
	RPCAddr     string `json:"rpc_addr"`     // CometBFT RPC host:port
	P2PAddr     string `json:"p2p_addr"`     // CometBFT P2P host:port
	MetricsAddr string `json:"metrics_addr"` // CometBFT Prometheus host:port
	NodeID      string `json:"node_id"`      // P2P node id (hex of the node key's address)
	// ValidatorPubKey is the hex Ed25519 consensus key (what a
	// set_validator or admit_org proposal names); ValidatorAddress is
	// CometBFT's address of it (what blocks and /v1/status show).
	ValidatorPubKey  string `json:"validator_pubkey"`
	ValidatorAddress string `json:"validator_address"`   // upper-case hex
	OrgID            string `json:"org_id,omitempty"`    // the founding organization running it
	AdminDID         string `json:"admin_did,omitempty"` // that organization's admin
	AdminKey         string `json:"admin_key,omitempty"` // the admin's key name in <home>/keyring
	// VaultDID is the node's service identity (keyring key VaultKey, role
	// "vault" in its organization), as InitDev creates for a dev chain.
	VaultDID string `json:"vault_did,omitempty"`
}

// PeerAddr is the persistent_peers entry of the node: id@host:port.
func (n TestnetNode) PeerAddr() string { return n.NodeID + "@" + n.P2PAddr }

// LoadTestnet reads dir/testnet.json.
func LoadTestnet(dir string) (*Testnet, error) {
	p := filepath.Join(dir, TestnetFile)
	bz, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s has no %s; create a testnet with \"medchain testnet init --dir %s\"", dir, TestnetFile, dir)
	}
	if err != nil {
		return nil, err
	}
	var t Testnet
	if err := json.Unmarshal(bz, &t); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if len(t.Nodes) == 0 {
		return nil, fmt.Errorf("%s lists no nodes", p)
	}
	return &t, nil
}

// Save writes the manifest to dir/testnet.json.
func (t *Testnet) Save(dir string) error {
	bz, _ := json.MarshalIndent(t, "", "  ")
	return os.WriteFile(filepath.Join(dir, TestnetFile), append(bz, '\n'), 0o644)
}

// TestnetOptions describe a new local testnet.
type TestnetOptions struct {
	Validators int       // number of validator nodes (and founding organizations), >= 1
	ChainID    string    // default DefaultTestnetChainID
	Host       string    // listen host of every node, default 127.0.0.1
	BasePort   int       // default DefaultTestnetBasePort
	Now        time.Time // genesis time, default the wall clock
	// Passphrase encrypts every node's keyring; it is asked for once.
	// Default keyring.EnvOrPrompt (MEDCHAIN_PASSPHRASE or a prompt).
	Passphrase keyring.PassphraseFunc
	// PeerAddr, if set, returns the host:port node from dials to reach node
	// to (the e2e harness routes every directed link through a proxy it
	// owns). Default: node to's P2P address.
	PeerAddr func(from, to int) string
	// Tune, if set, adjusts node i's configuration before it is written,
	// after the testnet defaults (TestnetCometConfig) were applied.
	Tune func(i int, c *cmtcfg.Config, s *Settings)
}

// OrgTypeOf returns the organization type of founding organization i: the
// first four organization types in turn (hospital, clinic, laboratory,
// pharmacy, hospital, ...).
func OrgTypeOf(i int) string { return org.OrgTypes[i%4] }

// TestnetPorts returns node i's P2P, RPC, API and metrics ports.
func TestnetPorts(base, i int) (p2pPort, rpcPort, apiPort, metricsPort int) {
	b := base + i*TestnetPortStride
	return b, b + 1, b + 2, b + 3
}

// TestnetCometConfig applies the settings every testnet node uses on top of
// DefaultCometConfig: blocks keep coming (empty ones too) about every
// 300 ms, so that liveness is measurable; peers are only the configured
// persistent peers (no PEX), all on one host.
func TestnetCometConfig(c *cmtcfg.Config) {
	c.Consensus.TimeoutCommit = 300 * time.Millisecond
	c.Consensus.CreateEmptyBlocks = true
	c.Consensus.CreateEmptyBlocksInterval = 0
	c.P2P.PexReactor = false
	c.P2P.AllowDuplicateIP = true
	c.P2P.AddrBookStrict = false
	// Flush small consensus messages promptly: on one host the default
	// 100 ms throttle, paid at every gossip hop, dominates block time.
	c.P2P.FlushThrottleTimeout = 10 * time.Millisecond
}

// oncePassphrase asks fn once and hands out copies of the answer.
func oncePassphrase(fn keyring.PassphraseFunc) keyring.PassphraseFunc {
	var once sync.Once
	var pass []byte
	var err error
	return func(bool) ([]byte, error) {
		once.Do(func() { pass, err = fn(true) })
		if err != nil {
			return nil, err
		}
		return slices.Clone(pass), nil
	}
}

// InitTestnet writes a local testnet of o.Validators nodes into dir:
// homes dir/node0 ... dir/node(N-1), each run by its own founding
// organization org<K> ("Organization K") whose admin key "admin" (and the
// node's service identity "vault", as InitDev makes) is in that home's
// keyring and which runs that node's validator with power 10; one
// shared genesis; distinct ports on one host; full-mesh persistent peers;
// every other organization's API URL as a vault peer (Settings.Peers, for
// node-to-node release of records); and dir/testnet.json. It refuses a directory that already holds a
// testnet or any of the node homes.
func InitTestnet(dir string, o TestnetOptions) (*Testnet, error) {
	if o.Validators < 1 || o.Validators > 200 {
		return nil, fmt.Errorf("--validators %d: use 1 to 200", o.Validators)
	}
	if o.ChainID == "" {
		o.ChainID = DefaultTestnetChainID
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.BasePort == 0 {
		o.BasePort = DefaultTestnetBasePort
	}
	if _, _, _, last := TestnetPorts(o.BasePort, o.Validators-1); o.BasePort < 1024 || last > 65535 {
		return nil, fmt.Errorf("--base-port %d: the ports of %d nodes must lie in 1024..65535", o.BasePort, o.Validators)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Passphrase == nil {
		o.Passphrase = keyring.EnvOrPrompt()
	}
	pass := oncePassphrase(o.Passphrase)
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, TestnetFile)); err == nil {
		return nil, fmt.Errorf("%s already holds a testnet (%s); remove it or choose another --dir", dir, TestnetFile)
	}
	n := o.Validators
	tn := &Testnet{ChainID: o.ChainID, Nodes: make([]TestnetNode, n)}
	for i := range n {
		home := filepath.Join(dir, "node"+strconv.Itoa(i))
		if IsInitialized(home) {
			return nil, fmt.Errorf("%s is already initialised; remove %s or choose another --dir", home, dir)
		}
		p2pPort, rpcPort, apiPort, metricsPort := TestnetPorts(o.BasePort, i)
		hp := func(port int) string { return net.JoinHostPort(o.Host, strconv.Itoa(port)) }
		tn.Nodes[i] = TestnetNode{
			Name: "node" + strconv.Itoa(i), Home: home, APIURL: "http://" + hp(apiPort),
			RPCAddr: hp(rpcPort), P2PAddr: hp(p2pPort), MetricsAddr: hp(metricsPort),
			OrgID: "org" + strconv.Itoa(i), AdminKey: TestnetAdminKey,
		}
	}
	// Keys first: every node's persistent peers name the others' node ids.
	founders := make([]founder, n)
	for i := range n {
		nd := &tn.Nodes[i]
		id, pv, err := genNodeKeys(nd.Home)
		if err != nil {
			return nil, err
		}
		nd.NodeID = id
		nd.ValidatorPubKey = strings.ToUpper(hex.EncodeToString(pv.Key.PubKey.Bytes()))
		nd.ValidatorAddress = pv.Key.PubKey.Address().String()
		kr, err := keyring.Open(KeyringDir(nd.Home), pass)
		if err != nil {
			return nil, err
		}
		admin, err := newAdmin(kr, TestnetAdminKey)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", nd.Name, err)
		}
		vault, err := newAdmin(kr, VaultKey)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", nd.Name, err)
		}
		nd.AdminDID, nd.VaultDID = admin.DID, vault.DID
		founders[i] = founder{
			OrgID: nd.OrgID, OrgName: "Organization " + strconv.Itoa(i), OrgType: OrgTypeOf(i),
			Admin: admin, Vault: vault, ValKey: pv.Key.PubKey, Power: TestnetPower, Moniker: nd.Name,
		}
	}
	doc, err := buildGenesis(o.ChainID, o.Now, founders)
	if err != nil {
		return nil, err
	}
	for i := range n {
		nd := tn.Nodes[i]
		var peers []string
		for j := range n {
			if j == i {
				continue
			}
			addr := tn.Nodes[j].P2PAddr
			if o.PeerAddr != nil {
				addr = o.PeerAddr(i, j)
			}
			peers = append(peers, tn.Nodes[j].NodeID+"@"+addr)
		}
		// Every vault knows where the other organizations' vaults are
		// (node-to-node release of the records they hold).
		vaultPeers := map[string]string{}
		for j := range n {
			if j != i {
				vaultPeers[tn.Nodes[j].OrgID] = tn.Nodes[j].APIURL
			}
		}
		tune := func(c *cmtcfg.Config, s *Settings) {
			s.Peers = vaultPeers
			if o.Tune != nil {
				o.Tune(i, c, s)
			}
		}
		if err := writeTestnetHome(nd, peers, doc, tune); err != nil {
			return nil, err
		}
	}
	if err := tn.Save(dir); err != nil {
		return nil, err
	}
	return tn, nil
}

// genNodeKeys creates home's config and data directories, node key and
// validator key, and returns the node id and the validator.
func genNodeKeys(home string) (string, *privval.FilePV, error) {
	conf := DefaultCometConfig(home)
	for _, d := range []string{filepath.Join(home, "config"), filepath.Join(home, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", nil, err
		}
	}
	nk, err := p2p.LoadOrGenNodeKey(conf.NodeKeyFile())
	if err != nil {
		return "", nil, err
	}
	pv := privval.LoadOrGenFilePV(conf.PrivValidatorKeyFile(), conf.PrivValidatorStateFile())
	return string(nk.ID()), pv, nil
}

// writeTestnetHome writes the configuration of testnet node nd (whose keys
// may already exist) and the genesis.
func writeTestnetHome(nd TestnetNode, peers []string, doc *cmttypes.GenesisDoc, tune func(*cmtcfg.Config, *Settings)) error {
	conf, err := writeCometFiles(nd.Home, nd.Name, Addrs{API: strings.TrimPrefix(nd.APIURL, "http://"), RPC: nd.RPCAddr, P2P: nd.P2PAddr},
		func(c *cmtcfg.Config, s *Settings) {
			TestnetCometConfig(c)
			c.P2P.PersistentPeers = strings.Join(peers, ",")
			c.Instrumentation.PrometheusListenAddr = nd.MetricsAddr
			if tune != nil {
				tune(c, s)
			}
		})
	if err != nil {
		return fmt.Errorf("%s: %w", nd.Name, err)
	}
	return doc.SaveAs(conf.GenesisFile())
}

// JoinOptions describe a node that joins an existing chain.
type JoinOptions struct {
	Name        string // moniker, default "node"
	Host        string // default 127.0.0.1
	P2PPort     int    // required, like the other ports
	RPCPort     int    // CometBFT RPC
	APIPort     int    // REST API
	MetricsPort int    // CometBFT Prometheus metrics
	// Peers are the persistent peers it dials (id@host:port).
	Peers []string
	// Tune, if set, adjusts the configuration before it is written.
	Tune func(c *cmtcfg.Config, s *Settings)
}

// InitJoin creates a node home for the chain of genesis with fresh node
// and validator keys and the testnet configuration. The node starts as a
// full node that block-syncs from Peers; it becomes a validator once a
// governance proposal (admit_org or set_validator) names its
// ValidatorPubKey. The returned entry has no organization yet.
func InitJoin(home string, genesis *cmttypes.GenesisDoc, o JoinOptions) (TestnetNode, error) {
	if IsInitialized(home) {
		return TestnetNode{}, fmt.Errorf("%s is already initialised", home)
	}
	if o.P2PPort == 0 || o.RPCPort == 0 || o.APIPort == 0 || o.MetricsPort == 0 {
		return TestnetNode{}, errors.New("InitJoin: every port must be given")
	}
	if o.Name == "" {
		o.Name = "node"
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	home, err := filepath.Abs(home)
	if err != nil {
		return TestnetNode{}, err
	}
	hp := func(port int) string { return net.JoinHostPort(o.Host, strconv.Itoa(port)) }
	nd := TestnetNode{Name: o.Name, Home: home, APIURL: "http://" + hp(o.APIPort), RPCAddr: hp(o.RPCPort),
		P2PAddr: hp(o.P2PPort), MetricsAddr: hp(o.MetricsPort)}
	id, pv, err := genNodeKeys(home)
	if err != nil {
		return TestnetNode{}, err
	}
	nd.NodeID = id
	nd.ValidatorPubKey = strings.ToUpper(hex.EncodeToString(pv.Key.PubKey.Bytes()))
	nd.ValidatorAddress = pv.Key.PubKey.Address().String()
	if err := writeTestnetHome(nd, o.Peers, genesis, o.Tune); err != nil {
		return TestnetNode{}, err
	}
	return nd, nil
}

// FreeTestnetBasePort finds a base port for a network of nodes nodes
// (TestnetPorts layout) whose whole block of ports is free now and lies
// below Linux's default ephemeral range (32768..), so that outgoing
// connections cannot take a node's port before it binds. intn draws the
// candidates (rand.IntN, or a seeded generator's IntN for repeatable tests).
func FreeTestnetBasePort(intn func(int) int, nodes int) (int, error) {
	span := nodes * TestnetPortStride
	for range 50 {
		base := 20000 + 10*intn((32000-20000-span)/10)
		free := true
		for p := base; p < base+span && free; p++ {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no free block of %d ports found below 32000; pass a base port", span)
}
