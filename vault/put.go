package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/medchain/medchain/vault/envelope"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/records"
)

// Write is one record version to store.
type Write struct {
	// Author is the authenticated writer: a member of the vault's
	// organization with an authoring role, or the patient.
	Author       string
	Patient      string
	ResourceType string
	Category     string
	// ID names the record to update; empty creates a new record.
	ID string
	// Resource is the FHIR resource JSON, already validated.
	Resource []byte
}

// Stored describes a stored and anchored record version.
type Stored struct {
	ID      string
	Version uint64
	Height  int64
	TxHash  string
	Updated time.Time
}

// payload is what an envelope encrypts: the commitment's salt travels with
// the content it salts, so shredding one shreds both.
type payload struct {
	Salt     []byte          `json:"salt"`
	Resource json.RawMessage `json:"resource"`
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewRecordID returns a fresh random record id (a valid FHIR id).
func NewRecordID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return strings.ToLower(idEncoding.EncodeToString(b))
}

// sealPayload encodes a payload with the resource byte for byte:
// json.Marshal would compact a json.RawMessage and escape <, > and & in
// it, so a resource with a narrative or any whitespace would come back
// different from the bytes its commitment was computed over, and fail its
// integrity check on every read.
func sealPayload(salt, resource []byte) ([]byte, error) {
	if !json.Valid(resource) {
		return nil, fmt.Errorf("%w: resource is not JSON", ErrInvalid)
	}
	s, err := json.Marshal(salt)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(resource)+len(s)+24)
	out = append(out, `{"salt":`...)
	out = append(out, s...)
	out = append(out, `,"resource":`...)
	out = append(out, resource...)
	return append(out, '}'), nil
}

func blobKey(id string, version uint64) string { return fmt.Sprintf("records/%s/%d", id, version) }

func (s *Service) recipients(patient string) ([]envelope.Recipient, error) {
	pk, err := s.encKey(patient)
	if err != nil {
		return nil, err
	}
	vk, err := s.encKey(s.did)
	if err != nil {
		return nil, err
	}
	return []envelope.Recipient{
		{KeyID: pk.ID, KEM: pk.KEM, PublicKey: pk.PublicKey},
		{KeyID: vk.ID, KEM: vk.KEM, PublicKey: vk.PublicKey},
	}, nil
}

// Put encrypts and stores a record version, then anchors it on chain. The
// blob is written first: a crash before the anchor commits leaves an orphan
// blob (collected later), never an anchor without its blob.
func (s *Service) Put(ctx context.Context, w Write) (*Stored, error) {
	if !identity.ValidDID(w.Patient) || !identity.ValidDID(w.Author) {
		return nil, fmt.Errorf("%w: patient and author must be DIDs", ErrInvalid)
	}
	version := uint64(1)
	if w.ID == "" {
		w.ID = NewRecordID()
	} else if a, err := s.Anchor(w.ID); err == nil {
		if a.Status == records.StatusErased {
			return nil, ErrErased
		}
		if a.Patient != w.Patient || a.HolderOrg != s.cfg.Org || a.ResourceType != w.ResourceType {
			return nil, fmt.Errorf("%w: record %s belongs elsewhere", ErrInvalid, w.ID)
		}
		version = a.Version + 1
	}
	if !records.ValidRecordID(w.ID) {
		return nil, fmt.Errorf("%w: id %q is not a FHIR id", ErrInvalid, w.ID)
	}
	rcpts, err := s.recipients(w.Patient)
	if err != nil {
		return nil, err
	}
	salt := envelope.NewSalt()
	w.Resource = bytes.TrimSpace(w.Resource) // what a read gets back, and so what is committed to
	plain, err := sealPayload(salt[:], w.Resource)
	if err != nil {
		return nil, err
	}
	ad := envelope.AD{RecordID: w.ID, Version: version, Patient: w.Patient, ResourceType: w.ResourceType}
	env, err := envelope.Seal(plain, ad, rcpts)
	if err != nil {
		return nil, err
	}
	bz, err := env.Marshal()
	if err != nil {
		return nil, err
	}
	key := blobKey(w.ID, version)
	if err := s.cfg.Blobs.Put(ctx, key, bz); err != nil {
		return nil, fmt.Errorf("vault: store blob: %w", err)
	}
	ch := sha256.Sum256(bz) // the whole stored blob: ciphertext and every wrapped key
	commit := envelope.Commitment(salt, w.Resource)
	res, err := s.submit(ctx, &records.MsgAnchor{
		ID: w.ID, Patient: w.Patient, Org: s.cfg.Org, ResourceType: w.ResourceType, Category: w.Category,
		Version: version, CiphertextHash: ch[:], Commitment: commit[:], Author: w.Author,
	})
	if err != nil {
		// Not anchored: the blob is an orphan; remove it now if we can.
		_ = s.cfg.Blobs.Delete(context.WithoutCancel(ctx), key)
		return nil, anchorError(err)
	}
	a, err := s.Anchor(w.ID)
	updated := time.Time{}
	if err == nil {
		updated = a.Updated
	}
	return &Stored{ID: w.ID, Version: version, Height: res.Height, TxHash: res.Hash, Updated: updated}, nil
}

// ErrForbidden is returned when the chain refuses the writer.
var ErrForbidden = errors.New("vault: not allowed")

func anchorError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "records/4:"), strings.Contains(msg, "records/8:"), strings.Contains(msg, "records/9:"):
		return fmt.Errorf("%w: %v", ErrForbidden, err)
	case strings.Contains(msg, "records/3:"), strings.Contains(msg, "records/2:"), strings.Contains(msg, "records/5:"):
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	case strings.Contains(msg, "records/7:"):
		return ErrErased
	}
	return err
}

func hexBytes(s string) ([]byte, error) { return hex.DecodeString(s) }
