package store

import (
	"fmt"
	"hash/maphash"
	"testing"
)

// TestKeyFilterNoFalseNegatives adds keys past several layer capacities and
// checks that every added key is reported present, that the layers grew,
// and that the false-positive rate on keys never added stays low.
func TestKeyFilterNoFalseNegatives(t *testing.T) {
	seed := maphash.MakeSeed()
	var initial []uint64
	f0 := &keyFilter{seed: seed}
	for i := range 1000 {
		initial = append(initial, f0.hash(fmt.Appendf(nil, "initial/%d", i)))
	}
	f := newKeyFilter(seed, initial)
	const n = 150_000 // more than the first layer holds
	for i := range n {
		f.add(fmt.Appendf(nil, "key/%d", i))
	}
	if got := len(*f.layers.Load()); got < 2 {
		t.Fatalf("%d layers after %d keys; want the filter to have grown", got, n)
	}
	for i := range 1000 {
		if k := fmt.Appendf(nil, "initial/%d", i); !f.mayContain(k) {
			t.Fatalf("initial key %q reported absent", k)
		}
	}
	for i := range n {
		if k := fmt.Appendf(nil, "key/%d", i); !f.mayContain(k) {
			t.Fatalf("added key %q reported absent", k)
		}
	}
	fp := 0
	const probes = 100_000
	for i := range probes {
		if f.mayContain(fmt.Appendf(nil, "absent/%d", i)) {
			fp++
		}
	}
	if rate := float64(fp) / probes; rate > 0.01 {
		t.Fatalf("false-positive rate %.4f, want below 1 %%", rate)
	}
}

func TestKeyFilterEmpty(t *testing.T) {
	f := newKeyFilter(maphash.MakeSeed(), nil)
	if f.mayContain([]byte("anything")) {
		t.Fatal("an empty filter reported a key present")
	}
	f.add(nil)
	if !f.mayContain([]byte{}) {
		t.Fatal("the empty key was added but reported absent")
	}
}
