package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	dbm "github.com/cosmos/cosmos-db"

	"github.com/medchain/medchain/store"
)

var storeNames = []string{"org", "auth", "identity"}

func openLevel(t *testing.T, dir string) (*store.MultiStore, dbm.DB) {
	t.Helper()
	db, err := dbm.NewGoLevelDB("state", dir, nil)
	if err != nil {
		t.Fatalf("NewGoLevelDB: %v", err)
	}
	ms, err := store.Open(db, storeNames)
	if err != nil {
		db.Close()
		t.Fatalf("store.Open: %v", err)
	}
	return ms, db
}

func mustCommit(t *testing.T, ms *store.MultiStore) store.CommitID {
	t.Helper()
	id, err := ms.Commit()
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return id
}

// fill writes three heights of data and returns each height's commit id.
func fill(t *testing.T, ms *store.MultiStore) []store.CommitID {
	t.Helper()
	ids := []store.CommitID{{}}
	ms.Working("identity").Set([]byte("alice"), []byte("v1"))
	ms.Working("org").Set([]byte("hospital"), []byte("h1"))
	ids = append(ids, mustCommit(t, ms))
	ms.Working("identity").Set([]byte("alice"), []byte("v2"))
	ms.Working("identity").Set([]byte("bob"), []byte("b1"))
	ids = append(ids, mustCommit(t, ms))
	ms.Working("org").Delete([]byte("hospital"))
	ms.Working("auth").Set([]byte("seq"), []byte{1})
	ids = append(ids, mustCommit(t, ms))
	return ids
}

func TestMultiStoreCommit(t *testing.T) {
	ms := openMem(t, storeNames...)
	if got := ms.Names(); strings.Join(got, ",") != "auth,identity,org" {
		t.Fatalf("Names: got %v, want sorted [auth identity org]", got)
	}
	empty := ms.WorkingHash()
	ms.Working("identity").Set([]byte("k"), []byte("v"))
	working := ms.WorkingHash()
	if bytes.Equal(working, empty) {
		t.Fatalf("WorkingHash after a Set: got the empty-state hash %X, want a different one", working)
	}
	id := mustCommit(t, ms)
	if id.Version != 1 || !bytes.Equal(id.Hash, working) {
		t.Fatalf("Commit: got (%d, %X), want (1, %X) = the working hash", id.Version, id.Hash, working)
	}
	if last := ms.LastCommit(); last.Version != id.Version || !bytes.Equal(last.Hash, id.Hash) {
		t.Fatalf("LastCommit: got %+v, want %+v", last, id)
	}
	// An empty commit keeps the hash and advances the version.
	id2 := mustCommit(t, ms)
	if id2.Version != 2 || !bytes.Equal(id2.Hash, id.Hash) {
		t.Fatalf("empty Commit: got (%d, %X), want (2, %X)", id2.Version, id2.Hash, id.Hash)
	}
	// A change in any one store changes the app hash.
	for _, name := range storeNames {
		ms.Working(name).Set([]byte("other"), []byte("x"))
		if got := ms.WorkingHash(); bytes.Equal(got, id.Hash) {
			t.Errorf("WorkingHash after a Set in %s: got the old hash, want a new one", name)
		}
		ms.Working(name).Delete([]byte("other"))
	}
}

func TestMultiStoreReaders(t *testing.T) {
	ms := openMem(t, storeNames...)
	fill(t, ms)
	for _, tc := range []struct {
		store   string
		key     string
		version int64
		want    string
	}{
		{"identity", "alice", 1, "v1"},
		{"identity", "alice", 2, "v2"},
		{"identity", "alice", 0, "v2"},
		{"identity", "bob", 1, ""},
		{"org", "hospital", 2, "h1"},
		{"org", "hospital", 3, ""},
		{"auth", "seq", 3, "\x01"},
	} {
		r, v, err := ms.Reader(tc.store, tc.version)
		if err != nil {
			t.Fatalf("Reader(%s, %d): %v", tc.store, tc.version, err)
		}
		wantV := tc.version
		if wantV == 0 {
			wantV = 3
		}
		if v != wantV {
			t.Errorf("Reader(%s, %d): got version %d, want %d", tc.store, tc.version, v, wantV)
		}
		if got := r.Get([]byte(tc.key)); !bytes.Equal(got, b(tc.want)) {
			t.Errorf("Reader(%s, %d).Get(%s): got %q, want %q", tc.store, tc.version, tc.key, got, tc.want)
		}
	}
	for _, v := range []int64{-1, 4, 100} {
		if _, _, err := ms.Reader("identity", v); !errors.Is(err, store.ErrVersionUnavailable) {
			t.Errorf("Reader(identity, %d): got %v, want ErrVersionUnavailable", v, err)
		}
	}
}

