package app

import (
	"crypto/ed25519"
	"testing"
)

// BenchmarkVerify compares the standard library's Ed25519 verification with
// the one admission uses (curve25519-voi with standard-library semantics).
func BenchmarkVerify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 250)
	sig := ed25519.Sign(priv, msg)
	b.Run("stdlib", func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("bad")
			}
		}
	})
	b.Run("voi", func(b *testing.B) {
		for b.Loop() {
			if !voiVerify(pub, msg, sig) {
				b.Fatal("bad")
			}
		}
	})
}
