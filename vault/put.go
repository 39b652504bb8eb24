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
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/vault/blob"
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

// idEncoding is base32hex, whose alphabet (0-9, then A-V, lower-cased)
// sorts like the values it encodes, so encoded ids sort like their bytes.
var idEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// NewRecordID returns a fresh record id (a valid FHIR id of 26 characters):
// 6 bytes of the current Unix time in milliseconds, big-endian, then 10
// random bytes, in sortable base32. Ids made later sort after earlier ones,
// so the chain's anchors (keyed by record id) are inserted near the right
// edge of their tree, where a write touches few tree nodes that are not
// already in the node cache; random ids put every anchor at a random place
// of a tree of up to 10^6 and more records. The time prefix reveals when the
// id was made, which the anchor's block time already does.
func NewRecordID() string {
	b := make([]byte, 16)
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:])
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

// MaxAnchorsPerTx is how many anchors PutBatch puts in one transaction
// (the chain's defaults admit 64 messages and 64 KiB per transaction; an
// anchor takes about 300 bytes).
const MaxAnchorsPerTx = 32

// BatchError is PutBatch's failure: the first failed write (by index) and
// why.
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string { return fmt.Sprintf("write %d of the batch: %v", e.Index, e.Err) }
func (e *BatchError) Unwrap() error { return e.Err }

// sealed is a record version encrypted and written to the blob store,
// ready to anchor.
type sealed struct {
	key  string
	blob []byte // the envelope, until stored
	msg  *records.MsgAnchor
}

