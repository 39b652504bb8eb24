// Package blob defines the off-chain blob store behind a medchain vault: a
// flat namespace of keys mapping to opaque byte strings (in practice,
// encrypted record envelopes from package vault/envelope).
//
// # Contract
//
// [Store] is the interface every backend implements; package
// vault/blob/blobtest holds the conformance suite each backend must pass, and
// vault/blob/fs (the embedded default, a directory under the node's home) and
// vault/blob/mem (in memory, for tests) are the two backends.
//
// Keys follow [ValidKey]: paths of 1 to [MaxKeyLength] bytes over
// [a-zA-Z0-9._:/-], made of non-empty '/'-separated segments of at most
// [MaxSegmentLength] bytes, none of them "." and with no ".." anywhere. A key
// may be both a blob and a prefix of other keys ("a" and "a/b" coexist).
// Every method rejects an invalid key with an error wrapping [ErrInvalidKey]
// before touching storage, and returns an error wrapping ctx.Err() if ctx is
// already done.
//
// # Threat model
//
// A Store provides durability and atomicity, not confidentiality or
// integrity: whoever can read or write its storage can read, modify, swap or
// delete blobs. That is why only ciphertext goes in (the vault encrypts
// before Put and authenticates after Get, against the on-chain anchor). Keys
// are stored in clear — as file and directory names in the fs backend — so
// they must not contain PHI; record ids and pseudonymous DIDs are fine, since
// they are on chain anyway.
//
// # Deletion is not secure erasure
//
// [Store.Delete] removes a blob from the store's view, not its bytes from
// the hardware. On a file system, unlinking a file leaves its data blocks on
// the disk until they are reused; journaling and copy-on-write file systems,
// SSD wear levelling and remapped sectors, snapshots and backups keep further
// copies that no application can reach, and overwriting a file in place does
// not reliably reach them either. A vault therefore never relies on deletion
// to erase a record: it relies on crypto-shredding. A record's data key exists
// at rest only wrapped (HPKE) to its recipients' keys, so erasing the record
// means destroying the wrapped keys — and, for protection against remnants
// of them on disk or in backups, the vault key they are wrapped to — after
// which the ciphertext, wherever its bytes survive, cannot be decrypted. See
// vault/envelope.
package blob

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Errors of every [Store]. Test them with errors.Is.
var (
	// ErrNotFound is returned by Get for a key that holds no blob.
	ErrNotFound = errors.New("blob: not found")
	// ErrInvalidKey is returned for a key or list prefix that breaks the
	// rules of [ValidKey] or [ValidPrefix].
	ErrInvalidKey = errors.New("blob: invalid key")
)

// Limits on keys.
const (
	// MaxKeyLength is the longest key, in bytes.
	MaxKeyLength = 1024
	// MaxSegmentLength is the longest '/'-separated key segment, in bytes
	// (file names are limited to 255 bytes on common file systems).
	MaxSegmentLength = 200
)

// Store is an off-chain blob store. Implementations are safe for concurrent
// use by multiple goroutines.
type Store interface {
	// Put stores data under key, replacing any blob already there. It is
	// atomic — a concurrent or later Get sees either the previous blob or
	// all of data, never a mix or a prefix, even across a crash — and
	// durable: once Put returns nil the blob survives a crash or power loss
	// (the fs backend writes a temporary file, fsyncs it, renames it over
	// the key's file and fsyncs the directory). The store keeps no
	// reference to data.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the blob stored under key, in a new slice the caller
	// owns, or an error wrapping [ErrNotFound] if there is none (including
	// when key is only a prefix of other keys).
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete removes the blob stored under key, durably; deleting a key
	// that holds no blob is not an error. Deletion does not erase the
	// bytes from the storage medium: see the package documentation.
	Delete(ctx context.Context, key string) error
	// List returns the keys that begin with prefix (a plain string prefix:
	// "a" matches "a", "a/b" and "ab"), sorted in increasing byte order;
	// "" lists every key. prefix follows [ValidPrefix]. The result reflects
	// some moment during the call; keys put or deleted concurrently may or
	// may not appear.
	List(ctx context.Context, prefix string) ([]string, error)
}

// BatchPutter is implemented by stores that can store many blobs together
// more cheaply than one Put at a time (the fs backend makes a whole batch
// durable with two file-system syncs instead of three fsyncs per blob).
type BatchPutter interface {
	// PutMany stores data[i] under keys[i] for every i, each blob with
	// Put's atomicity; when it returns nil every blob is durable. On an
	// error, any of the blobs may or may not have been stored (each whole
	// or not at all). Keys must be distinct.
	PutMany(ctx context.Context, keys []string, data [][]byte) error
}

// ValidKey returns nil if key is a valid blob key, and otherwise an error
// wrapping [ErrInvalidKey] that says why. A valid key is 1 to
// [MaxKeyLength] bytes of [a-zA-Z0-9._:/-]; it does not begin or end with
// '/' or contain "//" (no empty segment), no segment is "." or longer than
// [MaxSegmentLength], and it does not contain "..".
func ValidKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	return checkPath(key, false)
}

// ValidPrefix returns nil if prefix is a valid List prefix, and otherwise an
// error wrapping [ErrInvalidKey]. A valid prefix is "" or the beginning of
// some valid key: the rules of [ValidKey] apply, except that it may end with
// '/', and its last segment may be "." (the beginning of ".x").
func ValidPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return checkPath(prefix, true)
}

// checkPath checks a non-empty key or, with prefix, a non-empty list prefix.
func checkPath(p string, prefix bool) error {
	if len(p) > MaxKeyLength {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidKey, MaxKeyLength)
	}
	for i := 0; i < len(p); i++ {
		if !keyChar(p[i]) {
			return fmt.Errorf("%w: %q has a character outside [a-zA-Z0-9._:/-]", ErrInvalidKey, p)
		}
	}
	if strings.Contains(p, "..") {
		return fmt.Errorf("%w: %q contains \"..\"", ErrInvalidKey, p)
	}
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		last := i == len(segs)-1
		switch {
		case len(seg) > MaxSegmentLength:
			return fmt.Errorf("%w: a segment of %q is longer than %d bytes", ErrInvalidKey, p, MaxSegmentLength)
		case seg == "" && (!last || !prefix):
			return fmt.Errorf("%w: %q has an empty segment (a leading, trailing or double '/')", ErrInvalidKey, p)
		case seg == "." && (!last || !prefix):
			return fmt.Errorf("%w: %q has a \".\" segment", ErrInvalidKey, p)
		}
	}
	return nil
}

func keyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == ':' || c == '/' || c == '-'
}
