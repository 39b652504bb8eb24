package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	dbm "github.com/cosmos/cosmos-db"

	"github.com/medchain/medchain/store/memtree"
	"github.com/medchain/medchain/store/proof"
)

// The memtree state backend (WithMemTree; ADR 0015). The authenticated
// stores live in memory as memtree trees, whose roots — and so the app
// hash and every proof — are IAVL v1's. What a Commit writes is not the
// changed tree nodes but the version's change set: every Set and Delete
// of every store in the order they reached the trees, under
// "c/<version>", in the same synced batch as the version's hash and
// "m/latest". Open rebuilds the trees by replaying the change sets from
// the first, checking each version's root against the recorded hash.
// Saved versions stay readable (and provable) for the last keep
// versions; older heights answer ErrVersionUnavailable.

// memBackend holds the trees of a MultiStore opened WithMemTree.
type memBackend struct {
	cfg   MemTreeConfig
	keep  int64
	trees []*memtree.Tree
	// views holds the saved versions still readable, one view per store,
	// oldest first; guarded by MultiStore.mu.
	views []memVersion
	// changes is the encoded change set of the working version.
	changes []byte
	// snapshotting is held by the goroutine writing a snapshot; Close
	// waits for it.
	snapshotting sync.Mutex
}

type memVersion struct {
	version int64
	stores  []*memtree.View
}

// MemTreeConfig configures the memtree backend.
type MemTreeConfig struct {
	// Keep is how many recent heights stay readable and provable (>= 1).
	Keep int
	// SnapshotDir, if set, is where snapshots of the whole state are
	// written, every SnapshotInterval heights, in the background. Open
	// then starts from the latest snapshot instead of replaying every
	// change set since the first height, and the change sets a snapshot
	// covers are deleted. Without it, nothing is deleted and Open replays
	// from the first height.
	SnapshotDir      string
	SnapshotInterval int64
	// OnSnapshot, if set, is told the outcome of each snapshot (for the
	// node's log). A failed snapshot loses nothing: the change sets stay
	// until a snapshot is durable.
	OnSnapshot func(version int64, took time.Duration, err error)
}

// WithMemTree opens the authenticated stores as in-memory memtree trees
// persisted as change sets and snapshots (see memstore.go). A database
// written by the IAVL backend cannot be opened this way, nor the reverse.
func WithMemTree(cfg MemTreeConfig) Option {
	return func(m *MultiStore) error {
		if cfg.Keep < 1 {
			return fmt.Errorf("store: memtree must keep at least 1 height, not %d", cfg.Keep)
		}
		if cfg.SnapshotDir != "" && cfg.SnapshotInterval < 1 {
			return fmt.Errorf("store: memtree snapshot interval %d must be positive", cfg.SnapshotInterval)
		}
		m.mem = &memBackend{cfg: cfg, keep: int64(cfg.Keep)}
		return nil
	}
}

var (
	changePrefix = []byte("c/")
	// memMarker records that the database belongs to the memtree backend.
	memMarker = []byte("m/backend")
	// snapshotMeta holds the height of the latest durable snapshot.
	snapshotMeta = []byte("m/snapshot")
)

func changeKey(v int64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), changePrefix...), uint64(v))
}

// Change-set records: op, uvarint store index (into the sorted names),
// uvarint key length, key, and for a set uvarint value length, value.
const (
	opSet    = 1
	opDelete = 2
)

// openMem loads the trees from the change sets up to latest.
func (m *MultiStore) openMem(latest int64) error {
	b := m.mem
	for range m.names {
		b.trees = append(b.trees, memtree.New())
	}
	marker, err := m.db.Get(memMarker)
	if err != nil {
		return fmt.Errorf("store: read metadata: %w", err)
	}
	if latest > 0 && string(marker) != BackendMemTree {
		return errors.New("store: this application database was written by the IAVL state backend; the memtree backend cannot open it")
	}
	if latest == 0 {
		return nil
	}
	next := int64(0)
	snap, err := m.loadSnapshot()
	if err != nil {
		return err
	}
	if snap > 0 {
		next = snap + 1
	}
	it, err := m.db.Iterator(changeKey(next), changeKey(latest+1))
	if err != nil {
		return fmt.Errorf("store: read change sets: %w", err)
	}
	defer it.Close()
	for ; it.Valid(); it.Next() {
		v := int64(binary.BigEndian.Uint64(it.Key()[len(changePrefix):]))
		if next == 0 && v > 1 {
			for _, t := range b.trees {
				if err := t.SetInitialVersion(v); err != nil {
					return err
				}
			}
		} else if next != 0 && v != next {
			return fmt.Errorf("store: change set of version %d is missing: the application database is corrupt", next)
		}
		if err := b.apply(it.Value()); err != nil {
			return fmt.Errorf("store: change set of version %d: %w: the application database is corrupt", v, err)
		}
		roots := make([][]byte, len(b.trees))
		for i, t := range b.trees {
			roots[i], _ = t.SaveVersion()
		}
		id := CommitID{Version: v, Hash: proof.RootHash(m.names, roots)}
		want, err := m.db.Get(hashKey(v))
		if err != nil {
			return fmt.Errorf("store: read stored hash: %w", err)
		}
		if string(want) != string(id.Hash) {
			return fmt.Errorf("store: state at height %d hashes to %X but %X was committed: the application database is corrupt", v, id.Hash, want)
		}
		m.last = id
		b.retain(v)
		next = v + 1
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("store: read change sets: %w", err)
	}
	if m.last.Version != latest {
		return fmt.Errorf("store: change sets end at version %d, but %d was committed: the application database is corrupt", m.last.Version, latest)
	}
	return nil
}

