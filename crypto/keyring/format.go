package keyring

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/argon2"
)

// formatVersion is the version of the key file format written by this
// package.
const formatVersion = 1

const (
	kdfArgon2id   = "argon2id"
	cipherAESGCM  = "aes-256-gcm"
	saltSize      = 16
	checkSize     = 16
	fileKeyInfo   = "medchain/keyring/file/aes-256-gcm/v1"
	fileCheckInfo = "medchain/keyring/file/passphrase-check/v1"
	aadLabel      = "medchain/keyring/file/v1"
)

// Limits on argon2id parameters read from a file or an import, so that a
// crafted file cannot make the CLI allocate unbounded memory or spin forever.
const (
	maxArgonTime      = 64
	maxArgonMemoryKiB = 2 << 20 // 2 GiB, RFC 9106 first recommended option
)

// kdfParams are the argon2id parameters of one key file.
type kdfParams struct {
	Algorithm string `json:"algorithm"`
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
	Salt      []byte `json:"salt"`
}

// kdfCost is the cost part of kdfParams (what a Keyring uses for new files).
type kdfCost struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

// defaultCost is the argon2id cost for new key files: time=1, memory=64 MiB,
// threads=2.
var defaultCost = kdfCost{Time: 1, MemoryKiB: 64 * 1024, Threads: 2}

// record is the JSON layout of a key file (and of the body of an export).
type record struct {
	Version          int       `json:"version"`
	Name             string    `json:"name"`
	DID              string    `json:"did,omitempty"`
	Created          time.Time `json:"created"`
	Generation       int       `json:"generation"`
	SigningPublic    []byte    `json:"signing_public_key"`
	EncryptionPublic []byte    `json:"encryption_public_key"`
	KDF              kdfParams `json:"kdf"`
	Cipher           string    `json:"cipher"`
	PassphraseCheck  []byte    `json:"passphrase_check"`
	Nonce            []byte    `json:"nonce"`
	Ciphertext       []byte    `json:"ciphertext"`
}

// secrets is the plaintext of record.Ciphertext.
type secrets struct {
	Generations []secretGeneration `json:"generations"` // oldest first, last is current
}

type secretGeneration struct {
	Generation int    `json:"generation"`
	Seed       []byte `json:"seed"`
}

func (r *record) info() Info {
	return Info{
		Name:             r.Name,
		DID:              r.DID,
		Generation:       r.Generation,
		SigningPublic:    bytes.Clone(r.SigningPublic),
		EncryptionPublic: bytes.Clone(r.EncryptionPublic),
		Created:          r.Created,
	}
}

// errFormat marks a structurally invalid key file or export.
var errFormat = errors.New("invalid key file")

// parseRecord decodes and structurally validates a key file or export body.
// It does not check the name against a file name.
func parseRecord(data []byte) (*record, error) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", errFormat, err)
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

func (r *record) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{errFormat}, args...)...)
	}
	switch {
	case r.Version == 0:
		return bad("no format version")
	case r.Version > formatVersion:
		return bad("format version %d is newer than this medchain supports (%d); upgrade medchain", r.Version, formatVersion)
	case r.Version != formatVersion:
		return bad("unsupported format version %d", r.Version)
	case r.Generation < 1:
		return bad("generation %d", r.Generation)
	case len(r.SigningPublic) != ed25519.PublicKeySize:
		return bad("signing public key is %d bytes, want %d", len(r.SigningPublic), ed25519.PublicKeySize)
	case len(r.EncryptionPublic) == 0:
		return bad("no encryption public key")
	case r.Cipher != cipherAESGCM:
		return bad("unsupported cipher %q", r.Cipher)
	case r.KDF.Algorithm != kdfArgon2id:
		return bad("unsupported key derivation %q", r.KDF.Algorithm)
	case r.KDF.Time < 1 || r.KDF.Time > maxArgonTime:
		return bad("argon2id time %d out of range [1, %d]", r.KDF.Time, maxArgonTime)
	case r.KDF.Threads < 1:
		return bad("argon2id threads %d, want >= 1", r.KDF.Threads)
	case r.KDF.MemoryKiB < 8*uint32(r.KDF.Threads) || r.KDF.MemoryKiB > maxArgonMemoryKiB:
		return bad("argon2id memory %d KiB out of range [%d, %d]", r.KDF.MemoryKiB, 8*uint32(r.KDF.Threads), maxArgonMemoryKiB)
	case len(r.KDF.Salt) < saltSize:
		return bad("argon2id salt is %d bytes, want at least %d", len(r.KDF.Salt), saltSize)
	case len(r.PassphraseCheck) != checkSize:
		return bad("passphrase check is %d bytes, want %d", len(r.PassphraseCheck), checkSize)
	case len(r.Nonce) != 12:
		return bad("nonce is %d bytes, want 12", len(r.Nonce))
	case len(r.Ciphertext) < 16:
		return bad("ciphertext too short")
	}
	if _, err := encKEM.NewPublicKey(r.EncryptionPublic); err != nil {
		return bad("encryption public key: %v", err)
	}
	return nil
}

