package supply_test

import (
	"fmt"
	"math/rand"
	"os"
	"slices"
	"sort"
	"strconv"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/x/supply"
)

// The property test drives the chain with a seeded random stream of legal
// and illegal events on 1,200 serialized units and 40 containers, and
// checks every transaction's outcome (success, rejection code, or alert
// kind) against an independent model of the custody rules. After every
// block it checks that each unit has exactly one custodian and one status
// (the custodian index holds each held unit once, under its custodian),
// and that the chain's state equals the model's; at the end, that each
// organization's recall notices equal the set the model computes from the
// event history.

type mUnit struct {
	epc, lot, custodian, status, pending, parent string
	children                                     []string
	isContainer                                  bool
}

type model struct {
	units    map[string]*mUnit // look-ups only; iteration goes through order
	order    []string
	recalled map[string]bool // lot -> recalled
}

func (m *model) get(epc string) *mUnit { return m.units[epc] }

func (m *model) descendants(u *mUnit) []*mUnit {
	var out []*mUnit
	for _, c := range u.children {
		cu := m.units[c]
		out = append(out, cu)
		out = append(out, m.descendants(cu)...)
	}
	return out
}

func (m *model) height(u *mUnit) int {
	h := 0
	for _, c := range u.children {
		h = max(h, 1+m.height(m.units[c]))
	}
	return h
}

func (m *model) detach(u *mUnit) {
	if u.parent == "" {
		return
	}
	p := m.units[u.parent]
	p.children = slices.DeleteFunc(p.children, func(s string) bool { return s == u.epc })
	u.parent = ""
}

// outcome is what the model expects of one event: a rejection code, an
// alert kind, or success.
type outcome struct {
	code  *module.Error
	alert string
}

func (o outcome) String() string {
	switch {
	case o.code != nil:
		return fmt.Sprintf("reject %s/%d", o.code.Codespace, o.code.Code)
	case o.alert != "":
		return "alert " + o.alert
	}
	return "ok"
}

type op struct {
	kind, org, epc, child, to, lot string
	epcs                           []string
}

