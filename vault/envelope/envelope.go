package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"slices"
	"sync"
)

// KEM identifiers (RFC 9180 registry), the same values as x/identity's.
const (
	// KEMMLKEM768X25519 is MLKEM768-X25519 (X-Wing), the hybrid
	// post-quantum KEM and medchain's default.
	KEMMLKEM768X25519 uint16 = 0x647a
	// KEMX25519 is DHKEM(X25519, HKDF-SHA256).
	KEMX25519 uint16 = 0x0020
	// KEMMLKEM1024 is ML-KEM-1024.
	KEMMLKEM1024 uint16 = 0x0042
)

// Sizes of the envelope's fixed-length fields.
const (
	// DataKeySize is the size of a record's data key (AES-256).
	DataKeySize = 32
	// NonceSize is the size of the AES-GCM nonce.
	NonceSize = 12
	// TagSize is the size of an AES-GCM authentication tag; a ciphertext is
	// the plaintext length plus TagSize.
	TagSize = 16
	// KeyCommitmentSize is the size of the key commitment.
	KeyCommitmentSize = 32
	// SealedKeySize is the size of a wrapped data key's ciphertext (the
	// data key and a tag, in both wrap schemes).
	SealedKeySize = DataKeySize + TagSize
)

// Domain separation tags. They are part of the format: changing one makes
// every existing envelope unreadable.
const (
	recordDomain   = "medchain/vault/record/v1"
	wrapDomain     = "medchain/vault/wrap/v1"
	aeadKeyInfo    = "medchain/vault/aead-key/v1"
	keyCommitInfo  = "medchain/vault/key-commit/v1"
	cipherDomain   = "medchain/vault/ciphertext/v1"
	commitDomain   = "medchain/vault/commit/v1"
	maxKeyIDLength = 512

	// Batch wrapping ([WrapBatch], sealer.go).
	batchContextDomain = "medchain/vault/batch-context/v1" // HPKE info of a batch context
	batchExporterLabel = "medchain/vault/batch-export/v1"  // HPKE exporter context of the batch secret
	batchKEKDomain     = "medchain/vault/batch-kek/v1"     // HKDF info of a per-record KEK
	batchWrapDomain    = "medchain/vault/batch-wrap/v1"    // AES-GCM additional data of a batch-wrapped key
)

// HPKE ciphersuite of every wrapped key, besides the recipient's KEM.
var (
	wrapKDF  = hpke.HKDFSHA256()
	wrapAEAD = hpke.AES256GCM()
)

// kemInfo is what this package knows of a supported KEM.
type kemInfo struct {
	kem     hpke.KEM
	encSize int // size of the encapsulated key, Nenc
}

// kemTable holds the supported KEMs; encSize is checked by the tests against
// what crypto/hpke produces.
var kemTable = map[uint16]kemInfo{
	KEMMLKEM768X25519: {hpke.MLKEM768X25519(), 1120},
	KEMX25519:         {mustKEM(KEMX25519), 32},
	KEMMLKEM1024:      {hpke.MLKEM1024(), 1568},
}

func mustKEM(id uint16) hpke.KEM {
	k, err := hpke.NewKEM(id)
	if err != nil {
		panic(err)
	}
	return k
}

// SupportedKEM reports whether id is a KEM that recipients may use:
// [KEMMLKEM768X25519], [KEMX25519] or [KEMMLKEM1024].
func SupportedKEM(id uint16) bool {
	_, ok := kemTable[id]
	return ok
}

// Recipient is a public encryption key a data key is wrapped to.
type Recipient struct {
	// KeyID names the key: a DID URL such as "did:medchain:abc#enc-1".
	// It is bound into the wrapped key, so a wrapped key cannot be presented
	// as another recipient's. 1 to 512 printable ASCII characters, no space.
	KeyID string
	// KEM is the key's RFC 9180 KEM id; 0 means [KEMMLKEM768X25519].
	KEM uint16
	// PublicKey is the serialized HPKE public key (hpke.PublicKey.Bytes, as
	// registered in the DID document).
	PublicKey []byte
}

