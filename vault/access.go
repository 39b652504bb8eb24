package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/vault/blob"
	"github.com/medchain/medchain/vault/envelope"
	"github.com/medchain/medchain/x/records"
)

// AccessRequest asks for some of a patient's records.
type AccessRequest struct {
	Requester    string // the authenticated caller's DID
	Org          string // the organization the requester acts for; "" as patient or guardian
	Patient      string
	Records      []string // sorted ids; empty: every record of ResourceType (or of every type)
	ResourceType string
	Purpose      string
	BreakGlass   bool
	Reason       string
}

// Record is one released record.
type Record struct {
	Anchor   *records.Anchor
	Resource []byte // the FHIR JSON; nil when Err is set
	Err      error  // ErrErased, ErrTampered, ErrUnavailable, ...
}

// AccessResult is the committed decision and, on permit, the records.
type AccessResult struct {
	Event   *records.AccessEvent
	Height  int64
	Records []Record
}

// Access asks the chain to decide (the decision and an access event are
// committed either way) and, if permitted, returns the records, opened from
// this vault or fetched from the vaults holding them. A denial returns the
// result and an error wrapping ErrDenied.
func (s *Service) Access(ctx context.Context, req AccessRequest) (*AccessResult, error) {
	if req.Org == "" && req.Requester != req.Patient {
		// A guardian or the patient acts for themselves; anyone else acts for
		// an organization, which must be this vault's.
		req.Org = ""
	}
	if req.Org != "" && req.Org != s.cfg.Org {
		return nil, fmt.Errorf("%w: this node's vault acts for %q, not %q", ErrInvalid, s.cfg.Org, req.Org)
	}
	res, err := s.submit(ctx, &records.MsgRequestAccess{
		Org: req.Org, Patient: req.Patient, Records: req.Records, ResourceType: req.ResourceType, Purpose: req.Purpose,
		BreakGlass: req.BreakGlass, Reason: req.Reason, Requester: req.Requester,
	})
	if err != nil {
		return nil, anchorError(err)
	}
	id, err := eventUint(res, "records.access", "id")
	if err != nil {
		return nil, fmt.Errorf("vault: access event id missing from the result")
	}
	r, h, err := s.reader(records.StoreName)
	if err != nil {
		return nil, err
	}
	ev, err := records.Keeper{}.Event(r, id)
	if err != nil {
		return nil, err
	}
	out := &AccessResult{Event: ev, Height: h}
	if ev.Decision != records.Permit {
		if ev.Basis == "erased" {
			return out, ErrErased
		}
		if len(ev.Basis) > 10 && ev.Basis[:10] == "not found:" {
			return out, ErrNotFound
		}
		return out, fmt.Errorf("%w: %s", ErrDenied, ev.Basis)
	}
	for _, rid := range ev.Records {
		a, err := records.Keeper{}.Anchor(r, rid)
		if err != nil {
			out.Records = append(out.Records, Record{Err: ErrNotFound})
			continue
		}
		rec := Record{Anchor: a}
		switch {
		case a.Status == records.StatusErased:
			rec.Err = ErrErased
		case a.HolderOrg == s.cfg.Org:
			rec.Resource, rec.Err = s.openLocal(ctx, a)
		default:
			rec.Resource, rec.Err = s.fetchRemote(ctx, ev, a)
		}
		out.Records = append(out.Records, rec)
	}
	return out, nil
}

// openLocal reads a record this vault holds, checks it against its anchor
// and decrypts it with the vault's key.
func (s *Service) openLocal(ctx context.Context, a *records.Anchor) ([]byte, error) {
	bz, err := s.getBlob(ctx, a.ID, a.Version)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, fmt.Errorf("%w: blob of %s v%d is missing", ErrTampered, a.ID, a.Version)
	}
	if err != nil {
		return nil, err
	}
	if h := sha256.Sum256(bz); !bytes.Equal(h[:], a.CiphertextHash) {
		return nil, fmt.Errorf("%w: blob of %s v%d does not match its anchor", ErrTampered, a.ID, a.Version)
	}
	env, err := envelope.Unmarshal(bz)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTampered, err)
	}
	vk, err := s.encKey(s.did)
	if err != nil {
		return nil, err
	}
	keyID := s.keyIDFor(env, vk.ID)
	return s.openEnvelope(env, a, keyID)
}

// keyIDFor picks the vault's wrapped key in env: its current key, or an
// older generation's when the envelope predates a rotation.
func (s *Service) keyIDFor(env *envelope.Envelope, current string) string {
	for _, w := range env.Wrapped {
		if w.KeyID == current {
			return current
		}
	}
	for _, w := range env.Wrapped {
		if len(w.KeyID) > len(s.did) && w.KeyID[:len(s.did)] == s.did {
			return w.KeyID
		}
	}
	return current
}

func (s *Service) openEnvelope(env *envelope.Envelope, a *records.Anchor, keyID string) ([]byte, error) {
	priv := s.cfg.Key.EncryptionKey
	if gen := generationOf(keyID); gen != 0 && gen != s.cfg.Key.Generation {
		i := slices.IndexFunc(s.cfg.Key.Previous, func(g *keyring.Generation) bool { return g.Generation == gen })
		if i < 0 {
			return nil, fmt.Errorf("%w: no key %s", ErrTampered, keyID)
		}
		priv = s.cfg.Key.Previous[i].EncryptionKey
	}
	ad := envelope.AD{RecordID: a.ID, Version: a.Version, Patient: a.Patient, ResourceType: a.ResourceType}
	plain, err := envelope.Open(env, ad, keyID, priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTampered, err)
	}
	var p payload
	if err := json.Unmarshal(plain, &p); err != nil || len(p.Salt) != envelope.SaltSize {
		return nil, fmt.Errorf("%w: payload", ErrTampered)
	}
	var salt [envelope.SaltSize]byte
	copy(salt[:], p.Salt)
	c := envelope.Commitment(salt, p.Resource)
	if !bytes.Equal(c[:], a.Commitment) {
		return nil, fmt.Errorf("%w: content of %s v%d does not match its commitment", ErrTampered, a.ID, a.Version)
	}
	return p.Resource, nil
}

// expired reports whether a permit has run out, by this node's clock.
func (s *Service) expired(ev *records.AccessEvent) bool { return !s.cfg.Now().Before(ev.NotAfter) }

// generationOf returns n of a key id "did#enc-n", or 0.
func generationOf(keyID string) int {
	_, frag, ok := strings.Cut(keyID, "#enc-")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(frag)
	if err != nil {
		return 0
	}
	return n
}
