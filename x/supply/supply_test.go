package supply_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/supply"
)

func verify(t *testing.T, w *world, serial, lot, expiry string) supply.VerifyResult {
	t.Helper()
	return w.keeper().Verify(w.readers(), gtin, serial, lot, expiry, testutil.BlockTime(w.h.Height))
}

func wantVerify(t *testing.T, w *world, serial, reason string) {
	t.Helper()
	v := verify(t, w, serial, "", "")
	if reason == "" && !v.Verified || reason != "" && (v.Verified || v.Reason != reason) {
		t.Fatalf("verify %s: got %+v, want reason %q", serial, v, reason)
	}
}

// TestLifecycle walks the legal path: register, commission, pack into a
// case, ship to the distributor, receive, ship to the pharmacy, receive,
// unpack and dispense one, verifying after each step.
func TestLifecycle(t *testing.T) {
	w := newWorld(t)
	w.register("L1", "2030-01-31", 2000, 8000)
	if p := w.keeper().Product(w.reader(), "0"+gtin[1:14]); p != nil && p.GTIN != gtin {
		t.Fatalf("normalised look-up: %+v", p)
	}
	p := w.keeper().Product(w.reader(), gtin)
	if p == nil || p.Owner != mfr || p.Prefix != "0614141" || p.NDC != "0614-1410-73" || p.Kind != supply.ProductDrug {
		t.Fatalf("product: %+v", p)
	}
	if l := w.keeper().Lot(w.reader(), gtin, "L1"); l == nil || !l.HasTempRange || l.TempMinMilli != 2000 || l.Expiry != "2030-01-31" {
		t.Fatalf("lot: %+v", l)
	}
	a, b, c := sgtin("1001"), sgtin("1002"), sgtin("1003")
	box := sscc(1)
	wantVerify(t, w, "1001", supply.ReasonUnknownSerial)

	w.mustCapture(mfr, commission("L1", "2030-01-31", a, b, c), pack(box, a, b, c))
	wantVerify(t, w, "1001", "")
	if v := verify(t, w, "1001", "L2", ""); v.Reason != supply.ReasonLotMismatch {
		t.Fatalf("lot mismatch: %+v", v)
	}
	if v := verify(t, w, "1001", "L1", "2031-01-31"); v.Reason != supply.ReasonExpiryMismatch {
		t.Fatalf("expiry mismatch: %+v", v)
	}
	if u := w.unit(a); u.Parent != box || u.Custodian != mfr || u.Lot != "L1" || u.Expiry != "2030-01-31" {
		t.Fatalf("unit after packing: %+v", u)
	}
	if ch := w.keeper().Children(w.readers(), box); len(ch) != 3 {
		t.Fatalf("children: %v", ch)
	}

	r := w.mustCapture(mfr, ship(mfr, dist, box))
	if ev := testutil.Events(r, "supply.event"); len(ev) != 1 || ev[0]["units"] != "4" {
		t.Fatalf("ship outcome: %v", ev)
	}
	for _, e := range []string{a, b, c, box} {
		if u := w.unit(e); u.Status != supply.StatusInTransit || u.PendingTo != dist || u.Custodian != mfr {
			t.Fatalf("after shipping %s: %+v", e, u)
		}
	}
	wantVerify(t, w, "1001", "")
	w.mustCapture(dist, receive(box))
	for _, e := range []string{a, box} {
		if u := w.unit(e); u.Status != supply.StatusActive || u.Custodian != dist || u.PendingTo != "" {
			t.Fatalf("after receiving %s: %+v", e, u)
		}
	}
	if held := w.keeper().Held(w.readers(), mfr, 0); len(held) != 0 {
		t.Fatalf("manufacturer still holds %v", held)
	}
	if held := w.keeper().Held(w.readers(), dist, 0); len(held) != 4 {
		t.Fatalf("distributor holds %v", held)
	}
	w.mustCapture(dist, ship(dist, pharm, box))
	w.mustCapture(pharm, receive(box), unpack(box), dispense(a))
	wantVerify(t, w, "1001", supply.ReasonDispensed)
	wantVerify(t, w, "1002", "")
	if u := w.unit(b); u.Parent != "" || u.Custodian != pharm {
		t.Fatalf("after unpacking: %+v", u)
	}

	// Provenance of a: its own events and the box's while it was packed.
	var steps []string
	for _, e := range w.keeper().Provenance(w.readers(), a) {
		steps = append(steps, e.Event.BizStep)
	}
	want := []string{"commissioning", "packing", "shipping", "receiving", "shipping", "receiving", "unpacking", "dispensing"}
	if !slices.Equal(steps, want) {
		t.Fatalf("provenance: %v, want %v", steps, want)
	}
	// Trade details never reach state: the stored shipment has a commitment.
	evs := w.keeper().Events(w.readers(), supply.EventFilter{BizStep: "shipping"})
	if len(evs) != 2 {
		t.Fatalf("shipping events: %d", len(evs))
	}
	for _, e := range evs {
		if len(e.Event.BizTransactions)+len(e.Event.Sources)+len(e.Event.Destinations) != 0 || len(e.Event.TradeCommitment) != 32 {
			t.Fatalf("stored shipment holds trade details: %+v", e.Event)
		}
		full := ship(e.Org, e.Receiver, box)
		if got := supply.TradeCommit(full.TradeSalt, full.Details()); string(got) != string(e.Event.TradeCommitment) {
			t.Fatalf("commitment does not open")
		}
	}
	if evs := w.keeper().Events(w.readers(), supply.EventFilter{Disposition: "dispensed"}); len(evs) != 1 {
		t.Fatalf("dispensed events: %d", len(evs))
	}
	from := testutil.BlockTime(1)
	if evs := w.keeper().Events(w.readers(), supply.EventFilter{From: from, To: from.Add(time.Hour)}); len(evs) != 8 {
		t.Fatalf("time range events: %d", len(evs))
	}
	// Every state key a read names is provable: the keys exist in the store.
	for _, k := range [][]byte{supply.UnitKey(w.unit(a).Number), supply.ProductKey(gtin), supply.LotKey(gtin, "L1"), supply.EventKey(1)} {
		if w.h.Get(supply.StoreName, k) == nil {
			t.Fatalf("key %X missing", k)
		}
	}
}

