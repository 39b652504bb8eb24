package sigverify

import (
	"compress/gzip"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

type triple struct{ pub, msg, sig []byte }

// zip215Vectors reads testdata/zip215.json.gz (see testdata/README.md).
func zip215Vectors(t *testing.T) []triple {
	t.Helper()
	f, err := os.Open("testdata/zip215.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var raw [][2]string
	if err := json.NewDecoder(zr).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	out := make([]triple, len(raw))
	for i, r := range raw {
		pub, err1 := hex.DecodeString(r[0])
		sig, err2 := hex.DecodeString(r[1])
		if err1 != nil || err2 != nil {
			t.Fatalf("vector %d: bad hex", i)
		}
		out[i] = triple{pub, []byte("Zcash"), sig}
	}
	return out
}

// The ZIP 215 vectors are valid under this package's rule, alone and in a
// batch, while crypto/ed25519 (RFC 8032, cofactorless) rejects most of
// them: the rule really is ZIP 215 and not the standard library's.
func TestZIP215Vectors(t *testing.T) {
	vs := zip215Vectors(t)
	if len(vs) != 196 {
		t.Fatalf("%d vectors, want 196", len(vs))
	}
	stdRejects := 0
	var b Batch
	for i, v := range vs {
		if !Verify(v.pub, v.msg, v.sig) {
			t.Errorf("vector %d: Verify = false, want true", i)
		}
		if !ed25519.Verify(v.pub, v.msg, v.sig) {
			stdRejects++
		}
		b.Add(v.pub, v.msg, v.sig)
	}
	for i, ok := range b.Verify(nil) {
		if !ok {
			t.Errorf("vector %d: batch says invalid", i)
		}
	}
	// The same through a key cache: cold, then warm (every key cached).
	kc := NewKeyCache(len(vs))
	b.Keys = kc
	for pass := range 2 {
		for i, v := range vs {
			if !kc.Verify(v.pub, v.msg, v.sig) {
				t.Errorf("pass %d vector %d: KeyCache.Verify = false, want true", pass, i)
			}
			b.Add(v.pub, v.msg, v.sig)
		}
		for i, ok := range b.Verify(nil) {
			if !ok {
				t.Errorf("pass %d vector %d: batch with cached keys says invalid", pass, i)
			}
		}
	}
	if stdRejects == 0 {
		t.Fatal("crypto/ed25519 accepted every ZIP 215 vector; the vectors do not test the rule")
	}
	t.Logf("crypto/ed25519 rejects %d of %d vectors", stdRejects, len(vs))
}

// mixed returns n triples, valid and invalid in every way the package
// must judge alike alone and in a batch.
func mixed(r *rand.Rand, n int) (ts []triple, want []bool) {
	for i := range n {
		// Keys from a pool of 40 seeds, so that signers recur within and
		// across batches (as a key cache meets them).
		seed := make([]byte, ed25519.SeedSize)
		seed[0] = byte(r.IntN(40))
		priv := ed25519.NewKeyFromSeed(seed)
		pub := priv.Public().(ed25519.PublicKey)
		msg := fmt.Appendf(nil, "tx %d %d", i, r.Uint64())
		sig := ed25519.Sign(priv, msg)
		t := triple{pub, msg, sig}
		ok := true
		switch r.IntN(8) {
		case 0: // another message
			t.msg = append([]byte{}, msg...)
			t.msg[0] ^= 1
			ok = false
		case 1: // a flipped bit in R
			t.sig = append([]byte{}, sig...)
			t.sig[3] ^= 0x10
			ok = false
		case 2: // S not reduced (S ≥ ℓ): rejected by both rules
			t.sig = append([]byte{}, sig...)
			t.sig[63] |= 0xf0
			ok = false
		case 3: // wrong sizes
			if r.IntN(2) == 0 {
				t.pub = pub[:31]
			} else {
				t.sig = append(append([]byte{}, sig...), 0)
			}
			ok = false
		}
		ts = append(ts, t)
		want = append(want, ok)
	}
	return ts, want
}

// Batch.Verify answers exactly as Verify does, entry by entry, for batch
// sizes from 1 to 70 with every kind of invalid entry mixed in, and for
// all-valid batches (the fast path).
func TestBatchAgreesWithVerify(t *testing.T) {
	t.Run("uncached", func(t *testing.T) { testBatchAgrees(t, nil) })
	// A cache smaller than a batch, so that entries are evicted while in
	// use, and whose keys are reused across batches (see mixed).
	t.Run("cached", func(t *testing.T) { testBatchAgrees(t, NewKeyCache(16)) })
}

func testBatchAgrees(t *testing.T, kc *KeyCache) {
	r := rand.New(rand.NewPCG(215, 1))
	b := Batch{Keys: kc}
	for n := 1; n <= 100; n++ { // past the batch size where voi stops using decompressed keys (94)
		ts, want := mixed(r, n)
		for _, tr := range ts {
			b.Add(tr.pub, tr.msg, tr.sig)
		}
		if b.Len() != n {
			t.Fatalf("Len = %d, want %d", b.Len(), n)
		}
		got := b.Verify(nil)
		if b.Len() != 0 {
			t.Fatalf("batch not empty after Verify")
		}
		for i, tr := range ts {
			if single := Verify(tr.pub, tr.msg, tr.sig); single != want[i] || got[i] != want[i] {
				t.Fatalf("n=%d entry %d: single %v, batch %v, want %v", n, i, single, got[i], want[i])
			}
			if kc != nil && kc.Verify(tr.pub, tr.msg, tr.sig) != want[i] {
				t.Fatalf("n=%d entry %d: KeyCache.Verify %v, want %v", n, i, !want[i], want[i])
			}
		}
		// The same valid entries alone: all true through the batch path.
		for i, tr := range ts {
			if want[i] {
				b.Add(tr.pub, tr.msg, tr.sig)
			}
		}
		for i, ok := range b.Verify(nil) {
			if !ok {
				t.Fatalf("n=%d: valid entry %d of an all-valid batch reported invalid", n, i)
			}
		}
	}
}

func TestEmptyBatch(t *testing.T) {
	var b Batch
	if v := b.Verify(nil); len(v) != 0 {
		t.Fatalf("empty batch gave %v", v)
	}
}

func BenchmarkVerify(b *testing.B) {
	ts, _ := mixed(rand.New(rand.NewPCG(1, 1)), 64)
	valid := ts[:0]
	for _, tr := range ts {
		if Verify(tr.pub, tr.msg, tr.sig) {
			valid = append(valid, tr)
		}
	}
	b.Run("stdlib", func(b *testing.B) { // crypto/ed25519, for comparison
		for i := 0; b.Loop(); i++ {
			tr := valid[i%len(valid)]
			ed25519.Verify(tr.pub, tr.msg, tr.sig)
		}
	})
	b.Run("single", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			tr := valid[i%len(valid)]
			Verify(tr.pub, tr.msg, tr.sig)
		}
	})
	b.Run("single-cached", func(b *testing.B) {
		kc := NewKeyCache(len(valid))
		for i := 0; b.Loop(); i++ {
			tr := valid[i%len(valid)]
			kc.Verify(tr.pub, tr.msg, tr.sig)
		}
	})
	for _, bc := range []struct {
		n      int
		cached bool
	}{{4, false}, {16, false}, {32, false}, {32, true}} {
		n, cached := bc.n, bc.cached
		if n > len(valid) {
			continue
		}
		name := fmt.Sprintf("batch%d", n)
		if cached {
			name += "-cached"
		}
		b.Run(name, func(b *testing.B) {
			var bt Batch
			if cached {
				bt.Keys = NewKeyCache(len(valid))
			}
			for b.Loop() {
				for _, tr := range valid[:n] {
					bt.Add(tr.pub, tr.msg, tr.sig)
				}
				bt.Verify(nil)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sig")
		})
	}
}

// CheckPublicKey refuses every small-order and non-canonical key of the
// ZIP 215 vectors (which "sign" any message there) and accepts honest keys.
func TestCheckPublicKey(t *testing.T) {
	refused := map[string]bool{}
	for _, v := range zip215Vectors(t) {
		if err := CheckPublicKey(v.pub); err == nil {
			t.Fatalf("key %x accepted; it is small-order or non-canonical", v.pub)
		}
		refused[string(v.pub)] = true
	}
	if len(refused) != 14 { // 8 small-order points, 6 non-canonical encodings
		t.Fatalf("%d distinct vector keys, want 14", len(refused))
	}
	// The forgery CheckPublicKey prevents: with a small-order key, R and S = 0
	// verify for any message under ZIP 215.
	v := zip215Vectors(t)[0]
	if !Verify(v.pub, []byte("any message at all"), v.sig) {
		t.Fatal("expected the small-order forgery to verify under ZIP 215")
	}
	for i := range 100 {
		pub, _, _ := ed25519.GenerateKey(nil)
		if err := CheckPublicKey(pub); err != nil {
			t.Fatalf("honest key %d refused: %v", i, err)
		}
	}
	if CheckPublicKey(make([]byte, 31)) == nil {
		t.Fatal("31-byte key accepted")
	}
}
