package store

import (
	"fmt"
	"slices"

	dbm "github.com/cosmos/cosmos-db"
)

// Index stores.
//
// An index store is a named key-value namespace of the application
// database that is not authenticated and not versioned: no Merkle tree,
// no part in the app hash, no proofs, and every reader sees the latest
// committed content whatever height it asks for. It is for derived data
// that a module can rebuild from its authenticated state and checks
// against it on every use — a lookup table from a natural key to the
// (authenticated) key the data lives under, when the natural keys are
// random and many: a write to an index store is one database put at
// Commit, where an IAVL insert at a random position copies, hashes and
// saves a whole path of tree nodes (x/supply's serial-number index, ADR
// 0010).
//
// Contract for modules that use one:
//   - Its content must be a deterministic function of the authenticated
//     state, and every answer read from it must be confirmed against the
//     authenticated state before it is used (the index is a hint): after a
//     crash between the index write and the commit of the height it
//     belongs to, it can hold entries of a height that was never
//     committed, and a Reader of an older height sees entries added since.
//   - Entries of a height are written before that height's trees and
//     metadata, so a committed height never lacks its index entries.
//
// Within a block an index store behaves as any store: transactions write
// through their caches, failed transactions leave nothing, and reads of
// the working state see the block's writes so far.
type indexStore struct {
	db      dbm.DB // the namespace "i/<name>/" of the application database
	working *Cache // the block's writes over db; the state machine's goroutine only
}

func newIndexStore(db dbm.DB, name string) *indexStore {
	s := &indexStore{db: dbm.NewPrefixDB(db, []byte("i/"+name+"/"))}
	s.working = NewCache(dbKV{s.db, nil})
	return s
}

// flush writes the block's writes to the database (one batch, not synced:
// Commit's final synced write makes it durable with everything else).
func (s *indexStore) flush() error {
	b := s.db.NewBatch()
	defer b.Close()
	kv := dbKV{s.db, b}
	s.working.parent = kv
	s.working.Write()
	s.working.parent = dbKV{s.db, nil}
	if err := b.Write(); err != nil {
		return err
	}
	return nil
}

// dbKV adapts a database (namespace) to KV: reads from the database,
// writes into batch (Set and Delete panic without one).
type dbKV struct {
	db    dbm.DB
	batch dbm.Batch
}

func (s dbKV) Get(key []byte) []byte { return must(s.db.Get(key)) }
func (s dbKV) Has(key []byte) bool   { return s.Get(key) != nil }
func (s dbKV) Set(key, value []byte) {
	if s.batch == nil {
		panic("store: write to an index store outside Commit")
	}
	if err := s.batch.Set(key, value); err != nil {
		panic(&DBFailure{err})
	}
}
func (s dbKV) Delete(key []byte) {
	if s.batch == nil {
		panic("store: write to an index store outside Commit")
	}
	if err := s.batch.Delete(key); err != nil {
		panic(&DBFailure{err})
	}
}
func (s dbKV) Iterator(start, end []byte) Iterator { return must(s.db.Iterator(start, end)) }
func (s dbKV) ReverseIterator(start, end []byte) Iterator {
	return must(s.db.ReverseIterator(start, end))
}

// IndexNames returns the names of the index stores, sorted.
func (m *MultiStore) IndexNames() []string { return slices.Clone(m.indexNames) }

// indexStoreOf returns the index store called name, or nil.
func (m *MultiStore) indexStoreOf(name string) *indexStore {
	if i, ok := slices.BinarySearch(m.indexNames, name); ok {
		return m.indexes[i]
	}
	return nil
}

// openIndexes sets up the index stores named in names.
func (m *MultiStore) openIndexes(names []string) error {
	names = slices.Clone(names)
	slices.Sort(names)
	for i, n := range names {
		if (i > 0 && names[i-1] == n) || slices.Contains(m.names, n) {
			return fmt.Errorf("store: index store name %q used twice", n)
		}
		m.indexes = append(m.indexes, newIndexStore(m.db, n))
	}
	m.indexNames = names
	return nil
}
