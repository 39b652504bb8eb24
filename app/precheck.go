package app

import (
	"context"
	"sync"

	abcicli "github.com/cometbft/cometbft/abci/client"
	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/proxy"

	"github.com/medchain/medchain/module"
)

// Precheck does the expensive, state-independent part of admitting a new
// transaction ahead of CheckTx and without holding the application's lock:
// it decodes the transaction into the check cache and verifies its
// signature, and those its messages carry, into the verified-signature
// cache. The signer's key comes from the transaction itself (a
// registration) or from the keys CheckTx last resolved; Precheck reads no
// state.
//
// It never decides anything: CheckTx still runs every check on its own
// view of state and merely finds the work done (a signature verified here
// for a key that has since been rotated is a cache entry for the old key,
// which CheckTx never looks up). CheckTx and FinalizeBlock run one at a
// time under App.mu, so Ed25519 verification there (~50 µs per
// transaction) was a serial stage of the node; Precheck runs in the
// goroutine that submits the transaction (an RPC handler or a peer's
// mempool reactor), on any core. Safe for concurrent use.
func (a *App) Precheck(bz []byte) {
	d, err := a.check.decode(a, bz)
	if err != nil {
		return
	}
	// The signer's key: a registration carries it; for anyone else, the key
	// CheckTx last resolved for that key id (signerKeys), if any. Reading
	// the committed state here would walk trees whose node cache misses on
	// everything the last block wrote, costing more than the verification
	// it enables. A stale key only makes a useless cache entry.
	var pub []byte
	if len(d.msgs) == 1 {
		if b, ok := d.msgs[0].(module.Bootstrapper); ok {
			pub, _ = b.BootstrapKey(d.tx.Body.Signer)
		}
	}
	if pub == nil {
		pub = a.signerKeys.get(d.tx.Body.Signer)
	}
	if pub == nil || !a.preverify(pub, d.signBytes, d.tx.Signature) {
		return
	}
	for _, m := range d.msgs {
		if sc, ok := m.(module.SignatureCarrier); ok {
			for _, sg := range sc.Signatures(a.chainID, d.signer) {
				a.preverify(sg.PubKey, sg.Msg, sg.Sig)
			}
		}
	}
}

// preverify is verify for Precheck: a signature that does not verify is
// not counted as invalid (the key may simply be stale; CheckTx counts what
// is really invalid).
func (a *App) preverify(pub, msg, sig []byte) bool {
	key, ok := sigKey(pub, msg, sig)
	if !ok {
		return false
	}
	if a.sigCache.has(key) {
		return true
	}
	if !voiVerify(pub, msg, sig) {
		return false
	}
	a.metrics.sigVerified.Inc()
	a.sigCache.add(key)
	return true
}

// ClientCreator returns the CometBFT client creator to run a with in
// process: one local client per ABCI connection, as
// proxy.NewConnSyncLocalClientCreator gives, except that a new transaction
// passes through Precheck in the caller's goroutine before the mempool
// connection's CheckTx takes its locks.
func ClientCreator(a *App) proxy.ClientCreator { return clientCreator{a} }

type clientCreator struct{ a *App }

func (c clientCreator) NewABCIClient() (abcicli.Client, error) {
	return &precheckClient{Client: abcicli.NewLocalClient(nil, c.a), a: c.a}, nil
}

type precheckClient struct {
	abcicli.Client
	a *App
}

func (c *precheckClient) CheckTxAsync(ctx context.Context, req *abci.RequestCheckTx) (*abcicli.ReqRes, error) {
	if req.Type == abci.CheckTxType_New {
		c.a.Precheck(req.Tx)
	}
	return c.Client.CheckTxAsync(ctx, req)
}

func (c *precheckClient) CheckTx(ctx context.Context, req *abci.RequestCheckTx) (*abci.ResponseCheckTx, error) {
	if req.Type == abci.CheckTxType_New {
		c.a.Precheck(req.Tx)
	}
	return c.Client.CheckTx(ctx, req)
}

// signerKeyCache remembers the public keys CheckTx resolved for signing key
// ids, for Precheck, which cannot read the state machine's own trees. It
// is a hint: Precheck only verifies with it ahead of time, and CheckTx and
// FinalizeBlock resolve every key themselves. Bounded; emptied when full.
type signerKeyCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

const maxSignerKeys = 1 << 16

func (c *signerKeyCache) get(keyID string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[keyID]
}

func (c *signerKeyCache) put(keyID string, pub []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxSignerKeys {
		c.m = make(map[string][]byte)
	}
	c.m[keyID] = pub
}
