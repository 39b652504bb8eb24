package client

import (
	"crypto/ed25519"

	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/x/identity"
)

// Signer signs transactions for one DID key.
type Signer interface {
	// DID is the signer's DID; KeyID the DID URL of the signing key.
	DID() string
	KeyID() string
	Sign(msg []byte) ([]byte, error)
}

// KeySigner signs with a keyring key. A key that has never been registered
// signs as the DID its first key derives (what a registration needs).
type KeySigner struct {
	Key *keyring.Key
}

// DID implements Signer.
func (k KeySigner) DID() string {
	if k.Key.DID != "" {
		return k.Key.DID
	}
	if len(k.Key.Previous) > 0 {
		return identity.DIDFromKey(k.Key.Previous[0].SigningKey.Public().(ed25519.PublicKey))
	}
	return identity.DIDFromKey(k.Key.SigningPublic())
}

// KeyID implements Signer: the key generation is the key's index in the DID
// document (did#key-<generation>).
func (k KeySigner) KeyID() string { return identity.SigningKeyID(k.DID(), k.Key.Generation) }

// Sign implements Signer.
func (k KeySigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(k.Key.SigningKey, msg), nil }

// RegisterMsg returns the registration of a key's identity (its current
// generation, which must be the first).
func RegisterMsg(k *keyring.Key) *identity.MsgRegister {
	return &identity.MsgRegister{SigningKey: k.SigningPublic(), EncryptionKey: k.EncryptionPublic(), KEM: uint64(identity.KEMMLKEM768X25519)}
}

// RotateMsg returns the rotation of did's keys to the keyring key's current
// generation, with its proof of possession.
func RotateMsg(chainID, did string, next *keyring.Key) *identity.MsgRotateKey {
	m := &identity.MsgRotateKey{DID: did, NewSigningKey: next.SigningPublic(), NewEncryptionKey: next.EncryptionPublic(), KEM: uint64(identity.KEMMLKEM768X25519)}
	m.Proof = ed25519.Sign(next.SigningKey, identity.RotationProofBytes(chainID, did, m.NewSigningKey, m.NewEncryptionKey))
	return m
}

// GenerationSigner signs with one specific generation of a DID's keys, such
// as the outgoing key of a rotation.
type GenerationSigner struct {
	Identity   string
	Generation int
	Private    ed25519.PrivateKey
}

// DID implements Signer.
func (g GenerationSigner) DID() string { return g.Identity }

// KeyID implements Signer.
func (g GenerationSigner) KeyID() string { return identity.SigningKeyID(g.Identity, g.Generation) }

// Sign implements Signer.
func (g GenerationSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(g.Private, msg), nil }
