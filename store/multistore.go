package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"

	dbm "github.com/cosmos/cosmos-db"
	"github.com/cosmos/iavl"
	iavldb "github.com/cosmos/iavl/db"

	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"

	"github.com/medchain/medchain/store/proof"
)

// metaLatest holds the last height at which every tree was saved. It is
// written after all trees, so a crash in between leaves it at the previous
// height and Open rolls the trees back to it.
var metaLatest = []byte("m/latest")

// CommitID identifies a committed version of the whole state.
type CommitID struct {
	Version int64
	Hash    []byte
}

// nodeCacheSize is the number of IAVL nodes each store keeps decoded in
// memory. Every read and write walks a path from the root, and a miss is a
// database read; 20000 nodes covered only the top levels of a tree of a few
// ten thousand keys.
const nodeCacheSize = 200_000

// flushThreshold is the size at which a tree's pending node writes are
// written to the database during SaveVersion (IAVL's default is 100 KB): a
// block of a thousand transactions writes a few MB of nodes per store, and
// each write of a batch costs a journal write and a memtable insert pass.
// IAVL asks for its batch buffer at this size after every write;
// sizedBatchDB sizes it from the tree's last batch instead.
const flushThreshold = 1 << 20

// sizedBatchDB is the database a tree writes through. IAVL pre-allocates
// every batch at flushThreshold bytes, after every write of one, so each
// tree allocated (and zeroed) 1 MB per block even when the block did not
// touch it — most stores, most blocks. A batch that grows from nothing
// instead re-copies itself as it doubles, which costs the busy trees as
// much. So a new batch gets the size of the tree's previous one (at most
// what IAVL asks): busy trees keep their 1 MB, idle ones allocate nothing.
type sizedBatchDB struct {
	iavldb.DB
	last *int // byte size of the tree's last written batch; only SaveVersion writes, one at a time
}

func newSizedBatchDB(db iavldb.DB) sizedBatchDB { return sizedBatchDB{DB: db, last: new(int)} }

func (d sizedBatchDB) NewBatchWithSize(n int) iavldb.Batch {
	if *d.last == 0 {
		return sizedBatch{d.DB.NewBatch(), d.last}
	}
	return sizedBatch{d.DB.NewBatchWithSize(min(n, *d.last)), d.last}
}

// sizedBatch records its size when written.
type sizedBatch struct {
	iavldb.Batch
	last *int
}

func (b sizedBatch) record() {
	if n, err := b.Batch.GetByteSize(); err == nil {
		*b.last = n
	}
}

func (b sizedBatch) Write() error     { b.record(); return b.Batch.Write() }
func (b sizedBatch) WriteSync() error { b.record(); return b.Batch.WriteSync() }

// ErrVersionUnavailable is returned for reads of a height that was never
// committed or has been pruned.
var ErrVersionUnavailable = errors.New("state at that height is not available")

// MultiStore is the application state: one IAVL tree per named store in a
// single database. Its hash (the app hash) is the root of a CometBFT simple
// Merkle tree over the (name, tree root) pairs sorted by name, so a value is
// proven by an IAVL proof (ics23) chained to a simple-Merkle proof (see
// package proof).
//
// The working (uncommitted) trees are for the single goroutine running the
// state machine; Reader and Prove on committed versions are safe to call
// concurrently with it (they read through separate trees, see readers).
type MultiStore struct {
	db    dbm.DB
	names []string // sorted
	trees []*iavl.MutableTree
	// readers open committed versions for Reader and Prove. They are
	// second trees over the same databases, never written, so that their
	// decoded nodes are never shared with the working trees: IAVL's
	// copy-on-write (Node.clone) writes to the persisted nodes it copies,
	// which raced with concurrent reads of the same node objects.
	readers []*iavl.MutableTree

	mu   sync.RWMutex // guards last and latest
	last CommitID
	// latest caches the committed trees of version last.Version, one per
	// store, loaded on first use: CheckTx and queries read the latest
	// version all the time, and GetImmutable reads the root from the
	// database on every call.
	latest []*iavl.ImmutableTree

	// filters hold, per store, the keys present at version filterFrom (the
	// version opened) and every key set since: reads of absent keys in the
	// working state and in versions >= filterFrom skip the tree walk.
	filters    []*keyFilter
	filterFrom int64
	// own caches the latest committed trees opened on the working trees
	// (for OwnReader); used only by the state machine's goroutine.
	own        []*iavl.ImmutableTree
	ownVersion int64

	// mem, if set, replaces the IAVL trees (memstore.go, WithMemTree);
	// then trees, readers, filters and own are unused.
	mem *memBackend

	// indexNames (sorted) and indexes are the index stores (index.go).
	indexNames []string
	indexes    []*indexStore
}

