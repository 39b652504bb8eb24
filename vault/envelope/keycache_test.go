package envelope

import (
	"bytes"
	"errors"
	"testing"
)

// Recipient keys are parsed once and reused; a reused key still seals
// envelopes its owner opens, and a key that does not parse is refused every
// time, never cached.
func TestParsedKeyCache(t *testing.T) {
	p := newParty(t, "did:medchain:p#enc-1", KEMMLKEM768X25519)
	a, err := p.rcpt.publicKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.rcpt.publicKey()
	if err != nil || a != b {
		t.Fatalf("second parse: %v, same key %v", err, a == b)
	}
	for range 2 {
		env := seal(t, record, testAD(), p)
		got, err := Open(env, testAD(), p.rcpt.KeyID, p.priv)
		if err != nil || !bytes.Equal(got, record) {
			t.Fatalf("open: %v", err)
		}
	}
	bad := p.rcpt
	bad.PublicKey = bad.PublicKey[:len(bad.PublicKey)-1]
	for range 2 {
		if _, err := bad.publicKey(); !errors.Is(err, ErrInvalidRecipient) {
			t.Fatalf("truncated key: %v, want ErrInvalidRecipient", err)
		}
	}
	// The same bytes under another KEM are another key.
	other := p.rcpt
	other.KEM = KEMX25519
	if _, err := other.publicKey(); !errors.Is(err, ErrInvalidRecipient) {
		t.Fatalf("ML-KEM key bytes as an X25519 key: %v, want ErrInvalidRecipient", err)
	}
}