func TestOpenDuplicateNames(t *testing.T) {
	if _, err := store.Open(dbm.NewMemDB(), []string{"a", "b", "a"}); err == nil {
		t.Fatalf("Open with duplicate names: got nil error, want one")
	}
}

// TestReopen checks that a goleveldb-backed store reopens at its last
// commit with the same data, hash and history, and continues from there.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	ms, db := openLevel(t, dir)
	ids := fill(t, ms)
	// Uncommitted writes are lost on reopen.
	ms.Working("identity").Set([]byte("carol"), []byte("lost"))
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	ms, db = openLevel(t, dir)
	defer db.Close()
	last := ms.LastCommit()
	if last.Version != 3 || !bytes.Equal(last.Hash, ids[3].Hash) {
		t.Fatalf("reopened LastCommit: got (%d, %X), want (3, %X)", last.Version, last.Hash, ids[3].Hash)
	}
	if got := ms.WorkingHash(); !bytes.Equal(got, ids[3].Hash) {
		t.Fatalf("reopened WorkingHash: got %X, want %X", got, ids[3].Hash)
	}
	if got := ms.Working("identity").Get([]byte("carol")); got != nil {
		t.Fatalf("uncommitted write after reopen: got %q, want nil", got)
	}
	for v, want := range map[int64]string{1: "v1", 2: "v2", 3: "v2"} {
		r, _, err := ms.Reader("identity", v)
		if err != nil {
			t.Fatalf("Reader(identity, %d): %v", v, err)
		}
		if got := r.Get([]byte("alice")); string(got) != want {
			t.Errorf("reopened Reader(identity, %d).Get(alice): got %q, want %q", v, got, want)
		}
	}
	ms.Working("identity").Set([]byte("dave"), []byte("d"))
	id := mustCommit(t, ms)
	if id.Version != 4 {
		t.Fatalf("commit after reopen: got version %d, want 4", id.Version)
	}

	// Two stores built the same way have the same hash at every height.
	other := openMem(t, storeNames...)
	ids2 := fill(t, other)
	for h := 1; h <= 3; h++ {
		if !bytes.Equal(ids2[h].Hash, ids[h].Hash) {
			t.Fatalf("height %d: got hash %X in memory and %X in goleveldb, want equal", h, ids2[h].Hash, ids[h].Hash)
		}
	}
}

