package node

import (
	"context"

	"github.com/cometbft/cometbft/libs/log"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"

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
func mountSupply(a *app.App, srv *api.Server, v *vault.Service, logger log.Logger) {
	cfg := supplyapi.Config{Chain: chainProver{a}, ChainID: a.ChainID(), Keeper: a.Supply.Keeper, Logger: logger}
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
}

// chainProver adds Merkle proofs of committed state to chainReader.
type chainProver struct{ a *app.App }

func (c chainProver) Reader(name string) (store.Reader, int64, error) {
	return c.a.Store().Reader(name, 0)
}

func (c chainProver) Prove(name string, key []byte, height int64) ([]byte, *cmtcrypto.ProofOps, int64, error) {
	return c.a.Store().Prove(name, key, height)
}
