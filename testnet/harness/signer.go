package harness

import (
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"fmt"

	"github.com/medchain/medchain/x/identity"
)

// Signer is an in-memory identity with deterministic keys (derived from a
// seed string) that implements client.Signer. Load signers and the admins
// of organizations the tests admit are Signers.
type Signer struct {
	priv   ed25519.PrivateKey
	enc    hpke.PrivateKey
	encPub []byte
	did    string
}

// NewSigner derives a signer's signing key and HPKE MLKEM768-X25519
// encryption key from seed.
func NewSigner(seed string) *Signer {
	s := sha256.Sum256([]byte("medchain/e2e/sign\x00" + seed))
	ikm := sha256.Sum256([]byte("medchain/e2e/enc\x00" + seed))
	ek, err := hpke.MLKEM768X25519().DeriveKeyPair(ikm[:])
	if err != nil {
		panic(fmt.Sprintf("harness: derive encryption key: %v", err))
	}
	priv := ed25519.NewKeyFromSeed(s[:])
	return &Signer{priv: priv, enc: ek, encPub: ek.PublicKey().Bytes(), did: identity.DIDFromKey(priv.Public().(ed25519.PublicKey))}
}

// SigningKey returns the signer's Ed25519 private key (to issue API
// tokens with package auth).
func (s *Signer) SigningKey() ed25519.PrivateKey { return s.priv }

// EncryptionKey returns the signer's HPKE private key (its DID's first
// encryption key, id <did>#enc-1), to open what vaults wrapped to it.
func (s *Signer) EncryptionKey() hpke.PrivateKey { return s.enc }

// DID implements client.Signer.
func (s *Signer) DID() string { return s.did }

// KeyID implements client.Signer: the first (and only) signing key.
func (s *Signer) KeyID() string { return identity.SigningKeyID(s.did, 1) }

// Sign implements client.Signer.
func (s *Signer) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.priv, msg), nil }

// Register returns the self-registration of the signer's identity (it must
// be sent with sequence 0).
func (s *Signer) Register() *identity.MsgRegister {
	return &identity.MsgRegister{SigningKey: s.priv.Public().(ed25519.PublicKey), EncryptionKey: s.encPub, KEM: uint64(identity.KEMMLKEM768X25519)}
}