// apply runs op on a copy-on-success basis: it returns the outcome and
// changes the model only on success.
func (m *model) apply(o op) outcome {
	rej := func(e *module.Error) outcome { return outcome{code: e} }
	switch o.kind {
	case "commission":
		for _, e := range o.epcs {
			if m.get(e) != nil {
				return outcome{alert: supply.AlertDoubleCommission}
			}
			if o.org != mfr {
				return rej(supply.ErrNotPrefixOwner)
			}
		}
		for _, e := range o.epcs {
			m.units[e] = &mUnit{epc: e, lot: o.lot, custodian: o.org, status: supply.StatusActive}
			m.order = append(m.order, e)
		}
	case "ship":
		u := m.get(o.epc)
		switch {
		case u == nil:
			return outcome{alert: supply.AlertUnknownSerial}
		case u.status == supply.StatusDispensed:
			return outcome{alert: supply.AlertReentry}
		case u.custodian != o.org:
			return rej(supply.ErrNotCustodian)
		case u.status != supply.StatusActive:
			return rej(supply.ErrBadStatus)
		case u.parent != "":
			return rej(supply.ErrPacked)
		}
		for _, c := range append([]*mUnit{u}, m.descendants(u)...) {
			c.status, c.pending = supply.StatusInTransit, o.to
		}
	case "receive":
		u := m.get(o.epc)
		switch {
		case u == nil:
			return outcome{alert: supply.AlertUnknownSerial}
		case u.status == supply.StatusDispensed:
			return outcome{alert: supply.AlertReentry}
		case u.status == supply.StatusInTransit && u.pending != o.org:
			return outcome{alert: supply.AlertWrongReceiver}
		case u.status == supply.StatusActive && u.custodian != o.org:
			return outcome{alert: supply.AlertWrongReceiver}
		case u.status == supply.StatusActive:
			return rej(supply.ErrNoShipment)
		case u.status != supply.StatusInTransit:
			return rej(supply.ErrBadStatus)
		case u.parent != "":
			return rej(supply.ErrPacked)
		}
		for _, c := range append([]*mUnit{u}, m.descendants(u)...) {
			c.status, c.custodian, c.pending = supply.StatusActive, o.org, ""
		}
	case "dispense":
		u := m.get(o.epc)
		switch {
		case u == nil:
			return rej(supply.ErrUnknownEPC)
		case u.status == supply.StatusDispensed:
			return rej(supply.ErrDispensed)
		case u.custodian != o.org:
			return rej(supply.ErrNotCustodian)
		case u.status != supply.StatusActive:
			return rej(supply.ErrBadStatus)
		case !u.isContainer && m.recalled[u.lot]:
			return rej(supply.ErrRecalled)
		case len(u.children) > 0:
			return rej(supply.ErrBadStatus)
		}
		m.detach(u)
		u.status = supply.StatusDispensed
	case "decommission":
		u := m.get(o.epc)
		switch {
		case u == nil:
			return rej(supply.ErrUnknownEPC)
		case u.custodian != o.org:
			return rej(supply.ErrNotCustodian)
		case u.status != supply.StatusActive:
			return rej(supply.ErrBadStatus)
		}
		for _, c := range slices.Clone(u.children) {
			m.detach(m.units[c])
		}
		m.detach(u)
		u.status = supply.StatusDecommissioned
	case "pack":
		p := m.get(o.epc)
		if p == nil { // a new container, under a prefix nobody owns
			p = &mUnit{epc: o.epc, custodian: o.org, status: supply.StatusActive, isContainer: true}
		}
		switch {
		case p.custodian != o.org:
			return rej(supply.ErrNotCustodian)
		case p.status != supply.StatusActive:
			return rej(supply.ErrBadStatus)
		}
		depth, anc := 1, map[string]bool{p.epc: true}
		for a := p.parent; a != ""; a = m.units[a].parent {
			anc[a] = true
			depth++
		}
		c := m.get(o.child)
		switch {
		case c == nil:
			return rej(supply.ErrUnknownEPC)
		case anc[c.epc]:
			return rej(supply.ErrPacked)
		case c.custodian != o.org:
			return rej(supply.ErrNotCustodian)
		case c.status != supply.StatusActive:
			return rej(supply.ErrBadStatus)
		case c.parent == p.epc:
			return outcome{}
		case c.parent != "":
			return rej(supply.ErrPacked)
		case depth+m.height(c) > 8:
			return rej(supply.ErrPacked)
		}
		if m.get(o.epc) == nil {
			m.units[o.epc] = p
			m.order = append(m.order, o.epc)
		}
		c.parent = p.epc
		p.children = append(p.children, c.epc)
	case "unpack":
		p, c := m.get(o.epc), m.get(o.child)
		switch {
		case p == nil:
			return rej(supply.ErrUnknownEPC)
		case p.custodian != o.org:
			return rej(supply.ErrNotCustodian)
		case p.status != supply.StatusActive:
			return rej(supply.ErrBadStatus)
		case c == nil:
			return rej(supply.ErrUnknownEPC)
		case c.parent != p.epc:
			return rej(supply.ErrNotPacked)
		}
		m.detach(c)
	}
	return outcome{}
}

func (o op) event() supply.Event {
	switch o.kind {
	case "commission":
		return commission(o.lot, "", o.epcs...)
	case "ship":
		return ship(o.org, o.to, o.epc)
	case "receive":
		return receive(o.epc)
	case "dispense":
		return dispense(o.epc)
	case "decommission":
		return decommission(o.epc)
	case "pack":
		return pack(o.epc, o.child)
	default:
		return unpack(o.epc, o.child)
	}
}