// Option configures Open.
type Option func(*MultiStore) error

// WithIndexes adds index stores (see index.go): unauthenticated,
// unversioned namespaces for data derived from the authenticated state.
func WithIndexes(names ...string) Option {
	return func(m *MultiStore) error { return m.openIndexes(names) }
}

// Open loads (or creates) the stores named in names from db at the last
// committed version.
func Open(db dbm.DB, names []string, opts ...Option) (*MultiStore, error) {
	names = slices.Clone(names)
	slices.Sort(names)
	if len(slices.Compact(slices.Clone(names))) != len(names) {
		return nil, fmt.Errorf("store: duplicate store names in %v", names)
	}
	m := &MultiStore{db: db, names: names, latest: make([]*iavl.ImmutableTree, len(names))}
	raw, err := db.Get(metaLatest)
	if err != nil {
		return nil, fmt.Errorf("store: read metadata: %w", err)
	}
	var latest int64
	if raw != nil {
		if len(raw) != 8 {
			return nil, fmt.Errorf("store: corrupt metadata: latest height has %d bytes", len(raw))
		}
		latest = int64(binary.BigEndian.Uint64(raw))
	}
	for _, o := range opts {
		if err := o(m); err != nil {
			return nil, err
		}
	}
	m.last = CommitID{Version: latest}
	if m.mem != nil {
		if err := m.openMem(latest); err != nil {
			return nil, err
		}
		return m, nil
	}
	if marker, err := db.Get(memMarker); err != nil {
		return nil, fmt.Errorf("store: read metadata: %w", err)
	} else if marker != nil {
		return nil, errors.New("store: this application database was written by the memtree state backend; open it with that backend")
	}
	for _, name := range names {
		pdb := dbm.NewPrefixDB(db, []byte("t/"+name+"/"))
		t := iavl.NewMutableTree(newSizedBatchDB(iavldb.NewWrapper(pdb)), nodeCacheSize, true, iavl.NewNopLogger(), iavl.FlushThresholdOption(flushThreshold))
		if latest > 0 {
			if err := t.LoadVersionForOverwriting(latest); err != nil {
				return nil, fmt.Errorf("store %q: load version %d: %w", name, latest, err)
			}
		} else if _, err := t.Load(); err != nil {
			return nil, fmt.Errorf("store %q: load: %w", name, err)
		}
		m.trees = append(m.trees, t)
		m.readers = append(m.readers, iavl.NewMutableTree(iavldb.NewWrapper(pdb), nodeCacheSize, true, iavl.NewNopLogger()))
	}
	if err := m.buildFilters(latest); err != nil {
		return nil, err
	}
	if latest > 0 {
		m.last.Hash = m.hash(false)
		if err := m.checkStoredHash(latest); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// buildFilters fills the key filters from the trees at version (the one
// just loaded).
func (m *MultiStore) buildFilters(version int64) error {
	seed := maphash.MakeSeed()
	m.filterFrom = version
	m.own = make([]*iavl.ImmutableTree, len(m.trees))
	for i, t := range m.trees {
		f := &keyFilter{seed: seed}
		var hashes []uint64
		if _, err := t.Iterate(func(key, _ []byte) bool {
			hashes = append(hashes, f.hash(key))
			return false
		}); err != nil {
			return fmt.Errorf("store %q: read keys: %w", m.names[i], err)
		}
		m.filters = append(m.filters, newKeyFilter(seed, hashes))
	}
	return nil
}

func hashKey(v int64) []byte { return binary.BigEndian.AppendUint64([]byte("m/hash/"), uint64(v)) }

// checkStoredHash compares the recomputed root with the one recorded at
// commit, so that a damaged database is refused instead of served.
func (m *MultiStore) checkStoredHash(v int64) error {
	want, err := m.db.Get(hashKey(v))
	if err != nil {
		return fmt.Errorf("store: read stored hash: %w", err)
	}
	if !bytes.Equal(want, m.last.Hash) {
		return fmt.Errorf("store: state at height %d hashes to %X but %X was committed: the application database is corrupt", v, m.last.Hash, want)
	}
	return nil
}

// SetInitialVersion makes the first Commit of a fresh store save version v
// (a chain whose genesis initial_height is v). It must be called before the
// first Commit.
func (m *MultiStore) SetInitialVersion(v int64) error {
	if m.LastCommit().Version != 0 {
		return fmt.Errorf("store: initial version set after the first commit")
	}
	if v < 1 {
		return fmt.Errorf("store: initial version %d must be positive", v)
	}
	if m.mem != nil {
		for _, t := range m.mem.trees {
			if err := t.SetInitialVersion(v); err != nil {
				return err
			}
		}
		return nil
	}
	for _, t := range m.trees {
		t.SetInitialVersion(uint64(v))
	}
	return nil
}

// Names returns the names of the authenticated stores (those in the app
// hash), sorted; IndexNames those of the index stores.
func (m *MultiStore) Names() []string { return slices.Clone(m.names) }

func (m *MultiStore) index(name string) int {
	i, ok := slices.BinarySearch(m.names, name)
	if !ok {
		panic(fmt.Sprintf("store: unknown store %q", name))
	}
	return i
}

// Working returns the uncommitted state of the named store (authenticated
// or index). It panics on an unknown name (a wiring error).
func (m *MultiStore) Working(name string) KV {
	if s := m.indexStoreOf(name); s != nil {
		return s.working
	}
	i := m.index(name)
	if m.mem != nil {
		return memKV{m.mem, i}
	}
	return &treeKV{t: m.trees[i], f: m.filters[i]}
}

// WorkingHash returns the app hash the working state would commit to.
func (m *MultiStore) WorkingHash() []byte { return m.hash(true) }

func (m *MultiStore) hash(working bool) []byte {
	if m.mem != nil {
		roots := make([][]byte, len(m.mem.trees))
		for i, t := range m.mem.trees {
			if working {
				roots[i] = t.WorkingHash()
			} else {
				roots[i] = t.Hash()
			}
		}
		return proof.RootHash(m.names, roots)
	}
	roots := make([][]byte, len(m.trees))
	for i, t := range m.trees {
		if working {
			roots[i] = t.WorkingHash()
		} else {
			roots[i] = t.Hash()
		}
	}
	return proof.RootHash(m.names, roots)
}

// Commit saves the working state of every store as the next version.
func (m *MultiStore) Commit() (CommitID, error) {
	// Index entries first: a crash after them but before the metadata
	// leaves entries of an uncommitted height (which their users check
	// against the trees), never a committed height without its entries.
	for i, s := range m.indexes {
		if err := s.flush(); err != nil {
			return CommitID{}, fmt.Errorf("index store %q: write: %w", m.indexNames[i], err)
		}
	}
	if m.mem != nil {
		return m.commitMem()
	}
	var version int64
	for i, t := range m.trees {
		_, v, err := t.SaveVersion()
		if err != nil {
			return CommitID{}, fmt.Errorf("store %q: save: %w", m.names[i], err)
		}
		if i > 0 && v != version {
			return CommitID{}, fmt.Errorf("store %q: saved version %d, others %d", m.names[i], v, version)
		}
		version = v
	}
	id := CommitID{Version: version, Hash: m.hash(false)}
	b := m.db.NewBatch()
	defer b.Close()
	if err := b.Set(hashKey(version), id.Hash); err != nil {
		return CommitID{}, err
	}
	if err := b.Set(metaLatest, binary.BigEndian.AppendUint64(nil, uint64(version))); err != nil {
		return CommitID{}, err
	}
	if err := b.WriteSync(); err != nil {
		return CommitID{}, fmt.Errorf("store: write metadata: %w", err)
	}
	m.mu.Lock()
	m.last = id
	clear(m.latest)
	m.mu.Unlock()
	return id, nil
}

// LastCommit returns the last committed version and app hash.
func (m *MultiStore) LastCommit() CommitID {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.last
}

func (m *MultiStore) immutable(name string, version int64) (*iavl.ImmutableTree, int64, error) {
	i := m.index(name)
	m.mu.RLock()
	last := m.last.Version
	cached := m.latest[i]
	m.mu.RUnlock()
	if version == 0 {
		version = last
	}
	if version <= 0 || version > last {
		return nil, 0, fmt.Errorf("%w: height %d (latest %d)", ErrVersionUnavailable, version, last)
	}
	if version == last && cached != nil {
		return cached, version, nil
	}
	t, err := m.readers[i].GetImmutable(version)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: height %d: %v", ErrVersionUnavailable, version, err)
	}
	if version == last {
		m.mu.Lock()
		if m.last.Version == version {
			m.latest[i] = t
		}
		m.mu.Unlock()
	}
	return t, version, nil
}

// Reader returns a read-only view of the named store as committed at
// version (0: the latest), and the version it reads. For an index store
// the view is of its latest committed content, whatever the version.
func (m *MultiStore) Reader(name string, version int64) (Reader, int64, error) {
	if s := m.indexStoreOf(name); s != nil {
		last := m.LastCommit().Version
		if version == 0 {
			version = last
		}
		if version <= 0 || version > last {
			return nil, 0, fmt.Errorf("%w: height %d (latest %d)", ErrVersionUnavailable, version, last)
		}
		return dbKV{s.db, nil}, version, nil
	}
	if m.mem != nil {
		view, v, err := m.memView(name, version)
		if err != nil {
			return nil, 0, err
		}
		return memReader{view}, v, nil
	}
	t, v, err := m.immutable(name, version)
	if err != nil {
		return nil, 0, err
	}
	return &immutableKV{t: t, f: m.filterAt(name, v)}, v, nil
}

// filterAt returns the key filter of the named store if it is exact for
// version v, else nil.
func (m *MultiStore) filterAt(name string, v int64) *keyFilter {
	if v < m.filterFrom {
		return nil
	}
	return m.filters[m.index(name)]
}

// OwnReader returns a read-only view of the named store at the latest
// committed version, and that version, read through the working trees'
// own node cache (Reader reads through separate trees, which is what
// concurrent readers need). Only the goroutine that drives the working
// state may call it, between its writes: it is for CheckTx, which the app
// serialises with FinalizeBlock and Commit. Before the first commit it
// returns the working state and version 0.
func (m *MultiStore) OwnReader(name string) (Reader, int64) {
	v := m.LastCommit().Version
	if s := m.indexStoreOf(name); s != nil {
		if v == 0 {
			return s.working, 0
		}
		return dbKV{s.db, nil}, v
	}
	i := m.index(name)
	if v == 0 {
		return m.Working(name), 0
	}
	if m.mem != nil {
		view, _, err := m.memView(name, v)
		if err != nil {
			panic(&DBFailure{fmt.Errorf("store %q: committed version %d: %w", name, v, err)})
		}
		return memReader{view}, v
	}
	if m.ownVersion != v {
		clear(m.own)
		m.ownVersion = v
	}
	if m.own[i] == nil {
		t, err := m.trees[i].GetImmutable(v)
		if err != nil {
			panic(&DBFailure{fmt.Errorf("store %q: open committed version %d: %w", name, v, err)})
		}
		m.own[i] = t
	}
	return &immutableKV{t: m.own[i], f: m.filters[i]}, v
}

// Prove returns the value at key in the named store at version (0: latest)
// with the proof operators that chain it (or its absence) to that version's
// app hash, outermost last, as CometBFT's ProofOps expects.
func (m *MultiStore) Prove(name string, key []byte, version int64) (value []byte, ops *cmtcrypto.ProofOps, v int64, err error) {
	if !slices.Contains(m.names, name) {
		return nil, nil, 0, fmt.Errorf("store: %q is not an authenticated store: nothing to prove", name)
	}
	if m.mem != nil {
		return m.proveMem(name, key, version)
	}
	t, v, err := m.immutable(name, version)
	if err != nil {
		return nil, nil, 0, err
	}
	value, err = t.Get(key)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("store %q: get: %w", name, err)
	}
	cp, err := t.GetProof(key)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("store %q: proof: %w", name, err)
	}
	roots := make([][]byte, len(m.readers))
	for i, tr := range m.readers {
		it, err := tr.GetImmutable(v)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("%w: height %d: %v", ErrVersionUnavailable, v, err)
		}
		roots[i] = it.Hash()
	}
	inner, err := proof.NewIAVLOp(key, cp)
	if err != nil {
		return nil, nil, 0, err
	}
	outer := proof.NewStoreOp(m.names, roots, m.index(name))
	return value, &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{inner, outer}}, v, nil
}

