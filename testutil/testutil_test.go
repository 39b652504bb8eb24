package testutil_test

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/tx"
	"github.com/medchain/medchain/x/identity"
)

func TestKeysAreDeterministic(t *testing.T) {
	a, b, c := testutil.NewSigner("alice"), testutil.NewSigner("alice"), testutil.NewSigner("bob")
	if a.DID != b.DID || !bytes.Equal(a.Key.EncPub, b.Key.EncPub) {
		t.Fatalf("same seed: got %s and %s, want the same identity", a.DID, b.DID)
	}
	if a.DID == c.DID || bytes.Equal(a.Key.EncPub, c.Key.EncPub) {
		t.Fatalf("different seeds: got the same identity %s", a.DID)
	}
	if !identity.ValidDID(a.DID) || a.KeyID != a.DID+"#key-1" {
		t.Fatalf("signer: got DID %q key id %q, want a valid DID and its #key-1", a.DID, a.KeyID)
	}
	if err := a.Register().ValidateBasic(); err != nil {
		t.Fatalf("Register().ValidateBasic: got %v, want nil", err)
	}
}

func TestSign(t *testing.T) {
	s := testutil.NewSigner("alice")
	for want := uint64(0); want < 3; want++ {
		bz := s.Sign(testutil.ChainID, &identity.MsgDeactivate{DID: s.DID})
		got, err := tx.Decode(bz)
		if err != nil {
			t.Fatalf("Decode(signed tx): %v", err)
		}
		if got.Body.Sequence != want || got.Body.Signer != s.KeyID || got.Body.ChainID != testutil.ChainID {
			t.Fatalf("body: got (%d, %s, %s), want (%d, %s, %s)", got.Body.Sequence, got.Body.Signer, got.Body.ChainID, want, s.KeyID, testutil.ChainID)
		}
		if !ed25519.Verify(s.Key.Pub(), got.Body.SignBytes(), got.Signature) {
			t.Fatalf("signature of tx %d does not verify", want)
		}
	}
	if s.Seq != 3 {
		t.Fatalf("local sequence: got %d, want 3", s.Seq)
	}
}

func TestHarness(t *testing.T) {
	h := testutil.New(t, testutil.Config{Orgs: 3})
	if len(h.Orgs) != 3 || len(h.InitChain.Validators) != 3 {
		t.Fatalf("genesis: got %d orgs and %d validators, want 3 and 3", len(h.Orgs), len(h.InitChain.Validators))
	}
	s := testutil.NewSigner("newcomer")
	h.Register(s)
	h.Block()
	if h.Height != 2 || len(h.AppHashes) != 3 {
		t.Fatalf("after two blocks: got height %d with %d app hashes, want 2 and 3", h.Height, len(h.AppHashes))
	}
	if got := h.Sequence(s.DID); got != 1 {
		t.Fatalf("sequence after registration: got %d, want 1", got)
	}
	if bytes.Equal(h.AppHashes[1], h.AppHashes[0]) || !bytes.Equal(h.AppHashes[2], h.AppHashes[1]) {
		t.Fatalf("app hashes: got %X, want a change at 1 and none at 2", h.AppHashes)
	}
	// Two harnesses from the same config agree.
	h2 := testutil.New(t, testutil.Config{Orgs: 3})
	if !bytes.Equal(h2.AppHashes[0], h.AppHashes[0]) {
		t.Fatalf("genesis app hash: got %X and %X, want equal", h.AppHashes[0], h2.AppHashes[0])
	}
}
