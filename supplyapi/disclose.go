package supplyapi

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/supply"
)

// Trade statuses of an event in query answers ("medchain:trade" in GET
// /epcis/events, ProvenEvent.TradeStatus in GET /epcis/provenance), for an
// event whose trade details the chain holds only as a commitment.
const (
	// TradeDisclosed: the details and salt are in the answer; they open
	// the event's on-chain commitment.
	TradeDisclosed = "disclosed"
	// TradeWithheld: the caller is anonymous, or a member of no trading
	// partner of the event and of no regulator.
	TradeWithheld = "withheld"
	// TradeUnavailable: the caller may read the details but this node does
	// not hold them (the event was captured through another node, or
	// signed by a member's own key elsewhere): ask the capturing
	// organization's node.
	TradeUnavailable = "unavailable"
)

// viewer is an authenticated reader of events: the active organizations
// it belongs to, and whether one of them is a regulator.
type viewer struct {
	orgs      []string
	regulator bool
	orgStore  store.Reader
}

// viewerOf authenticates the caller of a public read route when it sends
// a bearer token: no Authorization header is an anonymous reader (nil); a
// token that does not verify answers 401 (ok false).
func (h *Handler) viewerOf(w http.ResponseWriter, r *http.Request) (*viewer, bool) {
	if r.Header.Get("Authorization") == "" {
		return nil, true
	}
	cl, ok := h.claims(w, r)
	if !ok {
		return nil, false
	}
	orgs, _, ok := h.state(w, org.StoreName)
	if !ok {
		return nil, false
	}
	v := &viewer{orgStore: orgs}
	k := org.Keeper{}
	for _, m := range k.Memberships(orgs, cl.DID) {
		o, err := k.Org(orgs, m.Org)
		if err != nil || o.Status != org.StatusActive {
			continue
		}
		v.orgs = append(v.orgs, o.ID)
		if o.Type == supply.RegulatorType {
			v.regulator = true
		}
	}
	return v, true
}

// disclose decides what v learns of se's trade details: nil and "" when
// the event has none, else the disclosure (or nil) and its status.
func (h *Handler) disclose(v *viewer, se *supply.StoredEvent) (*TradeDisclosure, string) {
	c := se.Event.TradeCommitment
	if len(c) == 0 {
		return nil, ""
	}
	if v == nil || (len(v.orgs) == 0 && !v.regulator) {
		return nil, TradeWithheld
	}
	var rec *TradeRecord
	if h.cfg.Trades != nil {
		var err error
		if rec, err = h.cfg.Trades.Get(c); err != nil {
			h.cfg.Logger.Error("trade details unreadable", "event", se.ID, "err", err.Error())
			rec = nil
		}
	}
	// A record is the details of this event only if the event was captured
	// by the record's organization with the record's event hash: another
	// organization's event carrying a copied commitment gets nothing.
	if rec != nil && (rec.Org != se.Org || (rec.EventHash != "" && rec.EventHash != se.Event.Hash)) {
		rec = nil
	}
	if rec == nil {
		if v.regulator || slices.Contains(v.orgs, se.Org) || (se.Receiver != "" && slices.Contains(v.orgs, se.Receiver)) {
			return nil, TradeUnavailable
		}
		return nil, TradeWithheld
	}
	entitled := v.regulator
	for _, p := range tradeParties(v.orgStore, se, rec) {
		entitled = entitled || slices.Contains(v.orgs, p)
	}
	if !entitled {
		return nil, TradeWithheld
	}
	return &TradeDisclosure{Salt: rec.Salt, Details: rec.Details}, TradeDisclosed
}

// addTrade adds to an EPCIS JSON-LD event the commitment, the trade status
// and, when disclosed, the details in EPCIS 2.0 form with the salt.
func addTrade(out map[string]any, se *supply.StoredEvent, d *TradeDisclosure, status string) {
	if len(se.Event.TradeCommitment) == 0 {
		return
	}
	out["medchain:tradeCommitment"] = hex.EncodeToString(se.Event.TradeCommitment)
	out["medchain:trade"] = status
	if d == nil {
		return
	}
	out["medchain:tradeSalt"] = hex.EncodeToString(d.Salt)
	if len(d.Details.BizTransactions) > 0 {
		var l []any
		for _, b := range d.Details.BizTransactions {
			e := map[string]any{"bizTransaction": b.ID}
			if b.Type != "" {
				e["type"] = b.Type
			}
			l = append(l, e)
		}
		out["bizTransactionList"] = l
	}
	lists := map[string][]any{}
	for _, q := range d.Details.Quantities {
		e := map[string]any{"epcClass": q.EPCClass}
		if q.Amount != "" && json.Valid([]byte(q.Amount)) {
			e["quantity"] = json.Number(q.Amount)
		}
		if q.UOM != "" {
			e["uom"] = q.UOM
		}
		name := "quantityList"
		if q.Role != "" {
			name = q.Role + "QuantityList"
		}
		lists[name] = append(lists[name], e)
	}
	for name, l := range lists {
		out[name] = l
	}
	party := func(name, field string, ps []supply.PartyRef) {
		if len(ps) == 0 {
			return
		}
		var l []any
		for _, p := range ps {
			l = append(l, map[string]any{"type": p.Type, field: p.ID})
		}
		out[name] = l
	}
	party("sourceList", "source", d.Details.Sources)
	party("destinationList", "destination", d.Details.Destinations)
}
