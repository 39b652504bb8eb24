package identity

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strconv"
	"strings"
)

// StoreName is the identity module's store and codespace.
const StoreName = "identity"

// Method is the DID method prefix.
const Method = "did:medchain:"

// State keys (store "identity"):
//
//	0x01 | did  -> Record (JSON)
func recordKey(did string) []byte { return append([]byte{0x01}, did...) }

// DIDOfRecordKey returns the DID whose record is at key in the identity
// store, or ok=false for a key of another kind.
func DIDOfRecordKey(key []byte) (did string, ok bool) {
	if len(key) < 2 || key[0] != 0x01 {
		return "", false
	}
	return string(key[1:]), true
}

// b32 is RFC 4648 base32 in lower case, unpadded.
var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// DIDFromKey derives the DID of an identity from its first signing key:
// did:medchain: followed by the lower-case base32 of the first 16 bytes of
// SHA-256("medchain/did/v1" 0x00 || key). (Every transaction derives one
// or more: one allocation each.)
func DIDFromKey(signingKey []byte) string {
	h := sha256.Sum256(append([]byte("medchain/did/v1\x00"), signingKey...))
	did := make([]byte, len(Method)+b32.EncodedLen(16))
	b32.Encode(did[copy(did, Method):], h[:16])
	return string(did)
}

// ValidDID reports whether s is a syntactically valid medchain DID.
func ValidDID(s string) bool {
	id, ok := strings.CutPrefix(s, Method)
	if !ok || len(id) != 26 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// SigningKeyID is the DID URL of the n-th signing key.
func SigningKeyID(did string, n int) string { return fmt.Sprintf("%s#key-%d", did, n) }

// EncryptionKeyID is the DID URL of the n-th encryption key.
func EncryptionKeyID(did string, n int) string { return fmt.Sprintf("%s#enc-%d", did, n) }

// SplitKeyID splits "did#key-n" into the DID and n.
func SplitKeyID(keyID string) (did string, n int, err error) {
	did, frag, ok := strings.Cut(keyID, "#key-")
	if !ok || !ValidDID(did) {
		return "", 0, fmt.Errorf("%q is not a signing key id (did:medchain:<id>#key-<n>)", keyID)
	}
	n, err = strconv.Atoi(frag)
	if err != nil || n < 1 || strconv.Itoa(n) != frag {
		return "", 0, fmt.Errorf("%q is not a signing key id (did:medchain:<id>#key-<n>)", keyID)
	}
	return did, n, nil
}
