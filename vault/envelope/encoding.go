package envelope

import (
	"crypto/sha256"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/medchain/medchain/internal/wire"
)

// FormatVersion is the envelope encoding version written by
// [Envelope.Marshal] and required by [Unmarshal].
const FormatVersion = 1

// Limits on the fields of an [AD].
const (
	// MaxADFieldLength bounds RecordID and Patient, in bytes.
	MaxADFieldLength = 1024
	// MaxResourceTypeLength bounds ResourceType, in bytes.
	MaxResourceTypeLength = 64
)

// AD is the additional data a record version is sealed for. It is
// authenticated (never encrypted) by both the record ciphertext and every
// wrapped key, so an envelope opens only for the exact AD it was sealed for.
type AD struct {
	// RecordID is the record's id: 1 to MaxADFieldLength bytes of UTF-8.
	RecordID string
	// Version is the record version, from 1. Each version is a separate
	// envelope; binding it prevents an older version from being replayed as
	// a newer one.
	Version uint64
	// Patient is the patient's DID ("did:..."): up to MaxADFieldLength
	// bytes of UTF-8.
	Patient string
	// ResourceType is the FHIR resource type, such as "Observation": an
	// ASCII letter followed by letters and digits, at most
	// MaxResourceTypeLength bytes.
	ResourceType string
}

// Validate returns nil if ad follows the rules stated on its fields, and an
// error wrapping [ErrInvalidAD] otherwise.
func (ad AD) Validate() error {
	switch {
	case ad.RecordID == "":
		return errorf(ErrInvalidAD, "empty record id")
	case len(ad.RecordID) > MaxADFieldLength || !utf8.ValidString(ad.RecordID):
		return errorf(ErrInvalidAD, "record id is not 1 to %d bytes of UTF-8", MaxADFieldLength)
	case ad.Version == 0:
		return errorf(ErrInvalidAD, "version 0 (versions start at 1)")
	case !strings.HasPrefix(ad.Patient, "did:") || len(ad.Patient) > MaxADFieldLength || !utf8.ValidString(ad.Patient):
		return errorf(ErrInvalidAD, "patient is not a DID of at most %d bytes", MaxADFieldLength)
	case !validResourceType(ad.ResourceType):
		return errorf(ErrInvalidAD, "resource type %q is not a FHIR resource type name", ad.ResourceType)
	}
	return nil
}

