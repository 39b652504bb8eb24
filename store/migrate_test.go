package store_test

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	dbm "github.com/cosmos/cosmos-db"

	"github.com/medchain/medchain/store"
)

// TestMigrateToMemTree: an IAVL database migrated at its latest height
// opens with the memtree backend at the same height and hash, proves the
// same, goes on committing IAVL's hashes, and no longer holds IAVL nodes;
// a second migration, or opening it with IAVL, is refused.
func TestMigrateToMemTree(t *testing.T) {
	dir := t.TempDir()
	snapDir := filepath.Join(dir, "snapshots")
	db, err := dbm.NewGoLevelDB("state", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	src, err := store.Open(db, storeNames)
	if err != nil {
		t.Fatal(err)
	}
	ref := openMem(t, storeNames...)
	rng := rand.New(rand.NewPCG(8, 8))
	var last store.CommitID
	for range 25 {
		randomBlock(rng, src, ref)
		last = mustCommit(t, src)
		mustCommit(t, ref)
	}

	got, err := store.MigrateToMemTree(db, storeNames, snapDir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != last.Version || !bytes.Equal(got.Hash, last.Hash) {
		t.Fatalf("migrated at (%d, %X), want (%d, %X)", got.Version, got.Hash, last.Version, last.Hash)
	}
	if b, _ := store.DetectBackend(db); b != store.BackendMemTree {
		t.Fatalf("backend after migration %q", b)
	}
	it, _ := db.Iterator([]byte("t/"), []byte("t0"))
	if it.Valid() {
		t.Fatalf("IAVL node %q left after migration", it.Key())
	}
	it.Close()

	mem, err := store.Open(db, storeNames, store.WithMemTree(store.MemTreeConfig{Keep: 10, SnapshotDir: snapDir, SnapshotInterval: 100}))
	if err != nil {
		t.Fatal(err)
	}
	if lc := mem.LastCommit(); lc.Version != last.Version || !bytes.Equal(lc.Hash, last.Hash) {
		t.Fatalf("opened at (%d, %X), want (%d, %X)", lc.Version, lc.Hash, last.Version, last.Hash)
	}
	for _, name := range storeNames {
		for _, k := range []string{"k001", "k150", "k399", "absent"} {
			gv, gops, _, gerr := mem.Prove(name, []byte(k), 0)
			wv, wops, _, werr := ref.Prove(name, []byte(k), 0)
			gb, _ := gops.Marshal()
			wb, _ := wops.Marshal()
			if (gerr != nil) != (werr != nil) || !bytes.Equal(gv, wv) || !bytes.Equal(gb, wb) {
				t.Fatalf("Prove(%s, %s) after migration differs from IAVL's: %q %v / %q %v", name, k, gv, gerr, wv, werr)
			}
		}
	}
	for range 10 {
		randomBlock(rng, mem, ref)
		g, w := mustCommit(t, mem), mustCommit(t, ref)
		if g.Version != w.Version || !bytes.Equal(g.Hash, w.Hash) {
			t.Fatalf("after migration: memtree (%d, %X), IAVL (%d, %X)", g.Version, g.Hash, w.Version, w.Hash)
		}
	}
	if _, err := store.MigrateToMemTree(db, storeNames, snapDir); err == nil || !strings.Contains(err.Error(), "nothing to migrate") {
		t.Fatalf("second migration: %v", err)
	}
	if _, err := store.Open(db, storeNames); err == nil {
		t.Fatal("IAVL opened a migrated database")
	}
	if _, err := store.MigrateToMemTree(dbm.NewMemDB(), storeNames, snapDir); err == nil {
		t.Fatal("migrated an empty database")
	}
}