// TestSealedCapture: a submitter that seals sends only the receiver and a
// commitment; the chain resolves the receiver and stores the commitment.
func TestSealedCapture(t *testing.T) {
	w := newWorld(t)
	w.register("L1", "2030-01-31", 0, 0)
	a := sgtin("7")
	w.mustCapture(mfr, commission("L1", "", a))
	sealed, details := supply.SealTrade(ship(mfr, dist, a), make32("x"), orgOfGLN(w))
	if len(sealed.BizTransactions)+len(sealed.Sources) != 0 || len(sealed.Destinations) != 1 || !details.HasDetails() {
		t.Fatalf("sealed: %+v", sealed)
	}
	w.mustCapture(mfr, sealed)
	if u := w.unit(a); u.PendingTo != dist {
		t.Fatalf("unit: %+v", u)
	}
	e := w.keeper().Events(w.readers(), supply.EventFilter{BizStep: "shipping"})[0]
	if string(e.Event.TradeCommitment) != string(supply.TradeCommit(make32("x"), details)) || e.Receiver != dist {
		t.Fatalf("stored: %+v", e)
	}
}

// TestRejections covers each "fails if" of MsgCapture: the whole capture
// is refused with its code, the log names the event and the EPC, and
// nothing changes (events before the bad one included).
func TestRejections(t *testing.T) {
	w := newWorld(t)
	w.register("L1", "2030-01-31", 2000, 8000)
	w.must(mfr, &supply.MsgRegisterProduct{Org: mfr, GTIN: "4012345000016"})
	a, b, c, d := sgtin("1"), sgtin("2"), sgtin("3"), sgtin("4")
	box, box2 := sscc(1), sscc(2)
	w.mustCapture(mfr, commission("L1", "", a, b, c, d), pack(box, a))
	w.mustCapture(mfr, ship(mfr, dist, c))
	w.mustCapture(mfr, commission("L9", "", sgtin2("1")))
	x := sgtin("99")
	cases := []struct {
		name string
		org  string
		code *module.Error
		want []string
		evs  []supply.Event
	}{
		{"commission unregistered GTIN", mfr, supply.ErrUnknownProduct, []string{"event 0", "urn:epc:id:sgtin:0614142.107346.1"},
			[]supply.Event{commission("", "", "urn:epc:id:sgtin:0614142.107346.1")}},
		{"commission by non-owner", dist, supply.ErrNotPrefixOwner, []string{"event 0", x}, []supply.Event{commission("", "", x)}},
		{"commission expiry conflicts with lot", mfr, supply.ErrLotMismatch, []string{"event 0"}, []supply.Event{commission("L1", "2029-01-01", x)}},
		{"ship by non-custodian", dist, supply.ErrNotCustodian, []string{"event 0", b}, []supply.Event{ship(dist, pharm, b)}},
		{"ship in transit", mfr, supply.ErrBadStatus, []string{c}, []supply.Event{ship(mfr, dist, c)}},
		{"ship packed unit", mfr, supply.ErrPacked, []string{a}, []supply.Event{ship(mfr, dist, a)}},
		{"ship to nobody", mfr, supply.ErrNoReceiver, []string{b}, []supply.Event{{Kind: supply.KindObject, Action: supply.ActionObserve, BizStep: "shipping", EPCs: []string{b},
			Destinations: []supply.PartyRef{{Type: supply.PartyOwning, ID: "urn:epc:id:pgln:0000001.00001"}}}}},
		{"receive not shipped, own unit", mfr, supply.ErrNoShipment, []string{b}, []supply.Event{receive(b)}},
		{"dispense by non-custodian", pharm, supply.ErrNotCustodian, []string{b}, []supply.Event{dispense(b)}},
		{"dispense in transit", mfr, supply.ErrBadStatus, []string{c}, []supply.Event{dispense(c)}},
		{"dispense unknown", mfr, supply.ErrUnknownEPC, []string{x}, []supply.Event{dispense(x)}},
		{"dispense container", mfr, supply.ErrBadStatus, []string{box}, []supply.Event{dispense(box)}},
		{"pack unit of another", dist, supply.ErrNotCustodian, []string{b}, []supply.Event{pack("urn:epc:id:sscc:0012345.0000000009", b)}},
		{"SSCC under another's prefix", dist, supply.ErrNotPrefixOwner, []string{box2}, []supply.Event{pack(box2)}},
		{"pack packed unit", mfr, supply.ErrPacked, []string{a}, []supply.Event{pack(box2, a)}},
		{"pack container into its child", mfr, supply.ErrPacked, []string{"event 1", box2}, []supply.Event{pack(box2, box), pack(a, box2)}},
		{"pack unknown child", mfr, supply.ErrUnknownEPC, []string{x}, []supply.Event{pack(box2, x)}},
		{"unpack unit not inside", mfr, supply.ErrNotPacked, []string{b}, []supply.Event{unpack(box, b)}},
		{"unpack unknown container", mfr, supply.ErrUnknownEPC, []string{box2}, []supply.Event{unpack(box2)}},
		{"decommission by non-custodian", dist, supply.ErrNotCustodian, []string{b}, []supply.Event{decommission(b)}},
		{"observe by stranger", pharm, supply.ErrNotCustodian, []string{b}, []supply.Event{observe(b)}},
		{"stolen by stranger", pharm, supply.ErrNotCustodian, []string{b}, []supply.Event{stolen(b)}},
		{"good events then bad", mfr, supply.ErrBadStatus, []string{"event 2", c}, []supply.Event{decommission(d), ship(mfr, dist, sgtin2("1")), dispense(c)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w.h.T = t
			unitsBefore := snapshot(w, a, b, c, d, box, box2, x)
			w.wantReject(tc.org, tc.code, tc.want, tc.evs...)
			if got := snapshot(w, a, b, c, d, box, box2, x); got != unitsBefore {
				t.Fatalf("state changed:\n%s\n%s", unitsBefore, got)
			}
		})
	}
	w.h.T = t
	// Admission-level refusals (ValidateBasic: tx/12).
	for _, bad := range []supply.Event{
		{Kind: "Nope", Action: "ADD"}, {Kind: supply.KindObject, Action: "MOVE"},
		{Kind: supply.KindAggregation, Action: supply.ActionAdd, ChildEPCs: []string{a}},
		{Kind: supply.KindObject, Action: supply.ActionAdd, EPCs: []string{a, a}},
		{Kind: supply.KindObject, Action: supply.ActionAdd, EPCs: []string{a}, Hash: "sha256:abc"},
		{Kind: supply.KindObject, Action: supply.ActionAdd, EPCs: []string{a}, ExpiryDate: "2030-13-01"},
		{Kind: supply.KindObject, Action: supply.ActionAdd, EPCs: []string{"has space"}},
		{Kind: supply.KindTransformation, Action: supply.ActionAdd},
		{Kind: supply.KindObject, Action: supply.ActionAdd, EPCs: []string{a}, TradeSalt: []byte{1}},
	} {
		r := w.capture(mfr, bad)
		testutil.WantCode(t, "invalid "+bad.Kind, r, "tx", 12, "event 0")
	}
}

