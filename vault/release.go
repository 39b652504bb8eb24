package vault

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/medchain/medchain/internal/wire"
	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/vault/envelope"
	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/records"
)

// ReleasePath is the node-to-node route a holding vault serves.
const ReleasePath = "/vault/v1/release"

// catchUpWait bounds how long a holding vault waits for its node to
// commit the height of the access event it is asked to release under.
const catchUpWait = 10 * time.Second

// releaseWindow bounds the clock difference a signed release request may
// show, so a captured request cannot be replayed later.
const releaseWindow = 5 * time.Minute

// ReleaseRequest asks a holding vault for one record under a committed
// access event. The requesting vault signs it with its service key.
type ReleaseRequest struct {
	EventID uint64 `json:"event_id"`
	// Height is the event's height: the holding vault answers once its
	// own node has committed it (nodes apply a block at slightly
	// different times).
	Height    int64  `json:"height"`
	RecordID  string `json:"record_id"`
	Version   uint64 `json:"version"`
	Vault     string `json:"vault"`  // requesting vault's DID
	KeyID     string `json:"key_id"` // its signing key id
	Timestamp int64  `json:"timestamp"`
	Signature []byte `json:"signature"`
}

func (r *ReleaseRequest) signBytes(chainID string) []byte {
	var e wire.Encoder
	e.String(1, chainID)
	e.Uint64(2, r.EventID)
	e.String(3, r.RecordID)
	e.Uint64(4, r.Version)
	e.String(5, r.Vault)
	e.String(6, r.KeyID)
	e.Uint64(7, uint64(r.Timestamp))
	e.Uint64(8, uint64(r.Height))
	return append([]byte("medchain/vault/release/v1\x00"), e.Bytes()...)
}

// ReleaseResponse carries the record's stored envelope, byte for byte (so
// the requester can check it against the anchor), and the data key
// re-wrapped to the requesting vault's current encryption key.
type ReleaseResponse struct {
	Envelope []byte              `json:"envelope"`
	Wrapped  envelope.WrappedKey `json:"wrapped"`
}

func (s *Service) fetchRemote(ctx context.Context, ev *records.AccessEvent, a *records.Anchor) ([]byte, error) {
	base, ok := s.cfg.Peers[a.HolderOrg]
	if !ok {
		return nil, fmt.Errorf("%w: no address known for %q's vault (add it to peers in medchain.json)", ErrUnavailable, a.HolderOrg)
	}
	req := &ReleaseRequest{EventID: ev.ID, Height: ev.Height, RecordID: a.ID, Version: a.Version}
	req.Sign(s.cfg.ChainID, s.did, s.cfg.Key.Generation, s.cfg.Key.SigningKey, s.cfg.Now())
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+ReleasePath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := s.cfg.HTTP.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusGone:
		return nil, ErrErased
	case http.StatusForbidden:
		return nil, fmt.Errorf("%w: holding vault refused: %s", ErrDenied, strings.TrimSpace(string(rb)))
	default:
		return nil, fmt.Errorf("%w: holding vault answered %d", ErrUnavailable, resp.StatusCode)
	}
	var rr ReleaseResponse
	if err := json.Unmarshal(rb, &rr); err != nil {
		return nil, fmt.Errorf("%w: bad release response", ErrUnavailable)
	}
	if h := sha256.Sum256(rr.Envelope); !bytes.Equal(h[:], a.CiphertextHash) {
		return nil, fmt.Errorf("%w: released blob of %s v%d does not match its anchor", ErrTampered, a.ID, a.Version)
	}
	env, err := envelope.Unmarshal(rr.Envelope)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTampered, err)
	}
	if rr.Wrapped.KeyID != identity.EncryptionKeyID(s.did, generationOf(rr.Wrapped.KeyID)) {
		return nil, fmt.Errorf("%w: released key is not for this vault", ErrTampered)
	}
	env.Wrapped = append(env.Wrapped, rr.Wrapped)
	return s.openEnvelope(env, a, rr.Wrapped.KeyID)
}

