package vault

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/medchain/medchain/vault/blob"
)

// Blob layout.
//
// A record version's envelope is the blob "rec/<shard>/<id>:<version>",
// where shard is the first two hex digits of SHA-256(id): 256 shards,
// evenly filled whatever ids clients choose, and a record's versions side by
// side in one shard. ':' cannot occur in a FHIR id, so "<id>:" is a prefix of
// exactly that record's versions.
//
// Vaults written before this layout hold "records/<id>/<version>", a
// directory per record in the file-system store: making that directory
// was the dearest system call of a write (ext4 allocates a directory block
// per record). Reads, erasure and the orphan sweep still find blobs there.
const (
	blobPrefix       = "rec/"
	legacyBlobPrefix = "records/"
)

// blobKey is the key a record version's blob is written under.
func blobKey(id string, version uint64) string {
	return blobPrefix + shard(id) + "/" + id + ":" + strconv.FormatUint(version, 10)
}

// legacyBlobKey is where vaults of the earlier layout kept it.
func legacyBlobKey(id string, version uint64) string {
	return fmt.Sprintf("%s%s/%d", legacyBlobPrefix, id, version)
}

func shard(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:1])
}

// RecordBlobPrefixes returns the blob-store list prefixes under which the
// blobs of every version of record id are, in the current layout and the
// earlier one.
func RecordBlobPrefixes(id string) []string {
	return []string{blobPrefix + shard(id) + "/" + id + ":", legacyBlobPrefix + id + "/"}
}

// ParseBlobKey returns the record id and version a vault blob key of
// either layout names; ok is false for any other key.
func ParseBlobKey(key string) (id string, version uint64, ok bool) {
	var v string
	switch {
	case strings.HasPrefix(key, blobPrefix):
		parts := strings.Split(strings.TrimPrefix(key, blobPrefix), "/")
		if len(parts) != 2 {
			return "", 0, false
		}
		id, v, ok = strings.Cut(parts[1], ":")
		if !ok || shard(id) != parts[0] {
			return "", 0, false
		}
	case strings.HasPrefix(key, legacyBlobPrefix):
		parts := strings.Split(strings.TrimPrefix(key, legacyBlobPrefix), "/")
		if len(parts) != 2 {
			return "", 0, false
		}
		id, v = parts[0], parts[1]
	default:
		return "", 0, false
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || id == "" {
		return "", 0, false
	}
	return id, n, true
}

// getBlob reads a record version's blob, from the earlier layout if it
// is not in the current one. A missing blob is blob.ErrNotFound.
func (s *Service) getBlob(ctx context.Context, id string, version uint64) ([]byte, error) {
	bz, err := s.cfg.Blobs.Get(ctx, blobKey(id, version))
	if errors.Is(err, blob.ErrNotFound) {
		return s.cfg.Blobs.Get(ctx, legacyBlobKey(id, version))
	}
	return bz, err
}

// listBlobs lists the blob keys of every version of record id, in both
// layouts.
func (s *Service) listBlobs(ctx context.Context, id string) ([]string, error) {
	var keys []string
	for _, p := range RecordBlobPrefixes(id) {
		k, err := s.cfg.Blobs.List(ctx, p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k...)
	}
	return keys, nil
}

// listAllBlobs lists every record blob key, in both layouts.
func (s *Service) listAllBlobs(ctx context.Context) ([]string, error) {
	var keys []string
	for _, p := range []string{blobPrefix, legacyBlobPrefix} {
		k, err := s.cfg.Blobs.List(ctx, p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k...)
	}
	return keys, nil
}