func snapshot(w *world, epcs ...string) string {
	var sb strings.Builder
	for _, e := range epcs {
		if u := w.unit(e); u != nil {
			sb.WriteString(u.EPC + "|" + u.Status + "|" + u.Custodian + "|" + u.Parent + "|" + u.PendingTo + "\n")
		}
	}
	return sb.String()
}

// TestRegisterAndRecallRules covers the product, lot and recall "fails if"s.
func TestRegisterAndRecallRules(t *testing.T) {
	w := newWorld(t)
	// Not the prefix owner.
	testutil.WantCode(t, "foreign prefix", w.exec(dist, &supply.MsgRegisterProduct{Org: dist, GTIN: gtin}), supply.StoreName, supply.ErrNotPrefixOwner.Code)
	// A prefix nobody owns.
	testutil.WantCode(t, "unowned prefix", w.exec(mfr, &supply.MsgRegisterProduct{Org: mfr, GTIN: "00012345000058"}), supply.StoreName, supply.ErrNotPrefixOwner.Code)
	// Signer not a member with a register role.
	testutil.WantCode(t, "other org", w.exec(dist, &supply.MsgRegisterProduct{Org: mfr, GTIN: gtin}), supply.StoreName, supply.ErrUnauthorized.Code)
	// Bad check digit, bad NDC: refused at admission.
	testutil.WantCode(t, "check digit", w.exec(mfr, &supply.MsgRegisterProduct{Org: mfr, GTIN: "10614141073465"}), "tx", 12, "check digit")
	testutil.WantCode(t, "ndc", w.exec(mfr, &supply.MsgRegisterProduct{Org: mfr, GTIN: gtin, NDC: "12"}), "tx", 12, "NDC")
	testutil.WantCode(t, "range", w.exec(mfr, &supply.MsgRegisterProduct{Org: mfr, GTIN: gtin, Lot: "L", HasTempRange: true, TempMinMilli: 9000, TempMaxMilli: 2000}), "tx", 12, "temperature")
	testutil.WantCode(t, "lot without lot", w.exec(mfr, &supply.MsgRegisterProduct{Org: mfr, GTIN: gtin, Expiry: "2030-01-01"}), "tx", 12, "lot")
	w.register("L1", "2030-01-31", 2000, 8000)
	// GTIN-13 and GTIN-12 normalise to 14 digits; a device by UDI-DI.
	w.must(mfr, &supply.MsgRegisterProduct{Org: mfr, UDIDI: "4012345000016"})
	if p := w.keeper().Product(w.reader(), gtin2); p == nil || p.Kind != supply.ProductDevice || p.UDIDI != gtin2 || p.Prefix != "4012345" {
		t.Fatalf("device: %+v", p)
	}
	// Conflicting re-registration.
	testutil.WantCode(t, "exists", w.exec(mfr, &supply.MsgRegisterProduct{Org: mfr, GTIN: gtin, NDC: "0614-1410-74"}), supply.StoreName, supply.ErrProductExists.Code)
	testutil.WantCode(t, "lot expiry conflict", w.exec(mfr, &supply.MsgRegisterLot{Org: mfr, GTIN: gtin, Lot: "L1", Expiry: "2031-01-01"}), supply.StoreName, supply.ErrLotMismatch.Code)
	testutil.WantCode(t, "lot range conflict", w.exec(mfr, &supply.MsgRegisterLot{Org: mfr, GTIN: gtin, Lot: "L1", HasTempRange: true, TempMaxMilli: 1}), supply.StoreName, supply.ErrLotMismatch.Code)
	testutil.WantCode(t, "lot of unknown product", w.exec(mfr, &supply.MsgRegisterLot{Org: mfr, GTIN: "00614141000012", Lot: "L1"}), supply.StoreName, supply.ErrUnknownProduct.Code)
	w.must(mfr, &supply.MsgRegisterLot{Org: mfr, GTIN: gtin, Lot: "L2", Expiry: "2031-01-01"})
	// Recalls: not the owner and not a regulator; unknown product.
	testutil.WantCode(t, "recall by distributor", w.exec(dist, &supply.MsgRecall{Org: dist, GTIN: gtin, Lots: []string{"L1"}}), supply.StoreName, supply.ErrNotRecaller.Code)
	testutil.WantCode(t, "recall unknown", w.exec(reg, &supply.MsgRecall{Org: reg, GTIN: "00614141000012"}), supply.StoreName, supply.ErrUnknownProduct.Code)
	testutil.WantCode(t, "recall unsorted", w.exec(reg, &supply.MsgRecall{Org: reg, GTIN: gtin, Lots: []string{"L2", "L1"}}), "tx", 12, "sorted")
	w.must(reg, &supply.MsgRecall{Org: reg, GTIN: gtin, Lots: []string{"L1"}, Reason: "contamination"})
	w.must(mfr, &supply.MsgRecall{Org: mfr, GTIN: gtin, Lots: []string{"L1", "L2"}})
	if rc := w.keeper().Recall(w.reader(), gtin, "L1"); rc == nil || rc.By != reg {
		t.Fatalf("first recall stands: %+v", rc)
	}
}

