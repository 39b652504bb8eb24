package identity_test

import (
	"encoding/hex"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/tx"
	"github.com/medchain/medchain/x/identity"
)

func record(h *testutil.Harness, did string) *identity.Record {
	h.T.Helper()
	bz := h.Get(identity.StoreName, identity.RecordKey(did))
	if bz == nil {
		h.T.Fatalf("record of %s: got none, want one", did)
	}
	rec, err := identity.DecodeRecord(bz)
	if err != nil {
		h.T.Fatalf("record of %s: %v", did, err)
	}
	return rec
}

func wantCode(t *testing.T, what string, r *abci.ExecTxResult, codespace string, code uint32) {
	t.Helper()
	if r.Codespace != codespace || r.Code != code {
		t.Fatalf("%s: got %s/%d (%s), want %s/%d", what, r.Codespace, r.Code, r.Log, codespace, code)
	}
}

func TestRegisterAndResolve(t *testing.T) {
	h := testutil.New(t, testutil.Config{})
	s := testutil.NewSigner("patient")
	h.Register(s)
	rec := record(h, s.DID)
	if rec.DID != s.DID || len(rec.SigningKeys) != 1 || rec.SigningKeys[0].ID != s.KeyID || rec.CreatedHeight != 1 {
		t.Fatalf("record: got %+v, want %s with key %s created at 1", rec, s.DID, s.KeyID)
	}
	doc := rec.Resolve()
	if doc.Document.ID != s.DID || len(doc.Document.VerificationMethod) != 2 || doc.Metadata.Deactivated {
		t.Fatalf("resolution: got %+v, want an active document with 2 keys", doc)
	}
	if got, want := doc.Document.VerificationMethod[0].PublicKeyMultibase, identity.Multikey(s.Key.Pub()); got != want {
		t.Fatalf("signing key multibase: got %s, want %s", got, want)
	}
	// A second registration of the same key is refused (and uses up a sequence).
	r := h.Block(s.Sign(h.ChainID, s.Register()))[0]
	wantCode(t, "second registration", r, identity.StoreName, identity.ErrExists.Code)
}

func TestRotateKey(t *testing.T) {
	h := testutil.New(t, testutil.Config{})
	s, other := testutil.NewSigner("rotating"), testutil.NewSigner("other")
	h.Register(s, other)
	next := testutil.NewKey("rotating/2")

	badProof := s.RotateMsg(h.ChainID, next)
	badProof.Proof[0] ^= 1
	wrongChain := s.RotateMsg("other-chain", next)
	sameKey := s.RotateMsg(h.ChainID, s.Key)
	notMine := other.RotateMsg(h.ChainID, testutil.NewKey("other/2"))
	for _, tc := range []struct {
		name string
		bz   []byte
		want uint32
	}{
		{"proof does not verify", s.Sign(h.ChainID, badProof), identity.ErrBadProof.Code},
		{"proof for another chain", s.Sign(h.ChainID, wrongChain), identity.ErrBadProof.Code},
		{"current key again", s.Sign(h.ChainID, sameKey), identity.ErrKeyInUse.Code},
		{"someone else's DID", s.Sign(h.ChainID, notMine), identity.ErrUnauthorized.Code},
	} {
		r := h.Block(tc.bz)[0]
		wantCode(t, tc.name, r, identity.StoreName, tc.want)
	}
	if got := len(record(h, s.DID).SigningKeys); got != 1 {
		t.Fatalf("after refused rotations: got %d signing keys, want 1", got)
	}

	h.MustBlock(s.Sign(h.ChainID, s.RotateMsg(h.ChainID, next)))
	rotatedAt := h.Height
	oldID := s.KeyID
	s.UseKey(next)
	rec := record(h, s.DID)
	if len(rec.SigningKeys) != 2 || rec.CurrentSigningKey().ID != s.KeyID || rec.SigningKeys[0].RevokedHeight != rotatedAt {
		t.Fatalf("after rotation: got keys %+v, want key-1 revoked at %d and current %s", rec.SigningKeys, rotatedAt, s.KeyID)
	}
	if _, ok := rec.KeyAt(oldID, rotatedAt-1); !ok {
		t.Fatalf("KeyAt(%s, %d): got false, want true (before the rotation)", oldID, rotatedAt-1)
	}
	if _, ok := rec.KeyAt(oldID, rotatedAt); ok {
		t.Fatalf("KeyAt(%s, %d): got true, want false (revoked)", oldID, rotatedAt)
	}
	if _, ok := rec.KeyAt(s.KeyID, rotatedAt); !ok {
		t.Fatalf("KeyAt(%s, %d): got false, want true", s.KeyID, rotatedAt)
	}
	// Rotating back to the first key is refused: keys are never reused.
	back := s.RotateMsg(h.ChainID, testutil.NewKey("rotating"))
	wantCode(t, "rotate back to a retired key", h.Block(s.Sign(h.ChainID, back))[0], identity.StoreName, identity.ErrKeyInUse.Code)
	// The new key signs.
	h.MustBlock(s.Sign(h.ChainID, &identity.MsgDeactivate{DID: s.DID}))
	if rec := record(h, s.DID); rec.Active() || !rec.Resolve().Metadata.Deactivated || len(rec.Resolve().Document.VerificationMethod) != 0 {
		t.Fatalf("after deactivation: got %+v, want a deactivated record resolving without keys", rec)
	}
}

