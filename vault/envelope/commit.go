package envelope

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
)

// SaltSize is the size of a commitment salt.
const SaltSize = 32

// NewSalt returns a fresh random commitment salt.
func NewSalt() [SaltSize]byte {
	var s [SaltSize]byte
	rand.Read(s[:])
	return s
}

// Commitment returns the salted commitment to a record's canonical content
// that the chain anchors:
//
//	SHA-256("medchain/vault/commit/v1" 0x00 || salt || canonicalContent)
//
// A plain hash of the content would not do: record content is often low in
// entropy (a birth date, a sex, a yes/no test result, a short code from a
// small value set), and anyone reading the chain could hash every candidate
// value and compare — a dictionary attack that re-identifies PHI. With a
// secret, uniformly random 256-bit salt per record version ([NewSalt]) the
// commitment reveals nothing about the content (hiding) while still binding
// the vault to it (SHA-256 collision resistance): a holder of the salt and
// the content can later prove what was committed ([VerifyCommitment]).
//
// The salt must therefore never go on chain. Keep it with the record, inside
// the encrypted payload, and erase it with the record: once the salt is gone
// the commitment is unlinkable to the content forever, even by someone who
// guesses the content.
func Commitment(salt [SaltSize]byte, canonicalContent []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(commitDomain))
	h.Write([]byte{0})
	h.Write(salt[:])
	h.Write(canonicalContent)
	var c [32]byte
	h.Sum(c[:0])
	return c
}

// VerifyCommitment reports, in constant time, whether c is the commitment to
// canonicalContent with salt.
func VerifyCommitment(c [32]byte, salt [SaltSize]byte, canonicalContent []byte) bool {
	want := Commitment(salt, canonicalContent)
	return subtle.ConstantTimeCompare(c[:], want[:]) == 1
}
