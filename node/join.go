package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	cmttypes "github.com/cometbft/cometbft/types"
	dbm "github.com/cosmos/cosmos-db"

	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/crypto/keyring"
)

// NetworkJoinOptions describe a node that joins an existing network.
type NetworkJoinOptions struct {
	Moniker string // default "node"
	Addrs   Addrs  // listen addresses; empty ones as for InitDev
	// Peers are the persistent peers it dials, "id@host:port" (at least
	// one).
	Peers []string
	// OrgPeers maps organization ids to their nodes' API base URLs, where
	// this node's vault fetches the records they hold (Settings.Peers).
	OrgPeers map[string]string
	// Keyring is where the admin key is created; default <home>/keyring.
	Keyring *keyring.Keyring
	// AdminKey is the keyring name of the joining organization's first
	// admin, default "admin".
	AdminKey string
}

// Joined is what a joining organization needs for its admission: the
// node's identity and the keys its admit_org proposal names.
type Joined struct {
	Home             string `json:"home"`
	ChainID          string `json:"chain_id"`
	NodeID           string `json:"node_id"`
	P2PAddr          string `json:"p2p_addr"`
	APIURL           string `json:"api_url"`          // this node's REST API
	ValidatorPubKey  string `json:"validator_pubkey"` // hex, as --validator-key takes it
	ValidatorAddress string `json:"validator_address"`
	AdminKey         string `json:"admin_key"`
	AdminDID         string `json:"admin_did"`
}

// Join creates a node home for the existing network whose genesis is doc:
// CometBFT's default configuration dialing o.Peers, fresh node and
// validator keys, and a first admin key for the joining organization in
// the keyring. The node starts as a full node and block-syncs from its
// peers; it becomes a validator once a governance proposal (admit_org)
// names its validator key.
//
// Join fails, writing no configuration, if home is initialised, if doc does not
// validate or its app state is not one this medchain starts from (it runs
// InitChain on it in memory, as the node will), if there is no peer, or if
// a peer or an organization's API URL is malformed.
func Join(home string, doc *cmttypes.GenesisDoc, o NetworkJoinOptions) (Joined, error) {
	if IsInitialized(home) {
		return Joined{}, fmt.Errorf("%s is already initialised; remove it or choose another --home", home)
	}
	if err := doc.ValidateAndComplete(); err != nil {
		return Joined{}, fmt.Errorf("genesis: %w", err)
	}
	if err := checkGenesisAppState(doc); err != nil {
		return Joined{}, err
	}
	if len(o.Peers) == 0 {
		return Joined{}, errors.New("no peer: give at least one node of the network to sync from (id@host:port)")
	}
	for _, p := range o.Peers {
		if _, err := p2p.NewNetAddressString(p); err != nil {
			return Joined{}, fmt.Errorf("peer %q: %v; want id@host:port", p, err)
		}
	}
	for org, u := range o.OrgPeers {
		if org == "" || !(strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) {
			return Joined{}, fmt.Errorf("organization peer %q=%q: want ORG=http(s)://host:port", org, u)
		}
	}
	if o.Moniker == "" {
		o.Moniker = "node"
	}
	if o.AdminKey == "" {
		o.AdminKey = "admin"
	}
	kr := o.Keyring
	if kr == nil {
		var err error
		if kr, err = keyring.Open(KeyringDir(home), keyring.EnvOrPrompt()); err != nil {
			return Joined{}, err
		}
	}
	conf, err := writeCometFiles(home, o.Moniker, o.Addrs, func(c *cmtcfg.Config, s *Settings) {
		c.P2P.PersistentPeers = strings.Join(o.Peers, ",")
		s.Peers = o.OrgPeers
	})
	if err != nil {
		return Joined{}, err
	}
	if err := doc.SaveAs(conf.GenesisFile()); err != nil {
		return Joined{}, err
	}
	admin, err := newAdmin(kr, o.AdminKey)
	if err != nil {
		return Joined{}, err
	}
	settings, err := LoadSettings(home)
	if err != nil {
		return Joined{}, err
	}
	nk, err := p2p.LoadNodeKey(conf.NodeKeyFile())
	if err != nil {
		return Joined{}, err
	}
	pv := privval.LoadFilePV(conf.PrivValidatorKeyFile(), conf.PrivValidatorStateFile())
	abs, _ := filepath.Abs(home)
	return Joined{
		Home: abs, ChainID: doc.ChainID, NodeID: string(nk.ID()),
		P2PAddr:          strings.TrimPrefix(conf.P2P.ListenAddress, "tcp://"),
		APIURL:           "http://" + settings.APIAddr,
		ValidatorPubKey:  strings.ToUpper(hex.EncodeToString(pv.Key.PubKey.Bytes())),
		ValidatorAddress: pv.Key.PubKey.Address().String(),
		AdminKey:         o.AdminKey, AdminDID: admin.DID,
	}, nil
}

// checkGenesisAppState runs InitChain on doc in memory, as a node starting
// from it will, so that a genesis this medchain cannot start from is
// refused before a home is written.
func checkGenesisAppState(doc *cmttypes.GenesisDoc) error {
	a, err := app.New(dbm.NewMemDB(), app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	_, err = a.InitChain(context.Background(), &abci.RequestInitChain{
		Time: doc.GenesisTime, ChainId: doc.ChainID, AppStateBytes: doc.AppState, InitialHeight: doc.InitialHeight,
	})
	if err != nil {
		return fmt.Errorf("genesis app_state: %w", err)
	}
	return nil
}
