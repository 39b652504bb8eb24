package supply_test

import (
	"fmt"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/supply"
)

// The test world: org-01 a manufacturer owning GS1 company prefixes
// 0614141 and 4012345; org-02 a distributor; org-03 and org-04 pharmacies;
// org-05 a regulator. Each has a party GLN and a location GLN under a
// prefix nobody on chain owns (the manufacturer's under its own).
const (
	mfr, dist, pharm, pharm2, reg = "org-01", "org-02", "org-03", "org-04", "org-05"
	gtin                          = "10614141073464" // urn:epc:id:sgtin:0614141.107346.*
	gtin2                         = "04012345000016" // GTIN-13 4012345000019 under 4012345
)

// gln completes a 12-digit body with its GS1 check digit.
func gln(body string) string { return body + string(org.GS1CheckDigit(body)) }

var (
	partyGLN = map[string]string{mfr: gln("061414100001"), dist: gln("001234500001"), pharm: gln("501234500001"),
		pharm2: gln("501234500009"), reg: gln("952123400001")}
	locGLN = map[string]string{mfr: gln("061414100002"), dist: gln("001234500002"), pharm: gln("501234500002"),
		pharm2: gln("501234500008"), reg: gln("952123400002")}
)

// pglnURN returns the urn:epc:id:pgln URN of a GLN whose company prefix has
// 7 digits.
func pglnURN(g string) string { return "urn:epc:id:pgln:" + g[:7] + "." + g[7:12] }

// sglnURN returns the urn:epc:id:sgln URN of a GLN (7-digit prefix).
func sglnURN(g string) string { return "urn:epc:id:sgln:" + g[:7] + "." + g[7:12] + ".0" }

func sgtin(serial string) string { return "urn:epc:id:sgtin:0614141.107346." + serial }
func sgtin2(serial string) string {
	return "urn:epc:id:sgtin:4012345.000001." + serial
}
func sscc(n int) string { return fmt.Sprintf("urn:epc:id:sscc:0614141.%010d", n) }

type world struct {
	t     *testing.T
	h     *testutil.Harness
	admin map[string]*testutil.Signer
}

func orgGenesis(g *org.Genesis) {
	for i := range g.Orgs {
		o := &g.Orgs[i]
		switch o.ID {
		case mfr:
			o.GS1Prefixes = []string{"0614141", "4012345"}
		}
		o.PartyGLN = partyGLN[o.ID]
		o.LocationGLNs = []string{locGLN[o.ID]}
	}
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldParams(t, app.Params{})
}

func newWorldParams(t testing.TB, p app.Params) *world {
	h := testutil.New(t, testutil.Config{Orgs: 5, OrgTypes: []string{"manufacturer", "distributor", "pharmacy", "pharmacy", "regulator"},
		OrgGenesis: orgGenesis, Params: p})
	w := &world{h: h, admin: map[string]*testutil.Signer{}}
	if tt, ok := t.(*testing.T); ok {
		w.t = tt
	}
	for _, o := range h.Orgs {
		w.admin[o.ID] = o.Admin
	}
	h.MustBlock() // readers need a committed height
	return w
}

func (w *world) exec(orgID string, msgs ...module.Msg) *abci.ExecTxResult {
	w.h.T.Helper()
	return w.h.Exec(w.admin[orgID], msgs...)
}

func (w *world) must(orgID string, msgs ...module.Msg) *abci.ExecTxResult {
	w.h.T.Helper()
	r := w.exec(orgID, msgs...)
	testutil.WantCode(w.h.T, "must", r, "", 0)
	return r
}

func (w *world) capture(orgID string, evs ...supply.Event) *abci.ExecTxResult {
	w.h.T.Helper()
	return w.exec(orgID, &supply.MsgCapture{Org: orgID, Events: evs})
}

func (w *world) mustCapture(orgID string, evs ...supply.Event) *abci.ExecTxResult {
	w.h.T.Helper()
	r := w.capture(orgID, evs...)
	testutil.WantCode(w.h.T, "capture", r, "", 0)
	for _, e := range testutil.Events(r, "supply.event") {
		if e["outcome"] != supply.OutcomeApplied {
			w.h.T.Fatalf("event %s: %v", e["index"], e)
		}
	}
	return r
}

