package envelope_test

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/vault/envelope"
	"github.com/medchain/medchain/x/identity"
)

func TestKEMIDsMatchIdentity(t *testing.T) {
	if envelope.KEMMLKEM768X25519 != identity.KEMMLKEM768X25519 ||
		envelope.KEMX25519 != identity.KEMX25519 ||
		envelope.KEMMLKEM1024 != identity.KEMMLKEM1024 {
		t.Fatal("KEM ids differ from x/identity's")
	}
	for _, id := range []uint16{identity.KEMMLKEM768X25519, identity.KEMX25519, identity.KEMMLKEM1024} {
		if !envelope.SupportedKEM(id) {
			t.Errorf("identity KEM 0x%04x not supported", id)
		}
	}
}

// A keyring key (what the CLI holds) opens an envelope sealed to the public
// key it registers in its DID document.
func TestKeyringKeyOpens(t *testing.T) {
	seed := make([]byte, keyring.SeedSize)
	rand.Read(seed)
	gen, err := keyring.DeriveGeneration(1, seed)
	if err != nil {
		t.Fatal(err)
	}
	keyID := "did:medchain:patient1#enc-1"
	ad := envelope.AD{RecordID: "r1", Version: 1, Patient: "did:medchain:patient1", ResourceType: "Patient"}
	env, err := envelope.Seal([]byte("record"), ad, []envelope.Recipient{{
		KeyID: keyID, KEM: identity.KEMMLKEM768X25519, PublicKey: gen.EncryptionKey.PublicKey().Bytes(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	pt, err := envelope.Open(env, ad, keyID, gen.EncryptionKey)
	if err != nil || !bytes.Equal(pt, []byte("record")) {
		t.Fatalf("Open with the keyring key: %v", err)
	}
}
