package supplyapi

import (
	"errors"
	"net/http"
	"strconv"

	apitypes "github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/auth"
	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/supply"
)

// ProvenEvent is one stored event with the proof of its state record
// (store "supply", key supply.EventKey(ID)); Proof.Value is the record's
// exact bytes, which a verifier decodes instead of trusting the rendering.
type ProvenEvent struct {
	*supply.StoredEvent
	Proof *apitypes.Proof `json:"proof,omitempty"`
	// TradeStatus is "" when the event has no trade details, else
	// TradeDisclosed, TradeWithheld or TradeUnavailable; Trade carries the
	// details and the salt opening Event.TradeCommitment when disclosed
	// (to members of a trading partner or of a regulator).
	TradeStatus string           `json:"trade_status,omitempty"`
	Trade       *TradeDisclosure `json:"trade,omitempty"`
}

// ProvenanceAnswer answers GET /epcis/provenance: the unit and every event
// on it (its own, and those on containers while it was packed in them),
// oldest first, all read at Height and each proven against the app hash
// committed for Height (in header Height+1).
//
// UnitProof proves the unit's record, at key supply.UnitKey(Unit.Number)
// (units are found through the node's unauthenticated unit index, ADR
// 0010): a verifier checks that key and that the proven record's EPC is
// the one it asked for (client.CheckUnitProof). An EPC with no unit record
// (one that only appears in events) has no UnitProof: its absence cannot
// be proven.
//
// What the proofs do not cover: that the list is complete. Each returned
// event is proven to be in state, but a node could leave events out; the
// SDK checks that the unit's last event (Unit.LastEvent, proven) is among
// them, which catches a truncated history but not a gap in its middle.
type ProvenanceAnswer struct {
	EPC       string          `json:"epc"`
	Height    int64           `json:"height"`
	Unit      *supply.Unit    `json:"unit,omitempty"`
	UnitProof *apitypes.Proof `json:"unit_proof,omitempty"`
	Events    []ProvenEvent   `json:"events"`
}

// UnitAnswer answers GET /supply/unit.
type UnitAnswer struct {
	Height   int64           `json:"height"`
	Unit     *supply.Unit    `json:"unit"`
	Product  *supply.Product `json:"product,omitempty"`
	Lot      *supply.Lot     `json:"lot,omitempty"`
	Children []string        `json:"children,omitempty"`
	Recalled bool            `json:"recalled"`
	Proof    *apitypes.Proof `json:"proof,omitempty"` // of the unit record, key supply.UnitKey(Unit.Number); see ProvenanceAnswer
}

// ProductAnswer answers GET /supply/product.
type ProductAnswer struct {
	Height  int64            `json:"height"`
	Product *supply.Product  `json:"product"`
	Lots    []*supply.Lot    `json:"lots"`
	Recalls []*supply.Recall `json:"recalls"`
	Proof   *apitypes.Proof  `json:"proof,omitempty"` // of the product record
}

// RecallsAnswer answers GET /supply/recalls: Notices are exactly the
// recalled units Org holds (active or in transit from it) at Height;
// Recalls every recall on the chain.
type RecallsAnswer struct {
	Org     string                `json:"org"`
	Height  int64                 `json:"height"`
	Notices []supply.RecallNotice `json:"notices"`
	Recalls []*supply.Recall      `json:"recalls"`
}

// AlertsAnswer answers GET /supply/alerts.
type AlertsAnswer struct {
	Org    string          `json:"org"`
	Height int64           `json:"height"`
	Alerts []*supply.Alert `json:"alerts"`
}

// proveFlag reads ?prove= (default true).
func proveFlag(w http.ResponseWriter, r *http.Request) (bool, bool) {
	p := r.URL.Query().Get("prove")
	if p == "" {
		return true, true
	}
	b, err := strconv.ParseBool(p)
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_request", "prove must be true or false")
		return false, false
	}
	return b, true
}

// prove sets *dst to the proof of key in the supply store at height, or
// answers 503 and returns false.
func (h *Handler) prove(w http.ResponseWriter, dst **apitypes.Proof, key []byte, height int64) bool {
	v, ops, ph, err := h.cfg.Chain.Prove(supply.StoreName, key, height)
	switch {
	case errors.Is(err, store.ErrVersionUnavailable):
		fail(w, http.StatusServiceUnavailable, "unavailable", "the height read is no longer kept; retry")
		return false
	case err != nil:
		h.cfg.Logger.Error("supply proof failed", "err", err.Error())
		fail(w, http.StatusServiceUnavailable, "unavailable", "cannot build the proof now; retry")
		return false
	}
	*dst = &apitypes.Proof{Store: supply.StoreName, Key: key, Value: v, Height: ph, ProofOps: ops}
	return true
}

