package app

import (
	"context"
	"sync"
	"time"

	abcicli "github.com/cometbft/cometbft/abci/client"
	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/proxy"

	"github.com/medchain/medchain/crypto/sigverify"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/x/identity"
)

// Precheck does the expensive, state-independent part of admitting one new
// transaction ahead of CheckTx and without holding the application's lock:
// it decodes the transaction into the check cache and verifies its
// signature, and those its messages carry, into the verified-signature
// cache. It is prepare for a single transaction, used by the synchronous
// CheckTx path (the check_tx RPC); the mempool's asynchronous path batches
// (checkPipeline). Safe for concurrent use.
func (a *App) Precheck(bz []byte) { a.prepare([][]byte{bz}, a.signerKeys.get) }

// prepare decodes txs into the check cache and verifies, in one batch, every
// signature of theirs it can find the key for and has not verified yet,
// adding the valid ones to the verified-signature cache. The signer's key
// comes from the transaction itself (a registration) or from keyOf (nil:
// unknown). The mempool's pipeline passes the hints CheckTx left
// (signerKeys) and reads no state: the committed state is readable
// concurrently only through the reader trees, whose node caches miss on
// everything the last block wrote, costing more than the verification it
// enables. FinalizeBlock passes its working state (prepareBlock).
//
// It never decides anything: CheckTx still runs every check on its own
// view of state and merely finds the work done. A signature checked here
// with a key that is stale (since rotated) or wrong is a cache entry for a
// triple CheckTx never looks up, or nothing at all: an invalid signature
// is neither cached nor counted as invalid (CheckTx counts what really
// is). Safe for concurrent use.
func (a *App) prepare(txs [][]byte, keyOf func(keyID string) []byte) {
	var (
		b    = sigverify.Batch{Keys: a.keyCache}
		keys [][32]byte
		seen = make(map[[32]byte]bool, len(txs))
	)
	add := func(pub, msg, sig []byte) {
		k, ok := sigKey(pub, msg, sig)
		if !ok || seen[k] || a.sigCache.has(k) {
			return
		}
		seen[k] = true
		b.Add(pub, msg, sig)
		keys = append(keys, k)
	}
	for _, bz := range txs {
		d, err := a.check.decode(a, bz)
		if err != nil {
			continue
		}
		var pub []byte
		if len(d.msgs) == 1 {
			if bs, ok := d.msgs[0].(module.Bootstrapper); ok {
				pub, _ = bs.BootstrapKey(d.tx.Body.Signer)
			}
		}
		if pub == nil {
			pub = keyOf(d.tx.Body.Signer)
		}
		if pub != nil {
			add(pub, d.signBytes, d.tx.Signature)
		}
		for _, m := range d.msgs {
			if sc, ok := m.(module.SignatureCarrier); ok {
				for _, sg := range sc.Signatures(a.chainID, d.signer) {
					add(sg.PubKey, sg.Msg, sg.Sig)
				}
			}
		}
	}
	for i, ok := range b.Verify(nil) {
		if ok {
			a.metrics.sigVerified.Inc()
			a.sigCache.add(keys[i])
		}
	}
}

// prepareBlock batch-verifies the signatures of a block's transactions
// that this node has not prepared before (not in its check cache: they never
// reached its mempool, as when it catches up by block sync), with signer
// keys from the working state at the start of the block. Transactions
// seen before cost one hash each. Like prepare it decides nothing: deliver
// resolves every key and checks every signature again, finding most in the
// verified-signature cache (a key rotated earlier in the same block just
// makes an entry nobody looks up). Caller holds a.mu.
func (a *App) prepareBlock(txs [][]byte) {
	var unseen [][]byte
	for _, bz := range txs {
		if !a.check.has(bz) {
			unseen = append(unseen, bz)
		}
	}
	if len(unseen) < 2 { // nothing to share: deliver verifies it alone
		return
	}
	ids := a.ms.Working(identity.StoreName)
	a.prepare(unseen, func(keyID string) []byte {
		pub, err := a.Identity.Keeper.SignerKey(ids, keyID)
		if err != nil {
			return nil
		}
		return pub
	})
}

// ClientCreator returns the CometBFT client creator to run a with in
// process: one local client per ABCI connection, as
// proxy.NewConnSyncLocalClientCreator gives, except on the mempool
// connection, whose new transactions go through a checkPipeline: their
// signatures are batch-verified outside the application's lock before
// CheckTx runs on them, in arrival order.
func ClientCreator(a *App) proxy.ClientCreator { return clientCreator{a} }

type clientCreator struct{ a *App }

func (c clientCreator) NewABCIClient() (abcicli.Client, error) {
	cl := &pipelineClient{Client: abcicli.NewLocalClient(nil, c.a), a: c.a}
	cl.pipe.client = cl
	return cl, nil
}

// pipelineClient is a local ABCI client whose asynchronous CheckTx of new
// transactions goes through a checkPipeline. Every other call, a recheck
// included, goes straight to the local client.
type pipelineClient struct {
	abcicli.Client
	a    *App
	pipe checkPipeline

	cbMu sync.Mutex
	cb   abcicli.Callback // the global callback, as set on the local client
}

func (c *pipelineClient) SetResponseCallback(cb abcicli.Callback) {
	c.cbMu.Lock()
	c.cb = cb
	c.cbMu.Unlock()
	c.Client.SetResponseCallback(cb)
}

func (c *pipelineClient) callback() abcicli.Callback {
	c.cbMu.Lock()
	defer c.cbMu.Unlock()
	return c.cb
}

