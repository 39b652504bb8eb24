package identity

import (
	"encoding/base64"
	"time"

	"github.com/medchain/medchain/internal/base58"
)

// Document is a W3C DID Core 1.0 document.
type Document struct {
	Context            []string             `json:"@context"`
	ID                 string               `json:"id"`
	VerificationMethod []VerificationMethod `json:"verificationMethod,omitempty"`
	Authentication     []string             `json:"authentication,omitempty"`
	AssertionMethod    []string             `json:"assertionMethod,omitempty"`
	KeyAgreement       []string             `json:"keyAgreement,omitempty"`
}

// VerificationMethod is one key of a DID document. Ed25519 signing keys are
// W3C Multikey ("z" base58btc of 0xed01 || key). HPKE encryption keys have
// no registered multicodec yet, so they use type "HpkePublicKey" with the
// RFC 9180 KEM id and the key as unpadded base64url multibase ("u...").
type VerificationMethod struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	Controller         string `json:"controller"`
	PublicKeyMultibase string `json:"publicKeyMultibase"`
	KEM                string `json:"hpkeKem,omitempty"`
	KEMID              uint16 `json:"hpkeKemId,omitempty"`
}

// DocumentMetadata is the W3C DID resolution didDocumentMetadata, with the
// key history (every key ever used, with the heights it was valid for) so a
// signature made before a rotation can still be checked.
type DocumentMetadata struct {
	Created       time.Time    `json:"created"`
	Updated       time.Time    `json:"updated"`
	Deactivated   bool         `json:"deactivated,omitempty"`
	VersionID     int64        `json:"versionId"` // height of the last update
	CreatedHeight int64        `json:"createdHeight"`
	KeyHistory    []KeyHistory `json:"keyHistory"`
}

// KeyHistory is one key of the history in DocumentMetadata.
type KeyHistory struct {
	ID                 string `json:"id"`
	Purpose            string `json:"purpose"` // "signing" or "encryption"
	PublicKeyMultibase string `json:"publicKeyMultibase"`
	AddedHeight        int64  `json:"addedHeight"`
	RevokedHeight      int64  `json:"revokedHeight,omitempty"`
}

// Resolution is a DID resolution result.
type Resolution struct {
	Document *Document        `json:"didDocument"`
	Metadata DocumentMetadata `json:"didDocumentMetadata"`
}

// Multikey returns the W3C Multikey encoding of an Ed25519 public key.
func Multikey(pub []byte) string {
	return "z" + base58.Encode(append([]byte{0xed, 0x01}, pub...))
}

func encMultibase(pub []byte) string {
	return "u" + base64.RawURLEncoding.EncodeToString(pub)
}

// Resolve renders rec as a W3C DID resolution result. A deactivated
// identity resolves to a document without keys and Deactivated set.
func (rec *Record) Resolve() Resolution {
	doc := &Document{
		Context: []string{"https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"},
		ID:      rec.DID,
	}
	md := DocumentMetadata{
		Created: rec.Created, Updated: rec.Updated, Deactivated: !rec.Active(),
		VersionID: rec.UpdatedHeight, CreatedHeight: rec.CreatedHeight,
	}
	for _, k := range rec.SigningKeys {
		md.KeyHistory = append(md.KeyHistory, KeyHistory{ID: k.ID, Purpose: "signing", PublicKeyMultibase: Multikey(k.PublicKey), AddedHeight: k.AddedHeight, RevokedHeight: k.RevokedHeight})
	}
	for _, k := range rec.EncryptionKeys {
		md.KeyHistory = append(md.KeyHistory, KeyHistory{ID: k.ID, Purpose: "encryption", PublicKeyMultibase: encMultibase(k.PublicKey), AddedHeight: k.AddedHeight, RevokedHeight: k.RevokedHeight})
	}
	if rec.Active() {
		sk, ek := rec.CurrentSigningKey(), rec.CurrentEncryptionKey()
		doc.VerificationMethod = []VerificationMethod{
			{ID: sk.ID, Type: "Multikey", Controller: rec.DID, PublicKeyMultibase: Multikey(sk.PublicKey)},
			{ID: ek.ID, Type: "HpkePublicKey", Controller: rec.DID, PublicKeyMultibase: encMultibase(ek.PublicKey), KEM: KEMName(ek.KEM), KEMID: ek.KEM},
		}
		doc.Authentication = []string{sk.ID}
		doc.AssertionMethod = []string{sk.ID}
		doc.KeyAgreement = []string{ek.ID}
	}
	return Resolution{Document: doc, Metadata: md}
}