// TestOpenRefusesCorruptState checks that a database whose recorded hash
// or height metadata does not match the trees is refused.
func TestOpenRefusesCorruptState(t *testing.T) {
	hashKey := func(v int64) []byte { return binary.BigEndian.AppendUint64([]byte("m/hash/"), uint64(v)) }
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, db dbm.DB)
	}{
		{"stored hash overwritten", func(t *testing.T, db dbm.DB) {
			h, err := db.Get(hashKey(3))
			if err != nil || len(h) == 0 {
				t.Fatalf("stored hash at height 3: got %X, %v; want a hash", h, err)
			}
			h[0] ^= 0xff
			if err := db.SetSync(hashKey(3), h); err != nil {
				t.Fatal(err)
			}
		}},
		{"stored hash deleted", func(t *testing.T, db dbm.DB) {
			if err := db.DeleteSync(hashKey(3)); err != nil {
				t.Fatal(err)
			}
		}},
		{"latest height points at another height's hash", func(t *testing.T, db dbm.DB) {
			h2, _ := db.Get(hashKey(2))
			if err := db.SetSync(hashKey(3), h2); err != nil {
				t.Fatal(err)
			}
		}},
		{"latest height truncated", func(t *testing.T, db dbm.DB) {
			if err := db.SetSync([]byte("m/latest"), []byte{0, 3}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ms, db := openLevel(t, dir)
			fill(t, ms)
			tc.corrupt(t, db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db, err := dbm.NewGoLevelDB("state", dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			_, err = store.Open(db, storeNames)
			if err == nil || !strings.Contains(err.Error(), "corrupt") {
				t.Fatalf("Open of a corrupt database: got %v, want an error mentioning \"corrupt\"", err)
			}
		})
	}
}

// TestOpenRefusesTamperedTree overwrites a tree's stored node directly in
// the database: Open recomputes that tree's root and must refuse the state.
// The tree holds one key, so its root is the leaf whose value is tampered.
// (IAVL stores inner nodes' hashes, so Open notices damage only to nodes
// whose hash it recomputes, not to a leaf deep in a large tree.)
func TestOpenRefusesTamperedTree(t *testing.T) {
	dir := t.TempDir()
	ms, db := openLevel(t, dir)
	ms.Working("identity").Set([]byte("alice"), []byte("original-value"))
	mustCommit(t, ms)
	prefix := []byte("t/identity/")
	it, err := db.Iterator(prefix, store.PrefixEnd(prefix))
	if err != nil {
		t.Fatal(err)
	}
	tampered := map[string][]byte{}
	for ; it.Valid(); it.Next() {
		if bytes.Contains(it.Value(), []byte("original-value")) {
			tampered[string(it.Key())] = bytes.ReplaceAll(bytes.Clone(it.Value()), []byte("original-value"), []byte("tampered-value"))
		}
	}
	it.Close()
	if len(tampered) == 0 {
		t.Fatalf("found no node holding alice's value under %q; the test needs updating", prefix)
	}
	for k, v := range tampered {
		if err := db.SetSync([]byte(k), v); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	db, err = dbm.NewGoLevelDB("state", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := store.Open(db, storeNames); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("Open of a tampered database: got %v, want an error mentioning \"corrupt\"", err)
	}
}

// TestKeyFilterExactReads checks that the key filters in front of the trees
// never change an answer: absent keys read as absent, every key written
// (and every key of the state a reopened store loads) reads back, deleted
// keys stay absent, and versions older than the opening version, which the
// filters do not cover, still read their own keys.
func TestKeyFilterExactReads(t *testing.T) {
	dir := t.TempDir()
	ms, db := openLevel(t, dir)
	ids := fill(t, ms) // alice v2, bob b1 in identity; hospital deleted from org at height 3
	for i := range 500 {
		ms.Working("auth").Set(fmt.Appendf(nil, "seq/%d", i), []byte{byte(i) | 1})
	}
	mustCommit(t, ms)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	ms, db = openLevel(t, dir)
	defer db.Close()
	latest, _, err := ms.Reader("auth", 0)
	if err != nil {
		t.Fatal(err)
	}
	own, v := ms.OwnReader("auth")
	if v != 4 {
		t.Fatalf("OwnReader version %d, want 4", v)
	}
	for i := range 500 {
		k := fmt.Appendf(nil, "seq/%d", i)
		for name, r := range map[string]store.Reader{"Reader": latest, "OwnReader": own, "Working": ms.Working("auth")} {
			if got := r.Get(k); !bytes.Equal(got, []byte{byte(i) | 1}) {
				t.Fatalf("%s: %s after reopen = %x", name, k, got)
			}
		}
		if latest.Get(fmt.Appendf(nil, "nope/%d", i)) != nil {
			t.Fatalf("absent key nope/%d read a value", i)
		}
	}
	if got := ms.Working("identity").Get([]byte("bob")); string(got) != "b1" {
		t.Fatalf("bob = %q after reopen", got)
	}
	// hospital was deleted at height 3, before this opening: the filter does
	// not hold it, and height 2 must still find it.
	old, _, err := ms.Reader("org", ids[2].Version)
	if err != nil {
		t.Fatal(err)
	}
	if got := old.Get([]byte("hospital")); string(got) != "h1" {
		t.Fatalf("hospital at height 2 = %q, want h1", got)
	}
	if r, _, _ := ms.Reader("org", 0); r.Get([]byte("hospital")) != nil {
		t.Fatal("hospital present at the latest height")
	}

	// A key set now reads in the working state at once, in OwnReader only
	// once committed, and a deleted one is absent again.
	w := ms.Working("identity")
	w.Set([]byte("carol"), []byte("c1"))
	if got := w.Get([]byte("carol")); string(got) != "c1" {
		t.Fatalf("working carol = %q", got)
	}
	if r, _ := ms.OwnReader("identity"); r.Get([]byte("carol")) != nil {
		t.Fatal("OwnReader sees an uncommitted write")
	}
	mustCommit(t, ms)
	if r, _ := ms.OwnReader("identity"); string(r.Get([]byte("carol"))) != "c1" {
		t.Fatal("OwnReader does not see the committed write")
	}
	w.Delete([]byte("carol"))
	mustCommit(t, ms)
	if r, _ := ms.OwnReader("identity"); r.Get([]byte("carol")) != nil {
		t.Fatal("OwnReader still sees a deleted key")
	}
}