// wantReject checks a capture is refused with the supply code and that the
// log names the event index and EPC.
func (w *world) wantReject(orgID string, code *module.Error, want []string, evs ...supply.Event) {
	w.h.T.Helper()
	r := w.capture(orgID, evs...)
	testutil.WantCode(w.h.T, "reject", r, supply.StoreName, code.Code, want...)
}

func (w *world) reader() store.Reader { return w.h.Reader(supply.StoreName) }

// readers reads the supply store and the unit index as last committed.
func (w *world) readers() supply.Readers {
	return supply.Readers{State: w.reader(), Index: w.h.Reader(supply.IndexStoreName)}
}
func (w *world) orgReader() store.Reader { return w.h.Reader(org.StoreName) }
func (w *world) keeper() supply.Keeper   { return w.h.App.Supply.Keeper }
func (w *world) unit(epc string) *supply.Unit {
	return w.keeper().Unit(w.readers(), epc)
}

func (w *world) register(lot, expiry string, lo, hi int64) {
	w.h.T.Helper()
	w.must(mfr, &supply.MsgRegisterProduct{Org: mfr, GTIN: gtin, NDC: "0614-1410-73", Name: "Example tablets", Lot: lot, Expiry: expiry,
		TempMinMilli: lo, TempMaxMilli: hi, HasTempRange: lo != 0 || hi != 0})
}

// Event builders.
func commission(lot, expiry string, epcs ...string) supply.Event {
	return supply.Event{Kind: supply.KindObject, Action: supply.ActionAdd, BizStep: "commissioning", Disposition: "active",
		EPCs: epcs, Lot: lot, ExpiryDate: expiry, EventTimeMs: 1_700_000_000_000, TimeZone: "+00:00"}
}

func pack(parent string, children ...string) supply.Event {
	return supply.Event{Kind: supply.KindAggregation, Action: supply.ActionAdd, BizStep: "packing", Disposition: "in_progress",
		ParentID: parent, ChildEPCs: children}
}

func unpack(parent string, children ...string) supply.Event {
	return supply.Event{Kind: supply.KindAggregation, Action: supply.ActionDelete, BizStep: "unpacking", ParentID: parent, ChildEPCs: children}
}

func ship(from, to string, epcs ...string) supply.Event {
	return supply.Event{Kind: supply.KindObject, Action: supply.ActionObserve, BizStep: "shipping", Disposition: "in_transit", EPCs: epcs,
		BizTransactions: []supply.BizTransaction{{Type: "po", ID: "urn:epcglobal:cbv:bt:" + partyGLN[to] + ":PO-1"}},
		Sources:         []supply.PartyRef{{Type: supply.PartyOwning, ID: pglnURN(partyGLN[from])}},
		Destinations: []supply.PartyRef{{Type: supply.PartyOwning, ID: pglnURN(partyGLN[to])},
			{Type: supply.PartyLocation, ID: sglnURN(locGLN[to])}},
		TradeSalt: make32(to)}
}

func make32(seed string) []byte { return testutil.Hash32("salt/" + seed) }

func receive(epcs ...string) supply.Event {
	return supply.Event{Kind: supply.KindObject, Action: supply.ActionObserve, BizStep: "receiving", Disposition: "in_progress", EPCs: epcs}
}

func dispense(epcs ...string) supply.Event {
	return supply.Event{Kind: supply.KindObject, Action: supply.ActionObserve, BizStep: "dispensing", Disposition: "dispensed", EPCs: epcs}
}

func decommission(epcs ...string) supply.Event {
	return supply.Event{Kind: supply.KindObject, Action: supply.ActionObserve, BizStep: "decommissioning", Disposition: "inactive", EPCs: epcs}
}

func destroy(epcs ...string) supply.Event {
	return supply.Event{Kind: supply.KindObject, Action: supply.ActionObserve, BizStep: "destroying", Disposition: "destroyed", EPCs: epcs}
}

func stolen(epcs ...string) supply.Event {
	return supply.Event{Kind: supply.KindObject, Action: supply.ActionObserve, Disposition: "stolen", EPCs: epcs}
}

func observe(epcs ...string) supply.Event {
	return supply.Event{Kind: supply.KindObject, Action: supply.ActionObserve, BizStep: "inspecting", EPCs: epcs}
}

func temp(ev supply.Event, milli int64) supply.Event {
	ev.Sensors = append(ev.Sensors, supply.SensorReading{Type: "Temperature", ValueMilli: milli, HasValue: true, UOM: "CEL"})
	return ev
}