// treeKV adapts a working IAVL tree to KV.
type treeKV struct {
	t *iavl.MutableTree
	f *keyFilter
}

// DBFailure is the panic value of a KV whose database failed. It must stop
// the node: unlike a bad transaction, it is not the same on every node.
type DBFailure struct{ Err error }

func (f *DBFailure) Error() string { return "store: database failure: " + f.Err.Error() }

func must[T any](v T, err error) T {
	if err != nil {
		panic(&DBFailure{err})
	}
	return v
}

func (s *treeKV) Get(key []byte) []byte {
	if !s.f.mayContain(key) {
		return nil
	}
	return must(s.t.Get(key))
}
func (s *treeKV) Has(key []byte) bool { return s.Get(key) != nil }
func (s *treeKV) Set(key, value []byte) {
	s.f.add(key)
	must(s.t.Set(key, value))
}
func (s *treeKV) Delete(key []byte) { must2(s.t.Remove(key)) }
func (s *treeKV) Iterator(start, end []byte) Iterator {
	return must(s.t.Iterator(start, end, true))
}
func (s *treeKV) ReverseIterator(start, end []byte) Iterator {
	return must(s.t.Iterator(start, end, false))
}

func must2[A, B any](_ A, _ B, err error) {
	if err != nil {
		panic(&DBFailure{err})
	}
}

// immutableKV adapts a committed IAVL version to Reader. f, if set, is a
// key filter exact for that version.
type immutableKV struct {
	t *iavl.ImmutableTree
	f *keyFilter
}

func (s *immutableKV) Get(key []byte) []byte {
	if s.f != nil && !s.f.mayContain(key) {
		return nil
	}
	return must(s.t.Get(key))
}
func (s *immutableKV) Has(key []byte) bool { return s.Get(key) != nil }
func (s *immutableKV) Iterator(start, end []byte) Iterator {
	return must(s.t.Iterator(start, end, true))
}
func (s *immutableKV) ReverseIterator(start, end []byte) Iterator {
	return must(s.t.Iterator(start, end, false))
}