func validResourceType(s string) bool {
	if s == "" || len(s) > MaxResourceTypeLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Encode returns the canonical encoding of ad, the bytes bound into the
// ciphertext, the wrapped keys and the ciphertext hash (each time behind a
// domain tag). It fails with [ErrInvalidAD] if ad is invalid.
func (ad AD) Encode() ([]byte, error) {
	return ad.encodeChecked()
}

func (ad AD) encodeChecked() ([]byte, error) {
	if err := ad.Validate(); err != nil {
		return nil, err
	}
	return ad.encode(), nil
}

// encode is the wire encoding of a valid AD.
func (ad AD) encode() []byte {
	var e wire.Encoder
	e.String(1, ad.RecordID)
	e.Uint64(2, ad.Version)
	e.String(3, ad.Patient)
	e.String(4, ad.ResourceType)
	return e.Bytes()
}

func decodeAD(b []byte) (AD, error) {
	fs, err := wire.Parse(b)
	if err != nil {
		return AD{}, errorf(ErrMalformed, "additional data: %v", err)
	}
	if err := fs.Only(1, 2, 3, 4); err != nil {
		return AD{}, errorf(ErrMalformed, "additional data: %v", err)
	}
	var ad AD
	var errs [4]error
	ad.RecordID, errs[0] = fs.String(1)
	ad.Version, errs[1] = fs.Uint64(2)
	ad.Patient, errs[2] = fs.String(3)
	ad.ResourceType, errs[3] = fs.String(4)
	for _, err := range errs {
		if err != nil {
			return AD{}, errorf(ErrMalformed, "additional data: %v", err)
		}
	}
	if err := ad.Validate(); err != nil {
		return AD{}, errorf(ErrMalformed, "%v", err)
	}
	return ad, nil
}

// domainPrefixed returns tag || 0x00 || msg.
func domainPrefixed(tag string, msg []byte) []byte {
	b := make([]byte, 0, len(tag)+1+len(msg))
	b = append(b, tag...)
	b = append(b, 0)
	return append(b, msg...)
}

// wrapInfo is the HPKE info of a wrapped key:
// "medchain/vault/wrap/v1" 0x00 || message { AD ad = 1; string key_id = 2; }.
func wrapInfo(adBytes []byte, keyID string) []byte {
	var e wire.Encoder
	e.Blob(1, adBytes)
	e.String(2, keyID)
	return domainPrefixed(wrapDomain, e.Bytes())
}

// CiphertextHash returns the hash the chain anchors for env:
//
//	SHA-256("medchain/vault/ciphertext/v1" 0x00 || message { AD ad = 1; bytes nonce = 2; bytes ciphertext = 3; bytes key_commitment = 4; })
//
// It covers everything that determines the plaintext — AD, nonce,
// ciphertext and key commitment — but not the wrapped keys, so it does not
// change when keys are re-wrapped or shredded. Two envelopes with the same
// hash decrypt to the same plaintext for every recipient. env is not
// validated: check it with [Envelope.Validate] or use an envelope from
// [Seal] or [Unmarshal]. CiphertextHash(nil) is the hash of an empty
// message.
func CiphertextHash(env *Envelope) [32]byte {
	var e wire.Encoder
	if env != nil {
		e.Blob(1, env.AD.encode())
		e.Blob(2, env.Nonce)
		e.Blob(3, env.Ciphertext)
		e.Blob(4, env.KeyCommitment)
	}
	return sha256.Sum256(domainPrefixed(cipherDomain, e.Bytes()))
}

// Validate checks that env is well formed: a valid AD, a NonceSize nonce, a
// ciphertext of at least TagSize bytes, a KeyCommitmentSize commitment, and
// wrapped keys with valid, unique key ids, supported KEMs, known wrap
// schemes and correctly sized Enc and Sealed. It does not check any
// authentication (only [Open] can). The error wraps [ErrMalformed].
func (env *Envelope) Validate() error {
	return env.validate()
}

func (env *Envelope) validate() error {
	if env == nil {
		return errorf(ErrMalformed, "nil envelope")
	}
	if err := env.AD.Validate(); err != nil {
		return errorf(ErrMalformed, "%v", err)
	}
	if len(env.Nonce) != NonceSize {
		return errorf(ErrMalformed, "nonce is %d bytes, want %d", len(env.Nonce), NonceSize)
	}
	if len(env.Ciphertext) < TagSize {
		return errorf(ErrMalformed, "ciphertext is %d bytes, shorter than a tag", len(env.Ciphertext))
	}
	if len(env.KeyCommitment) != KeyCommitmentSize {
		return errorf(ErrMalformed, "key commitment is %d bytes, want %d", len(env.KeyCommitment), KeyCommitmentSize)
	}
	seen := make(map[string]bool, len(env.Wrapped))
	for i := range env.Wrapped {
		wk := &env.Wrapped[i]
		if err := checkKeyID(wk.KeyID); err != nil {
			return err
		}
		if seen[wk.KeyID] {
			return errorf(ErrMalformed, "key id %q appears twice", wk.KeyID)
		}
		seen[wk.KeyID] = true
		k, ok := kemTable[wk.KEM]
		if !ok {
			return errorf(ErrMalformed, "key %q: unsupported KEM 0x%04x", wk.KeyID, wk.KEM)
		}
		if !wk.Scheme.known() {
			return errorf(ErrMalformed, "key %q: unknown wrap scheme %d", wk.KeyID, wk.Scheme)
		}
		if len(wk.Enc) != k.encSize {
			return errorf(ErrMalformed, "key %q: encapsulated key is %d bytes, want %d", wk.KeyID, len(wk.Enc), k.encSize)
		}
		if len(wk.Sealed) != SealedKeySize {
			return errorf(ErrMalformed, "key %q: sealed key is %d bytes, want %d", wk.KeyID, len(wk.Sealed), SealedKeySize)
		}
	}
	return nil
}

func compareWrapped(a, b WrappedKey) int { return strings.Compare(a.KeyID, b.KeyID) }

// Marshal returns the canonical encoding of env (see the package
// documentation), with the wrapped keys sorted by key id. It fails with
// [ErrMalformed] if env is not well formed ([Envelope.Validate]).
// Marshal(Unmarshal(b)) == b for every b that Unmarshal accepts.
func (env *Envelope) Marshal() ([]byte, error) {
	if err := env.validate(); err != nil {
		return nil, err
	}
	wrapped := slices.Clone(env.Wrapped)
	slices.SortFunc(wrapped, compareWrapped)
	items := make([][]byte, len(wrapped))
	for i, wk := range wrapped {
		var w wire.Encoder
		w.String(1, wk.KeyID)
		w.Uint64(2, uint64(wk.KEM))
		w.Blob(3, wk.Enc)
		w.Blob(4, wk.Sealed)
		w.Uint64(5, uint64(wk.Scheme)) // WrapHPKE (0) is omitted: pre-batch encodings are unchanged
		items[i] = w.Bytes()
	}
	var e wire.Encoder
	e.Uint64(1, FormatVersion)
	e.Blob(2, env.AD.encode())
	e.Blob(3, env.Nonce)
	e.Blob(4, env.Ciphertext)
	e.Blob(5, env.KeyCommitment)
	e.Blobs(6, items)
	return e.Bytes(), nil
}

// Unmarshal decodes an envelope encoded by [Envelope.Marshal]. It accepts
// only the canonical encoding of a well-formed envelope — format version 1,
// wrapped keys in strictly ascending key-id order, each with a known wrap
// scheme ([WrapHPKE] as an absent field, never an explicit 0) — and fails
// with [ErrMalformed] otherwise. The result does not alias b.
func Unmarshal(b []byte) (*Envelope, error) {
	fs, err := wire.Parse(b)
	if err != nil {
		return nil, errorf(ErrMalformed, "%v", err)
	}
	if err := fs.Only(1, 2, 3, 4, 5, 6); err != nil {
		return nil, errorf(ErrMalformed, "%v", err)
	}
	format, err := fs.Uint64(1)
	if err != nil {
		return nil, errorf(ErrMalformed, "%v", err)
	}
	if format != FormatVersion {
		return nil, errorf(ErrMalformed, "format version %d, want %d", format, FormatVersion)
	}
	var blobs [4][]byte
	for i := range blobs {
		if blobs[i], err = fs.Blob(wire.Number(i + 2)); err != nil {
			return nil, errorf(ErrMalformed, "%v", err)
		}
	}
	env := &Envelope{
		Nonce:         slices.Clone(blobs[1]),
		Ciphertext:    slices.Clone(blobs[2]),
		KeyCommitment: slices.Clone(blobs[3]),
	}
	if env.AD, err = decodeAD(blobs[0]); err != nil {
		return nil, err
	}
	items, err := fs.Blobs(6)
	if err != nil {
		return nil, errorf(ErrMalformed, "%v", err)
	}
	for i, item := range items {
		wk, err := decodeWrapped(item)
		if err != nil {
			return nil, err
		}
		if i > 0 && wk.KeyID <= env.Wrapped[i-1].KeyID {
			return nil, errorf(ErrMalformed, "wrapped keys not in strictly ascending key id order")
		}
		env.Wrapped = append(env.Wrapped, wk)
	}
	if err := env.validate(); err != nil {
		return nil, err
	}
	return env, nil
}

func decodeWrapped(b []byte) (WrappedKey, error) {
	fs, err := wire.Parse(b)
	if err != nil {
		return WrappedKey{}, errorf(ErrMalformed, "wrapped key: %v", err)
	}
	if err := fs.Only(1, 2, 3, 4, 5); err != nil {
		return WrappedKey{}, errorf(ErrMalformed, "wrapped key: %v", err)
	}
	keyID, err1 := fs.String(1)
	kem, err2 := fs.Uint64(2)
	enc, err3 := fs.Blob(3)
	sealed, err4 := fs.Blob(4)
	scheme, err5 := fs.Uint64(5)
	for _, err := range []error{err1, err2, err3, err4, err5} {
		if err != nil {
			return WrappedKey{}, errorf(ErrMalformed, "wrapped key: %v", err)
		}
	}
	if kem > 0xffff {
		return WrappedKey{}, errorf(ErrMalformed, "wrapped key: KEM id %d out of range", kem)
	}
	if scheme > 0xff || !WrapScheme(scheme).known() {
		return WrappedKey{}, errorf(ErrMalformed, "wrapped key: unknown wrap scheme %d", scheme)
	}
	return WrappedKey{KeyID: keyID, KEM: uint16(kem), Scheme: WrapScheme(scheme), Enc: slices.Clone(enc), Sealed: slices.Clone(sealed)}, nil
}
