// Package envelope is the envelope encryption of one version of one FHIR
// record in a medchain vault.
//
// # Contract
//
// [Seal] encrypts a record version under a fresh, random 256-bit data key and
// wraps that data key with HPKE (RFC 9180, base mode, HKDF-SHA256,
// AES-256-GCM) to each [Recipient] — typically the patient's DID encryption
// key and the holding organization's key; [Sealer.Seal] does the same for a
// batch of records, wrapping differently (see Batch sealing). The result is
// an [Envelope]:
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
// # Batch sealing
//
// A wrapped key as above ([WrapHPKE], single-shot HPKE) costs one KEM
// encapsulation per recipient per record, the dearest step of a write. A
// [Sealer] seals a batch of records (one vault write request) with one
// encapsulation per distinct recipient key for the whole batch, and wraps
// each record's data key — still fresh and random per record — with
// [WrapBatch]:
//
//	context        = HPKE base-mode sender to the recipient (same KEM, KDF HKDF-SHA256,
//	                 AEAD export-only 0xFFFF), info = "medchain/vault/batch-context/v1" 0x00 || {key id}
//	batch secret   = context.Export("medchain/vault/batch-export/v1", 32)    — once per recipient per batch
//	binding        = message { bytes ad = 1; string key_id = 2; bytes nonce = 3; }  — nonce: the envelope's record nonce
//	KEK            = HKDF-SHA256(batch secret, salt none, info "medchain/vault/batch-kek/v1" 0x00 || binding)
//	wrapped key    = AES-256-GCM(KEK, nonce 0^12, data key, aad = "medchain/vault/batch-wrap/v1" 0x00 || binding)
//
// and stores the batch's encapsulated key as the wrapped key's Enc (each
// envelope its own copy of the same bytes). The binding gives a
// batch-wrapped key the same guarantees as a single-shot one: it opens
// only for its AD and its key id, and it cannot be moved to another
// record, version, patient or recipient — nor to another envelope of the
// same batch, even one sealed for the same AD, since the record nonce (fresh
// and random per envelope, covered by [CiphertextHash]) makes every KEK
// unique; so each KEK encrypts exactly one data key and the fixed GCM nonce
// never repeats under a key. [Open] and [Rewrap] accept both schemes (Rewrap
// always writes [WrapHPKE]), the key commitment is checked the same way, and
// [Shred] removes both.
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
//	message WrappedKey {
//	  string key_id = 1;
//	  uint32 kem = 2;
//	  bytes enc = 3;                  // the KEM's Nenc bytes
//	  bytes sealed = 4;               // SealedKeySize (48) bytes
//	  uint32 scheme = 5;              // 0 (absent): WrapHPKE; 1: WrapBatch; anything else is malformed
//	}
//
// The scheme field came with batch sealing. A single-shot key omits it, as
// the canonical encoding omits every zero value, so an envelope written
// before batch sealing decodes, opens and re-encodes byte for byte: its
// [CiphertextHash] and the hash of its whole encoding, which the chain
// anchors, do not change. Software that predates the field rejects an
// envelope holding a batch-wrapped key as malformed (unknown field 5).
//
// [Commitment] computes the salted commitment to a record's canonical content
// that goes on chain next to the ciphertext hash.
//
// All errors wrap one of the sentinel errors [ErrMalformed], [ErrTampered],
// [ErrNoKey], [ErrInvalidAD], [ErrInvalidRecipient] or [ErrSealerClosed];
// test them with errors.Is. No error ever carries plaintext or key material.
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
// Batch sealing ([Sealer]) changes two things, both bounded by the batch:
//   - Linkability: the envelopes of one batch carry the same encapsulated
//     key for a recipient, so whoever reads the store learns that they were
//     sealed together to that key (for the organization's key, across
//     patients). The chain shows most of this already: the vault submits a
//     batch's anchors together, in one or a few transactions that usually
//     commit at one height. Nothing about the plaintexts or the data keys
//     follows from it.
//   - A leaked batch secret — it lives in the sealing process's memory from
//     the batch's first Seal to [Sealer.Close] — exposes, with the stored
//     envelopes, the data keys of every record that batch sealed to that
//     recipient (each KEK is derivable from the secret and public values),
//     and nothing else: not other batches (each has its own encapsulation),
//     not the recipient's private key. This is acceptable because the only
//     place the secret exists is the machine doing the encryption, while it
//     holds the batch's plaintexts and data keys anyway — whose compromise is
//     out of scope above — and it is zeroed when the batch is sealed. A
//     single leaked KEK or data key still exposes only its own record
//     (HKDF outputs are independent; data keys are independent random
//     keys).
//
// # Erasure (crypto-shredding)
//
// The data key exists only transiently in memory during [Seal],
// [Sealer.Seal], [Open] and [Rewrap] (and is zeroed afterwards), as does a
// batch secret between a Sealer's first Seal and [Sealer.Close]; at rest the
// data key exists only wrapped. A
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
