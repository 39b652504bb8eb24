package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/x/identity"
)

// Version is the application protocol version reported to CometBFT.
const Version = 1

var keyChainID = []byte{0x03}

var _ abci.Application = (*App)(nil)

// blockState is staged between FinalizeBlock and Commit.
type blockState struct {
	height     int64
	time       time.Time
	valUpdates []module.ValidatorUpdate
	// signers holds every DID whose signer key or sequence the block may
	// have changed: each transaction's signer and each DID whose identity
	// record was written. Commit keeps CheckTx's key resolutions of all
	// other DIDs (checkCache.keys).
	signers map[string]struct{}
}

// Info implements abci.Application.
func (a *App) Info(_ context.Context, _ *abci.RequestInfo) (*abci.ResponseInfo, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	last := a.ms.LastCommit()
	if last.Version > 0 && a.chainID == "" {
		r, _, err := a.ms.Reader(AuthStore, 0)
		if err != nil {
			return nil, err
		}
		a.chainID = string(r.Get(keyChainID))
	}
	return &abci.ResponseInfo{Data: "medchain", Version: strconv.Itoa(Version), AppVersion: Version, LastBlockHeight: last.Version, LastBlockAppHash: last.Hash}, nil
}

// InitChain implements abci.Application: it loads the genesis app state
// into the working stores (committed with block 1) and returns the
// validator set the organizations declare.
func (a *App) InitChain(_ context.Context, req *abci.RequestInitChain) (*abci.ResponseInitChain, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var gs GenesisState
	dec := json.NewDecoder(strings.NewReader(string(req.AppStateBytes)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&gs); err != nil {
		return nil, fmt.Errorf("genesis app_state: %w", err)
	}
	if gs.Params == (Params{}) {
		gs.Params = DefaultParams()
	}
	if err := gs.Params.validate(); err != nil {
		return nil, fmt.Errorf("genesis app_state: %w", err)
	}
	a.chainID, a.params = req.ChainId, gs.Params
	if req.InitialHeight > 1 {
		if err := a.ms.SetInitialVersion(req.InitialHeight); err != nil {
			return nil, err
		}
	}
	ctx := &module.Context{ChainID: req.ChainId, Height: req.InitialHeight, Time: req.Time.UTC(), Store: a.ms.Working}
	known := map[string]bool{}
	for _, m := range a.modules {
		known[m.Name()] = true
		if err := m.InitGenesis(ctx, gs.Modules[m.Name()]); err != nil {
			return nil, err
		}
	}
	for _, name := range sortedKeys(gs.Modules) {
		if !known[name] {
			return nil, fmt.Errorf("genesis app_state: unknown module %q", name)
		}
	}
	auth := a.ms.Working(AuthStore)
	// Identities of the genesis state start at sequence 0: store it, since
	// a registered DID without a stored sequence is at 1 (NextSequence).
	for _, did := range identity.RegisteredDIDs(a.ms.Working(identity.StoreName)) {
		auth.Set(seqKey(did), beUint64(0))
	}
	pbz, _ := json.Marshal(gs.Params)
	auth.Set(keyParams, pbz)
	auth.Set(keyChainID, []byte(req.ChainId))

	var vals []abci.ValidatorUpdate
	for _, v := range a.Org.Keeper.Validators(a.ms.Working("org")) {
		vals = append(vals, abci.Ed25519ValidatorUpdate(v.PubKey, v.Power))
	}
	if len(vals) == 0 {
		return nil, errors.New("genesis app_state: no organization runs a validator")
	}
	a.genesisHash = a.ms.WorkingHash()
	return &abci.ResponseInitChain{Validators: vals, AppHash: a.genesisHash}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// CheckTx implements abci.Application: admission against the last committed
// state plus the transactions already in this node's mempool. The caches it
// uses (checkCache, sigCache) only save work and never change its answer.
func (a *App) CheckTx(_ context.Context, req *abci.RequestCheckTx) (*abci.ResponseCheckTx, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	start := a.clock()
	// The last committed state (the working state before block 1), read
	// through the working trees (IAVL's node cache, or memtree's saved
	// view): CheckTx holds mu, so no block is being executed meanwhile.
	ids, version := a.ms.OwnReader(identity.StoreName)
	auth, _ := a.ms.OwnReader(AuthStore)
	var ad *admitted
	d, err := a.check.decode(a, req.Tx)
	if err == nil {
		keys := a.check.keySource(version, func(keyID string) ([]byte, error) {
			pub, err := a.Identity.Keeper.SignerKey(ids, keyID)
			if err == nil {
				a.signerKeys.put(keyID, pub)
			}
			return pub, err
		})
		ad, err = a.authorize(d, keys, func(did string) uint64 {
			if s, ok := a.checkSeq[did]; ok {
				return s
			}
			return a.check.committedSeq(version, did, func() uint64 { return NextSequence(auth, ids, did) })
		})
	}
	a.metrics.observeCheck(err, a.clock().Sub(start))
	if err != nil {
		space, code, log := codeOf(err)
		return &abci.ResponseCheckTx{Codespace: space, Code: code, Log: log}, nil
	}
	a.checkSeq[ad.signer] = ad.seq + 1
	// A recheck is of a transaction checked before as new: its keys were
	// hinted and its messages' signatures verified then.
	if req.Type == abci.CheckTxType_New {
		a.hintSignerKeys(ad)
		// Verify the messages' own signatures now, off the consensus path,
		// so that FinalizeBlock finds them in the cache. A failure is for
		// the handler to report.
		for _, m := range ad.msgs {
			if sc, ok := m.(module.SignatureCarrier); ok {
				for _, sg := range sc.Signatures(a.chainID, ad.signer) {
					a.verify(sg.PubKey, sg.Msg, sg.Sig)
				}
			}
		}
	}
	return &abci.ResponseCheckTx{Code: abci.CodeTypeOK, GasWanted: 1}, nil
}

// hintSignerKeys tells prepare the keys an admitted transaction introduces
// (a registration's) or announces (a rotation's), so that the signer's next
// transactions are verified ahead of CheckTx; CheckTx itself resolves keys
// from state.
func (a *App) hintSignerKeys(ad *admitted) {
	for _, m := range ad.msgs {
		switch m := m.(type) {
		case module.Bootstrapper:
			if pub, ok := m.BootstrapKey(ad.tx.Body.Signer); ok {
				a.signerKeys.put(ad.tx.Body.Signer, pub)
			}
		case module.KeyAnnouncer:
			if id, pub, ok := m.AnnouncedKey(ad.tx.Body.Signer); ok {
				a.signerKeys.put(id, pub)
			}
		}
	}
}

func codeOf(err error) (string, uint32, string) {
	if space, code, ok := module.CodeOf(err); ok {
		return space, code, err.Error()
	}
	return ErrInternal.Codespace, ErrInternal.Code, ErrInternal.Desc
}

// PrepareProposal implements abci.Application: it keeps the mempool's order
// and drops transactions past the byte limit.
func (a *App) PrepareProposal(_ context.Context, req *abci.RequestPrepareProposal) (*abci.ResponsePrepareProposal, error) {
	var txs [][]byte
	var total int64
	for _, t := range req.Txs {
		total += int64(len(t))
		if total > req.MaxTxBytes {
			break
		}
		txs = append(txs, t)
	}
	return &abci.ResponsePrepareProposal{Txs: txs}, nil
}

// ProcessProposal implements abci.Application. Invalid transactions in a
// proposal are rejected one by one in FinalizeBlock, so the block is accepted.
func (a *App) ProcessProposal(context.Context, *abci.RequestProcessProposal) (*abci.ResponseProcessProposal, error) {
	return &abci.ResponseProcessProposal{Status: abci.ResponseProcessProposal_ACCEPT}, nil
}

// FinalizeBlock implements abci.Application: it executes every transaction
// on the working state and returns the results and the new app hash. The
// state is persisted only in Commit.
func (a *App) FinalizeBlock(_ context.Context, req *abci.RequestFinalizeBlock) (*abci.ResponseFinalizeBlock, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	start := a.clock()
	bs := &blockState{height: req.Height, time: req.Time.UTC(), signers: map[string]struct{}{}}
	results := make([]*abci.ExecTxResult, len(req.Txs))
	a.prepareBlock(req.Txs)
	for i, bz := range req.Txs {
		results[i] = a.deliver(bs, bz)
	}
	a.block = bs
	resp := &abci.ResponseFinalizeBlock{TxResults: results, AppHash: a.ms.WorkingHash()}
	resp.ValidatorUpdates = mergeValidatorUpdates(bs.valUpdates)
	a.metrics.observeBlock(results, a.clock().Sub(start))
	return resp, nil
}

// mergeValidatorUpdates keeps the last update of each key, in first-seen order.
func mergeValidatorUpdates(us []module.ValidatorUpdate) []abci.ValidatorUpdate {
	var out []abci.ValidatorUpdate
	var keys [][]byte
	for _, u := range us {
		i := slices.IndexFunc(keys, func(k []byte) bool { return string(k) == string(u.PubKey) })
		if i >= 0 {
			out[i] = abci.Ed25519ValidatorUpdate(u.PubKey, u.Power)
			continue
		}
		keys = append(keys, u.PubKey)
		out = append(out, abci.Ed25519ValidatorUpdate(u.PubKey, u.Power))
	}
	return out
}

// deliver executes one transaction atomically. Once admitted, the signer's
// sequence advances whether or not the messages succeed, so a failed
// transaction cannot be replayed either.
func (a *App) deliver(bs *blockState, bz []byte) (res *abci.ExecTxResult) {
	auth, ids := a.ms.Working(AuthStore), a.ms.Working(identity.StoreName)
	ad, err := a.admit(bz, ids, func(did string) uint64 { return NextSequence(auth, ids, did) })
	if err != nil {
		space, code, log := codeOf(err)
		return &abci.ExecTxResult{Codespace: space, Code: code, Log: log}
	}
	bs.signers[ad.signer] = struct{}{}
	// The sequence is consumed whatever the handlers do. A successful
	// registration (sequence 0, the signer registered afterwards) leaves it
	// implied (NextSequence); every other transaction stores it, a failed
	// registration included, so that its bytes can never run again.
	implied, newSigner := false, !identity.IsRegistered(ids, ad.signer)
	defer func() {
		if !implied {
			auth.Set(seqKey(ad.signer), beUint64(ad.seq+1))
		}
	}()

	// Transaction-scoped write caches, created on a store's first use.
	names := a.names
	caches := make([]*store.Cache, len(names))
	ctx := &module.Context{
		ChainID: a.chainID, Height: bs.height, Time: bs.time,
		Signer: ad.signer, SignerKey: ad.tx.Body.Signer, Verify: a.verify,
		Store: func(name string) store.KV {
			i, ok := slices.BinarySearch(names, name)
			if !ok {
				panic(fmt.Sprintf("app: unknown store %q", name))
			}
			if caches[i] == nil {
				caches[i] = store.NewCache(a.ms.Working(name))
			}
			return caches[i]
		},
	}
	defer func() {
		// A panic in a handler is a bug that every node hits alike: reject the
		// transaction. A database failure is not alike on every node: stop.
		if r := recover(); r != nil {
			if f, ok := r.(*store.DBFailure); ok {
				panic(f)
			}
			a.logger.Error("handler panic", "height", bs.height, "panic", fmt.Sprint(r))
			res = &abci.ExecTxResult{Codespace: ErrInternal.Codespace, Code: ErrInternal.Code, Log: ErrInternal.Desc}
		}
	}()
	typeURLs := make([]string, len(ad.msgs))
	for i, msg := range ad.msgs {
		typeURLs[i] = msg.TypeURL()
		ctx.BeginMsg(typeURLs[i])
		if err := a.router[msg.TypeURL()].Handler(ctx, msg); err != nil {
			space, code, log := codeOf(err)
			return &abci.ExecTxResult{Codespace: space, Code: code, Log: fmt.Sprintf("message %d: %s", i, log),
				Events: []abci.Event{a.txEvent(ad, typeURLs[:i+1])}}
		}
	}
	if c := caches[a.identityIdx]; c != nil {
		c.WrittenKeys(func(k []byte) {
			if did, ok := identity.DIDOfRecordKey(k); ok {
				bs.signers[did] = struct{}{}
			}
		})
	}
	for _, c := range caches {
		if c != nil {
			c.Write()
		}
	}
	implied = newSigner && ad.seq == 0 && identity.IsRegistered(ids, ad.signer)
	bs.valUpdates = append(bs.valUpdates, ctx.ValidatorUpdates()...)
	evs := ctx.Events()
	events := make([]abci.Event, 1, 1+len(evs))
	events[0] = a.txEvent(ad, typeURLs)
	for _, ev := range evs {
		e := abci.Event{Type: ev.Type, Attributes: make([]abci.EventAttribute, len(ev.Attrs))}
		for i, at := range ev.Attrs {
			e.Attributes[i] = abci.EventAttribute{Key: at.Key, Value: at.Value, Index: a.events.indexed(ev.Type, at.Key)}
		}
		events = append(events, e)
	}
	return &abci.ExecTxResult{Code: abci.CodeTypeOK, Events: events}
}

// txEvent is the event every executed transaction has: its signer's DID,
// its sequence and its messages' type URLs (comma-separated).
func (a *App) txEvent(ad *admitted, typeURLs []string) abci.Event {
	return abci.Event{Type: "tx", Attributes: []abci.EventAttribute{
		{Key: "signer", Value: ad.signer, Index: a.events.txSigner},
		{Key: "sequence", Value: strconv.FormatUint(ad.seq, 10), Index: a.events.txSequence},
		{Key: "msgs", Value: strings.Join(typeURLs, ","), Index: a.events.txMsgs},
	}}
}

func beUint64(v uint64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}

// Commit implements abci.Application: it persists the working state.
func (a *App) Commit(context.Context, *abci.RequestCommit) (*abci.ResponseCommit, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id, err := a.ms.Commit()
	if err != nil {
		return nil, err
	}
	var changed map[string]struct{}
	if a.block != nil {
		changed = a.block.signers
	}
	a.block = nil
	clear(a.checkSeq)
	a.check.committed(id.Version, changed)
	a.metrics.height.Set(float64(id.Version))
	return &abci.ResponseCommit{}, nil
}

// Query codes (codespace "query").
var (
	ErrQueryPath   = module.NewError("query", 1, "unknown query path (use /store/<name>/key)")
	ErrQueryStore  = module.NewError("query", 2, "unknown store")
	ErrQueryHeight = module.NewError("query", 3, "state at that height is not available")
)

// Query implements abci.Application. Path /store/<name>/key returns the
// value at key (req.Data) in store <name> at req.Height (0: latest
// committed), with ProofOps chaining it to that height's app hash when
// req.Prove is set. That app hash is in the header of the next height.
func (a *App) Query(_ context.Context, req *abci.RequestQuery) (*abci.ResponseQuery, error) {
	name, ok := strings.CutPrefix(req.Path, "/store/")
	name, ok2 := strings.CutSuffix(name, "/key")
	if !ok || !ok2 {
		return queryErr(ErrQueryPath.Wrapf("%q", req.Path)), nil
	}
	if !slices.Contains(a.ms.Names(), name) {
		return queryErr(ErrQueryStore.Wrapf("%q (stores: %v)", name, a.ms.Names())), nil
	}
	if req.Prove {
		v, ops, h, err := a.ms.Prove(name, req.Data, req.Height)
		if err != nil {
			return queryErr(ErrQueryHeight.Wrapf("%v", err)), nil
		}
		return &abci.ResponseQuery{Key: req.Data, Value: v, Height: h, ProofOps: ops}, nil
	}
	r, h, err := a.ms.Reader(name, req.Height)
	if err != nil {
		return queryErr(ErrQueryHeight.Wrapf("%v", err)), nil
	}
	return &abci.ResponseQuery{Key: req.Data, Value: r.Get(req.Data), Height: h}, nil
}

func queryErr(err error) *abci.ResponseQuery {
	space, code, log := codeOf(err)
	return &abci.ResponseQuery{Codespace: space, Code: code, Log: log}
}

// ExtendVote implements abci.Application; medchain uses no vote extensions.
func (a *App) ExtendVote(context.Context, *abci.RequestExtendVote) (*abci.ResponseExtendVote, error) {
	return &abci.ResponseExtendVote{}, nil
}

// VerifyVoteExtension implements abci.Application.
func (a *App) VerifyVoteExtension(context.Context, *abci.RequestVerifyVoteExtension) (*abci.ResponseVerifyVoteExtension, error) {
	return &abci.ResponseVerifyVoteExtension{Status: abci.ResponseVerifyVoteExtension_ACCEPT}, nil
}

// ListSnapshots implements abci.Application; state sync is not offered yet.
func (a *App) ListSnapshots(context.Context, *abci.RequestListSnapshots) (*abci.ResponseListSnapshots, error) {
	return &abci.ResponseListSnapshots{}, nil
}

// OfferSnapshot implements abci.Application.
func (a *App) OfferSnapshot(context.Context, *abci.RequestOfferSnapshot) (*abci.ResponseOfferSnapshot, error) {
	return &abci.ResponseOfferSnapshot{Result: abci.ResponseOfferSnapshot_REJECT}, nil
}

// LoadSnapshotChunk implements abci.Application.
func (a *App) LoadSnapshotChunk(context.Context, *abci.RequestLoadSnapshotChunk) (*abci.ResponseLoadSnapshotChunk, error) {
	return &abci.ResponseLoadSnapshotChunk{}, nil
}

// ApplySnapshotChunk implements abci.Application.
func (a *App) ApplySnapshotChunk(context.Context, *abci.RequestApplySnapshotChunk) (*abci.ResponseApplySnapshotChunk, error) {
	return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_ABORT}, nil
}
