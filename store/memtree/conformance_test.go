package memtree

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	dbm "github.com/cosmos/cosmos-db"
	"github.com/cosmos/iavl"
	iavldb "github.com/cosmos/iavl/db"
	ics23 "github.com/cosmos/ics23/go"
)

// newIAVL returns an IAVL v1 tree configured as store.MultiStore's (fast
// storage off) on an in-memory database.
func newIAVL(t testing.TB, opts ...iavl.Option) *iavl.MutableTree {
	t.Helper()
	return iavl.NewMutableTree(iavldb.NewWrapper(dbm.NewMemDB()), 10_000, true, iavl.NewNopLogger(), opts...)
}

// conformance drives a memtree and an IAVL v1 tree with the same random
// operations and fails at the first difference in a working hash, a saved
// hash or version, a Set or Remove result, a read, or an iteration.
type conformance struct {
	t    *testing.T
	rng  *rand.Rand
	mem  *Tree
	ref  *iavl.MutableTree
	keys [][]byte // keys set at some point (present or removed since), for picking existing ones
	ops  int
}

func (c *conformance) key() []byte {
	// Mostly keys seen before (updates, removals, reads of removed keys),
	// else new ones of varied length and shared prefixes, as store keys
	// are (a prefix byte, then an id).
	if len(c.keys) > 0 && c.rng.IntN(3) > 0 {
		return c.keys[c.rng.IntN(len(c.keys))]
	}
	k := []byte{byte(c.rng.IntN(4))}
	for range 1 + c.rng.IntN(12) {
		k = append(k, byte('a'+c.rng.IntN(6)))
	}
	c.keys = append(c.keys, k)
	return k
}

func (c *conformance) step() {
	t := c.t
	t.Helper()
	c.ops++
	k := c.key()
	switch r := c.rng.IntN(10); {
	case r < 6:
		v := fmt.Appendf(nil, "v%d", c.rng.IntN(5)) // repeated values: an update with the same value still changes the hash
		got, err := c.mem.Set(k, v)
		if err != nil {
			t.Fatal(err)
		}
		want, err := c.ref.Set(k, v)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("op %d Set(%q): updated %v, IAVL %v", c.ops, k, got, want)
		}
	case r < 9:
		gotV, got := c.mem.Remove(k)
		wantV, want, err := c.ref.Remove(k)
		if err != nil {
			t.Fatal(err)
		}
		if got != want || !bytes.Equal(gotV, wantV) {
			t.Fatalf("op %d Remove(%q) = %q %v, IAVL %q %v", c.ops, k, gotV, got, wantV, want)
		}
	default:
		want, err := c.ref.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.mem.Get(k); !bytes.Equal(got, want) {
			t.Fatalf("op %d Get(%q) = %q, IAVL %q", c.ops, k, got, want)
		}
	}
}

func (c *conformance) checkHash(what string) {
	c.t.Helper()
	if got, want := c.mem.WorkingHash(), c.ref.WorkingHash(); !bytes.Equal(got, want) {
		c.t.Fatalf("%s (op %d): working hash %x, IAVL %x", what, c.ops, got, want)
	}
}

func (c *conformance) save() {
	c.t.Helper()
	got, gv := c.mem.SaveVersion()
	want, wv, err := c.ref.SaveVersion()
	if err != nil {
		c.t.Fatal(err)
	}
	if gv != wv || !bytes.Equal(got, want) {
		c.t.Fatalf("SaveVersion (op %d) = %x v%d, IAVL %x v%d", c.ops, got, gv, want, wv)
	}
	if !bytes.Equal(c.mem.Hash(), want) || !bytes.Equal(c.mem.Saved().Hash(), want) {
		c.t.Fatalf("Hash after save = %x / view %x, want %x", c.mem.Hash(), c.mem.Saved().Hash(), want)
	}
}

