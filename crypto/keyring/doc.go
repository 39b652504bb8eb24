// Package keyring is the encrypted-at-rest file keyring used by the medchain
// CLI to hold a participant's key pairs.
//
// # Contract
//
// A keyring is a directory (created with mode 0700) holding one file per key,
// <dir>/<name>.json, mode 0600, always replaced atomically (temporary file,
// fsync, rename). Each key is a 32-byte random seed from which two key pairs
// are derived deterministically (see [DeriveGeneration]):
//
//   - an Ed25519 signing key, for transactions and signatures;
//   - an HPKE MLKEM768-X25519 (X-Wing) key, so that other parties can encrypt
//     records to this key (crypto/hpke).
//
// A key can be rotated ([Keyring.Rotate]): a fresh seed becomes the current
// generation and the older seeds are kept in [Key.Previous] so that data
// encrypted to old public keys stays readable.
//
// The name, DID, creation time, generation number and public keys are stored
// in clear text, so [Keyring.List], [Keyring.Info], [Keyring.SetDID] and
// [Keyring.Delete] never ask for the passphrase. The seeds of all generations
// are encrypted together with AES-256-GCM under a key derived from the
// passphrase with argon2id; the format version, the current generation number
// and the public keys are bound as additional authenticated data, so a file
// whose clear-text public keys were swapped fails [Keyring.Get]. All keys of a
// keyring share one passphrase, which is asked for through a [PassphraseFunc]
// at most once per [Keyring] value, and only when a secret is needed.
//
// # Threat model
//
// The keyring protects the seeds against someone who obtains a copy of the
// directory (a stolen laptop or backup) but not the passphrase: the cost of
// guessing is that of argon2id with the parameters stored in each file. It
// detects modification of the encrypted part and of the public keys at the
// time a key is decrypted. It does not protect against malware or another
// user running as the same OS user (who can read the process memory, log the
// passphrase or replace the medchain binary), against weak passphrases, or
// against deletion or roll-back of whole files; the clear-text metadata (name,
// DID, creation time) is not authenticated, and [Keyring.List] and
// [Keyring.Info] report public keys as they are on disk, before any check.
// Concurrent writers from several processes are not coordinated: the last
// write of a file wins.
package keyring