// TestAlerts: the four counterfeit/diversion signals leave an alert, apply
// nothing from the offending event, and let the rest of the capture apply.
func TestAlerts(t *testing.T) {
	w := newWorld(t)
	w.register("L1", "2030-01-31", 0, 0)
	a, b, c, x := sgtin("1"), sgtin("2"), sgtin("3"), sgtin("404")
	w.mustCapture(mfr, commission("L1", "", a, b, c))
	w.mustCapture(mfr, ship(mfr, dist, b))
	w.mustCapture(mfr, ship(mfr, pharm, c), dispense(a))

	type want struct{ kind, epc string }
	steps := []struct {
		org string
		evs []supply.Event
		w   []string // outcome per event
		al  *want
	}{
		{mfr, []supply.Event{commission("L1", "", a), decommission(sgtin("x"))}, nil, nil},
		{mfr, []supply.Event{commission("L1", "", x, a)}, []string{supply.OutcomeAlert}, &want{supply.AlertDoubleCommission, a}},
		{dist, []supply.Event{ship(dist, pharm, x)}, []string{supply.OutcomeAlert}, &want{supply.AlertUnknownSerial, x}},
		{pharm, []supply.Event{receive(b)}, []string{supply.OutcomeAlert}, &want{supply.AlertWrongReceiver, b}},
		{mfr, []supply.Event{ship(mfr, dist, a)}, []string{supply.OutcomeAlert}, &want{supply.AlertReentry, a}},
		{pharm, []supply.Event{receive(a), receive(c)}, []string{supply.OutcomeAlert, supply.OutcomeApplied}, &want{supply.AlertReentry, a}},
	}
	for i, s := range steps[1:] {
		r := w.capture(s.org, s.evs...)
		testutil.WantCode(t, "alert step", r, "", 0)
		outs := testutil.Events(r, "supply.event")
		for j, o := range s.w {
			if outs[j]["outcome"] != o {
				t.Fatalf("step %d event %d: %v", i, j, outs[j])
			}
		}
		if outs[0]["alert"] != s.al.kind || outs[0]["epc"] != s.al.epc {
			t.Fatalf("step %d: %v", i, outs[0])
		}
	}
	if w.unit(x) != nil {
		t.Fatalf("the offending commissioning applied")
	}
	if u := w.unit(c); u.Custodian != pharm || u.Status != supply.StatusActive {
		t.Fatalf("the legal receipt after an alert did not apply: %+v", u)
	}
	if u := w.unit(b); u.Status != supply.StatusInTransit || u.PendingTo != dist {
		t.Fatalf("wrongly received unit changed: %+v", u)
	}
	// Visible to the manufacturer (owner) and the regulator; the
	// distributor sees the one it raised and the one on a unit it was
	// shipped... only those it raised or held.
	kinds := func(orgID string) []string {
		var out []string
		for _, a := range w.keeper().Alerts(w.reader(), w.orgReader(), orgID) {
			out = append(out, a.Kind)
		}
		return out
	}
	all := []string{supply.AlertDoubleCommission, supply.AlertUnknownSerial, supply.AlertWrongReceiver, supply.AlertReentry, supply.AlertReentry}
	if got := kinds(reg); !slices.Equal(got, all) {
		t.Fatalf("regulator sees %v", got)
	}
	if got := kinds(mfr); len(got) != 4 { // the unknown serial's GTIN is the manufacturer's too
		if !slices.Equal(got, all) {
			t.Fatalf("manufacturer sees %v", got)
		}
	}
	if got := kinds(pharm2); len(got) != 0 {
		t.Fatalf("an uninvolved pharmacy sees %v", got)
	}
	al := w.keeper().Alerts(w.reader(), w.orgReader(), reg)[2]
	if al.Org != pharm || al.Custodian != mfr || al.Owner != mfr || al.Height == 0 {
		t.Fatalf("alert: %+v", al)
	}
}