// WrapScheme says how a [WrappedKey] wraps its data key.
type WrapScheme uint8

const (
	// WrapHPKE is a single-shot HPKE seal of the data key: one
	// encapsulation per wrapped key. [Seal] and [Rewrap] write it; every
	// envelope written before batch sealing existed uses it, and its
	// encoding omits the scheme field.
	WrapHPKE WrapScheme = 0
	// WrapBatch is a data key wrapped with AES-256-GCM under a per-record
	// key-encryption key derived from a secret exported from an HPKE
	// context that a [Sealer] shares across a batch of records (one
	// encapsulation per recipient per batch). See the package
	// documentation.
	WrapBatch WrapScheme = 1
)

// known reports whether s is a scheme this package can open.
func (s WrapScheme) known() bool { return s == WrapHPKE || s == WrapBatch }

// WrappedKey is a data key encrypted to one recipient.
type WrappedKey struct {
	// KeyID is the recipient key's id (a DID URL).
	KeyID string
	// KEM is the recipient key's KEM id.
	KEM uint16
	// Scheme is the wrap scheme: [WrapHPKE] (the zero value) or
	// [WrapBatch]. Any other value is malformed.
	Scheme WrapScheme `json:",omitempty"`
	// Enc is the HPKE encapsulated key. With [WrapBatch] it is the batch's
	// encapsulation, the same bytes in every envelope the batch sealed to
	// this recipient (each envelope holds its own copy).
	Enc []byte
	// Sealed is the ciphertext of the data key, tag included
	// (SealedKeySize bytes): HPKE's with [WrapHPKE], AES-256-GCM under the
	// record's key-encryption key with [WrapBatch].
	Sealed []byte
}

// Envelope is one encrypted record version. The zero value is not valid;
// envelopes come from [Seal] or [Unmarshal].
type Envelope struct {
	// AD is the additional data the envelope was sealed for. It is stored in
	// clear text for convenience; [Open] authenticates it against the AD its
	// caller expects.
	AD AD
	// Nonce is the AES-GCM nonce (NonceSize bytes).
	Nonce []byte
	// Ciphertext is the AES-256-GCM ciphertext of the record, tag included.
	Ciphertext []byte
	// KeyCommitment commits to the data key (KeyCommitmentSize bytes).
	KeyCommitment []byte
	// Wrapped holds the data key wrapped to each recipient. Order does not
	// matter in memory; the encoding sorts it by key id.
	Wrapped []WrappedKey
}

// Seal encrypts plaintext, one version of one record, for the given
// recipients. It draws a fresh random data key, encrypts plaintext under it
// with AES-256-GCM bound to ad, and wraps the data key with HPKE to each
// recipient, bound to ad and the recipient's key id. The data key is zeroed
// before Seal returns.
//
// It fails with [ErrInvalidAD] if ad is invalid and with
// [ErrInvalidRecipient] if recipients is empty, two recipients share a key
// id, or a recipient's key id, KEM or public key is invalid. Seal does not
// keep references to its arguments.
func Seal(plaintext []byte, ad AD, recipients []Recipient) (*Envelope, error) {
	adBytes, pubs, err := checkSealArgs(ad, recipients)
	if err != nil {
		return nil, err
	}
	return sealRecord(plaintext, ad, adBytes, len(recipients), func(i int, dataKey, _ []byte) (*WrappedKey, error) {
		return wrap(dataKey, adBytes, recipients[i].KeyID, pubs[i])
	})
}

// parseRecipients checks that recipients is not empty and has unique key
// ids, and parses each recipient's public key.
// checkSealArgs validates Seal's arguments: the encoded associated data and
// the recipients' parsed public keys, or ErrInvalidAD / ErrInvalidRecipient.
func checkSealArgs(ad AD, recipients []Recipient) ([]byte, []hpke.PublicKey, error) {
	adBytes, err := ad.encodeChecked()
	if err != nil {
		return nil, nil, err
	}
	pubs, err := parseRecipients(recipients)
	if err != nil {
		return nil, nil, err
	}
	return adBytes, pubs, nil
}

