package proof_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	dbm "github.com/cosmos/cosmos-db"

	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/store/proof"
)

var typed = []error{proof.ErrMalformed, proof.ErrRootMismatch, proof.ErrKeyMismatch, proof.ErrValueMismatch}

func isTyped(err error) bool {
	for _, e := range typed {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// fixture is a multistore with two committed heights.
type fixture struct {
	ms     *store.MultiStore
	hashes map[int64][]byte
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ms, err := store.Open(dbm.NewMemDB(), []string{"auth", "identity", "org"})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	f := &fixture{ms: ms, hashes: map[int64][]byte{}}
	id := ms.Working("identity")
	for i := range 20 {
		id.Set(fmt.Appendf(nil, "key-%02d", 2*i), fmt.Appendf(nil, "value-%d", 2*i))
	}
	ms.Working("org").Set([]byte("hospital"), []byte("h"))
	c, err := ms.Commit()
	if err != nil {
		t.Fatal(err)
	}
	f.hashes[c.Version] = c.Hash
	id.Set([]byte("key-04"), []byte("changed"))
	ms.Working("auth").Set([]byte("seq"), []byte{7})
	c, err = ms.Commit()
	if err != nil {
		t.Fatal(err)
	}
	f.hashes[c.Version] = c.Hash
	return f
}

func (f *fixture) prove(t *testing.T, storeName string, key []byte, version int64) ([]byte, *cmtcrypto.ProofOps) {
	t.Helper()
	v, ops, got, err := f.ms.Prove(storeName, key, version)
	if err != nil {
		t.Fatalf("Prove(%s, %q, %d): %v", storeName, key, version, err)
	}
	if version != 0 && got != version {
		t.Fatalf("Prove(%s, %q, %d): got version %d", storeName, key, version, got)
	}
	return v, ops
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name    string
		store   string
		key     string
		version int64
		want    string // "" means absent
	}{
		{"present", "identity", "key-10", 2, "value-10"},
		{"present, changed at 2", "identity", "key-04", 2, "changed"},
		{"present, before the change", "identity", "key-04", 1, "value-4"},
		{"first key", "identity", "key-00", 2, "value-0"},
		{"last key", "identity", "key-38", 2, "value-38"},
		{"absent, between keys", "identity", "key-11", 2, ""},
		{"absent, before every key", "identity", "a", 2, ""},
		{"absent, after every key", "identity", "z", 2, ""},
		{"absent at 1, present at 2", "auth", "other", 2, ""},
		{"single-key store", "auth", "seq", 2, "\x07"},
		{"other store", "org", "hospital", 1, "h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, ops := f.prove(t, tc.store, []byte(tc.key), tc.version)
			var want []byte
			if tc.want != "" {
				want = []byte(tc.want)
			}
			if !bytes.Equal(v, want) {
				t.Fatalf("Prove value: got %q, want %q", v, want)
			}
			if err := proof.Verify(ops, f.hashes[tc.version], tc.store, []byte(tc.key), v); err != nil {
				t.Fatalf("Verify: got %v, want nil", err)
			}
			// Claiming the wrong value (or presence for absence) fails.
			wrong := []byte("not-the-value")
			if err := proof.Verify(ops, f.hashes[tc.version], tc.store, []byte(tc.key), wrong); !errors.Is(err, proof.ErrValueMismatch) {
				t.Fatalf("Verify with a wrong value: got %v, want ErrValueMismatch", err)
			}
			if v != nil {
				if err := proof.Verify(ops, f.hashes[tc.version], tc.store, []byte(tc.key), nil); !errors.Is(err, proof.ErrValueMismatch) {
					t.Fatalf("Verify claiming absence of a present key: got %v, want ErrValueMismatch", err)
				}
			}
		})
	}
}

func TestVerifyOtherHeight(t *testing.T) {
	f := newFixture(t)
	for _, key := range []string{"key-10", "key-11"} {
		v, ops := f.prove(t, "identity", []byte(key), 2)
		err := proof.Verify(ops, f.hashes[1], "identity", []byte(key), v)
		if !errors.Is(err, proof.ErrRootMismatch) {
			t.Errorf("Verify(%s) against height 1's app hash: got %v, want ErrRootMismatch", key, err)
		}
	}
}