func (c *pipelineClient) CheckTxAsync(ctx context.Context, req *abci.RequestCheckTx) (*abcicli.ReqRes, error) {
	if req.Type != abci.CheckTxType_New {
		return c.Client.CheckTxAsync(ctx, req)
	}
	return c.pipe.enqueue(req), nil
}

func (c *pipelineClient) CheckTx(ctx context.Context, req *abci.RequestCheckTx) (*abci.ResponseCheckTx, error) {
	if req.Type == abci.CheckTxType_New {
		c.a.Precheck(req.Tx)
	}
	return c.Client.CheckTx(ctx, req)
}

// Flush waits until every transaction queued in the pipeline has its
// answer. CometBFT flushes the mempool connection before it commits a block
// and updates the mempool, and before each recheck, so no answer to a new
// transaction arrives during a recheck.
func (c *pipelineClient) Flush(ctx context.Context) error {
	c.pipe.flush()
	return c.Client.Flush(ctx)
}

func (c *pipelineClient) Stop() error {
	c.pipe.stop()
	return c.Client.Stop()
}

// checkPipeline admits new transactions in two stages, each one goroutine,
// started on first use:
//
//  1. prepare: every transaction queued so far is decoded and all their
//     signatures are verified in one batch (about 60 % of the cost of
//     verifying them one by one with 16 or more), without the app lock;
//  2. check: CheckTx runs on each, in arrival order, and its answer
//     completes the request (and runs the mempool's callbacks).
//
// While stage 2 checks one batch, stage 1 prepares the next and requests
// queue up for the one after, so batches grow with the load and nothing
// waits longer than a millisecond for one. Order is kept end to end: a signer's transactions
// with consecutive sequences are checked in the order they arrived.
type checkPipeline struct {
	client *pipelineClient

	mu      sync.Mutex
	cond    sync.Cond // on mu: the queue grew or shrank, or pending fell to 0
	queue   []*abcicli.ReqRes
	pending int // enqueued and not yet answered
	started bool
	stopped bool
	batches chan []*abcicli.ReqRes // stage 1 → stage 2
}

// maxPrepare bounds a batch; a smaller queue than minPrepare waits
// prepareLinger for more (batch verification pays off from about 16
// signatures); maxQueue makes enqueue wait (the mempool itself holds at
// most mempool.size transactions).
const (
	maxPrepare    = 256
	minPrepare    = 16
	prepareLinger = time.Millisecond
	maxQueue      = 4096
)

func (p *checkPipeline) enqueue(req *abci.RequestCheckTx) *abcicli.ReqRes {
	rr := abcicli.NewReqRes(abci.ToRequestCheckTx(req))
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		p.started = true
		p.cond.L = &p.mu
		p.batches = make(chan []*abcicli.ReqRes, 1)
		go p.prepareLoop()
		go p.checkLoop()
	}
	for len(p.queue) >= maxQueue && !p.stopped {
		p.cond.Wait()
	}
	p.queue = append(p.queue, rr)
	p.pending++
	p.cond.Broadcast()
	return rr
}

func (p *checkPipeline) prepareLoop() {
	defer close(p.batches)
	txs := make([][]byte, 0, maxPrepare)
	for {
		p.mu.Lock()
		for len(p.queue) == 0 && !p.stopped {
			p.cond.Wait()
		}
		if p.stopped {
			p.mu.Unlock()
			return
		}
		if len(p.queue) < minPrepare {
			// Let a batch form: a few more transactions usually arrive
			// within the linger, which costs nothing but latency (a
			// millisecond against blocks of hundreds).
			p.mu.Unlock()
			time.Sleep(prepareLinger)
			p.mu.Lock()
		}
		n := min(len(p.queue), maxPrepare)
		batch := make([]*abcicli.ReqRes, n)
		copy(batch, p.queue)
		p.queue = append(p.queue[:0], p.queue[n:]...)
		p.cond.Broadcast()
		p.mu.Unlock()

		txs = txs[:0]
		for _, rr := range batch {
			txs = append(txs, rr.Request.GetCheckTx().Tx)
		}
		p.client.a.prepare(txs, p.client.a.signerKeys.get)
		p.batches <- batch
	}
}

func (p *checkPipeline) checkLoop() {
	a := p.client.a
	for batch := range p.batches {
		cb := p.client.callback()
		for _, rr := range batch {
			res, err := a.CheckTx(context.Background(), rr.Request.GetCheckTx())
			if err != nil { // App.CheckTx answers every transaction; keep the contract anyway
				res = &abci.ResponseCheckTx{Codespace: ErrInternal.Codespace, Code: ErrInternal.Code, Log: ErrInternal.Desc}
			}
			resp := abci.ToResponseCheckTx(res)
			rr.Response = resp
			rr.Done()
			if cb != nil {
				cb(rr.Request, resp)
			}
			rr.InvokeCallback()
		}
		p.mu.Lock()
		p.pending -= len(batch)
		p.cond.Broadcast()
		p.mu.Unlock()
	}
}

// flush waits until every enqueued request is answered (or the pipeline
// stopped).
func (p *checkPipeline) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.pending > 0 && !p.stopped {
		p.cond.Wait()
	}
}

// stop ends both stages; requests still queued are never answered (the
// node is shutting down).
func (p *checkPipeline) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	if p.started {
		p.cond.Broadcast()
	}
}

// signerKeyCache remembers the public keys CheckTx resolved for signing key
// ids, for prepare, which cannot read the state machine's own trees. It is
// a hint: prepare only verifies with it ahead of time, and CheckTx and
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
