package supplyapi_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medchain/medchain/supplyapi"
	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/x/supply"
)

// Canaries: a purchase order number and a quantity that must reach neither
// the transaction bytes nor state, only the trading partners and regulators.
const (
	canaryPO  = "PO-CANARY-7731"
	canaryQty = "47113"
)

func pgln(g string) string { return "urn:epc:id:pgln:" + g[:7] + "." + g[7:12] }

// shipWithDetails commissions unit 1 and ships it from the manufacturer to
// the distributor with a purchase order, a quantity and source and
// destination lists; it returns the shipment's stored event id.
func (f *fixture) shipWithDetails() uint64 {
	f.t.Helper()
	f.register()
	commission := doc(ev("commissioning", "ADD", map[string]any{"epcList": []string{unit("1")},
		"ilmd": map[string]any{"cbvmda:lotNumber": "L1", "cbvmda:itemExpirationDate": "2030-01-31"}}))
	if st := f.do("POST", "/epcis/capture", f.token(mfr), "application/json", commission, nil); st != http.StatusCreated {
		f.t.Fatalf("commission: %d", st)
	}
	ship := doc(ev("shipping", "OBSERVE", map[string]any{"epcList": []string{unit("1")}, "disposition": "in_transit",
		"bizTransactionList": []any{map[string]any{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:" + partyGLN[dist] + ":" + canaryPO}},
		"quantityList":       []any{map[string]any{"epcClass": "urn:epc:class:lgtin:4012345.055501.L1", "quantity": json.Number(canaryQty)}},
		"sourceList":         []any{map[string]any{"type": "owning_party", "source": pgln(partyGLN[mfr])}},
		"destinationList": []any{map[string]any{"type": "owning_party", "destination": pgln(partyGLN[dist])},
			map[string]any{"type": "location", "destination": sgln(locGLN[dist])}}}))
	var cr supplyapi.CaptureResult
	if st := f.do("POST", "/epcis/capture", f.token(mfr), "application/json", ship, &cr); st != http.StatusCreated {
		f.t.Fatalf("ship: %d %+v", st, cr)
	}
	if cr.Events[0].Outcome != supply.OutcomeApplied || len(cr.Events[0].TradeCommitment) != 64 {
		f.t.Fatalf("the shipment was not applied sealed: %+v", cr.Events[0])
	}
	return cr.Events[0].StoredID
}

// TestTradeDetailsSealed: a capture's trade details never reach the
// transaction bytes or state; the trading partners and a regulator read
// them from GET /epcis/provenance and /epcis/events with the salt that
// opens the on-chain commitment; a third organization and anonymous
// callers see only the commitment.
func TestTradeDetailsSealed(t *testing.T) {
	f := newFixture(t, true)
	id := f.shipWithDetails()

	// Not in the transaction bytes: the message carries the commitment and
	// the one destination that names the receiver.
	for i, bz := range f.txMsgs {
		if bytes.Contains(bz, []byte(canaryPO)) || bytes.Contains(bz, []byte(canaryQty)) {
			t.Fatalf("transaction %d carries the trade details in clear", i)
		}
	}
	// Not in state: no key or value of any store holds them.
	for _, name := range f.h.App.Store().Names() {
		rd, _, err := f.h.App.Store().Reader(name, 0)
		if err != nil {
			t.Fatal(err)
		}
		it := rd.Iterator(nil, nil)
		for ; it.Valid(); it.Next() {
			if bytes.Contains(it.Value(), []byte(canaryPO)) || bytes.Contains(it.Key(), []byte(canaryPO)) || bytes.Contains(it.Value(), []byte(canaryQty)) {
				t.Fatalf("store %s key %X holds the trade details", name, it.Key())
			}
		}
		it.Close()
	}
	rd, _, _ := f.h.App.Store().Reader(supply.StoreName, 0)
	se := f.h.App.Supply.Keeper.Event(rd, id)
	if se == nil || len(se.Event.TradeCommitment) != 32 || se.Receiver != dist {
		t.Fatalf("stored shipment %+v", se)
	}
	commitment := se.Event.TradeCommitment

	// The node's record: one 0600 file named by the commitment.
	p := filepath.Join(f.trades.Dir(), hex.EncodeToString(commitment)+".json")
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("trade record %s: %v %v", p, fi, err)
	}

	prov := func(token string) (*supplyapi.ProvenEvent, string) {
		t.Helper()
		var pa supplyapi.ProvenanceAnswer
		raw := f.raw("/epcis/provenance?epc="+url.QueryEscape(unit("1")), token, &pa)
		for i := range pa.Events {
			if pa.Events[i].ID == id {
				return &pa.Events[i], raw
			}
		}
		t.Fatalf("provenance lacks event %d", id)
		return nil, ""
	}
	events := func(token string) (map[string]any, string) {
		t.Helper()
		var d eventsDoc
		raw := f.raw("/epcis/events?EQ_bizStep=shipping", token, &d)
		if l := d.EPCISBody.QueryResults.ResultsBody.EventList; len(l) == 1 {
			return l[0], raw
		}
		t.Fatalf("events: %s", raw)
		return nil, ""
	}

	for _, who := range []string{mfr, dist, reg} {
		pe, raw := prov(f.token(who))
		if pe.TradeStatus != supplyapi.TradeDisclosed || pe.Trade == nil || !strings.Contains(raw, canaryPO) {
			t.Fatalf("%s: provenance trade %q %+v", who, pe.TradeStatus, pe.Trade)
		}
		if !pe.Trade.Check(commitment) || !bytes.Equal(supply.TradeCommit(pe.Trade.Salt, pe.Trade.Details), pe.Event.TradeCommitment) {
			t.Fatalf("%s: the disclosed details do not open the on-chain commitment", who)
		}
		d := pe.Trade.Details
		if len(d.BizTransactions) != 1 || !strings.HasSuffix(d.BizTransactions[0].ID, canaryPO) || len(d.Quantities) != 1 || d.Quantities[0].Amount != canaryQty ||
			len(d.Sources) != 1 || len(d.Destinations) != 2 {
			t.Fatalf("%s: disclosed details %+v", who, d)
		}
		e, raw := events(f.token(who))
		if e["medchain:trade"] != supplyapi.TradeDisclosed || e["medchain:tradeCommitment"] != hex.EncodeToString(commitment) ||
			e["medchain:tradeSalt"] != hex.EncodeToString(pe.Trade.Salt) || !strings.Contains(raw, canaryPO) || !strings.Contains(raw, `"quantity":`+canaryQty) {
			t.Fatalf("%s: events answer %v", who, e)
		}
		if _, ok := e["destinationList"]; !ok {
			t.Fatalf("%s: no destinationList in %v", who, e)
		}
	}
	for _, who := range []string{pharm, ""} {
		tok := ""
		if who != "" {
			tok = f.token(who)
		}
		pe, raw := prov(tok)
		if pe.TradeStatus != supplyapi.TradeWithheld || pe.Trade != nil || strings.Contains(raw, canaryPO) || strings.Contains(raw, canaryQty) ||
			!bytes.Equal(pe.Event.TradeCommitment, commitment) {
			t.Fatalf("%q: provenance discloses %q %+v", who, pe.TradeStatus, pe.Trade)
		}
		e, raw := events(tok)
		if e["medchain:trade"] != supplyapi.TradeWithheld || e["medchain:tradeCommitment"] != hex.EncodeToString(commitment) || e["medchain:tradeSalt"] != nil ||
			strings.Contains(raw, canaryPO) || strings.Contains(raw, canaryQty) || e["destinationList"] != nil {
			t.Fatalf("%q: events answer discloses %v", who, e)
		}
	}
	// A token that does not verify is refused, not read as anonymous.
	var eb supplyapi.ErrorBody
	if st := f.do("GET", "/epcis/provenance?epc="+url.QueryEscape(unit("1")), "x.y.z", "", nil, &eb); st != 401 {
		t.Fatalf("bad token: %d %+v", st, eb)
	}

	// Another organization copying the public commitment (and event hash)
	// into an event of its own learns nothing from this node.
	copied := supply.Event{Kind: supply.KindAssociation, Action: supply.ActionAdd, EventTimeMs: 1, ParentID: "urn:epc:id:sscc:5012345.0000000001",
		ChildEPCs: []string{"urn:epc:id:giai:5012345.X1"}, Hash: se.Event.Hash, TradeCommitment: commitment}
	r := f.h.Exec(f.admin[pharm], &supply.MsgCapture{Org: pharm, Events: []supply.Event{copied}})
	testutil.WantCode(t, "copied commitment", r, "", 0)
	var d eventsDoc
	raw := f.raw("/epcis/events?MATCH_epc="+url.QueryEscape("urn:epc:id:sscc:5012345.0000000001"), f.token(pharm), &d)
	if l := d.EPCISBody.QueryResults.ResultsBody.EventList; len(l) != 1 || l[0]["medchain:trade"] != supplyapi.TradeUnavailable || strings.Contains(raw, canaryPO) {
		t.Fatalf("copied commitment: %s", raw)
	}
}

// raw GETs path (with a bearer token unless ""), decodes the 200 answer
// into out and returns its body.
func (f *fixture) raw(path, token string, out any) string {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	bz, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		f.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, bz)
	}
	if err := json.Unmarshal(bz, out); err != nil {
		f.t.Fatalf("GET %s: %v", path, err)
	}
	return string(bz)
}