func TestPropertyCustody(t *testing.T) {
	const (
		nUnits      = 1200
		nContainers = 40
		blocks      = 200
		txsPerBlock = 24
		lots        = 6
	)
	seed := int64(20261126)
	if s := os.Getenv("MEDCHAIN_SUPPLY_SEED"); s != "" { // repeat or vary a run
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("MEDCHAIN_SUPPLY_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (MEDCHAIN_SUPPLY_SEED)", seed)
	rng := rand.New(rand.NewSource(seed))
	w := newWorld(t)
	for l := range lots {
		w.must(mfr, &supply.MsgRegisterProduct{Org: mfr, GTIN: gtin, Lot: fmt.Sprintf("L%d", l), Expiry: "2030-01-31"})
	}
	m := &model{units: map[string]*mUnit{}, recalled: map[string]bool{}}
	var serials, containers []string
	for i := range nUnits {
		serials = append(serials, sgtin(fmt.Sprintf("P%05d", i)))
	}
	for i := range nContainers {
		containers = append(containers, fmt.Sprintf("urn:epc:id:sscc:0012345.%010d", i))
	}
	orgs := []string{mfr, dist, pharm, pharm2}
	pick := func(l []string) string { return l[rng.Intn(len(l))] }
	next := 0 // serials[:next] have been offered for commissioning
	// Most ops target a unit's actual custodian or pending receiver so that
	// legal transitions are common; the rest are random (mostly illegal).
	actor := func(u *mUnit) string {
		if u == nil || rng.Intn(5) == 0 {
			return pick(orgs)
		}
		if u.status == supply.StatusInTransit && rng.Intn(3) > 0 {
			return u.pending
		}
		return u.custodian
	}
	anyEPC := func() string {
		switch r := rng.Intn(20); {
		case r == 0:
			return sgtin(fmt.Sprintf("FAKE%d", rng.Intn(50))) // never commissioned
		case r < 4:
			return pick(containers)
		default:
			if next == 0 {
				return serials[0]
			}
			return serials[rng.Intn(next)]
		}
	}
	randOp := func() op {
		switch r := rng.Intn(100); {
		case r < 12 && next < nUnits:
			n := 1 + rng.Intn(30)
			if next+n > nUnits {
				n = nUnits - next
			}
			o := op{kind: "commission", org: mfr, lot: fmt.Sprintf("L%d", rng.Intn(lots)), epcs: slices.Clone(serials[next:(next + n)])}
			if rng.Intn(10) == 0 && next > 0 { // a double commissioning
				o.epcs = append(o.epcs, serials[rng.Intn(next)])
			}
			if rng.Intn(15) == 0 {
				o.org = pick(orgs)
			}
			next += n
			return o
		case r < 30:
			e := anyEPC()
			u := m.get(e)
			to := pick(orgs)
			return op{kind: "ship", org: actor(u), epc: e, to: to}
		case r < 50:
			e := anyEPC()
			return op{kind: "receive", org: actor(m.get(e)), epc: e}
		case r < 62:
			e := anyEPC()
			return op{kind: "dispense", org: actor(m.get(e)), epc: e}
		case r < 66:
			e := anyEPC()
			return op{kind: "decommission", org: actor(m.get(e)), epc: e}
		case r < 90:
			p := pick(containers)
			c := anyEPC()
			if c == p {
				c = serials[0]
			}
			org := actor(m.get(c))
			if rng.Intn(4) == 0 {
				org = actor(m.get(p))
			}
			return op{kind: "pack", org: org, epc: p, child: c}
		default:
			p := pick(containers)
			c := anyEPC()
			if pu := m.get(p); pu != nil && len(pu.children) > 0 && rng.Intn(3) > 0 {
				c = pick(pu.children)
			}
			if c == p {
				c = serials[0]
			}
			return op{kind: "unpack", org: actor(m.get(p)), epc: p, child: c}
		}
	}
	counts := map[string]int{} // look-ups only; reported sorted
	for b := 0; b < blocks; b++ {
		var ops []op
		var txs [][]byte
		for range txsPerBlock {
			o := randOp()
			ops = append(ops, o)
			txs = append(txs, w.admin[o.org].Sign(w.h.ChainID, &supply.MsgCapture{Org: o.org, Events: []supply.Event{o.event()}}))
		}
		recallLot := ""
		if b%15 == 14 { // a recall now and then, after the block's events
			lot := fmt.Sprintf("L%d", rng.Intn(lots))
			recallLot = lot
			txs = append(txs, w.admin[reg].Sign(w.h.ChainID, &supply.MsgRecall{Org: reg, GTIN: gtin, Lots: []string{lot}}))
		}
		res := w.h.Block(txs...)
		for i, o := range ops {
			want := m.apply(o)
			checkOutcome(t, b, i, o, want, res[i])
			counts[want.String()]++
		}
		if recallLot != "" {
			m.recalled[recallLot] = true
			if r := res[len(ops)]; r.Code != 0 {
				t.Fatalf("recall: %s", r.Log)
			}
		}
		checkState(t, w, m, orgs, b%10 == 9 || b == blocks-1)
	}
	// Recall notices equal the model's set for every holder.
	for _, o := range orgs {
		var want, got []string
		for _, e := range m.order {
			u := m.units[e]
			if !u.isContainer && u.custodian == o && (u.status == supply.StatusActive || u.status == supply.StatusInTransit) && m.recalled[u.lot] {
				want = append(want, e)
			}
		}
		for _, n := range w.keeper().RecallNotices(w.readers(), o) {
			got = append(got, n.EPC)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Fatalf("%s: recall notices %d, model %d\n got %v\nwant %v", o, len(got), len(want), got, want)
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%-16s %d", k, counts[k])
	}
	if len(m.order) < 1000 || counts["ok"] < 500 {
		t.Fatalf("too few units (%d) or legal events (%d)", len(m.order), counts["ok"])
	}
}

func checkOutcome(t *testing.T, b, i int, o op, want outcome, r *abci.ExecTxResult) {
	t.Helper()
	fail := func() {
		t.Fatalf("block %d tx %d %+v: model says %s, chain %s/%d %q", b, i, o, want, r.Codespace, r.Code, r.Log)
	}
	switch {
	case want.code != nil:
		if r.Codespace != want.code.Codespace || r.Code != want.code.Code {
			fail()
		}
	case want.alert != "":
		ev := testutil.Events(r, "supply.event")
		if r.Code != 0 || len(ev) != 1 || ev[0]["outcome"] != supply.OutcomeAlert || ev[0]["alert"] != want.alert {
			fail()
		}
	default:
		ev := testutil.Events(r, "supply.event")
		if r.Code != 0 || len(ev) != 1 || ev[0]["outcome"] != supply.OutcomeApplied {
			fail()
		}
	}
}

// checkState compares every model unit with the chain's, and (when full)
// that the custodian index lists each held unit exactly once, under its
// custodian.
func checkState(t *testing.T, w *world, m *model, orgs []string, full bool) {
	t.Helper()
	r := w.readers()
	for _, e := range m.order {
		mu := m.units[e]
		u := w.keeper().Unit(r, e)
		if u == nil || u.Custodian != mu.custodian || u.Status != mu.status || u.PendingTo != mu.pending || u.Parent != mu.parent ||
			u.Children != len(mu.children) {
			t.Fatalf("height %d, %s: chain %+v, model %+v", w.h.Height, e, u, mu)
		}
	}
	if !full {
		return
	}
	seen := map[string]string{}
	for _, o := range orgs {
		for _, e := range w.keeper().Held(r, o, 0) {
			if prev, dup := seen[e]; dup {
				t.Fatalf("%s held by %s and %s", e, prev, o)
			}
			seen[e] = o
		}
	}
	for _, e := range m.order {
		mu := m.units[e]
		held := mu.status == supply.StatusActive || mu.status == supply.StatusInTransit
		if held && seen[e] != mu.custodian || !held && seen[e] != "" {
			t.Fatalf("%s (%s, %s): custodian index says %q", e, mu.status, mu.custodian, seen[e])
		}
	}
}