// state returns a reader of the latest committed state of the named store
// and its height, or answers 503 and returns false.
func (h *Handler) state(w http.ResponseWriter, name string) (store.Reader, int64, bool) {
	rd, height, err := h.cfg.Chain.Reader(name)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, "unavailable", "state not readable yet")
		return nil, 0, false
	}
	return rd, height, true
}

// supplyState returns the readers the keeper finds units with — the
// latest committed supply state and the unit index — and the state's
// height, or answers 503 and returns false.
func (h *Handler) supplyState(w http.ResponseWriter) (supply.Readers, int64, bool) {
	rd, height, ok := h.state(w, supply.StoreName)
	if !ok {
		return supply.Readers{}, 0, false
	}
	idx, err := h.unitIndex()
	if err != nil {
		fail(w, http.StatusServiceUnavailable, "unavailable", "state not readable yet")
		return supply.Readers{}, 0, false
	}
	return supply.Readers{State: rd, Index: idx}, height, true
}

// unitIndex returns a reader of the unit index (supply.IndexStoreName),
// which serves every height (supply.Readers).
func (h *Handler) unitIndex() (store.Reader, error) {
	idx, _, err := h.cfg.Chain.Reader(supply.IndexStoreName)
	return idx, err
}

func (h *Handler) provenance(w http.ResponseWriter, r *http.Request) {
	epc := r.URL.Query().Get("epc")
	if epc == "" {
		fail(w, http.StatusBadRequest, "bad_request", "give epc (an EPC URI such as urn:epc:id:sgtin:0614141.107346.2018, or a GS1 Digital Link)")
		return
	}
	withProofs, ok := proveFlag(w, r)
	if !ok {
		return
	}
	v, ok := h.viewerOf(w, r)
	if !ok {
		return
	}
	epc = h.toURN(epc)
	rs, height, ok := h.supplyState(w)
	if !ok {
		return
	}
	ans := ProvenanceAnswer{EPC: epc, Height: height, Unit: h.cfg.Keeper.Unit(rs, epc), Events: []ProvenEvent{}}
	for _, se := range h.cfg.Keeper.Provenance(rs, epc) {
		pe := ProvenEvent{StoredEvent: se}
		pe.Trade, pe.TradeStatus = h.disclose(v, se)
		ans.Events = append(ans.Events, pe)
	}
	if ans.Unit == nil && len(ans.Events) == 0 {
		fail(w, http.StatusNotFound, "not_found", "no unit %s and no event on it at height %d", clip(epc), height)
		return
	}
	if withProofs {
		// Proves the unit record, found through the unit index; an EPC
		// with no unit (one that only appears in events) gets no unit
		// proof: the index is not authenticated, so its absence cannot be
		// proven (ADR 0010).
		if ans.Unit != nil && !h.prove(w, &ans.UnitProof, supply.UnitKey(ans.Unit.Number), height) {
			return
		}
		for i := range ans.Events {
			if !h.prove(w, &ans.Events[i].Proof, supply.EventKey(ans.Events[i].ID), height) {
				return
			}
		}
	}
	writeJSON(w, http.StatusOK, ans)
}

