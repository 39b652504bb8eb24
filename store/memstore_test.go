package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dbm "github.com/cosmos/cosmos-db"

	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/store/proof"
)

func openMemTree(t *testing.T, db dbm.DB, keep int) *store.MultiStore {
	t.Helper()
	ms, err := store.Open(db, storeNames, store.WithMemTree(store.MemTreeConfig{Keep: keep}))
	if err != nil {
		t.Fatalf("store.Open WithMemTree: %v", err)
	}
	return ms
}

// randomBlock writes the same pseudo-random block (sets, same-value
// updates, deletes of present and absent keys, in several stores) into
// every store given.
func randomBlock(rng *rand.Rand, stores ...*store.MultiStore) {
	for range 1 + rng.IntN(60) {
		name := storeNames[rng.IntN(len(storeNames))]
		key := fmt.Appendf(nil, "k%03d", rng.IntN(400))
		if rng.IntN(4) == 0 {
			for _, ms := range stores {
				ms.Working(name).Delete(key)
			}
			continue
		}
		value := fmt.Appendf(nil, "v%d", rng.IntN(8))
		for _, ms := range stores {
			ms.Working(name).Set(key, value)
		}
	}
}

// TestMemTreeBackendEqualsIAVL: the memtree backend commits the same app
// hash as the IAVL backend at every height, reads the same values at every
// kept height, and proves the same way (identical ProofOps, which verify
// against the app hash); after a reopen it replays to the same state and
// goes on committing the same hashes.
func TestMemTreeBackendEqualsIAVL(t *testing.T) {
	dir := t.TempDir()
	db, err := dbm.NewGoLevelDB("state", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	const keep = 30
	mem := openMemTree(t, db, keep)
	ref := openMem(t, storeNames...)
	rng := rand.New(rand.NewPCG(11, 12))
	var hashes [][]byte
	check := func(height int64) {
		t.Helper()
		for range 10 {
			name := storeNames[rng.IntN(len(storeNames))]
			key := fmt.Appendf(nil, "k%03d", rng.IntN(420))
			gv, gops, gh, gerr := mem.Prove(name, key, height)
			wv, wops, wh, werr := ref.Prove(name, key, height)
			if (gerr != nil) != (werr != nil) || gh != wh || !bytes.Equal(gv, wv) {
				t.Fatalf("Prove(%s, %s, %d): memtree %q h%d %v, IAVL %q h%d %v", name, key, height, gv, gh, gerr, wv, wh, werr)
			}
			if gerr != nil {
				continue
			}
			gb, _ := gops.Marshal()
			wb, _ := wops.Marshal()
			if !bytes.Equal(gb, wb) {
				t.Fatalf("Prove(%s, %s, %d): proof operators differ from IAVL's", name, key, height)
			}
			if err := proof.Verify(gops, hashes[gh-1], name, key, gv); err != nil {
				t.Fatalf("Prove(%s, %s, %d) does not verify against the app hash: %v", name, key, height, err)
			}
			r, _, err := mem.Reader(name, height)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.Get(key), wv) {
				t.Fatalf("Reader(%s, %d).Get(%s) = %q, want %q", name, height, key, r.Get(key), wv)
			}
		}
	}
	commit := func() {
		t.Helper()
		if !bytes.Equal(mem.WorkingHash(), ref.WorkingHash()) {
			t.Fatalf("height %d: working hash differs", len(hashes)+1)
		}
		got := mustCommit(t, mem)
		want := mustCommit(t, ref)
		if got.Version != want.Version || !bytes.Equal(got.Hash, want.Hash) {
			t.Fatalf("commit: memtree (%d, %X), IAVL (%d, %X)", got.Version, got.Hash, want.Version, want.Hash)
		}
		hashes = append(hashes, got.Hash)
	}
	for range 80 {
		randomBlock(rng, mem, ref)
		commit()
		check(0)
		check(int64(len(hashes) - rng.IntN(keep)))
	}
	// Heights older than keep are gone, with the error every reader of old
	// heights already handles.
	if _, _, err := mem.Reader("identity", int64(len(hashes)-keep)); !errors.Is(err, store.ErrVersionUnavailable) {
		t.Fatalf("Reader of a height no longer kept: %v, want ErrVersionUnavailable", err)
	}
	if _, _, _, err := mem.Prove("identity", []byte("k001"), 1); !errors.Is(err, store.ErrVersionUnavailable) {
		t.Fatalf("Prove at a height no longer kept: %v, want ErrVersionUnavailable", err)
	}
	// Uncommitted writes are not in the change sets.
	mem.Working("org").Set([]byte("lost"), []byte("x"))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = dbm.NewGoLevelDB("state", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mem = openMemTree(t, db, keep)
	if last := mem.LastCommit(); last.Version != int64(len(hashes)) || !bytes.Equal(last.Hash, hashes[len(hashes)-1]) {
		t.Fatalf("reopened at (%d, %X), want (%d, %X)", last.Version, last.Hash, len(hashes), hashes[len(hashes)-1])
	}
	if mem.Working("org").Get([]byte("lost")) != nil {
		t.Fatal("an uncommitted write survived the reopen")
	}
	check(0)
	check(int64(len(hashes) - keep + 1))
	for range 20 {
		randomBlock(rng, mem, ref)
		commit()
	}
	check(0)
}

// TestMemTreeBackendRefusesDamage: a change set altered, missing or cut
// short, or a recorded hash that does not match, makes Open refuse the
// database as corrupt; and neither backend opens the other's database.
func TestMemTreeBackendRefusesDamage(t *testing.T) {
	changeKey := func(v int64) []byte { return binary.BigEndian.AppendUint64([]byte("c/"), uint64(v)) }
	build := func(t *testing.T) (string, dbm.DB) {
		dir := t.TempDir()
		db, err := dbm.NewGoLevelDB("state", dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		ms := openMemTree(t, db, 5)
		fill(t, ms) // three heights
		return dir, db
	}
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, db dbm.DB)
	}{
		{"change set value altered", func(t *testing.T, db dbm.DB) {
			cs, _ := db.Get(changeKey(2))
			i := bytes.Index(cs, []byte("b1"))
			if i < 0 {
				t.Fatalf("change set of height 2 does not hold bob's value: %q", cs)
			}
			cs = bytes.Clone(cs)
			cs[i+1] = '9'
			if err := db.SetSync(changeKey(2), cs); err != nil {
				t.Fatal(err)
			}
		}},
		{"change set missing", func(t *testing.T, db dbm.DB) {
			if err := db.DeleteSync(changeKey(2)); err != nil {
				t.Fatal(err)
			}
		}},
		{"change set truncated", func(t *testing.T, db dbm.DB) {
			cs, _ := db.Get(changeKey(3))
			if err := db.SetSync(changeKey(3), cs[:len(cs)-2]); err != nil {
				t.Fatal(err)
			}
		}},
		{"stored hash overwritten", func(t *testing.T, db dbm.DB) {
			h, _ := db.Get([]byte("m/hash/\x00\x00\x00\x00\x00\x00\x00\x01"))
			h = bytes.Clone(h)
			h[0] ^= 1
			if err := db.SetSync([]byte("m/hash/\x00\x00\x00\x00\x00\x00\x00\x01"), h); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, db := build(t)
			tc.corrupt(t, db)
			db.Close()
			db, err := dbm.NewGoLevelDB("state", dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := store.Open(db, storeNames, store.WithMemTree(store.MemTreeConfig{Keep: 5})); err == nil || !strings.Contains(err.Error(), "corrupt") {
				t.Fatalf("Open of a damaged database: %v, want an error mentioning \"corrupt\"", err)
			}
		})
	}
	t.Run("IAVL opening a memtree database", func(t *testing.T) {
		_, db := build(t)
		defer db.Close()
		if _, err := store.Open(db, storeNames); err == nil || !strings.Contains(err.Error(), "memtree") {
			t.Fatalf("IAVL backend on a memtree database: %v, want a refusal naming memtree", err)
		}
	})
	t.Run("memtree opening an IAVL database", func(t *testing.T) {
		dir := t.TempDir()
		ms, db := openLevel(t, dir)
		fill(t, ms)
		defer db.Close()
		if _, err := store.Open(db, storeNames, store.WithMemTree(store.MemTreeConfig{Keep: 5})); err == nil || !strings.Contains(err.Error(), "IAVL") {
			t.Fatalf("memtree backend on an IAVL database: %v, want a refusal naming IAVL", err)
		}
	})
	if _, err := store.Open(dbm.NewMemDB(), storeNames, store.WithMemTree(store.MemTreeConfig{Keep: 0})); err == nil {
		t.Fatal("WithMemTree(0) accepted")
	}
}

// TestMemTreeBackendInitialVersion: a chain starting at a later height
// commits that height first, and reopens from its change sets.
func TestMemTreeBackendInitialVersion(t *testing.T) {
	db := dbm.NewMemDB()
	mem := openMemTree(t, db, 10)
	ref := openMem(t, storeNames...)
	for _, ms := range []*store.MultiStore{mem, ref} {
		if err := ms.SetInitialVersion(42); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var last store.CommitID
	for range 5 {
		randomBlock(rng, mem, ref)
		got, want := mustCommit(t, mem), mustCommit(t, ref)
		if got.Version != want.Version || !bytes.Equal(got.Hash, want.Hash) {
			t.Fatalf("memtree (%d, %X), IAVL (%d, %X)", got.Version, got.Hash, want.Version, want.Hash)
		}
		last = got
	}
	if last.Version != 46 {
		t.Fatalf("fifth commit from 42 is %d", last.Version)
	}
	again := openMemTree(t, db, 10)
	if got := again.LastCommit(); got.Version != 46 || !bytes.Equal(got.Hash, last.Hash) {
		t.Fatalf("reopened at (%d, %X), want (46, %X)", got.Version, got.Hash, last.Hash)
	}
}

// TestMemTreeSnapshots: with a snapshot directory, a snapshot is written
// every interval heights; reopening starts from the latest one and
// replays only the change sets since (the older ones are deleted), with
// the same state and the same hashes as IAVL going on. A damaged or
// missing snapshot is refused as corrupt, and a leftover temporary file
// (a crash while writing) is ignored and removed.
func TestMemTreeSnapshots(t *testing.T) {
	dir := t.TempDir()
	snapDir := filepath.Join(dir, "snapshots")
	cfg := store.MemTreeConfig{Keep: 8, SnapshotDir: snapDir, SnapshotInterval: 7}
	var written []int64
	cfg.OnSnapshot = func(v int64, _ time.Duration, err error) {
		if err != nil {
			t.Errorf("snapshot at %d: %v", v, err)
		}
		written = append(written, v) // snapshots run one at a time
	}
	var db dbm.DB
	db, err := dbm.NewGoLevelDB("state", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := store.Open(db, storeNames, store.WithMemTree(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ref := openMem(t, storeNames...)
	rng := rand.New(rand.NewPCG(5, 6))
	var last store.CommitID
	for h := 1; h <= 45; h++ {
		randomBlock(rng, mem, ref)
		last = mustCommit(t, mem)
		if want := mustCommit(t, ref); !bytes.Equal(last.Hash, want.Hash) {
			t.Fatalf("height %d: hash differs from IAVL's", h)
		}
		if h%7 == 0 {
			mem.Close() // wait for this height's snapshot, so that none is skipped
		}
	}
	mem.Close()
	if !slices.Equal(written, []int64{7, 14, 21, 28, 35, 42}) {
		t.Fatalf("snapshots written at %v, want every 7th height", written)
	}
	files, _ := filepath.Glob(filepath.Join(snapDir, "snapshot-*"))
	if len(files) != 1 || !strings.HasSuffix(files[0], "snapshot-00000000000000000042") {
		t.Fatalf("snapshot files %v, want only height 42's", files)
	}
	it, err := db.Iterator([]byte("c/"), []byte("c0"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []int64
	for ; it.Valid(); it.Next() {
		kept = append(kept, int64(binary.BigEndian.Uint64(it.Key()[2:])))
	}
	it.Close()
	if !slices.Equal(kept, []int64{43, 44, 45}) {
		t.Fatalf("change sets kept for heights %v, want 43..45", kept)
	}
	// A crash while writing the next snapshot leaves a temporary file.
	if err := os.WriteFile(filepath.Join(snapDir, "snapshot-00000000000000000049.tmp"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	db.Close()

	reopen := func() (*store.MultiStore, dbm.DB, error) {
		db, err := dbm.NewGoLevelDB("state", dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := store.Open(db, storeNames, store.WithMemTree(cfg))
		return ms, db, err
	}
	mem, db, err = reopen()
	if err != nil {
		t.Fatal(err)
	}
	if got := mem.LastCommit(); got.Version != 45 || !bytes.Equal(got.Hash, last.Hash) {
		t.Fatalf("reopened at (%d, %X), want (45, %X)", got.Version, got.Hash, last.Hash)
	}
	if tmp, _ := filepath.Glob(filepath.Join(snapDir, "*.tmp")); len(tmp) != 0 {
		t.Fatalf("temporary snapshot files left: %v", tmp)
	}
	// Heights 42 (the snapshot) to 45 are readable; the snapshot's own
	// height can be proven.
	if _, _, _, err := mem.Prove("identity", []byte("k001"), 42); err != nil {
		t.Fatalf("Prove at the snapshot's height: %v", err)
	}
	if _, _, err := mem.Reader("identity", 41); !errors.Is(err, store.ErrVersionUnavailable) {
		t.Fatalf("Reader below the snapshot after a reopen: %v, want ErrVersionUnavailable", err)
	}
	for range 10 {
		randomBlock(rng, mem, ref)
		got, want := mustCommit(t, mem), mustCommit(t, ref)
		if got.Version != want.Version || !bytes.Equal(got.Hash, want.Hash) {
			t.Fatalf("after reopen: memtree (%d, %X), IAVL (%d, %X)", got.Version, got.Hash, want.Version, want.Hash)
		}
	}
	mem.Close()
	db.Close()

	// Damage: the snapshot's bytes, or the file gone.
	snap := snapshotFile(t, snapDir)
	orig, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Clone(orig)
	damaged[len(damaged)-3] ^= 0x40 // inside the last store's last value
	if err := os.WriteFile(snap, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, db, err = reopen(); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("Open with a damaged snapshot: %v, want corrupt", err)
	}
	db.Close()
	if err := os.Remove(snap); err != nil {
		t.Fatal(err)
	}
	if _, db, err = reopen(); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("Open with the snapshot missing: %v, want corrupt", err)
	}
	db.Close()
}

func snapshotFile(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "snapshot-*"))
	if len(files) != 1 {
		t.Fatalf("snapshot files %v, want one", files)
	}
	return files[0]
}
