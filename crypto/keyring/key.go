package keyring

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/sha256"
	"fmt"
	"slices"
	"time"
)

// SeedSize is the length in bytes of the secret seed of one key generation.
const SeedSize = 32

// HKDF info strings for the derivations from a seed. Changing them changes
// every derived key: they are part of the on-disk format.
const (
	signInfo = "medchain/keyring/sign/v1"
	encInfo  = "medchain/keyring/enc/v1"
)

// encKEM is the HPKE KEM of every encryption key in the keyring.
var encKEM = hpke.MLKEM768X25519()

// encIKMSize is the input keying material given to the KEM's DeriveKeyPair:
// X-Wing's private key (Nsk) is 32 bytes, and crypto/hpke expands the input
// with SHAKE256, so 32 uniformly random bytes carry the full strength.
const encIKMSize = 32

// Key is one decrypted keyring entry. It holds secrets: do not log it or
// keep it longer than needed.
type Key struct {
	// Name is the keyring entry name (see [Keyring.Add] for the syntax).
	Name string
	// DID is the identity's DID, "" until the identity is registered and
	// recorded with [Keyring.SetDID].
	DID string
	// Generation is 1 for the first key pair; each [Keyring.Rotate] adds one.
	Generation int
	// Seed is the 32-byte secret of the current generation; SigningKey and
	// EncryptionKey are derived from it (see [DeriveGeneration]).
	Seed []byte
	// SigningKey is the current Ed25519 signing key.
	SigningKey ed25519.PrivateKey
	// EncryptionKey is the current HPKE MLKEM768-X25519 private key.
	EncryptionKey hpke.PrivateKey
	// Previous holds the older generations, oldest first, so that data
	// encrypted to an old public key stays decryptable. Empty until the
	// first [Keyring.Rotate].
	Previous []*Generation

	created time.Time
}

// Generation is one key pair generation: a seed and the keys derived from it.
type Generation struct {
	// Generation is the generation number, starting at 1.
	Generation int
	// Seed is the generation's 32-byte secret.
	Seed []byte
	// SigningKey is the Ed25519 key derived from Seed.
	SigningKey ed25519.PrivateKey
	// EncryptionKey is the HPKE MLKEM768-X25519 key derived from Seed.
	EncryptionKey hpke.PrivateKey
}

// DeriveGeneration derives the key pairs of generation gen from a 32-byte
// seed. The derivation is fixed (it is what makes a seed portable):
//
//	signing key    = ed25519.NewKeyFromSeed(HKDF-SHA256(seed, salt = none, info = "medchain/keyring/sign/v1", 32 bytes))
//	encryption key = hpke.MLKEM768X25519().DeriveKeyPair(HKDF-SHA256(seed, salt = none, info = "medchain/keyring/enc/v1", 32 bytes))
//
// The returned Generation keeps its own copy of seed.
func DeriveGeneration(gen int, seed []byte) (*Generation, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("keyring: seed is %d bytes, want %d", len(seed), SeedSize)
	}
	if gen < 1 {
		return nil, fmt.Errorf("keyring: generation %d, want >= 1", gen)
	}
	signSeed, err := hkdf.Key(sha256.New, seed, nil, signInfo, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("keyring: deriving signing key: %w", err)
	}
	encIKM, err := hkdf.Key(sha256.New, seed, nil, encInfo, encIKMSize)
	if err != nil {
		return nil, fmt.Errorf("keyring: deriving encryption key: %w", err)
	}
	encKey, err := encKEM.DeriveKeyPair(encIKM)
	clear(encIKM)
	if err != nil {
		return nil, fmt.Errorf("keyring: deriving encryption key: %w", err)
	}
	signKey := ed25519.NewKeyFromSeed(signSeed)
	clear(signSeed)
	return &Generation{
		Generation:    gen,
		Seed:          append([]byte(nil), seed...),
		SigningKey:    signKey,
		EncryptionKey: encKey,
	}, nil
}

// SigningPublic returns the Ed25519 public key of the current generation.
func (k *Key) SigningPublic() ed25519.PublicKey {
	return k.SigningKey.Public().(ed25519.PublicKey)
}

// EncryptionPublic returns the serialized HPKE public key (X-Wing, 1216
// bytes) of the current generation, as hpke.PublicKey.Bytes returns it;
// parse it with hpke.MLKEM768X25519().NewPublicKey.
func (k *Key) EncryptionPublic() []byte {
	return k.EncryptionKey.PublicKey().Bytes()
}

// Info returns the public description of the key, the same as
// [Keyring.Info] returns for it.
func (k *Key) Info() Info {
	return Info{
		Name:             k.Name,
		DID:              k.DID,
		Generation:       k.Generation,
		SigningPublic:    k.SigningPublic(),
		EncryptionPublic: k.EncryptionPublic(),
		Created:          k.created,
	}
}

// Info is the public part of a keyring entry: what can be read without the
// passphrase. It is read from the clear-text part of the key file and is not
// authenticated until the key is decrypted with [Keyring.Get].
type Info struct {
	Name             string    `json:"name"`
	DID              string    `json:"did,omitempty"`
	Generation       int       `json:"generation"`
	SigningPublic    []byte    `json:"signing_public_key"`
	EncryptionPublic []byte    `json:"encryption_public_key"`
	Created          time.Time `json:"created"`
}

// keyFromGenerations builds a Key from all generations, oldest first; the
// last one is the current generation.
func keyFromGenerations(name, did string, created time.Time, gens []*Generation) *Key {
	cur := gens[len(gens)-1]
	var prev []*Generation
	if len(gens) > 1 {
		prev = slices.Clone(gens[:len(gens)-1])
	}
	return &Key{
		Name:          name,
		DID:           did,
		Generation:    cur.Generation,
		Seed:          cur.Seed,
		SigningKey:    cur.SigningKey,
		EncryptionKey: cur.EncryptionKey,
		Previous:      prev,
		created:       created,
	}
}