// apply replays one encoded change set on the working trees.
func (b *memBackend) apply(cs []byte) error {
	for len(cs) > 0 {
		op := cs[0]
		cs = cs[1:]
		idx, n := binary.Uvarint(cs)
		if n <= 0 || idx >= uint64(len(b.trees)) {
			return errors.New("bad store index")
		}
		cs = cs[n:]
		key, rest, ok := cutBytes(cs)
		if !ok {
			return errors.New("bad key")
		}
		cs = rest
		switch op {
		case opSet:
			value, rest, ok := cutBytes(cs)
			if !ok {
				return errors.New("bad value")
			}
			cs = rest
			if _, err := b.trees[idx].Set(key, value); err != nil {
				return err
			}
		case opDelete:
			b.trees[idx].Remove(key)
		default:
			return fmt.Errorf("bad operation %d", op)
		}
	}
	return nil
}

func cutBytes(b []byte) (field, rest []byte, ok bool) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return nil, nil, false
	}
	// Full slice expression: a later append to the change set must not
	// write into a value the tree holds.
	return b[n : n+int(l) : n+int(l)], b[n+int(l):], true
}

func (b *memBackend) record(op byte, idx int, key, value []byte) {
	b.changes = append(b.changes, op)
	b.changes = binary.AppendUvarint(b.changes, uint64(idx))
	b.changes = binary.AppendUvarint(b.changes, uint64(len(key)))
	b.changes = append(b.changes, key...)
	if op == opSet {
		b.changes = binary.AppendUvarint(b.changes, uint64(len(value)))
		b.changes = append(b.changes, value...)
	}
}

// retain adds the just-saved version v to the readable views and drops
// those older than keep versions. The caller holds MultiStore.mu (or runs
// before the store is shared).
func (b *memBackend) retain(v int64) {
	views := make([]*memtree.View, len(b.trees))
	for i, t := range b.trees {
		views[i] = t.Saved()
	}
	b.views = append(b.views, memVersion{version: v, stores: views})
	if drop := len(b.views) - int(b.keep); drop > 0 {
		clear(b.views[:drop])
		b.views = b.views[drop:]
	}
}

// view returns store i at version v, or nil if it is not kept. The caller
// holds MultiStore.mu.
func (b *memBackend) view(i int, v int64) *memtree.View {
	if len(b.views) == 0 {
		return nil
	}
	k := v - b.views[0].version
	if k < 0 || k >= int64(len(b.views)) {
		return nil
	}
	return b.views[k].stores[i]
}

// commitMem saves the working trees as the next version and writes its
// change set with the metadata in one synced batch.
func (m *MultiStore) commitMem() (CommitID, error) {
	b := m.mem
	roots := make([][]byte, len(b.trees))
	var version int64
	for i, t := range b.trees {
		roots[i], version = t.SaveVersion()
	}
	id := CommitID{Version: version, Hash: proof.RootHash(m.names, roots)}
	// Sized for the change set, so the batch does not grow by copying.
	batch := m.db.NewBatchWithSize(len(b.changes) + 256)
	defer batch.Close()
	for _, kv := range [][2][]byte{
		{changeKey(version), b.changes},
		{hashKey(version), id.Hash},
		{metaLatest, binary.BigEndian.AppendUint64(nil, uint64(version))},
		{memMarker, []byte(BackendMemTree)},
	} {
		value := kv[1]
		if value == nil {
			value = []byte{} // an empty change set is a version too
		}
		if err := batch.Set(kv[0], value); err != nil {
			return CommitID{}, err
		}
	}
	if err := batch.WriteSync(); err != nil {
		return CommitID{}, fmt.Errorf("store: write change set: %w", err)
	}
	b.changes = nil // the batch copied it; the trees keep their own slices
	m.mu.Lock()
	m.last = id
	b.retain(version)
	views := b.views[len(b.views)-1].stores
	m.mu.Unlock()
	if b.cfg.SnapshotDir != "" && version%b.cfg.SnapshotInterval == 0 && b.snapshotting.TryLock() {
		// Saved views never change, so the snapshot is written while the
		// chain goes on; one at a time (a busy writer skips this height).
		go func() {
			defer b.snapshotting.Unlock()
			t0 := time.Now()
			err := m.writeSnapshot(version, views)
			if b.cfg.OnSnapshot != nil {
				b.cfg.OnSnapshot(version, time.Since(t0), err)
			}
		}()
	}
	return id, nil
}