// Put encrypts and stores a record version, then anchors it on chain. The
// blob is written first: a crash before the anchor commits leaves an orphan
// blob (collected later), never an anchor without its blob.
func (s *Service) Put(ctx context.Context, w Write) (*Stored, error) {
	out, err := s.PutBatch(ctx, []Write{w})
	if be := (*BatchError)(nil); errors.As(err, &be) {
		return nil, be.Err
	}
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// PutBatch stores and anchors several record versions: all are encrypted
// and written to the blob store first (in parallel; the vault is off
// chain), then anchored MaxAnchorsPerTx to a transaction, the
// transactions submitted together. A transaction is atomic, so a batch of
// at most MaxAnchorsPerTx writes is anchored entirely or not at all; a
// larger one can fail part-way, and out holds a Stored for every write
// that was anchored (nil for the others). Blobs whose anchors did not
// commit are deleted (or, after a crash, collected as orphans). A write
// naming a record id another write of the batch names is refused.
//
// Every record version gets its own data key, wrapped to its patient and
// to the vault; the batch shares one envelope.Sealer, so it costs one HPKE
// encapsulation per distinct recipient key (the vault's once, each
// patient's once) instead of two per record, and envelopes of one batch
// show that they were sealed together (see package envelope).
func (s *Service) PutBatch(ctx context.Context, ws []Write) (out []*Stored, err error) {
	out = make([]*Stored, len(ws))
	byID := map[string]int{}
	for i, w := range ws {
		if w.ID == "" {
			continue
		}
		if j, dup := byID[w.ID]; dup {
			return out, &BatchError{i, fmt.Errorf("%w: record %s is also write %d of the batch", ErrInvalid, w.ID, j)}
		}
		byID[w.ID] = i
	}
	// Encrypt, in parallel, then store: one blob at a time for a single
	// write, together (one durable sync for all) where the store can. One
	// batch sealer for the whole batch: one HPKE encapsulation per distinct
	// recipient key (the organization's once, each patient's once), not
	// one per recipient per record; closed, its secrets zeroed, as soon as
	// every record is sealed.
	prepared := make([]*sealed, len(ws))
	errs := make([]error, len(ws))
	rc := &recipientCache{s: s, m: map[string]recipientsOrErr{}}
	sealer := envelope.NewSealer()
	parallel(len(ws), runtime.GOMAXPROCS(0), func(i int) {
		prepared[i], errs[i] = s.seal(ws[i], rc, sealer)
	})
	sealer.Close()
	for i, e := range errs {
		if e != nil {
			return out, &BatchError{i, e}
		}
	}
	if bp, ok := s.cfg.Blobs.(blob.BatchPutter); ok && len(prepared) > 1 {
		keys := make([]string, len(prepared))
		data := make([][]byte, len(prepared))
		for i, p := range prepared {
			keys[i], data[i] = p.key, p.blob
		}
		if err := bp.PutMany(ctx, keys, data); err != nil {
			s.dropBlobs(ctx, prepared)
			return out, &BatchError{0, fmt.Errorf("vault: store blobs: %w", err)}
		}
	} else {
		parallel(len(prepared), 16, func(i int) {
			if err := s.cfg.Blobs.Put(ctx, prepared[i].key, prepared[i].blob); err != nil {
				errs[i] = fmt.Errorf("vault: store blob: %w", err)
			}
		})
		for i, e := range errs {
			if e != nil {
				s.dropBlobs(ctx, prepared)
				return out, &BatchError{i, e}
			}
		}
	}
	for _, p := range prepared {
		p.blob = nil
	}
	// Anchor, MaxAnchorsPerTx to a transaction, all submitted at once.
	type chunk struct {
		from, to int
		res      *types.TxResult
		err      error
	}
	var chunks []*chunk
	for from := 0; from < len(ws); from += MaxAnchorsPerTx {
		chunks = append(chunks, &chunk{from: from, to: min(from+MaxAnchorsPerTx, len(ws))})
	}
	parallel(len(chunks), len(chunks), func(k int) {
		c := chunks[k]
		msgs := make([]module.Msg, 0, c.to-c.from)
		for _, p := range prepared[c.from:c.to] {
			msgs = append(msgs, p.msg)
		}
		c.res, c.err = s.submit(ctx, msgs...)
	})
	var first *BatchError
	for _, c := range chunks {
		if c.err != nil {
			// Not anchored: the blobs are orphans; remove them now if we can.
			s.dropBlobs(ctx, prepared[c.from:c.to])
			if first == nil || c.from < first.Index {
				first = &BatchError{c.from, anchorError(c.err)}
			}
			continue
		}
		// Every anchor of the transaction was written at its height, with
		// that block's time: read it from one of them, not each (one that
		// has not been updated again since).
		var updated time.Time
		for i := c.from; i < c.to; i++ {
			if a, err := s.Anchor(prepared[i].msg.ID); err == nil && a.UpdatedHeight == c.res.Height {
				updated = a.Updated
				break
			}
		}
		for i := c.from; i < c.to; i++ {
			m := prepared[i].msg
			out[i] = &Stored{ID: m.ID, Version: m.Version, Height: c.res.Height, TxHash: c.res.Hash, Updated: updated}
		}
	}
	if first != nil {
		return out, first
	}
	return out, nil
}

// dropBlobs deletes the blobs of writes that will not be anchored.
// A blob that cannot be deleted now is remembered for SweepSuspects.
func (s *Service) dropBlobs(ctx context.Context, ps []*sealed) {
	for _, p := range ps {
		if p != nil {
			if err := s.cfg.Blobs.Delete(context.WithoutCancel(ctx), p.key); err != nil {
				s.orphanMu.Lock()
				s.suspects[p.key] = struct{}{}
				s.orphanMu.Unlock()
			}
		}
	}
}

// seal checks a write against committed state and encrypts it with the
// batch's sealer; it returns the blob to store and the anchor to submit.
func (s *Service) seal(w Write, rc *recipientCache, sealer *envelope.Sealer) (*sealed, error) {
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
	rcpts, err := rc.get(w.Patient)
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
	env, err := sealer.Seal(plain, ad, rcpts)
	if err != nil {
		return nil, err
	}
	bz, err := env.Marshal()
	if err != nil {
		return nil, err
	}
	ch := sha256.Sum256(bz) // the whole stored blob: ciphertext and every wrapped key
	commit := envelope.Commitment(salt, w.Resource)
	return &sealed{key: blobKey(w.ID, version), blob: bz, msg: &records.MsgAnchor{
		ID: w.ID, Patient: w.Patient, Org: s.cfg.Org, ResourceType: w.ResourceType, Category: w.Category,
		Version: version, CiphertextHash: ch[:], Commitment: commit[:], Author: w.Author,
	}}, nil
}

// recipientCache looks up each patient's recipients once per batch.
type recipientCache struct {
	s  *Service
	mu sync.Mutex
	m  map[string]recipientsOrErr
}

type recipientsOrErr struct {
	r   []envelope.Recipient
	err error
}

func (c *recipientCache) get(patient string) ([]envelope.Recipient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[patient]; ok {
		return v.r, v.err
	}
	r, err := c.s.recipients(patient)
	c.m[patient] = recipientsOrErr{r, err}
	return r, err
}

// parallel runs f(i) for every i < n, at most k at once.
func parallel(n, k int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	sem := make(chan struct{}, max(k, 1))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
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
