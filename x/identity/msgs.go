package identity

import (
	"crypto/ed25519"
	"crypto/hpke"

	"github.com/medchain/medchain/crypto/sigverify"
	"github.com/medchain/medchain/internal/wire"
	"github.com/medchain/medchain/module"
)

// KEM identifiers accepted for encryption keys (RFC 9180 registry).
const (
	// KEMMLKEM768X25519 is the hybrid post-quantum KEM, the default.
	KEMMLKEM768X25519 uint16 = 0x647a
	// KEMX25519 is DHKEM(X25519, HKDF-SHA256).
	KEMX25519 uint16 = 0x0020
	// KEMMLKEM1024 is pure ML-KEM-1024.
	KEMMLKEM1024 uint16 = 0x0042
)

// KEMName returns the name of a supported KEM, "" otherwise.
func KEMName(id uint16) string {
	switch id {
	case KEMMLKEM768X25519:
		return "MLKEM768X25519"
	case KEMX25519:
		return "DHKEM-X25519-HKDF-SHA256"
	case KEMMLKEM1024:
		return "MLKEM1024"
	}
	return ""
}

func checkEncKey(kem uint64, pub []byte) error {
	if kem > 0xffff || KEMName(uint16(kem)) == "" {
		return ErrInvalidMsg.Wrapf("unsupported KEM 0x%04x (use 0x647a, MLKEM768X25519)", kem)
	}
	k, err := hpke.NewKEM(uint16(kem))
	if err != nil {
		return ErrInvalidMsg.Wrapf("KEM 0x%04x: %v", kem, err)
	}
	if _, err := k.NewPublicKey(pub); err != nil {
		return ErrInvalidMsg.Wrapf("encryption key is not a valid %s public key", KEMName(uint16(kem)))
	}
	return nil
}

// Type URLs of the identity messages.
const (
	TypeRegister   = "/medchain.identity.v1.MsgRegister"
	TypeRotateKey  = "/medchain.identity.v1.MsgRotateKey"
	TypeDeactivate = "/medchain.identity.v1.MsgDeactivate"
)

// MsgRegister registers a new identity whose DID derives from SigningKey.
// The transaction must be signed by that key as did#key-1 with sequence 0.
//
//	message MsgRegister { bytes signing_key = 1; bytes encryption_key = 2; uint32 kem = 3; }
type MsgRegister struct {
	SigningKey    []byte
	EncryptionKey []byte
	KEM           uint64
}

func (m *MsgRegister) TypeURL() string { return TypeRegister }

func (m *MsgRegister) MarshalWire() []byte {
	var e wire.Encoder
	e.Blob(1, m.SigningKey)
	e.Blob(2, m.EncryptionKey)
	e.Uint64(3, m.KEM)
	return e.Bytes()
}

func (m *MsgRegister) ValidateBasic() error {
	if len(m.SigningKey) != ed25519.PublicKeySize {
		return ErrInvalidMsg.Wrapf("signing key must be %d bytes, got %d", ed25519.PublicKeySize, len(m.SigningKey))
	}
	if err := sigverify.CheckPublicKey(m.SigningKey); err != nil {
		return ErrInvalidMsg.Wrapf("signing key: %v", err)
	}
	return checkEncKey(m.KEM, m.EncryptionKey)
}

// DID returns the DID this registration creates.
func (m *MsgRegister) DID() string { return DIDFromKey(m.SigningKey) }

// BootstrapKey implements module.Bootstrapper.
func (m *MsgRegister) BootstrapKey(keyID string) ([]byte, bool) {
	if len(m.SigningKey) != ed25519.PublicKeySize || keyID != SigningKeyID(m.DID(), 1) {
		return nil, false
	}
	return m.SigningKey, true
}

func decodeRegister(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2, 3)
	}
	m := &MsgRegister{}
	if err == nil {
		m.SigningKey, err = fs.Blob(1)
	}
	if err == nil {
		m.EncryptionKey, err = fs.Blob(2)
	}
	if err == nil {
		m.KEM, err = fs.Uint64(3)
	}
	return m, err
}

// RotateDomain prefixes the bytes a new signing key signs to prove possession.
const RotateDomain = "medchain/identity/rotate/v1"

