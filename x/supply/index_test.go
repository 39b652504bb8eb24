package supply_test

import (
	"encoding/binary"
	"testing"

	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/x/supply"
)

// indexKey is the unit index key of epc.
func indexKey(epc string) []byte {
	h := supply.EPCHash(epc)
	return supply.IndexKey(h[:])
}

// indexed returns the unit number the committed unit index gives epc (0:
// no entry).
func (w *world) indexed(epc string) uint64 {
	bz := w.h.Reader(supply.IndexStoreName).Get(indexKey(epc))
	if bz == nil {
		return 0
	}
	if len(bz) != 8 {
		w.h.T.Fatalf("index entry of %s is %d bytes", epc, len(bz))
	}
	return binary.BigEndian.Uint64(bz)
}

// TestUnitIndexStaleEntries: the unit index is a hint. An entry naming a
// number no unit has, or the number of another unit (what a crash between
// the index write and the commit, or a reader of an older height, can
// leave), reads as "no such unit" everywhere — queries, verification, the
// state machine — and commissioning the EPC then works, with a fresh
// number. A chain with the stale entries computes the same app hashes as
// one without.
func TestUnitIndexStaleEntries(t *testing.T) {
	stale, clean := newWorld(t), newWorld(t)
	staleIndexScenario(t, stale, true)
	staleIndexScenario(t, clean, false)
	if len(stale.h.AppHashes) != len(clean.h.AppHashes) {
		t.Fatalf("%d heights vs %d", len(stale.h.AppHashes), len(clean.h.AppHashes))
	}
	for i := range stale.h.AppHashes {
		if string(stale.h.AppHashes[i]) != string(clean.h.AppHashes[i]) {
			t.Fatalf("app hash %d differs with stale index entries: %X vs %X", i, stale.h.AppHashes[i], clean.h.AppHashes[i])
		}
	}
}

