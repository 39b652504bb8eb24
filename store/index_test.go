package store_test

import (
	"bytes"
	"errors"
	"testing"

	dbm "github.com/cosmos/cosmos-db"

	"github.com/medchain/medchain/store"
)

func openWithIndex(t *testing.T, dir string) (*store.MultiStore, dbm.DB) {
	t.Helper()
	db, err := dbm.NewGoLevelDB("state", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := store.Open(db, storeNames, store.WithIndexes("idx"))
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return ms, db
}

func TestIndexStore(t *testing.T) {
	dir := t.TempDir()
	ms, db := openWithIndex(t, dir)
	if got := ms.IndexNames(); len(got) != 1 || got[0] != "idx" {
		t.Fatalf("IndexNames = %v", got)
	}
	for _, n := range ms.Names() {
		if n == "idx" {
			t.Fatal("an index store is listed among the authenticated stores")
		}
	}
	ms.Working("org").Set([]byte("k"), []byte("v"))
	h1 := mustCommit(t, ms)

	// Writes through a transaction cache reach the index's working state;
	// a dropped cache leaves nothing.
	c := store.NewCache(ms.Working("idx"))
	c.Set([]byte("a"), []byte("1"))
	c.Set([]byte("b"), []byte("2"))
	c.Write()
	dropped := store.NewCache(ms.Working("idx"))
	dropped.Set([]byte("x"), []byte("never"))
	if got := ms.Working("idx").Get([]byte("a")); string(got) != "1" {
		t.Fatalf("working read = %q", got)
	}
	// Not committed yet: readers do not see it.
	r, _, err := ms.Reader("idx", 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Has([]byte("a")) {
		t.Fatal("a reader sees an uncommitted index entry")
	}
	// Index entries are not part of the app hash.
	if wh := ms.WorkingHash(); !bytes.Equal(wh, h1.Hash) {
		t.Fatalf("index writes changed the working hash: %X vs %X", wh, h1.Hash)
	}
	h2 := mustCommit(t, ms)
	if !bytes.Equal(h2.Hash, h1.Hash) {
		t.Fatalf("index writes changed the app hash: %X vs %X", h2.Hash, h1.Hash)
	}
	// An index has one version, the latest, for every height.
	for _, v := range []int64{0, 1, 2} {
		r, got, err := ms.Reader("idx", v)
		if err != nil || string(r.Get([]byte("b"))) != "2" || r.Has([]byte("x")) {
			t.Fatalf("reader at %d (%d): %v", v, got, err)
		}
	}
	if _, _, err := ms.Reader("idx", 3); !errors.Is(err, store.ErrVersionUnavailable) {
		t.Fatalf("reader past the latest height: %v", err)
	}
	if _, _, _, err := ms.Prove("idx", []byte("a"), 0); err == nil {
		t.Fatal("Prove of an index store succeeded")
	}
	// Iteration over the committed index.
	it := r.Iterator(nil, nil)
	var keys []string
	for ; it.Valid(); it.Next() {
		keys = append(keys, string(it.Key()))
	}
	it.Close()
	if len(keys) != 2 || keys[0] != "a" || keys[1] != "b" {
		t.Fatalf("iterated %v", keys)
	}
	// Deletes commit too.
	ms.Working("idx").Delete([]byte("a"))
	ms.Working("idx").Set([]byte("c"), []byte("3"))
	mustCommit(t, ms)

	// Uncommitted writes do not survive a restart; committed ones do.
	ms.Working("idx").Set([]byte("lost"), []byte("1"))
	db.Close()
	ms, db = openWithIndex(t, dir)
	defer db.Close()
	r, _, _ = ms.Reader("idx", 0)
	if r.Has([]byte("a")) || r.Has([]byte("lost")) || string(r.Get([]byte("c"))) != "3" || string(r.Get([]byte("b"))) != "2" {
		t.Fatalf("after reopen: a=%q lost=%q b=%q c=%q", r.Get([]byte("a")), r.Get([]byte("lost")), r.Get([]byte("b")), r.Get([]byte("c")))
	}
	if ms.LastCommit().Version != 3 {
		t.Fatalf("version %d after reopen", ms.LastCommit().Version)
	}
}

func TestIndexStoreNameClash(t *testing.T) {
	if _, err := store.Open(dbm.NewMemDB(), storeNames, store.WithIndexes("org")); err == nil {
		t.Fatal("an index store named like an authenticated store was accepted")
	}
	if _, err := store.Open(dbm.NewMemDB(), storeNames, store.WithIndexes("i", "i")); err == nil {
		t.Fatal("two index stores of one name were accepted")
	}
}
