// Package app is the medchain ABCI application: it admits transactions
// (decoding, signature, sequence), routes their messages to the modules,
// executes each transaction atomically, commits the multistore and answers
// queries with Merkle proofs. It is the only package that imports CometBFT's
// ABCI types.
//
// Adding a module means one line in New: the module's store, messages and
// genesis section are wired from its module.Module implementation.
package app

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cometbft/cometbft/libs/log"
	dbm "github.com/cosmos/cosmos-db"

	"github.com/medchain/medchain/crypto/sigverify"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/records"
	"github.com/medchain/medchain/x/supply"
)

// AuthStore holds per-signer sequences and the app parameters.
//
//	0x01 | did -> next sequence (8 bytes BE)
//	0x02       -> Params (JSON)
const AuthStore = "auth"

var keyParams = []byte{0x02}

func seqKey(did string) []byte { return append([]byte{0x01}, did...) }

// SequenceKey is the auth-store key holding did's next sequence.
func SequenceKey(did string) []byte { return seqKey(did) }

// App is the medchain application. CometBFT calls it from one goroutine per
// ABCI connection; the consensus connection (FinalizeBlock, Commit) and the
// mempool connection (CheckTx) are serialised by mu. Query reads committed
// versions only and runs concurrently.
//
// CheckTx deliberately shares mu with block execution instead of running in
// parallel with it: reading committed IAVL versions while the working tree
// is modified would have to go through a second node cache (IAVL's
// copy-on-write clears fields of the cached nodes it copies), and on a
// loaded node the misses of that cache cost more CPU than the parallelism
// gains (bench/RESULTS.md). With the memtree backend (ADR 0015) saved
// versions are immutable and could be read in parallel; CheckTx has not
// been moved off mu yet (bench/RESULTS.md, "What is left").
type App struct {
	stateBackend string // StateIAVL or StateMemTree, as opened
	logger       log.Logger
	ms           *store.MultiStore

	Identity *identity.Module
	Org      *org.Module
	Consent  *consent.Module
	Records  *records.Module
	Supply   *supply.Module

	modules []module.Module // wiring order (genesis order)
	names   []string        // store names, sorted (MultiStore.Names)
	// identityIdx is the identity store's index in names.
	identityIdx int
	router      map[string]module.MsgType // type URL -> message type; lookups only

	mu       sync.Mutex
	chainID  string
	params   Params
	checkSeq map[string]uint64 // next sequence per DID in the mempool's view; lookups only
	check    *checkCache       // CheckTx's caches
	block    *blockState       // between FinalizeBlock and Commit
	metrics  *Metrics
	sigCache *sigCache
	// keyCache keeps signers' public keys decompressed for verification:
	// it changes what a signature check costs, never its answer.
	keyCache *sigverify.KeyCache
	// signerKeys feeds Precheck (precheck.go).
	signerKeys signerKeyCache
	clock      func() time.Time // metrics only
	// events says which event attributes CometBFT's indexer indexes.
	events eventIndex

	genesisHash []byte // app hash after InitChain, before block 1
}