// staleIndexScenario runs the scenario on w, planting the stale entries
// when plant is set (otherwise the planting block is empty).
func staleIndexScenario(t *testing.T, w *world, plant bool) {
	t.Helper()
	w.register("L1", "2030-01-31", 0, 0)
	a := sgtin("A")
	w.mustCapture(mfr, commission("L1", "", a))
	ua := w.unit(a)
	if ua == nil || ua.Number != 1 || w.indexed(a) != 1 || w.h.Get(supply.StoreName, supply.UnitKey(1)) == nil {
		t.Fatalf("first unit %+v, indexed as %d", ua, w.indexed(a))
	}

	// Plant the stale entries outside any transaction, as a crash would
	// leave them, and commit them.
	ghost, imposter := sgtin("GHOST"), sgtin("IMPOSTER")
	if plant {
		idx := w.h.App.Store().Working(supply.IndexStoreName)
		idx.Set(indexKey(ghost), binary.BigEndian.AppendUint64(nil, 1000)) // never assigned
		idx.Set(indexKey(imposter), binary.BigEndian.AppendUint64(nil, ua.Number))
	}
	w.h.MustBlock()
	planted := w.h.Height
	if plant && (w.indexed(ghost) != 1000 || w.indexed(imposter) != ua.Number) {
		t.Fatalf("planted entries not committed: %d %d", w.indexed(ghost), w.indexed(imposter))
	}

	for _, e := range []string{ghost, imposter} {
		if u := w.unit(e); u != nil {
			t.Fatalf("%s read as %+v", e, u)
		}
		if v := verify(t, w, e[len(sgtin("")):], "", ""); v.Reason != supply.ReasonUnknownSerial {
			t.Fatalf("verify %s: %+v", e, v)
		}
		if evs := w.keeper().Provenance(w.readers(), e); len(evs) != 0 {
			t.Fatalf("provenance of %s: %d events (another unit's?)", e, len(evs))
		}
	}
	// The state machine does not take them for units either: shipping one
	// is an unknown serial, and the unit the imposter's entry names is
	// untouched.
	r := w.capture(mfr, ship(mfr, dist, imposter))
	ev := testutil.Events(r, "supply.event")
	if r.Code != 0 || len(ev) != 1 || ev[0]["alert"] != supply.AlertUnknownSerial {
		t.Fatalf("shipping the imposter: code %d %v", r.Code, ev)
	}
	if u := w.unit(a); u == nil || u.Status != supply.StatusActive || u.EPC != a || u.LastEvent != ua.LastEvent {
		t.Fatalf("unit %s changed: %+v", a, u)
	}

	// Commissioning both works; numbers continue from the counter (the
	// planted 1000 is not a number anyone assigned), the entries are
	// replaced, and the first unit keeps its number and record.
	w.mustCapture(mfr, commission("L1", "", ghost, imposter))
	g, im := w.unit(ghost), w.unit(imposter)
	if g == nil || im == nil || g.Number != 2 || im.Number != 3 || w.indexed(ghost) != 2 || w.indexed(imposter) != 3 {
		t.Fatalf("commissioned %+v %+v, indexed %d %d", g, im, w.indexed(ghost), w.indexed(imposter))
	}
	if u := w.unit(a); u == nil || u.Number != 1 || u.EPC != a {
		t.Fatalf("unit %s: %+v", a, u)
	}
	if v := verify(t, w, "GHOST", "L1", ""); !v.Verified {
		t.Fatalf("verify GHOST: %+v", v)
	}
	// Commissioning again is a double commission, as for any unit.
	r = w.capture(mfr, commission("L1", "", ghost))
	if ev := testutil.Events(r, "supply.event"); r.Code != 0 || len(ev) != 1 || ev[0]["alert"] != supply.AlertDoubleCommission {
		t.Fatalf("second commissioning of GHOST: code %d %v", r.Code, ev)
	}

	// A reader of an older height sees the latest index; the units created
	// since are not there at that height.
	old, _, err := w.h.App.Store().Reader(supply.StoreName, planted)
	if err != nil {
		t.Fatal(err)
	}
	oldRs := supply.Readers{State: old, Index: w.h.Reader(supply.IndexStoreName)}
	if u := w.keeper().Unit(oldRs, ghost); u != nil {
		t.Fatalf("GHOST at height %d: %+v", planted, u)
	}
	if u := w.keeper().Unit(oldRs, a); u == nil || u.Number != 1 {
		t.Fatalf("%s at height %d: %+v", a, planted, u)
	}
}

// TestUnitIndexFailedTx: a transaction that fails after planning a new
// unit leaves neither the unit nor its index entry, nor a used number;
// another transaction of the same block commits its own.
func TestUnitIndexFailedTx(t *testing.T) {
	w := newWorld(t)
	w.register("L1", "2030-01-31", 0, 0)
	x, y := sgtin("X"), sgtin("Y")
	s := w.admin[mfr]
	failing := s.Sign(w.h.ChainID, &supply.MsgCapture{Org: mfr, Events: []supply.Event{commission("L1", "", x), dispense(sgtin("NEVER"))}})
	ok := s.Sign(w.h.ChainID, &supply.MsgCapture{Org: mfr, Events: []supply.Event{commission("L1", "", y)}})
	res := w.h.Block(failing, ok)
	testutil.WantCode(t, "failing capture", res[0], supply.StoreName, supply.ErrUnknownEPC.Code, "event 1")
	testutil.WantCode(t, "capture", res[1], "", 0)
	if n := w.indexed(x); n != 0 {
		t.Fatalf("the failed transaction left an index entry for %s: %d", x, n)
	}
	if u := w.unit(x); u != nil {
		t.Fatalf("the failed transaction left unit %+v", u)
	}
	if u := w.unit(y); u == nil || u.Number != 1 || w.indexed(y) != 1 {
		t.Fatalf("unit %s: %+v, indexed %d (want number 1: the failed transaction used none)", y, u, w.indexed(y))
	}
	w.mustCapture(mfr, commission("L1", "", x))
	if u := w.unit(x); u == nil || u.Number != 2 || w.indexed(x) != 2 {
		t.Fatalf("unit %s: %+v, indexed %d", x, u, w.indexed(x))
	}
}
