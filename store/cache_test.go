package store_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	dbm "github.com/cosmos/cosmos-db"

	"github.com/medchain/medchain/store"
)

func openMem(t *testing.T, names ...string) *store.MultiStore {
	t.Helper()
	ms, err := store.Open(dbm.NewMemDB(), names)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	return ms
}

type kv struct{ k, v string }

func collect(t *testing.T, it store.Iterator) []kv {
	t.Helper()
	defer func() {
		if err := it.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	var out []kv
	for ; it.Valid(); it.Next() {
		out = append(out, kv{string(it.Key()), string(it.Value())})
	}
	return out
}

func b(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func TestCacheShadowing(t *testing.T) {
	ms := openMem(t, "s")
	parent := ms.Working("s")
	parent.Set([]byte("a"), []byte("1"))
	parent.Set([]byte("b"), []byte("2"))

	c := store.NewCache(parent)
	c.Set([]byte("a"), []byte("10")) // overwrite
	c.Delete([]byte("b"))            // delete a parent key
	c.Set([]byte("c"), []byte("3"))  // new key
	c.Set([]byte("d"), []byte("4"))
	c.Delete([]byte("d")) // set then delete
	c.Delete([]byte("e")) // delete of an absent key
	c.Set([]byte("e"), []byte("5"))

	for _, tc := range []struct{ key, cache, parent string }{
		{"a", "10", "1"},
		{"b", "", "2"},
		{"c", "3", ""},
		{"d", "", ""},
		{"e", "5", ""},
		{"z", "", ""},
	} {
		if got := c.Get([]byte(tc.key)); !bytes.Equal(got, b(tc.cache)) {
			t.Errorf("cache Get(%s): got %q, want %q", tc.key, got, tc.cache)
		}
		if got := c.Has([]byte(tc.key)); got != (tc.cache != "") {
			t.Errorf("cache Has(%s): got %v, want %v", tc.key, got, tc.cache != "")
		}
		if got := parent.Get([]byte(tc.key)); !bytes.Equal(got, b(tc.parent)) {
			t.Errorf("parent Get(%s) before Write: got %q, want %q", tc.key, got, tc.parent)
		}
	}
	// Writes are buffered until Write; the working hash is unchanged.
	before := ms.WorkingHash()
	c2 := store.NewCache(ms.Working("s"))
	c2.Set([]byte("x"), []byte("y"))
	if got := ms.WorkingHash(); !bytes.Equal(got, before) {
		t.Fatalf("WorkingHash after a cached Set: got %X, want unchanged %X", got, before)
	}

	c.Write()
	for _, tc := range []struct{ key, want string }{{"a", "10"}, {"b", ""}, {"c", "3"}, {"d", ""}, {"e", "5"}} {
		if got := parent.Get([]byte(tc.key)); !bytes.Equal(got, b(tc.want)) {
			t.Errorf("parent Get(%s) after Write: got %q, want %q", tc.key, got, tc.want)
		}
	}
	// Write empties the cache: a later parent change shows through.
	parent.Set([]byte("a"), []byte("11"))
	if got := c.Get([]byte("a")); string(got) != "11" {
		t.Errorf("cache Get(a) after Write and a parent change: got %q, want %q", got, "11")
	}
}

// A nested cache sees its parent cache's writes and flushes into it only.
func TestCacheNested(t *testing.T) {
	ms := openMem(t, "s")
	outer := store.NewCache(ms.Working("s"))
	outer.Set([]byte("k"), []byte("outer"))
	inner := store.NewCache(outer)
	if got := inner.Get([]byte("k")); string(got) != "outer" {
		t.Fatalf("inner Get: got %q, want %q", got, "outer")
	}
	inner.Delete([]byte("k"))
	inner.Write()
	if outer.Has([]byte("k")) {
		t.Fatalf("outer Has(k) after the inner delete was written: got true, want false")
	}
	if ms.Working("s").Has([]byte("k")) {
		t.Fatalf("store Has(k): got true, want false")
	}
}

func TestCacheSetEmptyPanics(t *testing.T) {
	c := store.NewCache(openMem(t, "s").Working("s"))
	defer func() {
		if recover() == nil {
			t.Fatalf("Set with an empty value: got no panic, want one")
		}
	}()
	c.Set([]byte("k"), nil)
}

func TestCacheIteration(t *testing.T) {
	ms := openMem(t, "s")
	parent := ms.Working("s")
	for _, k := range []string{"a", "c", "e", "g", "i"} {
		parent.Set([]byte(k), []byte("p"+k))
	}
	c := store.NewCache(parent)
	c.Set([]byte("b"), []byte("cb")) // between parent keys
	c.Set([]byte("c"), []byte("cc")) // shadows a parent key
	c.Delete([]byte("e"))            // hides a parent key
	c.Delete([]byte("f"))            // deletes nothing
	c.Set([]byte("j"), []byte("cj")) // after every parent key
	c.Set([]byte("0"), []byte("c0")) // before every parent key

	all := []kv{{"0", "c0"}, {"a", "pa"}, {"b", "cb"}, {"c", "cc"}, {"g", "pg"}, {"i", "pi"}, {"j", "cj"}}
	for _, tc := range []struct {
		name       string
		start, end string
		want       []kv
	}{
		{"unbounded", "", "", all},
		{"start only", "b", "", all[2:]},
		{"end only", "", "g", all[:4]},
		{"both, start on a deleted key", "e", "j", []kv{{"g", "pg"}, {"i", "pi"}}},
		{"both, end excluded", "a", "c", []kv{{"a", "pa"}, {"b", "cb"}}},
		{"cache keys only", "0", "1", []kv{{"0", "c0"}}},
		{"empty range", "d", "f", nil},
		{"start past the end", "z", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := collect(t, c.Iterator(b(tc.start), b(tc.end)))
			if !slices.Equal(got, tc.want) {
				t.Errorf("Iterator(%q, %q): got %v, want %v", tc.start, tc.end, got, tc.want)
			}
			rev := slices.Clone(tc.want)
			slices.Reverse(rev)
			got = collect(t, c.ReverseIterator(b(tc.start), b(tc.end)))
			if !slices.Equal(got, rev) {
				t.Errorf("ReverseIterator(%q, %q): got %v, want %v", tc.start, tc.end, got, rev)
			}
		})
	}
}

// TestCacheModel compares a Cache over a store with a plain map under
// random operations, including iteration over random bounds both ways, and
// checks that Write leaves the store equal to the model.
func TestCacheModel(t *testing.T) {
	const seed = 42
	r := rand.New(rand.NewPCG(seed, seed))
	key := func() string { return fmt.Sprintf("k%02d", r.IntN(40)) }
	for round := range 20 {
		ms := openMem(t, "s")
		parent := ms.Working("s")
		model := map[string]string{}
		for range 15 {
			k, v := key(), fmt.Sprint("p", r.IntN(1000))
			parent.Set([]byte(k), []byte(v))
			model[k] = v
		}
		c := store.NewCache(parent)
		for op := range 200 {
			k := key()
			switch r.IntN(4) {
			case 0, 1:
				v := fmt.Sprint("c", op)
				c.Set([]byte(k), []byte(v))
				model[k] = v
			case 2:
				c.Delete([]byte(k))
				delete(model, k)
			case 3:
				var start, end string
				if r.IntN(3) != 0 {
					start = key()
				}
				if r.IntN(3) != 0 {
					end = key()
				}
				want := modelRange(model, start, end)
				if got := collect(t, c.Iterator(b(start), b(end))); !slices.Equal(got, want) {
					t.Fatalf("round %d op %d: Iterator(%q, %q): got %v, want %v", round, op, start, end, got, want)
				}
				slices.Reverse(want)
				if got := collect(t, c.ReverseIterator(b(start), b(end))); !slices.Equal(got, want) {
					t.Fatalf("round %d op %d: ReverseIterator(%q, %q): got %v, want %v", round, op, start, end, got, want)
				}
			}
			if got, want := c.Get([]byte(k)), model[k]; string(got) != want {
				t.Fatalf("round %d op %d: Get(%s): got %q, want %q", round, op, k, got, want)
			}
		}
		c.Write()
		if got, want := collect(t, parent.Iterator(nil, nil)), modelRange(model, "", ""); !slices.Equal(got, want) {
			t.Fatalf("round %d: store after Write: got %v, want %v", round, got, want)
		}
	}
}

func modelRange(m map[string]string, start, end string) []kv {
	var out []kv
	for k, v := range m {
		if (start == "" || k >= start) && (end == "" || k < end) {
			out = append(out, kv{k, v})
		}
	}
	slices.SortFunc(out, func(a, b kv) int {
		return bytes.Compare([]byte(a.k), []byte(b.k))
	})
	return out
}

// TestCacheWriteOrderIndependent checks that the same logical writes made
// in different orders give the same tree, hence the same hash.
func TestCacheWriteOrderIndependent(t *testing.T) {
	keys := []string{"m", "c", "x", "a", "q", "f", "z", "b"}
	var hashes [][]byte
	for _, perm := range [][]int{{0, 1, 2, 3, 4, 5, 6, 7}, {7, 6, 5, 4, 3, 2, 1, 0}, {3, 0, 6, 1, 7, 2, 5, 4}} {
		ms := openMem(t, "s")
		c := store.NewCache(ms.Working("s"))
		for _, i := range perm {
			c.Set([]byte(keys[i]), []byte("v"+keys[i]))
		}
		c.Write()
		hashes = append(hashes, ms.WorkingHash())
	}
	for i := 1; i < len(hashes); i++ {
		if !bytes.Equal(hashes[i], hashes[0]) {
			t.Fatalf("hash with write order %d: got %X, want %X", i, hashes[i], hashes[0])
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct{ in, want []byte }{
		{[]byte{0x01}, []byte{0x02}},
		{[]byte{0x01, 0xff}, []byte{0x02}},
		{[]byte{0x01, 0x02, 0xff, 0xff}, []byte{0x01, 0x03}},
		{[]byte{0xff, 0xff}, nil},
		{nil, nil},
	} {
		if got := store.PrefixEnd(tc.in); !bytes.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("PrefixEnd(%X): got %X, want %X", tc.in, got, tc.want)
		}
	}
}
