package memtree

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestSetRejectsNilValue(t *testing.T) {
	tr := New()
	if _, err := tr.Set([]byte("k"), nil); !errors.Is(err, ErrNilValue) {
		t.Fatalf("Set(nil value) = %v, want ErrNilValue", err)
	}
	if tr.Size() != 0 || !bytes.Equal(tr.WorkingHash(), emptyHash) {
		t.Fatal("a rejected Set changed the tree")
	}
	// An empty, non-nil value is a value (IAVL accepts it too).
	if _, err := tr.Set([]byte("k"), []byte{}); err != nil {
		t.Fatal(err)
	}
	if !tr.Has([]byte("k")) {
		t.Fatal("empty value not stored")
	}
}

func TestInitialVersion(t *testing.T) {
	tr := New()
	if err := tr.SetInitialVersion(-1); err == nil {
		t.Fatal("negative initial version accepted")
	}
	if err := tr.SetInitialVersion(100); err != nil {
		t.Fatal(err)
	}
	if tr.WorkingVersion() != 100 {
		t.Fatalf("working version %d, want 100", tr.WorkingVersion())
	}
	if _, v := tr.SaveVersion(); v != 100 {
		t.Fatalf("first save is version %d, want 100", v)
	}
	if _, v := tr.SaveVersion(); v != 101 {
		t.Fatalf("second save is version %d, want 101", v)
	}
	if err := tr.SetInitialVersion(5); err == nil {
		t.Fatal("initial version changed after a save")
	}
}

// TestRemoveAbsentChangesNothing: removing an absent key leaves the
// working tree (and so its hash and every node) as it was.
func TestRemoveAbsentChangesNothing(t *testing.T) {
	tr := New()
	for i := range 100 {
		if _, err := tr.Set(fmt.Appendf(nil, "k%03d", i*2), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	tr.SaveVersion()
	root := tr.root
	for _, k := range []string{"k001", "a", "z", "k199"} {
		if v, ok := tr.Remove([]byte(k)); ok || v != nil {
			t.Fatalf("Remove(%q) = %q %v on an absent key", k, v, ok)
		}
	}
	if tr.root != root {
		t.Fatal("removing absent keys replaced the root")
	}
}

// TestConcurrentReadsOfSavedVersions runs readers of saved views while
// the tree keeps writing and saving; under -race (scripts/test.sh runs
// ./store/... with it) it is the check that a write never touches a node
// a saved version can reach. Each reader also checks that its view still
// holds what it held when saved.
func TestConcurrentReadsOfSavedVersions(t *testing.T) {
	tr := New()
	rng := rand.New(rand.NewPCG(7, 7))
	write := func(n int) {
		for range n {
			k := fmt.Appendf(nil, "k%04d", rng.IntN(3000))
			if rng.IntN(4) == 0 {
				tr.Remove(k)
			} else if _, err := tr.Set(k, fmt.Appendf(nil, "v%d", rng.IntN(1000))); err != nil {
				t.Error(err)
			}
		}
	}
	write(2000)
	tr.SaveVersion()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 20 {
		v := tr.Saved()
		hash := append([]byte(nil), v.Hash()...)
		var keys, vals [][]byte
		for it := v.Iterator(nil, nil, true); it.Valid(); it.Next() {
			keys, vals = append(keys, it.Key()), append(vals, it.Value())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 3 {
				i := 0
				for it := v.Iterator(nil, nil, round%2 == 0); it.Valid(); it.Next() {
					j := i
					if round%2 == 1 {
						j = len(keys) - 1 - i
					}
					if j < 0 || !bytes.Equal(it.Key(), keys[j]) || !bytes.Equal(it.Value(), vals[j]) {
						errs <- fmt.Errorf("version %d changed at entry %d", v.Version(), i)
						return
					}
					i++
				}
				for j := range keys {
					if !bytes.Equal(v.Get(keys[j]), vals[j]) {
						errs <- fmt.Errorf("version %d: Get(%q) changed", v.Version(), keys[j])
						return
					}
				}
				if !bytes.Equal(v.Hash(), hash) {
					errs <- fmt.Errorf("version %d: hash changed", v.Version())
					return
				}
			}
		}()
		write(200)
		tr.WorkingHash() // hashing the working tree must not touch saved nodes either
		write(50)
		tr.SaveVersion()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