// LastCommit returns the last committed height and app hash; before the
// first block it returns height 0 and the genesis app hash (the one block 1's
// header carries).
func (a *App) LastCommit() (int64, []byte) {
	if last := a.ms.LastCommit(); last.Version > 0 {
		return last.Version, last.Hash
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return 0, a.genesisHash
}

// Options configure New.
type Options struct {
	Logger  log.Logger // default: no-op
	Metrics *Metrics   // default: unregistered metrics
	// Clock times ABCI calls for metrics only; it never reaches state.
	// Default: the wall clock.
	Clock func() time.Time
	// StateBackend is StateIAVL or StateMemTree; empty: the backend that
	// wrote db, or DefaultStateBackend for a new database. For memtree:
	// KeepHeights is how many heights stay readable (default 256), and
	// SnapshotDir, if set, where a snapshot of the state is written every
	// SnapshotInterval heights (default 500), so that a restart replays
	// only the change sets since (store.MemTreeConfig).
	StateBackend     string
	KeepHeights      int
	SnapshotDir      string
	SnapshotInterval int64
	// IndexEvents names the event attributes CometBFT's transaction
	// indexer indexes on this node: "*", "<type>.*" or "<type>.<key>"
	// (ADR 0016). nil: DefaultIndexEvents; empty: none (transactions stay
	// found by hash and height).
	IndexEvents []string
}

// The state backends (store.Open; ADR 0015).
const (
	StateIAVL    = store.BackendIAVL
	StateMemTree = store.BackendMemTree
	// DefaultStateBackend is the backend of a new database.
	DefaultStateBackend = StateMemTree
	// DefaultKeepHeights and DefaultSnapshotInterval are the memtree
	// backend's defaults (Options).
	DefaultKeepHeights      = 256
	DefaultSnapshotInterval = 500
)

// StateBackend returns the backend the state was opened with.
func (a *App) StateBackend() string { return a.stateBackend }

// Close waits for background work on the state (a snapshot being
// written) to end. Call it before closing the database.
func (a *App) Close() { a.ms.Close() }

// New opens the application state in db and wires the modules.
func New(db dbm.DB, opts Options) (*App, error) {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	a := &App{logger: opts.Logger, metrics: opts.Metrics, router: map[string]module.MsgType{}, checkSeq: map[string]uint64{}, check: newCheckCache(), sigCache: newSigCache(1 << 16), keyCache: sigverify.NewKeyCache(keyCacheSize), clock: opts.Clock}
	if opts.IndexEvents == nil {
		opts.IndexEvents = DefaultIndexEvents
	}
	var err error
	if a.events, err = parseEventIndex(opts.IndexEvents); err != nil {
		return nil, err
	}

	// The wiring: every module, in genesis order.
	a.Identity = identity.New()
	a.Org = org.New(a.Identity.Keeper)
	a.Consent = consent.New(a.Identity.Keeper, a.Org.Keeper)
	a.Records = records.New(a.Identity.Keeper, a.Org.Keeper, a.Consent.Keeper)
	a.Supply = supply.New(a.Org.Keeper)
	a.modules = []module.Module{a.Identity, a.Org, a.Consent, a.Records, a.Supply}

	names := []string{AuthStore}
	var indexes []string
	for _, m := range a.modules {
		names = append(names, m.Name())
		if iu, ok := m.(module.IndexUser); ok {
			indexes = append(indexes, iu.IndexStores()...)
		}
		for _, mt := range m.MsgTypes() {
			if _, dup := a.router[mt.TypeURL]; dup {
				return nil, fmt.Errorf("app: message type %s registered twice", mt.TypeURL)
			}
			a.router[mt.TypeURL] = mt
		}
	}
	storeOpts := []store.Option{store.WithIndexes(indexes...)}
	backend := opts.StateBackend
	if backend == "" {
		// The database's own backend, or for a new one the default.
		found, err := store.DetectBackend(db)
		if err != nil {
			return nil, err
		}
		backend = cmp.Or(found, DefaultStateBackend)
	}
	a.stateBackend = backend
	switch backend {
	case StateIAVL:
	case StateMemTree:
		cfg := store.MemTreeConfig{Keep: opts.KeepHeights, SnapshotDir: opts.SnapshotDir, SnapshotInterval: opts.SnapshotInterval}
		if cfg.Keep == 0 {
			cfg.Keep = DefaultKeepHeights
		}
		if cfg.SnapshotInterval == 0 {
			cfg.SnapshotInterval = DefaultSnapshotInterval
		}
		cfg.OnSnapshot = func(v int64, took time.Duration, err error) {
			if err != nil {
				a.logger.Error("state snapshot failed; the change sets since the previous one are kept", "height", v, "err", err)
				return
			}
			a.logger.Info("state snapshot written", "height", v, "took", took.Round(time.Millisecond))
		}
		storeOpts = append(storeOpts, store.WithMemTree(cfg))
	default:
		return nil, fmt.Errorf("app: unknown state backend %q", backend)
	}
	ms, err := store.Open(db, names, storeOpts...)
	if err != nil {
		return nil, err
	}
	a.ms = ms
	// Every store a handler may name, authenticated or index, sorted.
	a.names = append(ms.Names(), ms.IndexNames()...)
	slices.Sort(a.names)
	a.identityIdx, _ = slices.BinarySearch(a.names, identity.StoreName)
	a.params = DefaultParams()
	if last := ms.LastCommit(); last.Version > 0 {
		r, _, err := ms.Reader(AuthStore, 0)
		if err != nil {
			return nil, err
		}
		if bz := r.Get(keyParams); bz != nil {
			if err := json.Unmarshal(bz, &a.params); err != nil {
				return nil, fmt.Errorf("app: corrupt params: %w", err)
			}
		}
	}
	return a, nil
}

// Store returns the multistore, for read-only use by the API and tests.
func (a *App) Store() *store.MultiStore { return a.ms }

// Modules returns the wired modules in genesis order.
func (a *App) Modules() []module.Module { return slices.Clone(a.modules) }

// ChainID returns the chain id, known after InitChain or the first block.
func (a *App) ChainID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.chainID
}

// Params returns the app parameters.
func (a *App) Params() Params {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.params
}

// NextSequence returns the next sequence did must use, from auth, a view
// of the auth store, and ids, the identity store in the same view.
//
// A DID's sequence is stored once it has sent a transaction other than its
// own successful registration: a registration (sequence 0) that succeeds
// leaves the next sequence implied — 1, because the DID is now registered —
// which saves a write to the auth store for every new identity. A DID that
// is registered without a stored sequence (by a registration, or at
// genesis) is therefore at 1; an unknown DID at 0.
func NextSequence(auth, ids store.Reader, did string) uint64 {
	bz := auth.Get(seqKey(did))
	if bz == nil {
		if identity.IsRegistered(ids, did) {
			return 1
		}
		return 0
	}
	return binary.BigEndian.Uint64(bz)
}

// MigrateState converts an application database the IAVL backend wrote
// into the memtree backend's, at its latest height, with the snapshot in
// snapshotDir (store.MigrateToMemTree). The node must not be running.
func MigrateState(db dbm.DB, snapshotDir string) (store.CommitID, error) {
	if err := store.CheckMigratable(db); err != nil {
		return store.CommitID{}, err
	}
	a, err := New(db, Options{StateBackend: StateIAVL})
	if err != nil {
		return store.CommitID{}, err
	}
	return store.MigrateToMemTree(db, a.ms.Names(), snapshotDir)
}