func parseRecipients(recipients []Recipient) ([]hpke.PublicKey, error) {
	if len(recipients) == 0 {
		return nil, errorf(ErrInvalidRecipient, "no recipients")
	}
	pubs := make([]hpke.PublicKey, len(recipients))
	seen := make(map[string]bool, len(recipients))
	for i, r := range recipients {
		if seen[r.KeyID] {
			return nil, errorf(ErrInvalidRecipient, "key id %q appears twice", r.KeyID)
		}
		seen[r.KeyID] = true
		var err error
		if pubs[i], err = r.publicKey(); err != nil {
			return nil, err
		}
	}
	return pubs, nil
}

// sealRecord draws a data key and a nonce, encrypts plaintext for ad and
// wraps the data key n times with wrapTo(i, dataKey, nonce). The data key
// is zeroed before sealRecord returns.
func sealRecord(plaintext []byte, ad AD, adBytes []byte, n int, wrapTo func(i int, dataKey, nonce []byte) (*WrappedKey, error)) (*Envelope, error) {
	dataKey := make([]byte, DataKeySize)
	defer clear(dataKey)
	rand.Read(dataKey)
	aead, commit := deriveKeys(dataKey)
	nonce := make([]byte, NonceSize)
	rand.Read(nonce)
	env := &Envelope{
		AD:            ad,
		Nonce:         nonce,
		Ciphertext:    aead.Seal(nil, nonce, plaintext, recordAAD(adBytes)),
		KeyCommitment: commit,
		Wrapped:       make([]WrappedKey, 0, n),
	}
	for i := range n {
		wk, err := wrapTo(i, dataKey, nonce)
		if err != nil {
			return nil, err
		}
		env.Wrapped = append(env.Wrapped, *wk)
	}
	slices.SortFunc(env.Wrapped, compareWrapped)
	return env, nil
}

// Open unwraps the data key wrapped to keyID with priv and decrypts the
// record. ad is the AD the caller expects (from the chain), not the one
// stored in the envelope: the envelope opens only if it was sealed for
// exactly ad.
//
// It returns the plaintext, or an error and no plaintext:
//   - [ErrMalformed] if env is nil or not well formed;
//   - [ErrInvalidAD] if ad is invalid;
//   - [ErrNoKey] if env has no wrapped key for keyID, that key is for
//     another KEM than priv's, or priv is nil;
//   - [ErrTampered] if the envelope was sealed for another AD, or any
//     authenticated part (AD, nonce, ciphertext, key commitment, the
//     wrapped key for keyID) was modified, or priv is not keyID's key.
func Open(env *Envelope, ad AD, keyID string, priv hpke.PrivateKey) ([]byte, error) {
	dataKey, adBytes, err := unwrap(env, ad, keyID, priv)
	if err != nil {
		return nil, err
	}
	defer clear(dataKey)
	aead, _ := deriveKeys(dataKey)
	pt, err := aead.Open(nil, env.Nonce, env.Ciphertext, recordAAD(adBytes))
	if err != nil {
		return nil, errorf(ErrTampered, "record ciphertext does not authenticate")
	}
	return pt, nil
}

// Rewrap unwraps the data key wrapped to fromKeyID with priv and wraps it to
// the recipient to, for the same ad, without re-encrypting the record. This
// is how a holding vault releases a record to an authorized requester: it
// sends the requester the envelope's AD, nonce, ciphertext and key
// commitment with the returned wrapped key. env is not modified (append the
// result to env.Wrapped to keep it).
//
// The key wrapped to fromKeyID may use either scheme; the returned key is
// always [WrapHPKE] (single-shot, one encapsulation), which every version
// of this package opens. Rewrap checks the unwrapped key against the
// envelope's key commitment but does not decrypt the ciphertext; the new
// recipient's [Open] does.
// Errors are those of [Open] and, for to, those of [Seal]'s recipients
// ([ErrInvalidRecipient]).
func Rewrap(env *Envelope, ad AD, fromKeyID string, priv hpke.PrivateKey, to Recipient) (*WrappedKey, error) {
	pub, err := to.publicKey()
	if err != nil {
		return nil, err
	}
	dataKey, adBytes, err := unwrap(env, ad, fromKeyID, priv)
	if err != nil {
		return nil, err
	}
	defer clear(dataKey)
	return wrap(dataKey, adBytes, to.KeyID, pub)
}

