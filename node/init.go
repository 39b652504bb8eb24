package node

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	cmtcrypto "github.com/cometbft/cometbft/crypto"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
)

// Addrs are a node's listen addresses. Empty fields keep what the home's
// configuration says (or the loopback defaults for a new home).
type Addrs struct {
	API, RPC, P2P string
}

// InitOptions describe a new development chain.
type InitOptions struct {
	ChainID  string // default "medchain-dev"
	Moniker  string // default "node0"
	Addrs    Addrs
	Keyring  *keyring.Keyring // where the admin key is created; default <home>/keyring
	Now      time.Time        // genesis time; default the wall clock
	OrgID    string           // default "dev-hospital"
	OrgName  string           // default "Development Hospital"
	AdminKey string           // keyring name of the founding admin, default "admin"
}

// VaultKey is the keyring name of a node's service identity: the DID its
// vault signs record anchors, access requests and erasure receipts with,
// a member of the node's organization with role "vault".
const VaultKey = "vault"

// IsInitialized reports whether home already holds a genesis.
func IsInitialized(home string) bool {
	_, err := os.Stat(filepath.Join(home, "config", "genesis.json"))
	return err == nil
}

// DefaultCometConfig returns CometBFT settings for a medchain node rooted at
// home: loopback listeners, sub-second blocks for development, the kv tx
// indexer (the API looks transactions up by hash), and no PEX.
func DefaultCometConfig(home string) *cmtcfg.Config {
	c := cmtcfg.DefaultConfig()
	c.SetRoot(home)
	c.DBBackend = "goleveldb"
	c.RPC.ListenAddress = "tcp://127.0.0.1:26657"
	c.P2P.ListenAddress = "tcp://127.0.0.1:26656"
	c.P2P.PexReactor = false
	c.P2P.AddrBookStrict = false
	c.P2P.AllowDuplicateIP = true
	c.Consensus.TimeoutPropose = 1 * time.Second
	c.Consensus.TimeoutPrevote = 200 * time.Millisecond
	c.Consensus.TimeoutPrecommit = 200 * time.Millisecond
	c.Consensus.TimeoutCommit = 200 * time.Millisecond
	c.Consensus.CreateEmptyBlocks = true
	c.Consensus.CreateEmptyBlocksInterval = 1 * time.Second
	c.Mempool.Size = 10000
	c.Mempool.MaxTxBytes = DevMaxTxBytes // the app's own limit (a genesis parameter) decides
	c.TxIndex.Indexer = "kv"
	c.Instrumentation.Prometheus = false
	c.Instrumentation.PrometheusListenAddr = "127.0.0.1:26660"
	return c
}