func TestVerifyOtherKeyOrStore(t *testing.T) {
	f := newFixture(t)
	v, ops := f.prove(t, "identity", []byte("key-10"), 2)
	for _, tc := range []struct {
		name, store, key string
	}{
		{"other key", "identity", "key-12"},
		{"other store", "org", "key-10"},
		{"key prefix", "identity", "key-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := proof.Verify(ops, f.hashes[2], tc.store, []byte(tc.key), v)
			if !errors.Is(err, proof.ErrKeyMismatch) {
				t.Fatalf("Verify: got %v, want ErrKeyMismatch", err)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	f := newFixture(t)
	v, ops := f.prove(t, "identity", []byte("key-10"), 2)
	for _, tc := range []struct {
		name string
		ops  *cmtcrypto.ProofOps
	}{
		{"nil", nil},
		{"no ops", &cmtcrypto.ProofOps{}},
		{"one op", &cmtcrypto.ProofOps{Ops: ops.Ops[:1]}},
		{"ops swapped", &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{ops.Ops[1], ops.Ops[0]}}},
		{"three ops", &cmtcrypto.ProofOps{Ops: append(cloneOps(ops).Ops, ops.Ops[1])}},
		{"empty iavl data", &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: proof.OpIAVL, Key: ops.Ops[0].Key}, ops.Ops[1]}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := proof.Verify(tc.ops, f.hashes[2], "identity", []byte("key-10"), v)
			if !errors.Is(err, proof.ErrMalformed) {
				t.Fatalf("Verify: got %v, want ErrMalformed", err)
			}
		})
	}
}

func cloneOps(ops *cmtcrypto.ProofOps) *cmtcrypto.ProofOps {
	out := &cmtcrypto.ProofOps{}
	for _, op := range ops.Ops {
		out.Ops = append(out.Ops, cmtcrypto.ProofOp{Type: op.Type, Key: bytes.Clone(op.Key), Data: bytes.Clone(op.Data)})
	}
	return out
}

// TestVerifyRejectsEveryByteFlip alters each byte of each operator's Data
// in turn, for a membership and a non-membership proof, and requires a typed
// verification failure every time.
func TestVerifyRejectsEveryByteFlip(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		key  string
	}{
		{"present", "key-10"},
		{"absent", "key-11"},
		{"absent, past the end", "z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, ops := f.prove(t, "identity", []byte(tc.key), 2)
			if err := proof.Verify(ops, f.hashes[2], "identity", []byte(tc.key), v); err != nil {
				t.Fatalf("Verify(unaltered): got %v, want nil", err)
			}
			checked := 0
			for i := range ops.Ops {
				for pos := range ops.Ops[i].Data {
					for _, mask := range []byte{0x01, 0x80, 0xff} {
						alt := cloneOps(ops)
						alt.Ops[i].Data[pos] ^= mask
						err := proof.Verify(alt, f.hashes[2], "identity", []byte(tc.key), v)
						if err == nil {
							t.Errorf("op %d (%s) byte %d ^ %#02x: got nil, want a verification error", i, ops.Ops[i].Type, pos, mask)
						} else if !isTyped(err) {
							t.Errorf("op %d (%s) byte %d ^ %#02x: got %v, want an error wrapping a typed proof error", i, ops.Ops[i].Type, pos, mask, err)
						}
						checked++
					}
				}
			}
			if checked < 100 {
				t.Fatalf("checked %d alterations, want at least 100", checked)
			}
		})
	}
}

// TestProofOpRoundTrip checks that the ics23:iavl decoder round-trips.
func TestProofOpRoundTrip(t *testing.T) {
	f := newFixture(t)
	_, ops := f.prove(t, "identity", []byte("key-10"), 2)
	op, err := proof.DecodeIAVLOp(ops.Ops[0])
	if err != nil {
		t.Fatalf("DecodeIAVLOp: %v", err)
	}
	if got := op.ProofOp(); got.Type != ops.Ops[0].Type || !bytes.Equal(got.Key, ops.Ops[0].Key) || !bytes.Equal(got.Data, ops.Ops[0].Data) {
		t.Fatalf("ProofOp round trip: got %v, want %v", got, ops.Ops[0])
	}
	if _, err := proof.DecodeIAVLOp(ops.Ops[1]); !errors.Is(err, proof.ErrMalformed) {
		t.Fatalf("DecodeIAVLOp(simple:v op): got %v, want ErrMalformed", err)
	}
	if kp := proof.KeyPath("identity", []byte("key-10")); kp != "/identity/x:6B65792D3130" {
		t.Fatalf("KeyPath: got %q, want %q", kp, "/identity/x:6B65792D3130")
	}
}