// readerAt returns a reader of the latest committed state once it is at
// height h or above, waiting (at most catchUpWait) for this node to commit
// h; a node still behind then answers 503.
func (s *Service) readerAt(ctx context.Context, name string, h int64) (store.Reader, error) {
	deadline := time.Now().Add(catchUpWait)
	for {
		r, at, err := s.reader(name)
		if err != nil {
			return nil, err
		}
		if at >= h {
			return r, nil
		}
		if time.Now().After(deadline) {
			return nil, &releaseError{http.StatusServiceUnavailable, fmt.Sprintf("this node has committed height %d, not yet %d", at, h)}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// revokedBasis reports the first consent named in ev's basis
// ("consent:<id>") that committed state no longer holds active.
func revokedBasis(ev *records.AccessEvent, s *Service) (uint64, bool) {
	var cons store.Reader
	for _, b := range strings.Split(ev.Basis, ",") {
		idText, ok := strings.CutPrefix(b, "consent:")
		if !ok {
			continue
		}
		id, err := strconv.ParseUint(idText, 10, 64)
		if err != nil {
			return 0, true
		}
		if cons == nil {
			if cons, _, err = s.reader(consent.StoreName); err != nil {
				return id, true
			}
		}
		c, err := consent.Keeper{}.Get(cons, id)
		if err != nil || c.Status != consent.StatusActive {
			return id, true
		}
	}
	return 0, false
}

// Sign sets the request's timestamp, key id and signature as the
// requesting vault (did, signing key generation gen) would.
func (r *ReleaseRequest) Sign(chainID, did string, gen int, key ed25519.PrivateKey, now time.Time) {
	r.Vault, r.KeyID, r.Timestamp = did, identity.SigningKeyID(did, gen), now.Unix()
	r.Signature = ed25519.Sign(key, r.signBytes(chainID))
}

// releaseError is a refusal with its HTTP status.
type releaseError struct {
	status int
	msg    string
}

func (e *releaseError) Error() string { return e.msg }

// release checks a release request against committed state and returns the
// record's envelope re-wrapped to the requesting vault.
func (s *Service) release(ctx context.Context, req *ReleaseRequest) (*ReleaseResponse, error) {
	deny := func(format string, args ...any) error {
		return &releaseError{http.StatusForbidden, fmt.Sprintf(format, args...)}
	}
	now := s.cfg.Now()
	if d := now.Sub(time.Unix(req.Timestamp, 0)); d > releaseWindow || d < -releaseWindow {
		return nil, deny("request timestamp is outside the %s window", releaseWindow)
	}
	ids, _, err := s.reader(identity.StoreName)
	if err != nil {
		return nil, err
	}
	pub, err := identity.Keeper{}.SignerKey(ids, req.KeyID)
	if err != nil || !strings.HasPrefix(req.KeyID, req.Vault+"#") {
		return nil, deny("unknown or inactive vault key %s", req.KeyID)
	}
	if !ed25519.Verify(pub, req.signBytes(s.cfg.ChainID), req.Signature) {
		return nil, deny("bad signature")
	}
	r, err := s.readerAt(ctx, records.StoreName, req.Height)
	if err != nil {
		return nil, err
	}
	ev, err := records.Keeper{}.Event(r, req.EventID)
	if err != nil {
		return nil, deny("no access event %d", req.EventID)
	}
	if ev.Submitter != req.Vault {
		return nil, deny("access event %d was not requested by %s", ev.ID, req.Vault)
	}
	orgs, _, err := s.reader(org.StoreName)
	if err != nil {
		return nil, err
	}
	if ev.RequesterOrg != "" && !(org.Keeper{}).HasRole(orgs, req.Vault, ev.RequesterOrg, org.RoleVault) {
		return nil, deny("%s is not the vault of %q", req.Vault, ev.RequesterOrg)
	}
	if !ev.Permits(ev.Requester, req.RecordID, now) {
		return nil, deny("access event %d does not permit %s now", ev.ID, req.RecordID)
	}
	// A permit outlives nothing it rests on: once a consent it names is
	// revoked in committed state, this vault releases nothing more under
	// it, even before the permit's own expiry.
	if id, revoked := revokedBasis(ev, s); revoked {
		return nil, deny("consent %d behind access event %d was revoked", id, ev.ID)
	}
	a, err := records.Keeper{}.Anchor(r, req.RecordID)
	if err != nil || a.HolderOrg != s.cfg.Org {
		return nil, &releaseError{http.StatusNotFound, "this vault does not hold " + req.RecordID}
	}
	if a.Status == records.StatusErased {
		return nil, &releaseError{http.StatusGone, "erased"}
	}
	bz, err := s.getBlob(ctx, a.ID, a.Version)
	if err != nil {
		return nil, fmt.Errorf("vault: read blob: %w", err)
	}
	if h := sha256.Sum256(bz); !bytes.Equal(h[:], a.CiphertextHash) {
		return nil, fmt.Errorf("%w: %s v%d", ErrTampered, a.ID, a.Version)
	}
	env, err := envelope.Unmarshal(bz)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTampered, err)
	}
	to, err := s.encKey(req.Vault)
	if err != nil {
		return nil, deny("requesting vault has no encryption key")
	}
	mine, err := s.encKey(s.did)
	if err != nil {
		return nil, err
	}
	ad := envelope.AD{RecordID: a.ID, Version: a.Version, Patient: a.Patient, ResourceType: a.ResourceType}
	w, err := envelope.Rewrap(env, ad, s.keyIDFor(env, mine.ID), s.cfg.Key.EncryptionKey, envelope.Recipient{KeyID: to.ID, KEM: to.KEM, PublicKey: to.PublicKey})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTampered, err)
	}
	return &ReleaseResponse{Envelope: bz, Wrapped: *w}, nil
}

// ReleaseHandler serves ReleasePath for other organizations' vaults.
func (s *Service) ReleaseHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		var req ReleaseRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		out, err := s.release(r.Context(), &req)
		var re *releaseError
		switch {
		case errors.As(err, &re):
			http.Error(w, re.msg, re.status)
			return
		case err != nil:
			s.cfg.Logger.Error("vault release failed", "event", req.EventID, "record", req.RecordID, "err", err.Error())
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
}