// InitDev creates a single-validator development chain in home: CometBFT
// configuration and keys, a founding hospital whose admin key is created in
// the keyring (encrypted with the keyring's passphrase), and the genesis.
// It fails if home is already initialised.
func InitDev(home string, o InitOptions) (*cmttypes.GenesisDoc, error) {
	if IsInitialized(home) {
		return nil, fmt.Errorf("%s is already initialised; remove it or choose another --home", home)
	}
	if o.ChainID == "" {
		o.ChainID = "medchain-dev"
	}
	if o.Moniker == "" {
		o.Moniker = "node0"
	}
	if o.OrgID == "" {
		o.OrgID, o.OrgName = "dev-hospital", "Development Hospital"
	}
	if o.AdminKey == "" {
		o.AdminKey = "admin"
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	kr := o.Keyring
	if kr == nil {
		var err error
		if kr, err = keyring.Open(KeyringDir(home), keyring.EnvOrPrompt()); err != nil {
			return nil, err
		}
	}
	conf, err := writeCometFiles(home, o.Moniker, o.Addrs, nil)
	if err != nil {
		return nil, err
	}
	pv := privval.LoadFilePV(conf.PrivValidatorKeyFile(), conf.PrivValidatorStateFile())
	admin, err := newAdmin(kr, o.AdminKey)
	if err != nil {
		return nil, err
	}
	vault, err := newAdmin(kr, VaultKey)
	if err != nil {
		return nil, err
	}
	founders := []founder{{
		OrgID: o.OrgID, OrgName: o.OrgName, OrgType: "hospital", Admin: admin, Vault: vault,
		ValKey: pv.Key.PubKey, Power: 10, Moniker: o.Moniker,
	}}
	// The supply-chain demo organizations (issue 5): members without
	// validators, each with its admin key in the keyring.
	for _, d := range DevSupplyOrgs {
		k, err := newAdmin(kr, d.Key)
		if err != nil {
			return nil, err
		}
		// The node's vault identity holds the vault role here too, so that
		// the node's EPCIS capture API can sign for these organizations'
		// members (see node/supply.go).
		founders = append(founders, founder{OrgID: d.OrgID, OrgName: d.Name, OrgType: d.Type, Admin: k,
			GS1Prefixes: d.GS1Prefixes, PartyGLN: d.PartyGLN, LocationGLNs: []string{d.LocationGLN}, SharedVault: vault})
	}
	params := app.DefaultParams()
	params.MaxTxBytes = DevMaxTxBytes
	doc, err := buildGenesisWith(o.ChainID, o.Now, founders, params)
	if err != nil {
		return nil, err
	}
	if err := doc.SaveAs(conf.GenesisFile()); err != nil {
		return nil, err
	}
	return doc, nil
}

// newAdmin creates the keyring key name for a founding organization's admin
// and records the DID it will have.
func newAdmin(kr *keyring.Keyring, name string) (*keyring.Key, error) {
	admin, err := kr.Add(name)
	if err != nil {
		return nil, fmt.Errorf("create admin key: %w", err)
	}
	admin.DID = identity.DIDFromKey(admin.SigningPublic())
	if err := kr.SetDID(name, admin.DID); err != nil {
		return nil, err
	}
	return admin, nil
}

// DevSupplyOrg is one supply-chain organization of the development chain.
type DevSupplyOrg struct {
	Key, OrgID, Name, Type string
	GS1Prefixes            []string
	PartyGLN, LocationGLN  string
}

// DevSupplyOrgs are created by InitDev besides the founding hospital: a
// manufacturer owning the GS1 company prefixes of the GS1 standard
// examples (0614141 and 4012345), a distributor, a pharmacy and a
// regulator, each with a party GLN and a location GLN (valid check
// digits; the manufacturer's under its prefix 0614141 — 0614141073467 is
// urn:epc:id:sgln:0614141.07346.* of the EPCIS examples — the others
// under GS1 example prefixes nobody on the chain owns).
var DevSupplyOrgs = []DevSupplyOrg{
	{Key: "manufacturer", OrgID: "dev-manufacturer", Name: "Development Manufacturer", Type: "manufacturer",
		GS1Prefixes: []string{"0614141", "4012345"}, PartyGLN: "0614141000005", LocationGLN: "0614141073467"},
	{Key: "distributor", OrgID: "dev-distributor", Name: "Development Distributor", Type: "distributor",
		PartyGLN: "0012345000010", LocationGLN: "0012345000027"},
	{Key: "pharmacy", OrgID: "dev-pharmacy", Name: "Development Pharmacy", Type: "pharmacy",
		PartyGLN: "5012345000015", LocationGLN: "5012345000022"},
	{Key: "regulator", OrgID: "dev-regulator", Name: "Development Regulator", Type: "regulator",
		PartyGLN: "9521234000013", LocationGLN: "9521234000020"},
}

// DevMaxTxBytes is the development chain's transaction size limit: 1 MiB,
// so that a packaging line can commission 10,000 serials in one EPCIS
// event (about 45 bytes each on the wire). See x/supply/README.md.
const DevMaxTxBytes = 1 << 20

// founder is one founding organization of a new chain: its admin (an
// identity in the genesis) and the one validator it runs (none when
// ValKey is nil).
type founder struct {
	OrgID, OrgName, OrgType string
	Admin                   *keyring.Key
	Vault                   *keyring.Key // the node's service identity (role "vault"), optional
	ValKey                  cmtcrypto.PubKey
	Power                   int64
	Moniker                 string
	// SharedVault, optional, is another founder's vault identity (already
	// in the genesis) that also holds the vault role in this organization.
	SharedVault *keyring.Key
	// GS1 data (supply chain), optional.
	GS1Prefixes  []string
	PartyGLN     string
	LocationGLNs []string
}

// buildGenesis returns the genesis of a chain founded by fs: every admin's
// identity, every organization with its admin and validator, and the
// matching CometBFT validator set.
func buildGenesis(chainID string, now time.Time, fs []founder) (*cmttypes.GenesisDoc, error) {
	return buildGenesisWith(chainID, now, fs, app.DefaultParams())
}

// buildGenesisWith is buildGenesis with the given app parameters.
func buildGenesisWith(chainID string, now time.Time, fs []founder, params app.Params) (*cmttypes.GenesisDoc, error) {
	var ids identity.Genesis
	var orgs org.Genesis
	var vals []cmttypes.GenesisValidator
	for _, f := range fs {
		ids.Identities = append(ids.Identities, identity.GenesisIdentity{
			SigningKey: f.Admin.SigningPublic(), EncryptionKey: f.Admin.EncryptionPublic(), KEM: identity.KEMMLKEM768X25519,
		})
		g := org.GenesisOrg{
			ID: f.OrgID, Name: f.OrgName, Type: f.OrgType, Admins: []string{identity.DIDFromKey(f.Admin.SigningPublic())},
			GS1Prefixes: f.GS1Prefixes, PartyGLN: f.PartyGLN, LocationGLNs: f.LocationGLNs,
		}
		if f.ValKey != nil {
			g.Validators = []org.Validator{{PubKey: f.ValKey.Bytes(), Power: f.Power}}
		}
		if f.Vault != nil {
			ids.Identities = append(ids.Identities, identity.GenesisIdentity{
				SigningKey: f.Vault.SigningPublic(), EncryptionKey: f.Vault.EncryptionPublic(), KEM: identity.KEMMLKEM768X25519,
			})
			g.Members = []org.GenesisMember{{DID: identity.DIDFromKey(f.Vault.SigningPublic()), Roles: []string{org.RoleVault}}}
		}
		if f.SharedVault != nil {
			g.Members = append(g.Members, org.GenesisMember{DID: identity.DIDFromKey(f.SharedVault.SigningPublic()), Roles: []string{org.RoleVault}})
		}
		orgs.Orgs = append(orgs.Orgs, g)
		if f.ValKey != nil {
			vals = append(vals, cmttypes.GenesisValidator{Address: f.ValKey.Address(), PubKey: f.ValKey, Power: f.Power, Name: f.Moniker})
		}
	}
	gs := app.GenesisState{Params: params, Modules: map[string]json.RawMessage{}}
	gs.Modules[identity.StoreName] = mustJSON(ids)
	gs.Modules[org.StoreName] = mustJSON(orgs)
	doc := &cmttypes.GenesisDoc{
		GenesisTime:   now.UTC().Truncate(time.Millisecond),
		ChainID:       chainID,
		InitialHeight: 1,
		AppState:      mustJSON(gs),
		Validators:    vals,
	}
	if err := doc.ValidateAndComplete(); err != nil {
		return nil, err
	}
	return doc, nil
}

// writeCometFiles creates the config and data directories, config.toml,
// medchain.json, the node key and the validator key. tune, if set, adjusts
// the configuration and settings before they are written.
func writeCometFiles(home, moniker string, a Addrs, tune func(*cmtcfg.Config, *Settings)) (*cmtcfg.Config, error) {
	conf := DefaultCometConfig(home)
	conf.Moniker = moniker
	if a.RPC != "" {
		conf.RPC.ListenAddress = "tcp://" + a.RPC
	}
	if a.P2P != "" {
		conf.P2P.ListenAddress = "tcp://" + a.P2P
	}
	s := DefaultSettings()
	if a.API != "" {
		s.APIAddr = a.API
	}
	if tune != nil {
		tune(conf, &s)
	}
	if err := conf.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("config.toml: %w", err)
	}
	for _, d := range []string{filepath.Join(home, "config"), filepath.Join(home, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	cmtcfg.WriteConfigFile(filepath.Join(home, "config", "config.toml"), conf)
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := SaveSettings(home, s); err != nil {
		return nil, err
	}
	if _, err := p2p.LoadOrGenNodeKey(conf.NodeKeyFile()); err != nil {
		return nil, err
	}
	privval.LoadOrGenFilePV(conf.PrivValidatorKeyFile(), conf.PrivValidatorStateFile())
	return conf, nil
}

func mustJSON(v any) json.RawMessage {
	bz, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return bz
}