// checkIteration compares full and random-range iterations, both ways.
func (c *conformance) checkIteration(v *View, ref *iavl.ImmutableTree) {
	c.t.Helper()
	bounds := [][2][]byte{{nil, nil}}
	for range 4 {
		a, b := c.key(), c.key()
		if bytes.Compare(a, b) > 0 {
			a, b = b, a
		}
		bounds = append(bounds, [2][]byte{a, b}, [2][]byte{a, nil}, [2][]byte{nil, b})
	}
	for _, bd := range bounds {
		for _, asc := range []bool{true, false} {
			var want [][2][]byte
			it, err := ref.Iterator(bd[0], bd[1], asc)
			if err != nil {
				c.t.Fatal(err)
			}
			for ; it.Valid(); it.Next() {
				want = append(want, [2][]byte{it.Key(), it.Value()})
			}
			it.Close()
			var got [][2][]byte
			for mi := v.Iterator(bd[0], bd[1], asc); mi.Valid(); mi.Next() {
				got = append(got, [2][]byte{mi.Key(), mi.Value()})
			}
			if !slices.EqualFunc(got, want, func(a, b [2][]byte) bool {
				return bytes.Equal(a[0], b[0]) && bytes.Equal(a[1], b[1])
			}) {
				c.t.Fatalf("iterate [%q, %q) ascending=%v: %d entries %q, IAVL %d %q", bd[0], bd[1], asc, len(got), got, len(want), want)
			}
		}
	}
}

// TestConformsToIAVL is the package's contract: across many versions of
// random sets (new keys, updates, same-value updates), removals (present
// and absent keys) and reads, every working hash, saved hash, result and
// iteration equals IAVL v1's, including across the versions' rebalancing.
func TestConformsToIAVL(t *testing.T) {
	for _, tc := range []struct {
		name     string
		seed     uint64
		initial  int64
		versions int
		maxOps   int
	}{
		{"small-versions", 1, 0, 300, 8},
		{"large-versions", 2, 0, 40, 400},
		{"initial-version", 3, 42, 60, 50},
		{"churn", 4, 0, 150, 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []iavl.Option
			mem := New()
			if tc.initial > 0 {
				opts = append(opts, iavl.InitialVersionOption(uint64(tc.initial)))
				if err := mem.SetInitialVersion(tc.initial); err != nil {
					t.Fatal(err)
				}
			}
			c := &conformance{t: t, rng: rand.New(rand.NewPCG(tc.seed, 0)), mem: mem, ref: newIAVL(t, opts...)}
			c.checkHash("empty tree")
			for v := range tc.versions {
				n := c.rng.IntN(tc.maxOps + 1) // includes empty versions
				for range n {
					c.step()
				}
				if v%7 == 3 {
					c.checkHash("mid-version")
					c.step() // writes after a working hash must invalidate it
				}
				c.checkHash("before save")
				c.save()
				if v%10 == 0 {
					ref, err := c.ref.GetImmutable(c.ref.Version())
					if err != nil {
						t.Fatal(err)
					}
					c.checkIteration(c.mem.Saved(), ref)
				}
			}
			if c.mem.Size() != c.ref.Size() {
				t.Fatalf("size %d, IAVL %d", c.mem.Size(), c.ref.Size())
			}
			t.Logf("%d operations over %d versions, %d keys at the end", c.ops, tc.versions, c.mem.Size())
		})
	}
}

