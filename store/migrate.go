package store

import (
	"bytes"
	"errors"
	"fmt"

	dbm "github.com/cosmos/cosmos-db"
	"github.com/cosmos/iavl"

	"github.com/medchain/medchain/store/memtree"
)

// MigrateToMemTree converts a database the IAVL backend wrote into one the
// memtree backend opens (ADR 0015), at its latest height: IAVL v1's
// export of each tree (its nodes in post-order, with their versions) is
// exactly what a memtree snapshot holds, so the trees are rebuilt node for
// node, checked against IAVL's roots, and written as the snapshot of that
// height in snapshotDir. Only then is the database marked as memtree's;
// then the IAVL nodes are deleted. Heights before the latest are no longer
// readable afterwards. A crash before the mark leaves an IAVL database
// (run it again); after it, a memtree one.
func MigrateToMemTree(db dbm.DB, names []string, snapshotDir string) (CommitID, error) {
	if snapshotDir == "" {
		return CommitID{}, errors.New("store: migration needs a snapshot directory")
	}
	if err := CheckMigratable(db); err != nil {
		return CommitID{}, err
	}
	src, err := Open(db, names) // checks the latest height's hash
	if err != nil {
		return CommitID{}, err
	}
	last := src.LastCommit()
	dst := &MultiStore{db: db, names: src.names, mem: &memBackend{cfg: MemTreeConfig{Keep: 1, SnapshotDir: snapshotDir, SnapshotInterval: 1}, keep: 1}}
	views := make([]*memtree.View, len(src.names))
	for i, name := range src.names {
		it, err := src.trees[i].GetImmutable(last.Version)
		if err != nil {
			return CommitID{}, fmt.Errorf("store %q: open height %d: %w", name, last.Version, err)
		}
		t, err := importIAVL(it, last.Version)
		if err != nil {
			return CommitID{}, fmt.Errorf("store %q: %w", name, err)
		}
		if !bytes.Equal(t.Hash(), it.Hash()) {
			return CommitID{}, fmt.Errorf("store %q: rebuilt tree hashes to %X, IAVL's to %X; nothing changed", name, t.Hash(), it.Hash())
		}
		dst.mem.trees = append(dst.mem.trees, t)
		views[i] = t.Saved()
	}
	if !bytes.Equal(dst.hash(false), last.Hash) {
		return CommitID{}, fmt.Errorf("store: rebuilt state hashes to %X, not the committed %X; nothing changed", dst.hash(false), last.Hash)
	}
	if err := dst.writeSnapshot(last.Version, views); err != nil {
		return CommitID{}, err
	}
	if err := db.SetSync(memMarker, []byte(BackendMemTree)); err != nil {
		return CommitID{}, fmt.Errorf("store: mark the database as memtree's: %w", err)
	}
	for _, name := range src.names {
		if err := deletePrefix(db, []byte("t/"+name+"/")); err != nil {
			return last, fmt.Errorf("store: migrated, but deleting the IAVL nodes of %q failed (they are unused): %w", name, err)
		}
	}
	return last, nil
}

// ErrNothingToMigrate is MigrateToMemTree's answer for a database the
// IAVL backend did not write.
var ErrNothingToMigrate = errors.New("store: nothing to migrate")

// CheckMigratable returns nil if db holds state the IAVL backend wrote,
// else an error wrapping ErrNothingToMigrate that says what it holds.
func CheckMigratable(db dbm.DB) error {
	backend, err := DetectBackend(db)
	if err != nil {
		return err
	}
	switch backend {
	case BackendIAVL:
		return nil
	case "":
		return fmt.Errorf("%w: the database holds no committed state", ErrNothingToMigrate)
	}
	return fmt.Errorf("%w: the database already holds the %s backend's state", ErrNothingToMigrate, backend)
}

// importIAVL rebuilds an IAVL tree's saved version as a memtree tree.
func importIAVL(t *iavl.ImmutableTree, version int64) (*memtree.Tree, error) {
	im := memtree.NewImporter(version)
	if t.Size() == 0 {
		return im.Done()
	}
	exp, err := t.Export()
	if err != nil {
		return nil, err
	}
	defer exp.Close()
	for {
		n, err := exp.Next()
		if errors.Is(err, iavl.ErrorExportDone) {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := im.Add(n.Height, n.Version, n.Key, n.Value); err != nil {
			return nil, err
		}
	}
	return im.Done()
}

// deletePrefix deletes every key with the prefix, in batches.
func deletePrefix(db dbm.DB, prefix []byte) error {
	for {
		it, err := db.Iterator(prefix, PrefixEnd(prefix))
		if err != nil {
			return err
		}
		var keys [][]byte
		for ; it.Valid() && len(keys) < 10_000; it.Next() {
			keys = append(keys, bytes.Clone(it.Key()))
		}
		err = it.Error()
		it.Close()
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		b := db.NewBatch()
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				b.Close()
				return err
			}
		}
		err = b.Write()
		b.Close()
		if err != nil {
			return err
		}
	}
}
