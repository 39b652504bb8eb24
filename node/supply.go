package node

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/cometbft/cometbft/libs/log"
	nm "github.com/cometbft/cometbft/node"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	cmtstore "github.com/cometbft/cometbft/store"

	"github.com/medchain/medchain/api"
	apitypes "github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/supplyapi"
	"github.com/medchain/medchain/vault"
)

// mountSupply serves the supply-chain API (/epcis/..., /verify, /supply/...).
// Captures are signed by the node's service identity, the vault key, acting
// for the authenticated member: the chain accepts them only where that
// identity holds the vault role in the capturing organization (the
// development chain gives it that role in its demo organizations). The
// vault key is the one the FHIR API writes with, unlocked once at start
// (MEDCHAIN_PASSPHRASE or the prompt), and captures share the vault's
// sequence counter. A node without a running vault (no vault key, or a key
// with the vault role nowhere) answers POST /epcis/capture by validating
// only (202); members then capture with "medchain epcis capture --sign",
// which signs with their own key.
//
// Trade details of captures (bizTransactions, quantities, sources and
// destinations) are sealed: the chain gets a salted commitment, the details
// stay in this node's trade-details store, TradeDir(home), which GET
// /epcis/events and /epcis/provenance disclose to trading partners and
// regulators (supplyapi/README.md).
//
// It returns the handler, whose Close ends the recall notice streams (GET
// /supply/recalls/stream) when the API server shuts down.
func mountSupply(a *app.App, cn *nm.Node, home string, srv *api.Server, v *vault.Service, logger log.Logger) (*supplyapi.Handler, error) {
	trades, err := supplyapi.OpenTradeStore(TradeDir(home))
	if err != nil {
		return nil, err
	}
	chain := &chainProver{a: a, blocks: cn.BlockStore(), genesis: cn.GenesisDoc().GenesisTime}
	cfg := supplyapi.Config{Chain: chain, ChainID: a.ChainID(), Keeper: a.Supply.Keeper, Trades: trades, Logger: logger}
	if v != nil {
		cfg.Submit = func(ctx context.Context, msgs ...module.Msg) (*apitypes.TxResult, error) {
			// The vault resynchronises its sequence after a refusal; a
			// capture that lost a race with the vault's own transactions
			// is signed again (at most twice more).
			for attempt := 0; ; attempt++ {
				res, err := v.Submit(ctx, msgs...)
				if attempt < 2 && res != nil && res.Codespace == app.Codespace && res.Stage != "deliver" &&
					(res.Code == app.ErrSequenceReused.Code || res.Code == app.ErrSequenceFuture.Code) {
					continue
				}
				return res, err
			}
		}
		cfg.Signer = v.DID()
	}
	h := supplyapi.New(cfg)
	for _, rt := range h.Routes() {
		srv.Mount(rt.Method, rt.Pattern, rt.Summary, rt.Handler)
	}
	logger.Info("supply-chain API mounted", "paths", "/epcis, /verify, /supply", "submits", cfg.Submit != nil)
	return h, nil
}

// TradeDir is where a node keeps the trade details of the captures it
// submits (supplyapi.TradeStore).
func TradeDir(home string) string { return filepath.Join(home, "data", "trade") }

// chainProver reads committed state with Merkle proofs, and block times
// from CometBFT's block store.
type chainProver struct {
	a       *app.App
	blocks  *cmtstore.BlockStore
	genesis time.Time

	mu     sync.Mutex
	height int64 // the last block time looked up (verification asks for the same height many times)
	time   time.Time
}

func (c *chainProver) Reader(name string) (store.Reader, int64, error) {
	return c.a.Store().Reader(name, 0)
}

// ReaderAt reads store name as committed at height (supplyapi.HistoryReader:
// recall streams report each block's change at its own height).
func (c *chainProver) ReaderAt(name string, height int64) (store.Reader, error) {
	r, _, err := c.a.Store().Reader(name, height)
	return r, err
}

func (c *chainProver) Prove(name string, key []byte, height int64) ([]byte, *cmtcrypto.ProofOps, int64, error) {
	return c.a.Store().Prove(name, key, height)
}

// BlockTime returns the header time of block height (the genesis time for
// height 0). CometBFT saves a block before the application executes and
// commits it, so every height the app has committed is in the block store.
func (c *chainProver) BlockTime(height int64) (time.Time, error) {
	if height <= 0 {
		return c.genesis.UTC(), nil
	}
	c.mu.Lock()
	if c.height == height {
		t := c.time
		c.mu.Unlock()
		return t, nil
	}
	c.mu.Unlock()
	meta := c.blocks.LoadBlockMeta(height)
	if meta == nil {
		return time.Time{}, fmt.Errorf("block %d is not in the block store", height)
	}
	t := meta.Header.Time.UTC()
	c.mu.Lock()
	if height > c.height {
		c.height, c.time = height, t
	}
	c.mu.Unlock()
	return t, nil
}