// aad is the additional authenticated data of the record's ciphertext: a
// label, the format version, the current generation and both public keys,
// each length-prefixed. Name, DID and creation time are deliberately not
// bound (they are public metadata that SetDID and Import change without the
// passphrase).
func (r *record) aad() []byte {
	b := make([]byte, 0, len(aadLabel)+1+8+4+len(r.SigningPublic)+4+len(r.EncryptionPublic))
	b = append(b, aadLabel...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(r.Version))
	b = binary.BigEndian.AppendUint32(b, uint32(r.Generation))
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.SigningPublic)))
	b = append(b, r.SigningPublic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.EncryptionPublic)))
	b = append(b, r.EncryptionPublic...)
	return b
}

// fileKeys are the keys derived from a passphrase and one set of argon2id
// parameters: the AES-256-GCM key and the passphrase check value.
type fileKeys struct {
	aesKey []byte
	check  []byte
}

// deriveFileKeys runs argon2id and expands its output with HKDF-SHA256 into
// the AES key and the passphrase check value. The check value lets a wrong
// passphrase be told apart from a modified file; it gives a guesser nothing
// that the AES-GCM tag would not (both cost one argon2id run per guess).
func deriveFileKeys(pass []byte, p kdfParams) (*fileKeys, error) {
	master := argon2.IDKey(pass, p.Salt, p.Time, p.MemoryKiB, p.Threads, 32)
	defer clear(master)
	aesKey, err := hkdf.Expand(sha256.New, master, fileKeyInfo, 32)
	if err != nil {
		return nil, err
	}
	check, err := hkdf.Expand(sha256.New, master, fileCheckInfo, checkSize)
	if err != nil {
		return nil, err
	}
	return &fileKeys{aesKey: aesKey, check: check}, nil
}

func (fk *fileKeys) matches(r *record) bool {
	return subtle.ConstantTimeCompare(fk.check, r.PassphraseCheck) == 1
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// newKDFParams returns parameters with the given cost and a fresh salt.
func newKDFParams(c kdfCost) kdfParams {
	return kdfParams{
		Algorithm: kdfArgon2id,
		Time:      c.Time,
		MemoryKiB: c.MemoryKiB,
		Threads:   c.Threads,
		Salt:      randomBytes(saltSize),
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return b
}

// seal sets r's public keys and generation from gens (oldest first, last
// current) and encrypts the seeds under fk with r.KDF (which must be the
// parameters fk was derived with).
func (r *record) seal(fk *fileKeys, gens []*Generation) error {
	cur := gens[len(gens)-1]
	r.Version = formatVersion
	r.Generation = cur.Generation
	r.SigningPublic = cur.SigningKey.Public().(ed25519.PublicKey)
	r.EncryptionPublic = cur.EncryptionKey.PublicKey().Bytes()
	r.Cipher = cipherAESGCM
	r.PassphraseCheck = bytes.Clone(fk.check)

	var s secrets
	for _, g := range gens {
		s.Generations = append(s.Generations, secretGeneration{Generation: g.Generation, Seed: g.Seed})
	}
	plain, err := json.Marshal(s)
	if err != nil {
		return err
	}
	defer clear(plain)
	aead, err := newGCM(fk.aesKey)
	if err != nil {
		return err
	}
	r.Nonce = randomBytes(aead.NonceSize())
	r.Ciphertext = aead.Seal(nil, r.Nonce, plain, r.aad())
	return nil
}

// errAuth is returned by open when the passphrase is right but the
// ciphertext or the authenticated clear-text fields were modified.
var errAuth = errors.New("authentication failed")

// open decrypts r with fk (whose check value must already match) and derives
// all generations, verifying them against the clear-text fields.
func (r *record) open(fk *fileKeys) ([]*Generation, error) {
	aead, err := newGCM(fk.aesKey)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, r.Nonce, r.Ciphertext, r.aad())
	if err != nil {
		return nil, errAuth
	}
	defer clear(plain)
	var s secrets
	if err := json.Unmarshal(plain, &s); err != nil {
		return nil, fmt.Errorf("%w: decrypted secrets: %v", errFormat, err)
	}
	defer func() {
		for _, g := range s.Generations {
			clear(g.Seed)
		}
	}()
	if len(s.Generations) == 0 {
		return nil, fmt.Errorf("%w: no key generations", errFormat)
	}
	gens := make([]*Generation, 0, len(s.Generations))
	for i, sg := range s.Generations {
		if i > 0 && sg.Generation <= s.Generations[i-1].Generation {
			return nil, fmt.Errorf("%w: generations out of order", errFormat)
		}
		g, err := DeriveGeneration(sg.Generation, sg.Seed)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errFormat, err)
		}
		gens = append(gens, g)
	}
	cur := gens[len(gens)-1]
	// The AAD already binds these; checking the derivation as well guards
	// against a file written by a buggy or foreign tool.
	if cur.Generation != r.Generation ||
		!bytes.Equal(cur.SigningKey.Public().(ed25519.PublicKey), r.SigningPublic) ||
		!bytes.Equal(cur.EncryptionKey.PublicKey().Bytes(), r.EncryptionPublic) {
		return nil, errAuth
	}
	return gens, nil
}