// Shred removes every wrapped key from env (zeroing their bytes first), the
// crypto-shredding step: without a wrapped key no one can recover the data
// key, and without the data key the ciphertext is unreadable, whoever holds
// it. Afterwards [Open] and [Rewrap] fail with [ErrNoKey]; [CiphertextHash] is
// unchanged.
//
// Shred acts on this in-memory value only. Erasing a record means replacing
// or deleting every stored copy of its wrapped keys; see the package
// documentation for why deleting a file is not enough on its own.
func Shred(env *Envelope) {
	if env == nil {
		return
	}
	for i := range env.Wrapped {
		clear(env.Wrapped[i].Enc)
		clear(env.Wrapped[i].Sealed)
	}
	clear(env.Wrapped)
	env.Wrapped = nil
}

// publicKey checks r and parses its public key.
func (r Recipient) publicKey() (hpke.PublicKey, error) {
	if err := checkKeyID(r.KeyID); err != nil {
		return nil, errorf(ErrInvalidRecipient, "%v", err)
	}
	id := r.KEM
	if id == 0 {
		id = KEMMLKEM768X25519
	}
	k, ok := kemTable[id]
	if !ok {
		return nil, errorf(ErrInvalidRecipient, "key %q: unsupported KEM 0x%04x", r.KeyID, id)
	}
	ck := pubCacheKey{kem: id, key: string(r.PublicKey)}
	if pub := parsedKeys.get(ck); pub != nil {
		return pub, nil
	}
	pub, err := k.kem.NewPublicKey(r.PublicKey)
	if err != nil {
		return nil, errorf(ErrInvalidRecipient, "key %q: not a valid KEM 0x%04x public key", r.KeyID, id)
	}
	parsedKeys.put(ck, pub)
	return pub, nil
}

// parsedKeys keeps recently parsed recipient public keys. Parsing an
// ML-KEM-768 encapsulation key (which expands its matrix) costs about a
// third of a wrap, and a vault seals to the same few keys (its own and its
// patients') over and over. Only keys that parsed are kept, by KEM and
// exact bytes, so a hit returns what NewPublicKey would; hpke.PublicKey
// values are immutable and safe for concurrent use.
var parsedKeys = &pubCache{m: map[pubCacheKey]hpke.PublicKey{}}

// maxParsedKeys bounds parsedKeys (an ML-KEM-768 key parsed takes a few
// KiB); when full it is emptied and refills with the keys in use.
const maxParsedKeys = 256

type pubCacheKey struct {
	kem uint16
	key string
}

type pubCache struct {
	mu sync.Mutex
	m  map[pubCacheKey]hpke.PublicKey
}

func (c *pubCache) get(k pubCacheKey) hpke.PublicKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

func (c *pubCache) put(k pubCacheKey, pub hpke.PublicKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxParsedKeys {
		clear(c.m)
	}
	c.m[k] = pub
}

// checkKeyID enforces the key id syntax: 1 to 512 printable ASCII
// characters other than space.
func checkKeyID(id string) error {
	if id == "" {
		return errorf(ErrMalformed, "empty key id")
	}
	if len(id) > maxKeyIDLength {
		return errorf(ErrMalformed, "key id longer than %d bytes", maxKeyIDLength)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return errorf(ErrMalformed, "key id has a character outside printable ASCII")
		}
	}
	return nil
}