// Close waits for a snapshot being written, if any. The store must not be
// used afterwards.
func (m *MultiStore) Close() {
	if m.mem != nil {
		m.mem.snapshotting.Lock()
		m.mem.snapshotting.Unlock() //nolint:staticcheck // waiting is the point
	}
}

// memKV is the working state of one memtree store: reads and writes go to
// the tree, and writes are recorded in the change set.
type memKV struct {
	b   *memBackend
	idx int
}

func (s memKV) tree() *memtree.Tree   { return s.b.trees[s.idx] }
func (s memKV) Get(key []byte) []byte { return s.tree().Get(key) }
func (s memKV) Has(key []byte) bool   { return s.tree().Has(key) }
func (s memKV) Iterator(start, end []byte) Iterator {
	return s.tree().Working().Iterator(start, end, true)
}
func (s memKV) ReverseIterator(start, end []byte) Iterator {
	return s.tree().Working().Iterator(start, end, false)
}

// Set keeps key and value in the tree, as IAVL's Set does: the caller
// must not modify them afterwards (store.Cache.Write hands over its own).
func (s memKV) Set(key, value []byte) {
	must(s.tree().Set(key, value))
	s.b.record(opSet, s.idx, key, value)
}

func (s memKV) Delete(key []byte) {
	if _, removed := s.tree().Remove(key); removed {
		s.b.record(opDelete, s.idx, key, nil)
	}
}

// memReader reads a saved memtree version; it is safe for concurrent use.
type memReader struct{ v *memtree.View }

func (s memReader) Get(key []byte) []byte { return s.v.Get(key) }
func (s memReader) Has(key []byte) bool   { return s.v.Has(key) }
func (s memReader) Iterator(start, end []byte) Iterator {
	return s.v.Iterator(start, end, true)
}
func (s memReader) ReverseIterator(start, end []byte) Iterator {
	return s.v.Iterator(start, end, false)
}

// memView returns the saved view of store name at version (0: latest).
func (m *MultiStore) memView(name string, version int64) (*memtree.View, int64, error) {
	i := m.index(name)
	m.mu.RLock()
	defer m.mu.RUnlock()
	last := m.last.Version
	if version == 0 {
		version = last
	}
	if version <= 0 || version > last {
		return nil, 0, fmt.Errorf("%w: height %d (latest %d)", ErrVersionUnavailable, version, last)
	}
	v := m.mem.view(i, version)
	if v == nil {
		return nil, 0, fmt.Errorf("%w: height %d (this node keeps the last %d heights; latest %d)", ErrVersionUnavailable, version, m.mem.keep, last)
	}
	return v, version, nil
}

// memRoots returns every store's root at version v, if still kept.
func (m *MultiStore) memRoots(v int64) ([][]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	roots := make([][]byte, len(m.names))
	for i := range m.names {
		view := m.mem.view(i, v)
		if view == nil {
			return nil, fmt.Errorf("%w: height %d (no longer kept)", ErrVersionUnavailable, v)
		}
		roots[i] = view.Hash()
	}
	return roots, nil
}

// proveMem is Prove for the memtree backend.
func (m *MultiStore) proveMem(name string, key []byte, version int64) (value []byte, ops *cmtcrypto.ProofOps, v int64, err error) {
	view, v, err := m.memView(name, version)
	if err != nil {
		return nil, nil, 0, err
	}
	cp, err := view.GetProof(key)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("store %q: proof: %w", name, err)
	}
	roots, err := m.memRoots(v)
	if err != nil {
		return nil, nil, 0, err
	}
	inner, err := proof.NewIAVLOp(key, cp)
	if err != nil {
		return nil, nil, 0, err
	}
	outer := proof.NewStoreOp(m.names, roots, m.index(name))
	return view.Get(key), &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{inner, outer}}, v, nil
}

// Backend names, as DetectBackend reports them.
const (
	BackendIAVL    = "iavl"
	BackendMemTree = "memtree"
)

// DetectBackend reports which backend wrote db: BackendIAVL or
// BackendMemTree, or "" for a database with no committed state.
func DetectBackend(db dbm.DB) (string, error) {
	marker, err := db.Get(memMarker)
	if err != nil {
		return "", fmt.Errorf("store: read metadata: %w", err)
	}
	if marker != nil {
		return BackendMemTree, nil
	}
	latest, err := db.Get(metaLatest)
	if err != nil {
		return "", fmt.Errorf("store: read metadata: %w", err)
	}
	if latest != nil {
		return BackendIAVL, nil
	}
	return "", nil
}
