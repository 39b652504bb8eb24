package api

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/records"
)

// Reads of the consent and records modules: consents with their effective
// state, access logs, record anchors and erasures. Each answers at one
// height, which it names.

const (
	defaultLogLimit = 100
	maxLogLimit     = 1000
)

func pathDID(r *http.Request) (string, error) {
	did := r.PathValue("did")
	if !identity.ValidDID(did) {
		return "", badRequest("%q is not a medchain DID (did:medchain:<26 base32 characters>)", did)
	}
	return did, nil
}

func pathID(r *http.Request, what string) (uint64, error) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		return 0, badRequest("%s id must be a positive integer", what)
	}
	return id, nil
}

// blockTime returns the time of the block at height h, or the zero time
// when the node cannot say (consent states then fall back to the stored
// status).
func (s *Server) blockTime(ctx context.Context, h int64) time.Time {
	if s.cfg.RPC == nil || h < 1 {
		return time.Time{}
	}
	res, err := s.cfg.RPC.Header(ctx, &h)
	if err != nil || res.Header == nil {
		return time.Time{}
	}
	return res.Header.Time.UTC()
}

// withProof adds the proof of key in name at h when ?prove=true.
func (s *Server) withProof(r *http.Request, name string, key []byte, h int64, dst **types.Proof) error {
	p, err := wantProof(r)
	if err != nil || !p {
		return err
	}
	*dst, err = s.prove(name, key, h)
	return err
}

func (s *Server) listConsents(w http.ResponseWriter, r *http.Request) {
	did, err := pathDID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rd, h, err := s.readAt(r, consent.StoreName)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	k := s.cfg.App.Consent.Keeper
	out := types.ConsentList{Height: h, BlockTime: s.blockTime(r.Context(), h), Patient: did, Guardians: k.Guardians(rd, did), Consents: []*types.ConsentView{}}
	if out.Guardians == nil {
		out.Guardians = []string{}
	}
	for _, c := range k.ByPatient(rd, did) {
		out.Consents = append(out.Consents, &types.ConsentView{Consent: c, State: types.ConsentState(c, out.BlockTime)})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getConsent(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "consent")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rd, h, err := s.readAt(r, consent.StoreName)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.cfg.App.Consent.Keeper.Get(rd, id)
	if err != nil {
		s.fail(w, r, notFound("consent %d not found at height %d", id, h))
		return
	}
	out := types.ConsentResponse{Height: h, BlockTime: s.blockTime(r.Context(), h)}
	out.Consent = &types.ConsentView{Consent: c, State: types.ConsentState(c, out.BlockTime)}
	if err := s.withProof(r, consent.StoreName, consent.ConsentKey(id), h, &out.Proof); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getAccessLog(w http.ResponseWriter, r *http.Request) {
	did, err := pathDID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	var after uint64
	if a := q.Get("after"); a != "" {
		if after, err = strconv.ParseUint(a, 10, 64); err != nil {
			s.fail(w, r, badRequest("after must be an event id (a non-negative integer)"))
			return
		}
	}
	limit := defaultLogLimit
	if l := q.Get("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > maxLogLimit {
			s.fail(w, r, badRequest("limit must be an integer from 1 to %d", maxLogLimit))
			return
		}
	}
	rd, h, err := s.readAt(r, records.StoreName)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := types.AccessLog{Height: h, Patient: did, After: after, Limit: limit, Events: []*records.AccessEvent{}}
	if after < math.MaxUint64 {
		evs := s.cfg.App.Records.Keeper.AccessLog(rd, did, after, limit+1)
		if len(evs) > limit {
			evs = evs[:limit]
			out.Next = evs[limit-1].ID
		}
		out.Events = append(out.Events, evs...)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getAccessEvent(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "access event")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rd, h, err := s.readAt(r, records.StoreName)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ev, err := s.cfg.App.Records.Keeper.Event(rd, id)
	if err != nil {
		s.fail(w, r, notFound("access event %d not found at height %d", id, h))
		return
	}
	out := types.AccessEventResponse{Height: h, Event: ev}
	if err := s.withProof(r, records.StoreName, records.EventKey(id), h, &out.Proof); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listRecords(w http.ResponseWriter, r *http.Request) {
	did, err := pathDID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rd, h, err := s.readAt(r, records.StoreName)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := types.RecordList{Height: h, Patient: did, Records: s.cfg.App.Records.Keeper.PatientRecords(rd, did)}
	if out.Records == nil {
		out.Records = []*records.Anchor{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getRecord(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !records.ValidRecordID(id) {
		s.fail(w, r, badRequest("%q is not a record id (a FHIR id: 1 to 64 letters, digits, '-' and '.')", id))
		return
	}
	rd, h, err := s.readAt(r, records.StoreName)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	a, err := s.cfg.App.Records.Keeper.Anchor(rd, id)
	if err != nil {
		s.fail(w, r, notFound("record %q not found at height %d", id, h))
		return
	}
	out := types.RecordResponse{Height: h, Record: a}
	if err := s.withProof(r, records.StoreName, records.AnchorKey(id), h, &out.Proof); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getErasure(w http.ResponseWriter, r *http.Request) {
	did, err := pathDID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rd, h, err := s.readAt(r, records.StoreName)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := types.ErasureStatus{Height: h, Patient: did, Erasure: s.cfg.App.Records.Keeper.Erasure(rd, did)}
	if out.Erasure != nil {
		out.Requested, out.Complete = true, out.Erasure.Complete()
	}
	writeJSON(w, http.StatusOK, out)
}