// RotationProofBytes are the bytes the new signing key signs in MsgRotateKey.
func RotationProofBytes(chainID, did string, newSigningKey, newEncryptionKey []byte) []byte {
	var e wire.Encoder
	e.String(1, chainID)
	e.String(2, did)
	e.Blob(3, newSigningKey)
	e.Blob(4, newEncryptionKey)
	return append([]byte(RotateDomain+"\x00"), e.Bytes()...)
}

// MsgRotateKey replaces the signing and encryption keys of DID, which must be
// the signer. The old keys stay in the document's history, revoked from this
// height; Proof is the new signing key's signature over RotationProofBytes.
//
//	message MsgRotateKey { string did = 1; bytes new_signing_key = 2; bytes new_encryption_key = 3; uint32 kem = 4; bytes proof = 5; }
type MsgRotateKey struct {
	DID              string
	NewSigningKey    []byte
	NewEncryptionKey []byte
	KEM              uint64
	Proof            []byte
}

func (m *MsgRotateKey) TypeURL() string { return TypeRotateKey }

func (m *MsgRotateKey) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, m.DID)
	e.Blob(2, m.NewSigningKey)
	e.Blob(3, m.NewEncryptionKey)
	e.Uint64(4, m.KEM)
	e.Blob(5, m.Proof)
	return e.Bytes()
}

func (m *MsgRotateKey) ValidateBasic() error {
	if !ValidDID(m.DID) {
		return ErrInvalidMsg.Wrapf("%q is not a medchain DID", m.DID)
	}
	if len(m.NewSigningKey) != ed25519.PublicKeySize {
		return ErrInvalidMsg.Wrapf("new signing key must be %d bytes", ed25519.PublicKeySize)
	}
	if err := sigverify.CheckPublicKey(m.NewSigningKey); err != nil {
		return ErrInvalidMsg.Wrapf("new signing key: %v", err)
	}
	if len(m.Proof) != ed25519.SignatureSize {
		return ErrInvalidMsg.Wrapf("proof must be an Ed25519 signature")
	}
	return checkEncKey(m.KEM, m.NewEncryptionKey)
}

// Signatures implements module.SignatureCarrier: the proof of possession of
// the new signing key.
func (m *MsgRotateKey) Signatures(chainID, _ string) []module.Signature {
	return []module.Signature{{PubKey: m.NewSigningKey, Msg: RotationProofBytes(chainID, m.DID, m.NewSigningKey, m.NewEncryptionKey), Sig: m.Proof}}
}

// AnnouncedKey implements module.KeyAnnouncer: signed with the DID's
// current key, key-n, a rotation makes the new key key-(n+1).
func (m *MsgRotateKey) AnnouncedKey(signerKeyID string) (string, []byte, bool) {
	did, n, err := SplitKeyID(signerKeyID)
	if err != nil || did != m.DID {
		return "", nil, false
	}
	return SigningKeyID(did, n+1), m.NewSigningKey, true
}

func decodeRotate(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2, 3, 4, 5)
	}
	m := &MsgRotateKey{}
	if err == nil {
		m.DID, err = fs.String(1)
	}
	if err == nil {
		m.NewSigningKey, err = fs.Blob(2)
	}
	if err == nil {
		m.NewEncryptionKey, err = fs.Blob(3)
	}
	if err == nil {
		m.KEM, err = fs.Uint64(4)
	}
	if err == nil {
		m.Proof, err = fs.Blob(5)
	}
	return m, err
}

// MsgDeactivate permanently deactivates DID, which must be the signer.
//
//	message MsgDeactivate { string did = 1; }
type MsgDeactivate struct {
	DID string
}

func (m *MsgDeactivate) TypeURL() string { return TypeDeactivate }

func (m *MsgDeactivate) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, m.DID)
	return e.Bytes()
}

func (m *MsgDeactivate) ValidateBasic() error {
	if !ValidDID(m.DID) {
		return ErrInvalidMsg.Wrapf("%q is not a medchain DID", m.DID)
	}
	return nil
}

func decodeDeactivate(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1)
	}
	m := &MsgDeactivate{}
	if err == nil {
		m.DID, err = fs.String(1)
	}
	return m, err
}
