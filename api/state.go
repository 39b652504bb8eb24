package api

import (
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
)

// readAt parses ?height= and returns a reader of the named store there.
func (s *Server) readAt(r *http.Request, name string) (store.Reader, int64, error) {
	var h int64
	if hs := r.URL.Query().Get("height"); hs != "" {
		var err error
		if h, err = strconv.ParseInt(hs, 10, 64); err != nil || h < 1 {
			return nil, 0, badRequest("height must be a positive integer")
		}
	}
	rd, v, err := s.cfg.App.Store().Reader(name, h)
	if errors.Is(err, store.ErrVersionUnavailable) {
		return nil, 0, notFound("%v", err)
	}
	return rd, v, err
}

func wantProof(r *http.Request) (bool, error) {
	p := r.URL.Query().Get("prove")
	if p == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(p)
	if err != nil {
		return false, badRequest("prove must be true or false")
	}
	return b, nil
}

// prove returns the proof of key in name at exactly height h.
func (s *Server) prove(name string, key []byte, h int64) (*types.Proof, error) {
	v, ops, ph, err := s.cfg.App.Store().Prove(name, key, h)
	if err != nil {
		return nil, err
	}
	return &types.Proof{Store: name, Key: key, Value: v, Height: ph, ProofOps: ops}, nil
}

func (s *Server) getIdentity(w http.ResponseWriter, r *http.Request) {
	did, err := pathDID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rd, h, err := s.readAt(r, identity.StoreName)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rec, err := s.cfg.App.Identity.Keeper.Get(rd, did)
	if err != nil {
		s.fail(w, r, notFound("%s is not registered at height %d", did, h))
		return
	}
	out := types.Identity{Height: h, DID: did, Resolution: rec.Resolve(), Record: rec}
	if err := s.withProof(r, identity.StoreName, identity.RecordKey(did), h, &out.Proof); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getSequence(w http.ResponseWriter, r *http.Request) {
	did := r.PathValue("did")
	if !identity.ValidDID(did) {
		s.fail(w, r, badRequest("%q is not a medchain DID", did))
		return
	}
	rd, h, err := s.readAt(r, app.AuthStore)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ids, _, err := s.cfg.App.Store().Reader(identity.StoreName, h)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, types.Sequence{Height: h, DID: did, Sequence: app.NextSequence(rd, ids, did)})
}

func (s *Server) getMemberships(w http.ResponseWriter, r *http.Request) {
	did := r.PathValue("did")
	if !identity.ValidDID(did) {
		s.fail(w, r, badRequest("%q is not a medchain DID", did))
		return
	}
	rd, h, err := s.readAt(r, org.StoreName)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ms := s.cfg.App.Org.Keeper.Memberships(rd, did)
	if ms == nil {
		ms = []*org.Member{}
	}
	writeJSON(w, http.StatusOK, types.Memberships{Height: h, DID: did, Members: ms})
}

func (s *Server) orgDetail(rd store.Reader, o *org.Org) *types.OrgDetail {
	ms := s.cfg.App.Org.Keeper.Members(rd, o.ID)
	if ms == nil {
		ms = []*org.Member{}
	}
	return &types.OrgDetail{Org: o, Members: ms}
}

func (s *Server) listOrgs(w http.ResponseWriter, r *http.Request) {
	rd, h, err := s.readAt(r, org.StoreName)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := types.OrgList{Height: h, Orgs: []*types.OrgDetail{}}
	for _, o := range s.cfg.App.Org.Keeper.Orgs(rd) {
		out.Orgs = append(out.Orgs, s.orgDetail(rd, o))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getOrg(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !org.ValidOrgID(id) {
		s.fail(w, r, badRequest("%q is not an organization id", id))
		return
	}
	rd, h, err := s.readAt(r, org.StoreName)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	o, err := s.cfg.App.Org.Keeper.Org(rd, id)
	if err != nil {
		s.fail(w, r, notFound("organization %q not found at height %d", id, h))
		return
	}
	out := types.OrgResponse{Height: h, Org: s.orgDetail(rd, o)}
	if err := s.withProof(r, org.StoreName, org.OrgKey(id), h, &out.Proof); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listProposals(w http.ResponseWriter, r *http.Request) {
	rd, h, err := s.readAt(r, org.StoreName)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ps := s.cfg.App.Org.Keeper.Proposals(rd)
	if ps == nil {
		ps = []*org.Proposal{}
	}
	writeJSON(w, http.StatusOK, types.ProposalList{Height: h, Proposals: ps})
}

func (s *Server) getProposal(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "proposal")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rd, h, err := s.readAt(r, org.StoreName)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.cfg.App.Org.Keeper.Proposal(rd, id)
	if err != nil {
		s.fail(w, r, notFound("proposal %d not found at height %d", id, h))
		return
	}
	out := types.ProposalResponse{Height: h, Proposal: p}
	if err := s.withProof(r, org.StoreName, org.ProposalKey(id), h, &out.Proof); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getStore(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("store")
	if !slices.Contains(s.cfg.App.Store().Names(), name) {
		s.fail(w, r, notFound("no store %q (stores: %v)", name, s.cfg.App.Store().Names()))
		return
	}
	key, err := hex.DecodeString(r.PathValue("key"))
	if err != nil || len(key) == 0 {
		s.fail(w, r, badRequest("key must be non-empty hex"))
		return
	}
	rd, h, err := s.readAt(r, name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := types.StoreValue{Height: h, Store: name, Key: key, Value: rd.Get(key)}
	if err := s.withProof(r, name, key, h, &out.Proof); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