// TestTradeStore: records round-trip, a record that does not open its
// commitment is neither written nor read, an unknown commitment is absent.
func TestTradeStore(t *testing.T) {
	s, err := supplyapi.OpenTradeStore(filepath.Join(t.TempDir(), "trade"))
	if err != nil {
		t.Fatal(err)
	}
	d := supply.TradeDetails{BizTransactions: []supply.BizTransaction{{Type: "po", ID: canaryPO}}}
	salt := bytes.Repeat([]byte{7}, 32)
	rec := &supplyapi.TradeRecord{Commitment: supply.TradeCommit(salt, d), Salt: salt, Details: d, Org: mfr, EventHash: "h"}
	if err := s.Put(rec); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(rec.Commitment)
	if err != nil || got == nil || got.Org != mfr || got.Details.BizTransactions[0].ID != canaryPO {
		t.Fatalf("get: %+v %v", got, err)
	}
	bad := *rec
	bad.Salt = bytes.Repeat([]byte{8}, 32)
	if err := s.Put(&bad); err == nil {
		t.Fatal("a record that does not open its commitment was written")
	}
	// A file altered on disk is refused on read.
	p := filepath.Join(s.Dir(), hex.EncodeToString(rec.Commitment)+".json")
	raw, _ := os.ReadFile(p)
	if err := os.WriteFile(p, bytes.Replace(raw, []byte(canaryPO), []byte("PO-OTHER-00000"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(rec.Commitment); err == nil || got != nil {
		t.Fatalf("an altered record was read: %+v %v", got, err)
	}
	if got, err := s.Get(bytes.Repeat([]byte{1}, 32)); err != nil || got != nil {
		t.Fatalf("unknown commitment: %+v %v", got, err)
	}
	// Seal: an event without details is unchanged; one with details, sealed
	// without chain state, keeps every destination the chain may resolve
	// the receiver from (in the order it tries them), under a fresh salt
	// each time.
	plain := supply.Event{Kind: supply.KindObject, Action: supply.ActionObserve, EPCs: []string{unit("1")}}
	if out, r, err := supplyapi.Seal(plain, mfr, nil); err != nil || r != nil || out.TradeCommitment != nil {
		t.Fatalf("seal without details: %+v %+v %v", out, r, err)
	}
	withD := plain
	withD.BizTransactions = d.BizTransactions
	withD.Destinations = []supply.PartyRef{{Type: supply.PartyLocation, ID: "urn:epc:id:sgln:9999999.00002.0"}, {Type: "urn:example:dock", ID: "dock 4"},
		{Type: supply.PartyOwning, ID: "urn:epc:id:pgln:9999999.00001"}}
	a, ra, err := supplyapi.Seal(withD, mfr, nil)
	if err != nil || ra == nil || len(a.BizTransactions) != 0 || len(a.Destinations) != 2 ||
		a.Destinations[0].Type != supply.PartyOwning || a.Destinations[1].Type != supply.PartyLocation || len(ra.Details.Destinations) != 3 {
		t.Fatalf("seal: %+v %+v %v", a, ra, err)
	}
	b, rb, _ := supplyapi.Seal(withD, mfr, nil)
	if bytes.Equal(ra.Salt, rb.Salt) || bytes.Equal(a.TradeCommitment, b.TradeCommitment) || !(&supplyapi.TradeDisclosure{Salt: rb.Salt, Details: rb.Details}).Check(b.TradeCommitment) {
		t.Fatal("two seals of one event share a salt, or a seal does not open")
	}
}

// TestVerifyUsesBlockTime: GET /verify judges expiry and custody gaps at
// the block time of the height it reads (the harness's blocks are dated
// 2025-01-01, long before this machine's clock), so a lot expiring that
// day and a shipment that day still verify, and the answer names the time.
func TestVerifyUsesBlockTime(t *testing.T) {
	f := newFixture(t, true)
	r := f.h.Exec(f.admin[mfr], &supply.MsgRegisterProduct{Org: mfr, GTIN: gtin, Lot: "L0", Expiry: "2025-01-01"})
	testutil.WantCode(t, "register", r, "", 0)
	commission := doc(ev("commissioning", "ADD", map[string]any{"epcList": []string{unit("5")},
		"ilmd": map[string]any{"cbvmda:lotNumber": "L0", "cbvmda:itemExpirationDate": "2025-01-01"}}))
	if st := f.do("POST", "/epcis/capture", f.token(mfr), "application/json", commission, nil); st != http.StatusCreated {
		t.Fatalf("commission: %d", st)
	}
	ship := doc(ev("shipping", "OBSERVE", map[string]any{"epcList": []string{unit("5")}, "disposition": "in_transit",
		"destinationList": []any{map[string]any{"type": "location", "destination": sgln(locGLN[dist])}}}))
	if st := f.do("POST", "/epcis/capture", f.token(mfr), "application/json", ship, nil); st != http.StatusCreated {
		t.Fatalf("ship: %d", st)
	}
	var v supplyapi.VerifyAnswer
	if st := f.do("GET", fmt.Sprintf("/verify?gtin=%s&serial=5&lot=L0&expiry=2025-01-01", gtin), "", "", nil, &v); st != 200 || !v.Verified || v.Status != supply.StatusInTransit {
		t.Fatalf("verify at the block time: %d %+v", st, v)
	}
	if want := testutil.BlockTime(v.Height); !v.BlockTime.Equal(want) {
		t.Fatalf("block time %v, want %v (height %d)", v.BlockTime, want, v.Height)
	}
	// The same state judged at this machine's clock would say otherwise.
	if res := f.h.App.Supply.Keeper.Verify(f.readers(), gtin, "5", "L0", "2025-01-01", testutil.BlockTime(v.Height).AddDate(1, 0, 0)); res.Verified {
		t.Fatalf("a year later the lot should be expired: %+v", res)
	}
}

// TestCaptureSealsTheResolvingDestination: a shipment whose first owning
// party is a GLN no organization holds, and whose receiver is named by its
// location, is captured sealed through POST /epcis/capture: the message
// keeps only that location (the one the chain resolves, read from the same
// committed state), the unknown party stays off chain, and the unit is in
// transit to the distributor.
func TestCaptureSealsTheResolvingDestination(t *testing.T) {
	f := newFixture(t, true)
	f.register()
	f.capture(mfr, ev("commissioning", "ADD", map[string]any{"epcList": []string{unit("D1")},
		"ilmd": map[string]any{"cbvmda:lotNumber": "L1", "cbvmda:itemExpirationDate": "2030-01-31"}}))
	nobody := pgln(gln("777777700001"))
	f.capture(mfr, ev("shipping", "OBSERVE", map[string]any{"epcList": []string{unit("D1")}, "disposition": "in_transit",
		"bizTransactionList": []any{map[string]any{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:" + partyGLN[dist] + ":" + canaryPO}},
		"destinationList": []any{map[string]any{"type": "owning_party", "destination": nobody},
			map[string]any{"type": "location", "destination": sgln(locGLN[dist])}}}))
	sent := f.txMsgs[len(f.txMsgs)-1]
	if bytes.Contains(sent, []byte(nobody)) || bytes.Contains(sent, []byte(canaryPO)) || !bytes.Contains(sent, []byte(sgln(locGLN[dist]))) {
		t.Fatalf("the sealed message keeps the wrong destinations or details: %q", sent)
	}
	if u := f.h.App.Supply.Keeper.Unit(f.readers(), unit("D1")); u == nil || u.PendingTo != dist {
		t.Fatalf("unit %+v, want in transit to %s", u, dist)
	}
}

// eventsDoc is the part of a GET /epcis/events answer these tests read.
type eventsDoc struct {
	EPCISBody struct {
		QueryResults struct {
			ResultsBody struct {
				EventList []map[string]any `json:"eventList"`
			} `json:"resultsBody"`
		} `json:"queryResults"`
	} `json:"epcisBody"`
}