// deriveKeys derives the AES-256-GCM key and the key commitment from a data
// key.
func deriveKeys(dataKey []byte) (cipher.AEAD, []byte) {
	prk, err := hkdf.Extract(sha256.New, dataKey, nil)
	if err != nil {
		panic("envelope: " + err.Error())
	}
	defer clear(prk)
	key, err := hkdf.Expand(sha256.New, prk, aeadKeyInfo, DataKeySize)
	if err != nil {
		panic("envelope: " + err.Error())
	}
	defer clear(key)
	commit, err := hkdf.Expand(sha256.New, prk, keyCommitInfo, KeyCommitmentSize)
	if err != nil {
		panic("envelope: " + err.Error())
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("envelope: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("envelope: " + err.Error())
	}
	return aead, commit
}

// recordAAD is the AES-GCM additional data of a record.
func recordAAD(adBytes []byte) []byte {
	return domainPrefixed(recordDomain, adBytes)
}

// wrap seals dataKey to pub for the AD and key id.
func wrap(dataKey, adBytes []byte, keyID string, pub hpke.PublicKey) (*WrappedKey, error) {
	enc, sender, err := hpke.NewSender(pub, wrapKDF, wrapAEAD, wrapInfo(adBytes, keyID))
	if err != nil {
		return nil, errorf(ErrInvalidRecipient, "key %q: %v", keyID, err)
	}
	sealed, err := sender.Seal(nil, dataKey)
	if err != nil {
		return nil, errorf(ErrInvalidRecipient, "key %q: %v", keyID, err)
	}
	return &WrappedKey{KeyID: keyID, KEM: pub.KEM().ID(), Enc: enc, Sealed: sealed}, nil
}

// unwrap checks env and ad, and returns the data key wrapped to keyID and
// the canonical AD encoding. The caller must clear the data key.
func unwrap(env *Envelope, ad AD, keyID string, priv hpke.PrivateKey) (dataKey, adBytes []byte, err error) {
	if err := env.validate(); err != nil {
		return nil, nil, err
	}
	adBytes, err = ad.encodeChecked()
	if err != nil {
		return nil, nil, err
	}
	if env.AD != ad {
		return nil, nil, errorf(ErrTampered, "envelope was sealed for other additional data")
	}
	var wk *WrappedKey
	for i := range env.Wrapped {
		if env.Wrapped[i].KeyID == keyID {
			wk = &env.Wrapped[i]
			break
		}
	}
	if wk == nil {
		return nil, nil, errorf(ErrNoKey, "no data key wrapped to %q", keyID)
	}
	if priv == nil {
		return nil, nil, errorf(ErrNoKey, "no private key given")
	}
	if got := priv.KEM().ID(); got != wk.KEM {
		return nil, nil, errorf(ErrNoKey, "key %q is wrapped for KEM 0x%04x, the private key is KEM 0x%04x", keyID, wk.KEM, got)
	}
	switch wk.Scheme {
	case WrapHPKE:
		dataKey, err = unwrapHPKE(wk, adBytes, priv)
	case WrapBatch:
		dataKey, err = unwrapBatch(wk, adBytes, env.Nonce, priv)
	default: // validate rejects it; kept so that a new scheme cannot fall through
		err = errorf(ErrMalformed, "key %q: unknown wrap scheme %d", keyID, wk.Scheme)
	}
	if err != nil {
		return nil, nil, err
	}
	if len(dataKey) != DataKeySize {
		clear(dataKey)
		return nil, nil, errorf(ErrTampered, "wrapped key for %q has the wrong size", keyID)
	}
	_, commit := deriveKeys(dataKey)
	if subtle.ConstantTimeCompare(commit, env.KeyCommitment) != 1 {
		clear(dataKey)
		return nil, nil, errorf(ErrTampered, "wrapped key for %q does not match the key commitment", keyID)
	}
	return dataKey, adBytes, nil
}

// unwrapHPKE opens a [WrapHPKE] wrapped key.
func unwrapHPKE(wk *WrappedKey, adBytes []byte, priv hpke.PrivateKey) ([]byte, error) {
	r, err := hpke.NewRecipient(wk.Enc, priv, wrapKDF, wrapAEAD, wrapInfo(adBytes, wk.KeyID))
	if err != nil {
		return nil, errorf(ErrTampered, "wrapped key for %q does not decapsulate", wk.KeyID)
	}
	dataKey, err := r.Open(nil, wk.Sealed)
	if err != nil {
		return nil, errorf(ErrTampered, "wrapped key for %q does not authenticate", wk.KeyID)
	}
	return dataKey, nil
}