func TestDeactivateOnlySelf(t *testing.T) {
	h := testutil.New(t, testutil.Config{})
	s, other := testutil.NewSigner("a"), testutil.NewSigner("b")
	h.Register(s, other)
	r := h.Block(s.Sign(h.ChainID, &identity.MsgDeactivate{DID: other.DID}))[0]
	wantCode(t, "deactivate another DID", r, identity.StoreName, identity.ErrUnauthorized.Code)
	if !record(h, other.DID).Active() {
		t.Fatalf("other identity: got deactivated, want active")
	}
}

func TestKeyIDs(t *testing.T) {
	did := testutil.NewSigner("x").DID
	for _, tc := range []struct {
		in    string
		ok    bool
		wantN int
	}{
		{did + "#key-1", true, 1},
		{did + "#key-12", true, 12},
		{did + "#key-0", false, 0},
		{did + "#key-01", false, 0},
		{did + "#key-", false, 0},
		{did + "#key-+1", false, 0},
		{did + "#enc-1", false, 0},
		{did, false, 0},
		{"did:medchain:short#key-1", false, 0},
		{"did:other:" + did[len("did:medchain:"):] + "#key-1", false, 0},
	} {
		gotDID, n, err := identity.SplitKeyID(tc.in)
		if (err == nil) != tc.ok || n != tc.wantN || (tc.ok && gotDID != did) {
			t.Errorf("SplitKeyID(%q): got (%q, %d, %v), want ok=%v n=%d", tc.in, gotDID, n, err, tc.ok, tc.wantN)
		}
	}
	if identity.ValidDID(did[:len(did)-1]+"A") || identity.ValidDID(did[:len(did)-1]+"1") || !identity.ValidDID(did) {
		t.Errorf("ValidDID: upper case and digits outside base32 must be refused, %q accepted", did)
	}
}

// smallOrderKey is the encoding of the identity point, of order 1, and
// forgedSig is R = that point with S = 0: under ZIP 215 (the chain's
// signature rule) the pair "verifies" for every message, so a DID with
// such a key could be signed for by anyone (crypto/sigverify testdata,
// ZIP 215 vector 0).
var (
	smallOrderKey = append([]byte{1}, make([]byte, 31)...)
	forgedSig     = append(append([]byte{1}, make([]byte, 31)...), make([]byte, 32)...)
)

// A small-order signing key is refused at registration, in CheckTx and in a
// block, and as a rotation's new key; nothing is written.
func TestSmallOrderKeysRefused(t *testing.T) {
	h := testutil.New(t, testutil.Config{})
	m := &identity.MsgRegister{SigningKey: smallOrderKey, EncryptionKey: testutil.NewKey("so").EncPub, KEM: uint64(identity.KEMMLKEM768X25519)}
	if err := m.ValidateBasic(); err == nil {
		t.Fatal("ValidateBasic accepted a small-order signing key")
	}
	did := m.DID()
	body := tx.Body{ChainID: h.ChainID, Signer: identity.SigningKeyID(did, 1), Msgs: testutil.Anys(m)}
	forged := tx.Tx{Body: body, Signature: forgedSig}.MarshalWire()
	if r := h.CheckTx(forged); r.Code != app.ErrInvalidMsg.Code {
		t.Fatalf("CheckTx of the forged registration: code %d (%s), want %d", r.Code, r.Log, app.ErrInvalidMsg.Code)
	}
	wantCode(t, "forged registration in a block", h.Block(forged)[0], app.ErrInvalidMsg.Codespace, app.ErrInvalidMsg.Code)
	if h.Get(identity.StoreName, identity.RecordKey(did)) != nil {
		t.Fatal("a record was written for the small-order key")
	}

	s := testutil.NewSigner("so/owner")
	h.Register(s)
	rot := s.RotateMsg(h.ChainID, testutil.NewKey("so/next"))
	rot.NewSigningKey, rot.Proof = smallOrderKey, forgedSig
	if err := rot.ValidateBasic(); err == nil {
		t.Fatal("ValidateBasic accepted rotation to a small-order key")
	}
	wantCode(t, "rotation to a small-order key", h.Block(s.Sign(h.ChainID, rot))[0], app.ErrInvalidMsg.Codespace, app.ErrInvalidMsg.Code)
	if rec := record(h, s.DID); len(rec.SigningKeys) != 1 {
		t.Fatalf("rotation to a small-order key changed the record: %d keys", len(rec.SigningKeys))
	}
}

// TestDIDFromKeyVectors pins the DID derivation: DIDs are state keys and
// appear in every signed transaction, so any change to it is a fork.
func TestDIDFromKeyVectors(t *testing.T) {
	for _, tc := range []struct{ pub, did string }{
		{"eae1c8793b5597c4b3f490e76ac31172c439690f8ee14142bb851a61f9a49f0e", "did:medchain:ac75sghxbqwebvnv7rxuuvcfcm"},
		{"627f17d893e5697a4ba2208bc80b0292e7f58d8120eb353c1b55429db9c6b196", "did:medchain:pnf7efpbqflexjp32534em53nu"},
		{"", "did:medchain:zir67y5sjoikxol7urhft2nzkq"},
	} {
		pub, err := hex.DecodeString(tc.pub)
		if err != nil {
			t.Fatal(err)
		}
		if got := identity.DIDFromKey(pub); got != tc.did || !identity.ValidDID(got) {
			t.Errorf("DIDFromKey(%s) = %s, want %s", tc.pub, got, tc.did)
		}
	}
}
