// Package envelope is the envelope encryption of one version of one FHIR
// record in a medchain vault.
//
// # Contract
//
// [Seal] encrypts a record version under a fresh, random 256-bit data key and
// wraps that data key with HPKE (RFC 9180, base mode, HKDF-SHA256,
// AES-256-GCM) to each [Recipient] — typically the patient's DID encryption
// key and the holding organization's key. The result is an [Envelope]:
//
//	ciphertext     = AES-256-GCM(K_aead, nonce, plaintext, aad = "medchain/vault/record/v1" 0x00 || AD)
//	K_aead         = HKDF-SHA256(data key, info "medchain/vault/aead-key/v1")
//	key commitment = HKDF-SHA256(data key, info "medchain/vault/key-commit/v1")
//	wrapped key    = HPKE.Seal(recipient, info = "medchain/vault/wrap/v1" 0x00 || {AD, key id}, data key)
//
// where AD is the canonical encoding of the [AD] (record id, version, patient
// DID, FHIR resource type). Binding the AD into both the record ciphertext and
// every wrapped key means that neither can be moved to another record, another
// version, another patient or (for a wrapped key) another recipient: [Open]
// is always given the AD the caller expects — from the chain — and fails with
// [ErrTampered] unless the envelope was sealed for exactly that AD.
//
// The key commitment makes the envelope key-committing: AES-GCM on its own
// is not (a malicious writer could wrap different data keys for different
// recipients that decrypt the same ciphertext to different plaintexts). [Open]
// checks the unwrapped data key against the commitment, and the commitment is
// covered by [CiphertextHash], the value the chain anchors, so every recipient
// of an anchored envelope — including one that received a key re-wrapped by
// the holding vault with [Rewrap] — decrypts the same plaintext or nothing.
//
// [CiphertextHash] covers the AD, nonce, ciphertext and key commitment but not
// the wrapped keys, so that re-wrapping (release to an authorized requester,
// key rotation) and crypto-shredding do not change the anchor.
//
// [Envelope.Marshal] and [Unmarshal] use medchain's canonical binary encoding
// (package internal/wire, a strict protobuf subset), so that one envelope has
// exactly one encoding:
//
//	message Envelope {
//	  uint32 format = 1;              // FormatVersion (1)
//	  AD ad = 2;
//	  bytes nonce = 3;                // 12 bytes
//	  bytes ciphertext = 4;           // >= 16 bytes (GCM tag)
//	  bytes key_commitment = 5;       // 32 bytes
//	  repeated WrappedKey wrapped = 6; // sorted by key_id, key ids unique
//	}
//	message AD { string record_id = 1; uint64 version = 2; string patient = 3; string resource_type = 4; }
//	message WrappedKey { string key_id = 1; uint32 kem = 2; bytes enc = 3; bytes sealed = 4; }
//
// [Commitment] computes the salted commitment to a record's canonical content
// that goes on chain next to the ciphertext hash.
//
// All errors wrap one of the sentinel errors [ErrMalformed], [ErrTampered],
// [ErrNoKey], [ErrInvalidAD] or [ErrInvalidRecipient]; test them with
// errors.Is. No error ever carries plaintext or key material.
//
// # Threat model
//
// The vault's storage, backups, the network between nodes and the node
// operators' disks are untrusted for confidentiality and integrity: anyone
// there may read, flip bits in, truncate, swap, delete or replay stored
// envelopes. Against them the package guarantees that an envelope opens only
// with a recipient's private key, and only for the exact AD it was sealed
// for; any modification of the ciphertext, nonce, key commitment, the AD, or
// the wrapped key being used makes [Open] fail with a typed error and return
// no plaintext. Replaying an older version under a newer AD, or one patient's
// envelope in place of another's, fails the same way.
//
// What it does not protect against:
//   - Deletion or roll-back of a whole envelope to an older one with the same
//     AD. Compare [CiphertextHash] with the on-chain anchor for that (a
//     re-sealed envelope for the same AD has a different hash).
//   - A bit flipped in another recipient's wrapped key: only that recipient
//     can authenticate it, so it is invisible to everyone else (it denies that
//     recipient access but never yields wrong plaintext). A vault that wants
//     to notice every modification of a stored blob also keeps a hash of the
//     whole encoding.
//   - A recipient: whoever holds a recipient private key can read the record,
//     keep the data key, and re-share it. Revoking access prevents future
//     releases, not what was already released.
//   - Metadata: the AD (record id, version, pseudonymous patient DID, resource
//     type), recipient key ids and the plaintext length are in clear text.
//     They are on chain anyway; the plaintext (the PHI) is not.
//   - Compromise of the machine doing the encryption or decryption.
//
// # Erasure (crypto-shredding)
//
// The data key exists only transiently in memory during [Seal], [Open] and
// [Rewrap] (and is zeroed afterwards); at rest it exists only wrapped. A
// ciphertext whose every wrapped key has been destroyed is unreadable by
// anyone, whatever happens to the ciphertext bytes. [Shred] drops the wrapped
// keys of an in-memory envelope; erasure in a vault means deleting every
// stored copy of the wrapped keys (and the ciphertext), and — because a file
// system delete does not guarantee the bytes are gone from the disk, nor from
// backups — the strongest form is to also destroy the private key the
// remnants are wrapped to (for example a per-patient vault key), so that no
// surviving byte can be unwrapped. A wrapped key already released to another
// recipient is out of the vault's reach.
package envelope