// TestSavedViewsAreStable: a view of a saved version keeps answering as
// that version after later writes, and its hash is IAVL's for that version.
func TestSavedViewsAreStable(t *testing.T) {
	c := &conformance{t: t, rng: rand.New(rand.NewPCG(9, 9)), mem: New(), ref: newIAVL(t)}
	type snap struct {
		view *View
		hash []byte
		kv   map[string]string
	}
	var snaps []snap
	for range 30 {
		for range 40 {
			c.step()
		}
		c.save()
		kv := map[string]string{}
		for it := c.mem.Saved().Iterator(nil, nil, true); it.Valid(); it.Next() {
			kv[string(it.Key())] = string(it.Value())
		}
		snaps = append(snaps, snap{c.mem.Saved(), c.mem.Hash(), kv})
	}
	for i, s := range snaps {
		v := int64(i + 1)
		if s.view.Version() != v {
			t.Fatalf("view %d has version %d", v, s.view.Version())
		}
		ref, err := c.ref.GetImmutable(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s.view.Hash(), ref.Hash()) || !bytes.Equal(s.view.Hash(), s.hash) {
			t.Fatalf("version %d: view hash %x, at save %x, IAVL %x", v, s.view.Hash(), s.hash, ref.Hash())
		}
		n := 0
		for it := s.view.Iterator(nil, nil, true); it.Valid(); it.Next() {
			if s.kv[string(it.Key())] != string(it.Value()) {
				t.Fatalf("version %d changed at %q", v, it.Key())
			}
			n++
		}
		if n != len(s.kv) || int64(n) != s.view.Size() {
			t.Fatalf("version %d: %d keys now, %d at save, size %d", v, n, len(s.kv), s.view.Size())
		}
		c.checkIteration(s.view, ref)
	}
}

// TestProofsEqualIAVL: for present keys, absent keys between, below and
// above all keys, at several saved versions and on the working tree, the
// proof is IAVL v1's byte for byte and verifies against the root with
// ics23's IAVL spec (and fails for a wrong value).
func TestProofsEqualIAVL(t *testing.T) {
	c := &conformance{t: t, rng: rand.New(rand.NewPCG(5, 5)), mem: New(), ref: newIAVL(t)}
	if _, err := c.mem.Saved().GetProof([]byte("k")); !errors.Is(err, ErrEmptyTree) {
		t.Fatalf("proof from an empty tree: %v", err)
	}
	checked := 0
	check := func(v *View, ref *iavl.ImmutableTree, key []byte) {
		t.Helper()
		got, err := v.GetProof(key)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.GetProof(key)
		if err != nil {
			t.Fatal(err)
		}
		gb, _ := got.Marshal()
		wb, _ := want.Marshal()
		if !bytes.Equal(gb, wb) {
			t.Fatalf("version %d key %q: proof differs from IAVL's", v.Version(), key)
		}
		root := v.Hash()
		if value := v.Get(key); value != nil {
			if !ics23.VerifyMembership(ics23.IavlSpec, root, got, key, value) {
				t.Fatalf("membership proof of %q does not verify", key)
			}
			if ics23.VerifyMembership(ics23.IavlSpec, root, got, key, append(slices.Clone(value), 'x')) {
				t.Fatalf("membership proof of %q verifies a wrong value", key)
			}
		} else if !ics23.VerifyNonMembership(ics23.IavlSpec, root, got, key) {
			t.Fatalf("non-membership proof of %q does not verify", key)
		}
		checked++
	}
	for range 12 {
		for range 150 {
			c.step()
		}
		c.save()
		ref, err := c.ref.GetImmutable(c.ref.Version())
		if err != nil {
			t.Fatal(err)
		}
		keys := [][]byte{{}, {0x00}, {0xff, 0xff}}
		for range 40 {
			keys = append(keys, c.key())
		}
		for _, k := range keys {
			check(c.mem.Saved(), ref, k)
		}
	}
	// The working tree, with unhashed nodes: IAVL's working tree answers
	// GetProof for the working state too.
	for range 50 {
		c.step()
	}
	for range 20 {
		k := c.key()
		got, err := c.mem.Working().GetProof(k)
		if err != nil {
			t.Fatal(err)
		}
		want, err := c.ref.GetProof(k)
		if err != nil {
			t.Fatal(err)
		}
		gb, _ := got.Marshal()
		wb, _ := want.Marshal()
		if !bytes.Equal(gb, wb) {
			t.Fatalf("working tree, key %q: proof differs from IAVL's", k)
		}
	}
	t.Logf("%d saved-version proofs equal IAVL's", checked)
}