// TestRecall: recalled units show in exactly their holders' notices,
// verification says recalled, and dispensing one is refused.
func TestRecall(t *testing.T) {
	w := newWorld(t)
	w.register("L1", "2030-01-31", 0, 0)
	w.must(mfr, &supply.MsgRegisterLot{Org: mfr, GTIN: gtin, Lot: "L2", Expiry: "2030-06-30"})
	var l1, l2 []string
	for i := range 6 {
		l1 = append(l1, sgtin("A"+string(rune('0'+i))))
		l2 = append(l2, sgtin("B"+string(rune('0'+i))))
	}
	w.mustCapture(mfr, commission("L1", "", l1...), commission("L2", "", l2...))
	w.mustCapture(mfr, ship(mfr, dist, l1[0], l1[1], l2[0]), ship(mfr, pharm, l1[2], l2[1]))
	w.mustCapture(pharm, receive(l1[2], l2[1]))
	w.mustCapture(pharm, dispense(l1[2]))
	w.must(reg, &supply.MsgRecall{Org: reg, GTIN: gtin, Lots: []string{"L1"}, Reason: "sterility"})
	notices := func(orgID string) []string {
		var out []string
		for _, n := range w.keeper().RecallNotices(w.readers(), orgID) {
			out = append(out, n.EPC)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(l ...string) []string { slices.Sort(l); return l }
	if got := notices(mfr); !slices.Equal(got, sorted(l1[0], l1[1], l1[3], l1[4], l1[5])) { // in transit to dist: still the manufacturer's
		t.Fatalf("manufacturer notices %v", got)
	}
	if got := notices(pharm); len(got) != 0 { // l1[2] was dispensed before the recall
		t.Fatalf("pharmacy notices %v", got)
	}
	w.mustCapture(dist, receive(l1[0], l1[1], l2[0]))
	if got := notices(dist); !slices.Equal(got, sorted(l1[0], l1[1])) {
		t.Fatalf("distributor notices %v", got)
	}
	wantVerify(t, w, "A3", supply.ReasonRecalled)
	wantVerify(t, w, "B3", "")
	w.mustCapture(dist, ship(dist, pharm, l1[0]))
	w.mustCapture(pharm, receive(l1[0]))
	w.wantReject(pharm, supply.ErrRecalled, []string{l1[0]}, dispense(l1[0]))
	// A recall of every lot reaches L2 as well.
	w.must(mfr, &supply.MsgRecall{Org: mfr, GTIN: gtin})
	if got := notices(pharm); !slices.Equal(got, sorted(l1[0], l2[1])) {
		t.Fatalf("pharmacy notices after whole-product recall %v", got)
	}
}

// TestColdChain: a reading outside the lot's range on a case marks the
// case and the units inside; verification reports it.
func TestColdChain(t *testing.T) {
	w := newWorld(t)
	w.register("L1", "2030-01-31", 2000, 8000)
	a, b, c := sgtin("1"), sgtin("2"), sgtin("3")
	box := sscc(5)
	w.mustCapture(mfr, commission("L1", "", a, b, c), pack(box, a, b))
	w.mustCapture(mfr, temp(ship(mfr, dist, box), 5000), temp(observe(c), 7999))
	wantVerify(t, w, "1", "")
	w.mustCapture(dist, temp(receive(box), 12500))
	for _, e := range []string{a, b, box} {
		if u := w.unit(e); !u.Excursion {
			t.Fatalf("%s not flagged: %+v", e, u)
		}
	}
	wantVerify(t, w, "1", supply.ReasonExcursion)
	wantVerify(t, w, "3", "")
	// Min/max reports count too.
	w.mustCapture(mfr, supply.Event{Kind: supply.KindObject, Action: supply.ActionObserve, BizStep: "storing", EPCs: []string{c},
		Sensors: []supply.SensorReading{{Type: "Temperature", MinMilli: -500, HasMin: true, MaxMilli: 4000, HasMax: true}}})
	wantVerify(t, w, "3", supply.ReasonExcursion)
}

// TestVerifyStatuses covers the remaining verification reasons.
func TestVerifyStatuses(t *testing.T) {
	w := newWorld(t)
	w.register("L1", "2030-01-31", 0, 0)
	w.must(mfr, &supply.MsgRegisterLot{Org: mfr, GTIN: gtin, Lot: "OLD", Expiry: "2000-01-01"})
	w.mustCapture(mfr, commission("L1", "", sgtin("1"), sgtin("2"), sgtin("3"), sgtin("4"), sgtin("5")), commission("OLD", "", sgtin("6")))
	w.mustCapture(mfr, decommission(sgtin("1")), destroy(sgtin("2")), stolen(sgtin("3")), ship(mfr, dist, sgtin("4")))
	wantVerify(t, w, "1", supply.ReasonDecommissioned)
	wantVerify(t, w, "2", supply.ReasonDestroyed)
	wantVerify(t, w, "3", supply.ReasonStolen)
	wantVerify(t, w, "4", "")
	wantVerify(t, w, "6", supply.ReasonExpired)
	wantVerify(t, w, "77", supply.ReasonUnknownSerial)
	if v := w.keeper().Verify(w.readers(), "10614141073464", "4", "", "", testutil.BlockTime(w.h.Height).Add(31*24*time.Hour)); v.Reason != supply.ReasonCustodyGap {
		t.Fatalf("custody gap: %+v", v)
	}
	if v := w.keeper().Verify(w.readers(), "00614141999996", "4", "", "", testutil.BlockTime(w.h.Height)); v.Reason != supply.ReasonUnknownProduct {
		t.Fatalf("unknown product: %+v", v)
	}
	// An SGTIN encoded with another company-prefix partition is still found.
	w.mustCapture(mfr, commission("L1", "", "urn:epc:id:sgtin:061414.1107346.P6"))
	wantVerify(t, w, "P6", "")
	// Destroying a stolen unit is allowed (recovered and destroyed); dispensing it is not.
	w.wantReject(mfr, supply.ErrBadStatus, []string{sgtin("3")}, dispense(sgtin("3")))
	w.mustCapture(mfr, destroy(sgtin("3")))
}

// TestOrgGS1 covers the org module's GS1 data: GLNs by the admin,
// prefixes by governance only, conflicts refused.
func TestOrgGS1(t *testing.T) {
	w := newWorld(t)
	o, err := w.h.App.Org.Keeper.Org(w.orgReader(), mfr)
	if err != nil || !slices.Equal(o.GS1Prefixes, []string{"0614141", "4012345"}) || o.PartyGLN != partyGLN[mfr] {
		t.Fatalf("org: %+v %v", o, err)
	}
	newGLN := gln("061414100003")
	w.must(mfr, &org.MsgSetGLNs{Org: mfr, PartyGLN: partyGLN[mfr], LocationGLNs: []string{locGLN[mfr], newGLN}})
	if got := w.h.App.Org.Keeper.OrgByGLN(w.orgReader(), newGLN); got != mfr {
		t.Fatalf("OrgByGLN = %q", got)
	}
	testutil.WantCode(t, "bad check digit", w.exec(dist, &org.MsgSetGLNs{Org: dist, PartyGLN: partyGLN[dist][:12] + string('0'+(partyGLN[dist][12]-'0'+1)%10)}), "tx", 12, "check digit")
	testutil.WantCode(t, "another's GLN", w.exec(dist, &org.MsgSetGLNs{Org: dist, PartyGLN: partyGLN[pharm]}), org.StoreName, org.ErrGS1Taken.Code)
	testutil.WantCode(t, "GLN under another's prefix", w.exec(dist, &org.MsgSetGLNs{Org: dist, PartyGLN: gln("061414100099")}), org.StoreName, org.ErrGS1Taken.Code)
	testutil.WantCode(t, "not admin", w.exec(dist, &org.MsgSetGLNs{Org: mfr, PartyGLN: partyGLN[mfr]}), org.StoreName, org.ErrNotAdmin.Code)
	// Prefixes: a proposal; overlapping another's prefix fails at submission.
	testutil.WantCode(t, "overlap", w.exec(dist, &org.MsgSubmitProposal{ProposerOrg: dist, Kind: org.KindSetPrefixes, Org: dist, Prefixes: []string{"06141410"}}),
		org.StoreName, org.ErrGS1Taken.Code)
	testutil.WantCode(t, "bad prefix", w.exec(dist, &org.MsgSubmitProposal{ProposerOrg: dist, Kind: org.KindSetPrefixes, Org: dist, Prefixes: []string{"12345"}}),
		"tx", 12, "prefix")
	w.must(dist, &org.MsgSubmitProposal{ProposerOrg: dist, Kind: org.KindSetPrefixes, Org: dist, Prefixes: []string{"0012345"}})
	for _, voter := range []string{mfr, pharm, pharm2} {
		w.must(voter, &org.MsgVote{ProposalID: 1, Org: voter, Approve: true})
	}
	if p := w.h.Proposal(1); p.Status != org.ProposalPassed {
		t.Fatalf("proposal: %+v", p)
	}
	if owner, pfx := w.h.App.Org.Keeper.PrefixOwner(w.orgReader(), "0012345000011"); owner != dist || pfx != "0012345" {
		t.Fatalf("PrefixOwner = %q %q", owner, pfx)
	}
	w.must(dist, &supply.MsgRegisterProduct{Org: dist, GTIN: "00012345000058"})
}

// TestGS1Identifiers checks check digits, GTIN normalisation and EPC parsing
// against GS1 examples.
func TestGS1Identifiers(t *testing.T) {
	for in, want := range map[string]string{"10614141073464": "10614141073464", "4012345000016": "04012345000016",
		"012345000058": "00012345000058", "96385074": "00000096385074"} {
		if got, ok := supply.NormalizeGTIN(in); !ok || got != want {
			t.Errorf("NormalizeGTIN(%s) = %s %v, want %s", in, got, ok, want)
		}
	}
	for _, bad := range []string{"10614141073465", "123", "1061414107346a", ""} {
		if _, ok := supply.NormalizeGTIN(bad); ok {
			t.Errorf("NormalizeGTIN(%q) accepted", bad)
		}
	}
	s, ok := supply.ParseSGTIN("urn:epc:id:sgtin:0614141.107346.2017")
	if !ok || s.GTIN != "10614141073464" || s.Serial != "2017" || s.CompanyPrefix != "0614141" {
		t.Fatalf("ParseSGTIN: %+v", s)
	}
	if got := supply.SGTINURN(s.GTIN, 7, "2017"); got != "urn:epc:id:sgtin:0614141.107346.2017" {
		t.Fatalf("SGTINURN = %s", got)
	}
	if cp, code, ok := supply.ParseSSCC("urn:epc:id:sscc:0614141.1234567890"); !ok || cp != "0614141" || code != "106141412345678908" {
		t.Fatalf("ParseSSCC: %s %s %v", cp, code, ok)
	}
	if g, ok := supply.GLNFromURN("urn:epc:id:sgln:0614141.07346.1234"); !ok || g != "0614141073467" {
		t.Fatalf("GLNFromURN sgln = %s %v", g, ok)
	}
	if g, ok := supply.GLNFromURN("urn:epc:id:pgln:0614141.00002"); !ok || g != "0614141000029" {
		t.Fatalf("GLNFromURN pgln = %s %v", g, ok)
	}
	if !org.ValidGLN("0614141073467") || org.ValidGLN("0614141073468") {
		t.Fatalf("ValidGLN")
	}
}

// TestEventWireRoundTrip: the canonical encoding of a full event decodes to
// the same event and re-encodes to the same bytes.
func TestEventWireRoundTrip(t *testing.T) {
	ev := ship(mfr, dist, sgtin("1"), sscc(2))
	ev.EventTimeMs = -5
	ev.Quantities = []supply.Quantity{{EPCClass: "urn:epc:class:lgtin:4012345.012345.998877", Amount: "200.5", UOM: "KGM"}, {Role: "child", EPCClass: "x"}}
	ev.Sensors = []supply.SensorReading{{Type: "Temperature", ValueMilli: -18500, HasValue: true, MinMilli: -20000, HasMin: true, UOM: "CEL", TimeMs: 9}}
	ev.Hash = "ni:///sha-256;" + strings.Repeat("ab", 32) + "?ver=CBV2.0"
	ev.Lot, ev.ExpiryDate, ev.ReadPoint = "L1", "2030-01-01", sglnURN(locGLN[mfr])
	m := &supply.MsgCapture{Org: mfr, Events: []supply.Event{ev, commission("L", "", sgtin("2"))}}
	bz := m.MarshalWire()
	var dec supply.MsgCapture
	for _, mt := range w0().MsgTypes() {
		if mt.TypeURL == supply.TypeCapture {
			got, err := mt.Decode(bz)
			if err != nil {
				t.Fatal(err)
			}
			dec = *got.(*supply.MsgCapture)
		}
	}
	if string(dec.MarshalWire()) != string(bz) || dec.Events[0].Sensors[0].ValueMilli != -18500 || dec.Events[0].EventTimeMs != -5 ||
		dec.Events[0].Quantities[0].Amount != "200.5" || dec.Events[0].Destinations[1].ID != sglnURN(locGLN[dist]) {
		t.Fatalf("round trip: %+v", dec.Events[0])
	}
	if err := m.ValidateBasic(); err != nil {
		t.Fatal(err)
	}
}

func w0() *supply.Module { return supply.New(nil) }

var _ store.Reader = nil

// TestStolenPacked: a unit reported stolen leaves its case (which can then
// still ship), and a stolen case takes its contents with it.
func TestStolenPacked(t *testing.T) {
	w := newWorld(t)
	w.register("L1", "2030-01-31", 0, 0)
	a, b, c := sgtin("1"), sgtin("2"), sgtin("3")
	box, box2 := sscc(1), sscc(2)
	w.mustCapture(mfr, commission("L1", "", a, b, c), pack(box, a, b), pack(box2, c))
	w.mustCapture(mfr, stolen(a), stolen(box2))
	if u := w.unit(a); u.Status != supply.StatusStolen || u.Parent != "" {
		t.Fatalf("stolen unit: %+v", u)
	}
	if u := w.unit(c); u.Status != supply.StatusStolen || u.Parent != box2 {
		t.Fatalf("content of a stolen case: %+v", u)
	}
	w.mustCapture(mfr, ship(mfr, dist, box))
	if u := w.unit(a); u.Status != supply.StatusStolen {
		t.Fatalf("stolen unit moved with its old case: %+v", u)
	}
	if got := w.keeper().Children(w.readers(), box); len(got) != 1 || got[0] != b {
		t.Fatalf("case holds %v", got)
	}
	wantVerify(t, w, "1", supply.ReasonStolen)
	wantVerify(t, w, "3", supply.ReasonStolen)
}

// TestCaptureAuthority: the signer must hold a capture role in an active
// organization, and a capture is bounded by the module's params.
func TestCaptureAuthority(t *testing.T) {
	w := newWorld(t)
	w.register("L1", "", 0, 0)
	r := w.exec(dist, &supply.MsgCapture{Org: mfr, Events: []supply.Event{commission("L1", "", sgtin("1"))}})
	testutil.WantCode(t, "not a member", r, supply.StoreName, supply.ErrUnauthorized.Code)
	r = w.exec(dist, &supply.MsgCapture{Org: "org-99", Events: []supply.Event{observe()}})
	testutil.WantCode(t, "unknown org", r, supply.StoreName, supply.ErrUnknownOrg.Code)
	evs := make([]supply.Event, supply.DefaultParams().MaxEventsPerCapture+1)
	for i := range evs {
		evs[i] = supply.Event{Kind: supply.KindObject, Action: supply.ActionObserve}
	}
	testutil.WantCode(t, "too many events", w.capture(mfr, evs...), supply.StoreName, supply.ErrTooLarge.Code)
	testutil.WantCode(t, "empty", w.capture(mfr), "tx", 12, "at least one event")
}