func (h *Handler) unit(w http.ResponseWriter, r *http.Request) {
	epc := r.URL.Query().Get("epc")
	if epc == "" {
		fail(w, http.StatusBadRequest, "bad_request", "give epc (an EPC URI or a GS1 Digital Link)")
		return
	}
	withProof, ok := proveFlag(w, r)
	if !ok {
		return
	}
	epc = h.toURN(epc)
	rs, height, ok := h.supplyState(w)
	if !ok {
		return
	}
	rd := rs.State
	u := h.cfg.Keeper.Unit(rs, epc)
	if u == nil {
		fail(w, http.StatusNotFound, "not_found", "no unit %s at height %d", clip(epc), height)
		return
	}
	ans := UnitAnswer{Height: height, Unit: u, Children: h.cfg.Keeper.Children(rs, epc)}
	if u.GTIN != "" {
		ans.Product = h.cfg.Keeper.Product(rd, u.GTIN)
		ans.Lot = h.cfg.Keeper.Lot(rd, u.GTIN, u.Lot)
		ans.Recalled = h.cfg.Keeper.Recall(rd, u.GTIN, u.Lot) != nil
	}
	if withProof && !h.prove(w, &ans.Proof, supply.UnitKey(u.Number), height) {
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

func (h *Handler) product(w http.ResponseWriter, r *http.Request) {
	g, ok := supply.NormalizeGTIN(r.URL.Query().Get("gtin"))
	if !ok {
		fail(w, http.StatusBadRequest, "bad_request", "gtin must be a GTIN-8, -12, -13 or -14 with a valid check digit")
		return
	}
	withProof, ok := proveFlag(w, r)
	if !ok {
		return
	}
	rd, height, ok := h.state(w, supply.StoreName)
	if !ok {
		return
	}
	p := h.cfg.Keeper.Product(rd, g)
	if p == nil {
		fail(w, http.StatusNotFound, "not_found", "GTIN %s is not registered at height %d", g, height)
		return
	}
	ans := ProductAnswer{Height: height, Product: p, Lots: h.cfg.Keeper.Lots(rd, g), Recalls: []*supply.Recall{}}
	if ans.Lots == nil {
		ans.Lots = []*supply.Lot{}
	}
	for _, rc := range h.cfg.Keeper.Recalls(rd) {
		if rc.GTIN == g {
			ans.Recalls = append(ans.Recalls, rc)
		}
	}
	if withProof && !h.prove(w, &ans.Proof, supply.ProductKey(g), height) {
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// memberOrg authenticates the caller and picks the organization it asks
// for: the one named with ?org= (the caller must be a member) or its only
// one. It writes the error answer and returns "" when it cannot.
func (h *Handler) memberOrg(w http.ResponseWriter, r *http.Request) (string, store.Reader, bool) {
	_, orgID, orgs, ok := h.member(w, r)
	return orgID, orgs, ok
}

// claims verifies the caller's bearer token, or answers 401 (with the
// challenge) or 503 and returns false.
func (h *Handler) claims(w http.ResponseWriter, r *http.Request) (*auth.Claims, bool) {
	tok, err := auth.BearerToken(r)
	var cl *auth.Claims
	if err == nil {
		cl, err = h.verifier.Verify(tok)
	}
	if err != nil {
		if errors.Is(err, auth.ErrUnauthorized) {
			w.Header().Set("WWW-Authenticate", auth.Challenge(err))
			fail(w, http.StatusUnauthorized, "unauthorized", "%s", err.Error())
			return nil, false
		}
		fail(w, http.StatusServiceUnavailable, "unavailable", "cannot check the token now")
		return nil, false
	}
	return cl, true
}

// member is memberOrg that also returns the token's claims.
func (h *Handler) member(w http.ResponseWriter, r *http.Request) (*auth.Claims, string, store.Reader, bool) {
	cl, ok := h.claims(w, r)
	if !ok {
		return nil, "", nil, false
	}
	orgs, _, ok := h.state(w, org.StoreName)
	if !ok {
		return nil, "", nil, false
	}
	want := r.URL.Query().Get("org")
	var ids []string
	for _, m := range (org.Keeper{}).Memberships(orgs, cl.DID) {
		if (org.Keeper{}).IsActiveOrg(orgs, m.Org) {
			ids = append(ids, m.Org)
		}
	}
	switch {
	case want != "":
		for _, id := range ids {
			if id == want {
				return cl, id, orgs, true
			}
		}
		fail(w, http.StatusForbidden, "forbidden", "the caller is not a member of organization %s", clip(want))
	case len(ids) == 1:
		return cl, ids[0], orgs, true
	case len(ids) == 0:
		fail(w, http.StatusForbidden, "forbidden", "the caller is a member of no organization")
	default:
		fail(w, http.StatusBadRequest, "bad_request", "the caller belongs to several organizations %v; name one with ?org=", ids)
	}
	return nil, "", nil, false
}

func (h *Handler) recalls(w http.ResponseWriter, r *http.Request) {
	orgID, _, ok := h.memberOrg(w, r)
	if !ok {
		return
	}
	rs, height, ok := h.supplyState(w)
	if !ok {
		return
	}
	ans := RecallsAnswer{Org: orgID, Height: height, Notices: h.cfg.Keeper.RecallNotices(rs, orgID), Recalls: h.cfg.Keeper.Recalls(rs.State)}
	if ans.Notices == nil {
		ans.Notices = []supply.RecallNotice{}
	}
	if ans.Recalls == nil {
		ans.Recalls = []*supply.Recall{}
	}
	writeJSON(w, http.StatusOK, ans)
}

func (h *Handler) alerts(w http.ResponseWriter, r *http.Request) {
	orgID, orgs, ok := h.memberOrg(w, r)
	if !ok {
		return
	}
	rd, height, ok := h.state(w, supply.StoreName)
	if !ok {
		return
	}
	ans := AlertsAnswer{Org: orgID, Height: height, Alerts: h.cfg.Keeper.Alerts(rd, orgs, orgID)}
	if ans.Alerts == nil {
		ans.Alerts = []*supply.Alert{}
	}
	writeJSON(w, http.StatusOK, ans)
}
