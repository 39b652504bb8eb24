package memtree

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// TestSnapshotRoundTrip: a tree imported from a snapshot has the saved
// version's hash, answers the same, and, driven on with the same
// operations as IAVL, keeps producing IAVL's hashes.
func TestSnapshotRoundTrip(t *testing.T) {
	c := &conformance{t: t, rng: rand.New(rand.NewPCG(21, 22)), mem: New(), ref: newIAVL(t)}
	var empty bytes.Buffer
	if err := c.mem.Saved().Export(&empty); err != nil {
		t.Fatal(err)
	}
	if tr, err := Import(bytes.NewReader(empty.Bytes()), 0); err != nil || tr.Size() != 0 || !bytes.Equal(tr.Hash(), emptyHash) {
		t.Fatalf("empty snapshot: %v", err)
	}
	for round := range 6 {
		for range 10 {
			for range 40 {
				c.step()
			}
			c.save()
		}
		var buf bytes.Buffer
		saved := c.mem.Saved()
		if err := saved.Export(&buf); err != nil {
			t.Fatal(err)
		}
		tr, err := Import(bytes.NewReader(buf.Bytes()), saved.Version())
		if err != nil {
			t.Fatal(err)
		}
		if tr.Version() != saved.Version() || !bytes.Equal(tr.Hash(), saved.Hash()) || tr.Size() != saved.Size() {
			t.Fatalf("round %d: imported v%d %x size %d, saved v%d %x size %d", round, tr.Version(), tr.Hash(), tr.Size(), saved.Version(), saved.Hash(), saved.Size())
		}
		ref, err := c.ref.GetImmutable(c.ref.Version())
		if err != nil {
			t.Fatal(err)
		}
		c.checkIteration(tr.Saved(), ref)
		c.mem = tr // go on from the imported tree: IAVL's hashes must continue
	}
}

// TestSnapshotDamage: a snapshot cut short, or with any single byte
// changed, is refused by Import or imports to a different root hash.
func TestSnapshotDamage(t *testing.T) {
	tr := New()
	rng := rand.New(rand.NewPCG(3, 3))
	for range 200 {
		k := []byte{byte(rng.IntN(256)), byte(rng.IntN(256))}
		if _, err := tr.Set(k, []byte{byte(rng.IntN(256))}); err != nil {
			t.Fatal(err)
		}
	}
	want, v := tr.SaveVersion()
	var buf bytes.Buffer
	if err := tr.Saved().Export(&buf); err != nil {
		t.Fatal(err)
	}
	snap := buf.Bytes()
	if _, err := Import(bytes.NewReader(snap[:len(snap)-1]), v); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("truncated snapshot: %v, want ErrBadSnapshot", err)
	}
	for i := range snap {
		bad := bytes.Clone(snap)
		bad[i] ^= 0x01
		got, err := Import(bytes.NewReader(bad), v)
		if err == nil && bytes.Equal(got.Hash(), want) {
			t.Fatalf("byte %d of %d flipped: imported to the original hash", i, len(snap))
		}
	}
}
