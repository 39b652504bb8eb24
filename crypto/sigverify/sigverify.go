// Package sigverify is medchain's one rule for whether an Ed25519 signature
// is valid: ZIP 215 (https://zips.z.cash/zip-0215), the rule CometBFT
// itself uses for votes. It exists so that verifying one signature and
// verifying many at once in a batch give the same answer for every
// (key, message, signature) triple, which RFC 8032's cofactorless check
// (crypto/ed25519.Verify) does not: a batch can only check the cofactored
// equation, and the two differ on crafted keys and signatures (small-order
// or non-canonical points). A node that batch-verified a signature and a
// node that verified it alone must agree, or they would execute a block
// differently.
//
// Every signature an honest signer makes with crypto/ed25519.Sign is valid
// under both rules; ZIP 215 also accepts the crafted edge cases that
// RFC 8032 implementations disagree on, identically everywhere. See ADR
// 0013.
//
// The implementation is github.com/oasisprotocol/curve25519-voi (already a
// CometBFT dependency), whose single verification is about 1.25× as fast
// as crypto/ed25519 and whose batch verification of 16 or more signatures
// costs about 60 % of verifying them one by one. A KeyCache keeps the keys
// of recurring signers decompressed, which takes another ~30 % off a
// batched signature (ADR 0014).
package sigverify

import (
	"crypto/ed25519"
	"errors"
	"io"

	"github.com/oasisprotocol/curve25519-voi/curve"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

var opts = &voi.Options{Verify: voi.VerifyOptionsZIP_215}

// Verify reports whether sig is a valid signature of msg by pub under
// ZIP 215. It is false, never a panic, for a key or signature of the wrong
// size.
func Verify(pub, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return voi.VerifyWithOptions(pub, msg, sig, opts)
}

// CheckPublicKey refuses an Ed25519 public key that no honest key
// generation yields and that ZIP 215 would make worthless: one of the wrong
// size, one that is not a canonical encoding, or one of the eight points of
// small order. The last matters most: under ZIP 215 a small-order key with
// a small-order R and S = 0 "signs" every message, so anyone could sign as
// its owner. (A key that is no curve point at all verifies nothing, which
// harms nobody but its owner.) It compares bytes only, no curve arithmetic.
// Modules call it on every key they store as a signing key (registration,
// rotation, genesis).
func CheckPublicKey(pub []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return errors.New("an Ed25519 public key is 32 bytes")
	}
	var c curve.CompressedEdwardsY
	copy(c[:], pub)
	if !c.IsCanonicalVartime() {
		return errors.New("not a canonical point encoding")
	}
	for _, so := range smallOrder {
		if c == so {
			return errors.New("a point of small order")
		}
	}
	return nil
}

// smallOrder holds the canonical encodings of the eight points of small
// order (the non-canonical ones fail the canonical check first).
var smallOrder = func() (out [8]curve.CompressedEdwardsY) {
	for i, p := range curve.EIGHT_TORSION {
		out[i].SetEdwardsPoint(p)
	}
	return out
}()

// Batch collects signatures to verify together. The zero value is an
// empty batch; a Batch is not safe for concurrent use.
type Batch struct {
	// Keys, if set, supplies the entries' public keys decompressed.
	Keys    *KeyCache
	entries []entry
}

type entry struct{ pub, msg, sig []byte }

// Add adds a triple to the batch; its result is entry i of Verify's answer,
// i counting Add calls since the batch was last empty. The slices must not
// change until Verify returns.
func (b *Batch) Add(pub, msg, sig []byte) { b.entries = append(b.entries, entry{pub, msg, sig}) }

// Len is the number of triples added.
func (b *Batch) Len() int { return len(b.entries) }

// Verify verifies every triple added and reports each one's validity, in
// the order they were added: valid[i] is exactly Verify(pub, msg, sig) of
// the i-th triple. When all are valid it costs one batch verification;
// otherwise the batch falls back to checking each triple alone. rand is
// the batch's source of randomness (nil: crypto/rand), which an adversary
// must not be able to predict. The batch is empty afterwards.
func (b *Batch) Verify(rand io.Reader) []bool {
	defer func() { b.entries = b.entries[:0] }()
	valid := make([]bool, len(b.entries))
	var idx []int // entries in the voi batch
	for i, e := range b.entries {
		if len(e.pub) == ed25519.PublicKeySize && len(e.sig) == ed25519.SignatureSize {
			idx = append(idx, i)
		}
	}
	switch len(idx) {
	case 0:
		return valid
	case 1:
		// A batch of one costs a verification plus the randomness.
		e := b.entries[idx[0]]
		valid[idx[0]] = b.Keys.Verify(e.pub, e.msg, e.sig) // a nil cache caches nothing
		return valid
	}
	bv := voi.NewBatchVerifierWithCapacity(len(idx))
	for _, i := range idx {
		e := b.entries[i]
		if b.Keys == nil {
			bv.AddWithOptions(e.pub, e.msg, e.sig, opts)
		} else if k := b.Keys.get(e.pub); k != nil {
			bv.AddExpandedWithOptions(k, e.msg, e.sig, opts)
		} else {
			bv.AddWithOptions(e.pub, e.msg, e.sig, opts) // no curve point: judged invalid
		}
	}
	_, ok := bv.Verify(rand)
	for j, i := range idx {
		valid[i] = ok[j]
	}
	return valid
}
