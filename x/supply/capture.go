package supply

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
)

// Outcomes of one event of a capture (attribute "outcome" of the
// supply.event ABCI event).
const (
	OutcomeApplied = "applied"
	OutcomeAlert   = "alert"
)

// maxDepth bounds container nesting (item in case in pallet in …).
const maxDepth = 8

// alertErr is an event that raises an alert instead of applying.
type alertErr struct {
	kind, epc, detail string
	u                 *Unit // the unit concerned, when known
}

func (a *alertErr) Error() string { return a.kind + ": " + a.detail }

// unitState is one unit loaded while an event is planned: the value as
// read (orig) and as the event leaves it (u).
type unitState struct {
	h      [32]byte
	u      *Unit
	orig   Unit
	exists bool
	dirty  bool
}

// eventPlan is what an event will change; nothing is written until the
// whole event has been checked.
type eventPlan struct {
	k        Keeper
	ctx      *module.Context
	kv       store.KV // the supply store
	idx      store.KV // the unit index (IndexStoreName)
	org      string
	ev       *Event
	units    map[string]*unitState // look-ups only; order comes from order
	hashes   map[[32]byte]*unitState
	order    []*unitState
	products map[string]*Product
	lots     []*Lot     // lots to create (from ILMD)
	lotsRead []*Lot     // registered lots read and found to agree with the event
	links    []link     // child index writes (add) and deletes
	touched  [][32]byte // EPC hashes to index the event under
	seen     map[[32]byte]bool
	receiver string
}

type cohortDelta struct {
	key   []byte
	delta int64
}

type link struct {
	parent, child [32]byte
	add           bool
}

func (p *eventPlan) load(epc string) *unitState {
	if s, ok := p.units[epc]; ok {
		return s
	}
	s := &unitState{h: EPCHash(epc)}
	if u := unitByEPC(p.kv, p.idx, s.h[:], epc); u != nil {
		s.u, s.orig, s.exists = u, *u, true
	}
	p.units[epc] = s
	p.hashes[s.h] = s
	p.order = append(p.order, s)
	return s
}

func (p *eventPlan) loadHash(h []byte) *unitState {
	if s, ok := p.hashes[[32]byte(h)]; ok {
		return s
	}
	u := unitByHash(p.kv, p.idx, h)
	if u == nil {
		// The child index (authenticated) names a unit the unit index
		// cannot find: this node's index is damaged. Refusing the
		// transaction here makes the node's app hash differ from the
		// others', so it stops instead of diverging silently.
		panic(fmt.Sprintf("supply: no unit found for a unit the child index names (%X)", h))
	}
	return p.load(u.EPC)
}

// byHash returns the loaded unit with EPC hash h.
func (p *eventPlan) byHash(h [32]byte) (*unitState, bool) {
	s, ok := p.hashes[h]
	return s, ok
}

func (p *eventPlan) touch(h [32]byte) {
	if !p.seen[h] {
		p.seen[h] = true
		p.touched = append(p.touched, h)
	}
}

func (p *eventPlan) product(gtin string) *Product {
	if pr, ok := p.products[gtin]; ok {
		return pr
	}
	pr := &Product{}
	if !getJSON(p.kv, ProductKey(gtin), pr) {
		pr = nil
	}
	p.products[gtin] = pr
	return pr
}

// descendants returns every unit packed (directly or not) in s, parents
// before children.
func (p *eventPlan) descendants(s *unitState) []*unitState {
	var out []*unitState
	level := []*unitState{s}
	for depth := 0; depth < maxDepth && len(level) > 0; depth++ {
		var next []*unitState
		for _, c := range level {
			if c.u == nil || c.u.Children == 0 {
				continue
			}
			pre := childPrefix(c.h[:])
			it := p.kv.Iterator(pre, store.PrefixEnd(pre))
			var hs [][]byte
			for ; it.Valid(); it.Next() {
				hs = append(hs, append([]byte{}, it.Key()[len(pre):]...))
			}
			it.Close()
			for _, h := range hs {
				next = append(next, p.loadHash(h))
			}
		}
		out = append(out, next...)
		level = next
	}
	return out
}

// height returns the number of levels of units packed in s (0: none).
func (p *eventPlan) height(s *unitState) int {
	h := 0
	level := []*unitState{s}
	for len(level) > 0 && h <= maxDepth {
		var next []*unitState
		for _, c := range level {
			if c.u == nil || c.u.Children == 0 {
				continue
			}
			pre := childPrefix(c.h[:])
			it := p.kv.Iterator(pre, store.PrefixEnd(pre))
			var hs [][]byte
			for ; it.Valid(); it.Next() {
				hs = append(hs, append([]byte{}, it.Key()[len(pre):]...))
			}
			it.Close()
			for _, hh := range hs {
				next = append(next, p.loadHash(hh))
			}
		}
		if len(next) > 0 {
			h++
		}
		level = next
	}
	return h
}

func (p *eventPlan) set(s *unitState) {
	s.dirty = true
	s.u.UpdatedHeight = p.ctx.Height
	p.touch(s.h)
}

// detach unpacks s from its parent.
func (p *eventPlan) detach(s *unitState) {
	if s.u.Parent == "" {
		return
	}
	par := p.load(s.u.Parent)
	if par.u != nil {
		par.u.Children--
		p.set(par)
	}
	p.links = append(p.links, link{parent: par.h, child: s.h})
	s.u.Parent = ""
}

func (p *eventPlan) isRegulator() bool {
	o, err := p.k.orgs.Org(p.ctx.Store(OrgStore), p.org)
	return err == nil && o.Type == RegulatorType
}

// resolveReceiver maps the destination list to an organization through
// the GLNs organizations registered: owning party, then possessing party,
// then location (ResolveReceiver, which SealTrade uses too).
func (p *eventPlan) resolveReceiver() (string, error) {
	orgs := p.ctx.Store(OrgStore)
	_, o, ok := ResolveReceiver(p.ev.Destinations, func(gln string) string {
		if o := p.k.orgs.OrgByGLN(orgs, gln); o != "" && p.k.orgs.IsActiveOrg(orgs, o) {
			return o
		}
		return ""
	})
	if !ok {
		return "", ErrNoReceiver.Wrapf("no destination (owning_party, possessing_party or location) is a GLN of an active organization")
	}
	return o, nil
}

// --- the operations ---------------------------------------------------------

func (p *eventPlan) commission(epc string) error {
	if !isUnitEPC(epc) {
		return nil
	}
	s := p.load(epc)
	if s.u != nil {
		return &alertErr{kind: AlertDoubleCommission, epc: epc, detail: "serial already commissioned by " + s.u.Owner, u: s.u}
	}
	u := &Unit{EPC: epc, Custodian: p.org, Owner: p.org, Status: StatusActive, CommissionHeight: p.ctx.Height, Commissioned: p.ctx.Time}
	if sg, ok := ParseSGTIN(epc); ok {
		pr := p.product(sg.GTIN)
		if pr == nil {
			return ErrUnknownProduct.Wrapf("GTIN %s is not registered", sg.GTIN)
		}
		if pr.Owner != p.org {
			return ErrNotPrefixOwner.Wrapf("only %q may commission GTIN %s", pr.Owner, sg.GTIN)
		}
		u.GTIN, u.Serial, u.Lot, u.Expiry = sg.GTIN, sg.Serial, p.ev.Lot, p.ev.ExpiryDate
		if p.ev.Lot != "" {
			l, err := p.lot(sg.GTIN)
			if err != nil {
				return err
			}
			if u.Expiry == "" {
				u.Expiry = l.Expiry
			}
		}
	} else {
		cp, _, _ := ParseSSCC(epc)
		if owner, _ := p.k.orgs.PrefixOwner(p.ctx.Store(OrgStore), cp); owner != "" && owner != p.org {
			return ErrNotPrefixOwner.Wrapf("SSCC under %q's GS1 company prefix", owner)
		}
	}
	s.u = u
	p.set(s)
	return nil
}

// lot returns the event's lot of gtin, planning its creation from the ILMD
// when it is not registered; a registered lot must agree on the expiry.
//
// Planning writes nothing, so a lot read once stays valid for the whole
// event: each serial of a commissioning batch does not read it again.
func (p *eventPlan) lot(gtin string) (*Lot, error) {
	for _, list := range [][]*Lot{p.lots, p.lotsRead} {
		for _, l := range list {
			if l.GTIN == gtin {
				return l, nil
			}
		}
	}
	l := &Lot{}
	if getJSON(p.kv, LotKey(gtin, p.ev.Lot), l) {
		if p.ev.ExpiryDate != "" && l.Expiry != "" && l.Expiry != p.ev.ExpiryDate {
			return nil, ErrLotMismatch.Wrapf("lot %s of %s expires %s, the event says %s", l.Lot, gtin, l.Expiry, p.ev.ExpiryDate)
		}
		if l.Expiry != "" || p.ev.ExpiryDate == "" {
			p.lotsRead = append(p.lotsRead, l)
			return l, nil
		}
		l.Expiry = p.ev.ExpiryDate
	} else {
		l = &Lot{GTIN: gtin, Lot: p.ev.Lot, Expiry: p.ev.ExpiryDate, RegisteredHeight: p.ctx.Height}
	}
	p.lots = append(p.lots, l)
	return l, nil
}

// known loads a unit that must exist; unknown serials in shipments and
// receipts raise an alert (a counterfeit signal), elsewhere a rejection.
func (p *eventPlan) known(epc string, alertUnknown bool) (*unitState, error) {
	s := p.load(epc)
	if s.u == nil {
		if alertUnknown {
			return nil, &alertErr{kind: AlertUnknownSerial, epc: epc, detail: "serial was never commissioned"}
		}
		return nil, ErrUnknownEPC.Wrapf("never commissioned")
	}
	return s, nil
}

func (p *eventPlan) ship(epc string) error {
	if !isUnitEPC(epc) {
		return nil
	}
	s, err := p.known(epc, true)
	if err != nil {
		return err
	}
	u := s.u
	switch {
	case u.Status == StatusDispensed:
		return &alertErr{kind: AlertReentry, epc: epc, detail: "a dispensed unit was shipped", u: u}
	case u.Custodian != p.org:
		return ErrNotCustodian.Wrapf("held by %q", u.Custodian)
	case u.Status != StatusActive:
		return ErrBadStatus.Wrapf("cannot ship a unit that is %s", u.Status)
	case u.Parent != "":
		return ErrPacked.Wrapf("packed in %s; ship the container", u.Parent)
	}
	if p.receiver == "" {
		if p.receiver, err = p.resolveReceiver(); err != nil {
			return err
		}
	}
	for _, c := range append([]*unitState{s}, p.descendants(s)...) {
		c.u.Status, c.u.PendingTo, c.u.ShippedHeight, c.u.ShippedTime = StatusInTransit, p.receiver, p.ctx.Height, p.ctx.Time
		p.set(c)
	}
	return nil
}

func (p *eventPlan) receive(epc string) error {
	if !isUnitEPC(epc) {
		return nil
	}
	s, err := p.known(epc, true)
	if err != nil {
		return err
	}
	u := s.u
	switch {
	case u.Status == StatusDispensed:
		return &alertErr{kind: AlertReentry, epc: epc, detail: "a dispensed unit was received", u: u}
	case u.Status == StatusInTransit && u.PendingTo != p.org:
		return &alertErr{kind: AlertWrongReceiver, epc: epc, detail: fmt.Sprintf("shipped to %q, received by %q", u.PendingTo, p.org), u: u}
	case u.Status == StatusActive && u.Custodian != p.org:
		return &alertErr{kind: AlertWrongReceiver, epc: epc, detail: fmt.Sprintf("held by %q and not shipped, received by %q", u.Custodian, p.org), u: u}
	case u.Status == StatusActive:
		return ErrNoShipment.Wrapf("the unit is not in transit")
	case u.Status != StatusInTransit:
		return ErrBadStatus.Wrapf("cannot receive a unit that is %s", u.Status)
	case u.Parent != "":
		return ErrPacked.Wrapf("packed in %s; receive the container", u.Parent)
	}
	for _, c := range append([]*unitState{s}, p.descendants(s)...) {
		c.u.Status, c.u.Custodian, c.u.PendingTo, c.u.ShippedHeight, c.u.ShippedTime = StatusActive, p.org, "", 0, timeZero
		p.set(c)
	}
	return nil
}

// custodianOp loads a unit the signing organization must hold, active.
func (p *eventPlan) custodianOp(epc, what string) (*unitState, error) {
	s, err := p.known(epc, false)
	if err != nil {
		return nil, err
	}
	u := s.u
	switch {
	case u.Status == StatusDispensed && what == "dispense":
		return nil, ErrDispensed.Wrapf("dispensed at height %d", u.UpdatedHeight)
	case u.Custodian != p.org:
		return nil, ErrNotCustodian.Wrapf("held by %q", u.Custodian)
	case u.Status != StatusActive:
		return nil, ErrBadStatus.Wrapf("cannot %s a unit that is %s", what, u.Status)
	}
	return s, nil
}

func (p *eventPlan) dispense(epc string) error {
	if !isUnitEPC(epc) {
		return nil
	}
	s, err := p.custodianOp(epc, "dispense")
	if err != nil {
		return err
	}
	if s.u.GTIN != "" && p.k.Recall(p.kv, s.u.GTIN, s.u.Lot) != nil {
		return ErrRecalled.Wrapf("lot %q of %s is recalled; it may not be dispensed", s.u.Lot, s.u.GTIN)
	}
	if s.u.Children > 0 {
		return ErrBadStatus.Wrapf("a container with %d units inside cannot be dispensed; unpack it", s.u.Children)
	}
	p.detach(s)
	s.u.Status = StatusDispensed
	p.set(s)
	return nil
}

// retire decommissions or destroys a unit; a container's contents are
// unpacked first.
func (p *eventPlan) retire(epc, status string) error {
	if !isUnitEPC(epc) {
		return nil
	}
	s, err := p.known(epc, false)
	if err != nil {
		return err
	}
	u := s.u
	okFrom := u.Status == StatusActive || (status == StatusDestroyed && (u.Status == StatusDecommissioned || u.Status == StatusStolen))
	switch {
	case u.Custodian != p.org:
		return ErrNotCustodian.Wrapf("held by %q", u.Custodian)
	case !okFrom:
		return ErrBadStatus.Wrapf("cannot make a unit that is %s %s", u.Status, status)
	}
	if err := p.unpackAll(s); err != nil {
		return err
	}
	p.detach(s)
	u.Status = status
	p.set(s)
	return nil
}

func (p *eventPlan) unpackAll(s *unitState) error {
	if s.u.Children == 0 {
		return nil
	}
	pre := childPrefix(s.h[:])
	it := p.kv.Iterator(pre, store.PrefixEnd(pre))
	var hs [][]byte
	for ; it.Valid(); it.Next() {
		hs = append(hs, append([]byte{}, it.Key()[len(pre):]...))
	}
	it.Close()
	for _, h := range hs {
		c := p.loadHash(h)
		p.detach(c)
		p.set(c)
	}
	return nil
}

func (p *eventPlan) stolen(epc string) error {
	if !isUnitEPC(epc) {
		return nil
	}
	s, err := p.known(epc, false)
	if err != nil {
		return err
	}
	u := s.u
	switch {
	case u.Custodian != p.org && !(u.Status == StatusInTransit && u.PendingTo == p.org):
		return ErrNotCustodian.Wrapf("held by %q", u.Custodian)
	case u.Status != StatusActive && u.Status != StatusInTransit:
		return ErrBadStatus.Wrapf("cannot report stolen a unit that is %s", u.Status)
	}
	// A stolen unit leaves its container; what is packed in it is stolen
	// with it.
	for _, c := range append([]*unitState{s}, p.descendants(s)...) {
		c.u.Status, c.u.PendingTo = StatusStolen, ""
		p.set(c)
	}
	p.detach(s)
	return nil
}

// observe records an event on a unit the organization holds, is receiving,
// or (as a regulator) inspects.
func (p *eventPlan) observe(epc string) error {
	if !isUnitEPC(epc) {
		p.touch(EPCHash(epc))
		return nil
	}
	s, err := p.known(epc, false)
	if err != nil {
		return err
	}
	if s.u.Custodian != p.org && s.u.PendingTo != p.org && !p.isRegulator() {
		return ErrNotCustodian.Wrapf("held by %q", s.u.Custodian)
	}
	p.touch(s.h)
	for _, c := range p.descendants(s) {
		p.touch(c.h)
	}
	return nil
}

func (p *eventPlan) pack(parent string, children []string) error {
	if !isUnitEPC(parent) {
		return ErrInvalidMsg.Wrapf("parent %s is not an SGTIN or SSCC", parent)
	}
	ps := p.load(parent)
	if ps.u == nil { // a new container (an SSCC, or an SGTIN its owner commissions so)
		if err := p.commission(parent); err != nil {
			return p.epcErr(parent, err)
		}
	}
	switch {
	case ps.u.Custodian != p.org:
		return p.epcErr(parent, ErrNotCustodian.Wrapf("held by %q", ps.u.Custodian))
	case ps.u.Status != StatusActive:
		return p.epcErr(parent, ErrBadStatus.Wrapf("cannot pack into a container that is %s", ps.u.Status))
	}
	// Ancestors of the parent may not be packed into it, and nesting stays
	// within maxDepth levels.
	anc := map[string]bool{parent: true} // look-ups only
	depth := 1
	for a := ps.u.Parent; a != "" && depth <= maxDepth; depth++ {
		anc[a] = true
		as := p.load(a)
		if as.u == nil {
			break
		}
		a = as.u.Parent
	}
	for _, c := range children {
		if !isUnitEPC(c) {
			continue
		}
		cs, err := p.known(c, false)
		if err == nil {
			switch {
			case anc[c]:
				err = ErrPacked.Wrapf("would pack a container into itself")
			case cs.u.Custodian != p.org:
				err = ErrNotCustodian.Wrapf("held by %q", cs.u.Custodian)
			case cs.u.Status != StatusActive:
				err = ErrBadStatus.Wrapf("cannot pack a unit that is %s", cs.u.Status)
			case cs.u.Parent == parent:
				p.touch(cs.h)
				continue
			case cs.u.Parent != "":
				err = ErrPacked.Wrapf("already packed in %s", cs.u.Parent)
			case depth+p.height(cs) > maxDepth:
				err = ErrPacked.Wrapf("containers nest at most %d levels deep", maxDepth)
			}
		}
		if err != nil {
			return p.epcErr(c, err)
		}
		cs.u.Parent = parent
		ps.u.Children++
		p.links = append(p.links, link{parent: ps.h, child: cs.h, add: true})
		p.set(cs)
		for _, d := range p.descendants(cs) {
			p.touch(d.h)
		}
	}
	p.set(ps)
	return nil
}

func (p *eventPlan) unpack(parent string, children []string) error {
	ps, err := p.known(parent, false)
	if err != nil {
		return p.epcErr(parent, err)
	}
	switch {
	case ps.u.Custodian != p.org:
		return p.epcErr(parent, ErrNotCustodian.Wrapf("held by %q", ps.u.Custodian))
	case ps.u.Status != StatusActive:
		return p.epcErr(parent, ErrBadStatus.Wrapf("cannot unpack a container that is %s", ps.u.Status))
	}
	if len(children) == 0 {
		if err := p.unpackAll(ps); err != nil {
			return err
		}
		p.set(ps)
		return nil
	}
	for _, c := range children {
		if !isUnitEPC(c) {
			continue
		}
		cs, err := p.known(c, false)
		if err == nil && cs.u.Parent != parent {
			err = ErrNotPacked.Wrapf("not packed in %s", parent)
		}
		if err != nil {
			return p.epcErr(c, err)
		}
		p.detach(cs)
		p.set(cs)
	}
	p.set(ps)
	return nil
}

// epcErr attaches the EPC to a rejection (alerts carry theirs).
type epcError struct {
	epc string
	err error
}

func (e *epcError) Error() string { return e.epc + ": " + e.err.Error() }
func (e *epcError) Unwrap() error { return e.err }

func (p *eventPlan) epcErr(epc string, err error) error {
	var ae *alertErr
	var ee *epcError
	if err == nil || errors.As(err, &ae) || errors.As(err, &ee) {
		return err
	}
	return &epcError{epc: epc, err: err}
}

// each applies op to every EPC of list, naming the EPC on failure.
func (p *eventPlan) each(list []string, op func(string) error) error {
	for _, e := range list {
		if err := op(e); err != nil {
			return p.epcErr(e, err)
		}
	}
	return nil
}

// run plans the event's custody effects.
func (p *eventPlan) run() error {
	ev := p.ev
	step, disp := ev.BizStep, ev.Disposition
	switch ev.Kind {
	case KindObject:
		switch {
		case ev.Action == ActionAdd:
			return p.each(ev.EPCs, p.commission)
		case ev.Action == ActionDelete && (step == "destroying" || disp == "destroyed"):
			return p.each(ev.EPCs, func(e string) error { return p.retire(e, StatusDestroyed) })
		case ev.Action == ActionDelete:
			return p.each(ev.EPCs, func(e string) error { return p.retire(e, StatusDecommissioned) })
		case step == "shipping":
			return p.each(ev.EPCs, p.ship)
		case step == "receiving":
			return p.each(ev.EPCs, p.receive)
		case step == "dispensing" || disp == "dispensed" || step == "retail_selling" || disp == "retail_sold":
			return p.each(ev.EPCs, p.dispense)
		case step == "destroying" || disp == "destroyed":
			return p.each(ev.EPCs, func(e string) error { return p.retire(e, StatusDestroyed) })
		case step == "decommissioning" || disp == "inactive":
			return p.each(ev.EPCs, func(e string) error { return p.retire(e, StatusDecommissioned) })
		case disp == "stolen":
			return p.each(ev.EPCs, p.stolen)
		default:
			return p.each(ev.EPCs, p.observe)
		}
	case KindAggregation:
		switch ev.Action {
		case ActionAdd:
			return p.pack(ev.ParentID, ev.ChildEPCs)
		case ActionDelete:
			return p.unpack(ev.ParentID, ev.ChildEPCs)
		default:
			if ev.ParentID != "" {
				if err := p.epcErr(ev.ParentID, p.observe(ev.ParentID)); err != nil {
					return err
				}
			}
			return p.each(ev.ChildEPCs, p.observe)
		}
	case KindTransaction:
		if ev.ParentID != "" {
			if err := p.epcErr(ev.ParentID, p.observe(ev.ParentID)); err != nil {
				return err
			}
		}
		return p.each(ev.EPCs, p.observe)
	case KindTransformation:
		if err := p.each(ev.InputEPCs, func(e string) error { return p.retire(e, StatusDecommissioned) }); err != nil {
			return err
		}
		return p.each(ev.OutputEPCs, p.commission)
	default: // AssociationEvent: recorded, no custody effect
		for _, l := range [][]string{{ev.ParentID}, ev.ChildEPCs} {
			for _, e := range l {
				if e != "" {
					p.touch(EPCHash(e))
				}
			}
		}
		return nil
	}
}

// coldChain flags units whose lot range a temperature reading breaks:
// the event's units, and everything packed in them.
func (p *eventPlan) coldChain() {
	var temps []SensorReading
	for _, s := range p.ev.Sensors {
		if (s.Type == "Temperature" || s.Type == "gs1:Temperature") && (s.UOM == "" || s.UOM == "CEL") {
			temps = append(temps, s)
		}
	}
	if len(temps) == 0 {
		return
	}
	var roots []string
	roots = append(roots, p.ev.EPCs...)
	if p.ev.ParentID != "" {
		roots = append(roots, p.ev.ParentID)
	}
	roots = append(roots, p.ev.ChildEPCs...)
	roots = append(roots, p.ev.OutputEPCs...)
	lots := map[string]*Lot{} // look-ups only
	for _, e := range roots {
		if !isUnitEPC(e) {
			continue
		}
		s := p.load(e)
		if s.u == nil {
			continue
		}
		family := append([]*unitState{s}, p.descendants(s)...)
		any := false
		for _, c := range family {
			if c.u.GTIN == "" || c.u.Lot == "" {
				continue
			}
			key := c.u.GTIN + "\x00" + c.u.Lot
			l, ok := lots[key]
			if !ok {
				l = &Lot{}
				if !getJSON(p.kv, LotKey(c.u.GTIN, c.u.Lot), l) {
					l = nil
				}
				lots[key] = l
			}
			if l == nil || !l.HasTempRange || !outside(temps, l) {
				continue
			}
			any = true
			if !c.u.Excursion {
				c.u.Excursion, c.u.ExcursionHeight = true, p.ctx.Height
				p.set(c)
			}
		}
		if any && !s.u.Excursion {
			s.u.Excursion, s.u.ExcursionHeight = true, p.ctx.Height
			p.set(s)
		}
	}
}

func outside(temps []SensorReading, l *Lot) bool {
	for _, s := range temps {
		if (s.HasValue && (s.ValueMilli < l.TempMinMilli || s.ValueMilli > l.TempMaxMilli)) ||
			(s.HasMin && s.MinMilli < l.TempMinMilli) || (s.HasMax && s.MaxMilli > l.TempMaxMilli) {
			return true
		}
	}
	return false
}

// held reports whether the unit counts as held by its custodian (recall
// notices and the custodian index): active or in transit.
func held(u *Unit) bool { return u.Status == StatusActive || u.Status == StatusInTransit }

// apply writes the planned changes and the stored event. New units get
// the next unit numbers, in the order the event loaded them, and their
// index entries (replacing any stale entry of the same EPC).
func (p *eventPlan) apply(index int) uint64 {
	kv := p.kv
	id := nextID(kv, keyNextEvent)
	var nextUnit uint64 // read on the first new unit

	for _, l := range p.lots {
		store.SetJSON(kv, LotKey(l.GTIN, l.Lot), l)
	}
	for _, l := range p.links {
		if l.add {
			kv.Set(childKey(l.parent[:], l.child[:]), []byte{1})
		} else {
			kv.Delete(childKey(l.parent[:], l.child[:]))
		}
	}
	var cohorts []cohortDelta
	bump := func(key []byte, d int64) {
		for i := range cohorts {
			if string(cohorts[i].key) == string(key) {
				cohorts[i].delta += d
				return
			}
		}
		cohorts = append(cohorts, cohortDelta{key, d})
	}
	for _, s := range p.order {
		if !s.dirty {
			continue
		}
		u := s.u
		u.LastEvent = id
		if !s.exists {
			u.FirstEvent = id
		}
		if s.exists && held(&s.orig) && (!held(u) || s.orig.Custodian != u.Custodian) {
			if s.orig.Cohort != 0 {
				bump(cohortKey(s.orig.Custodian, s.orig.GTIN, s.orig.Lot, s.orig.Cohort), -1)
				u.Cohort = 0
			} else {
				kv.Delete(heldKey(s.orig.Custodian, s.orig.GTIN, s.orig.Lot, s.h[:]))
			}
		}
		if held(u) && (!s.exists || !held(&s.orig) || s.orig.Custodian != u.Custodian) {
			if !s.exists {
				u.Cohort = id
				bump(cohortKey(u.Custodian, u.GTIN, u.Lot, id), 1)
			} else {
				kv.Set(heldKey(u.Custodian, u.GTIN, u.Lot, s.h[:]), []byte{1})
			}
		}
		if !s.exists {
			if nextUnit == 0 {
				nextUnit = counter(kv, keyNextUnit)
			}
			u.Number = nextUnit
			nextUnit++
			p.idx.Set(IndexKey(s.h[:]), u64(u.Number))
		}
		store.SetJSON(kv, UnitKey(u.Number), u)
	}
	if nextUnit != 0 {
		kv.Set(keyNextUnit, u64(nextUnit))
	}
	for _, c := range cohorts {
		n := int64(0)
		if bz := kv.Get(c.key); bz != nil {
			n = int64(binary.BigEndian.Uint64(bz))
		}
		switch n += c.delta; {
		case n < 0:
			panic(fmt.Sprintf("supply: cohort %X count below zero", c.key))
		case n == 0:
			kv.Delete(c.key)
		default:
			kv.Set(c.key, u64(uint64(n)))
		}
	}
	se := &StoredEvent{ID: id, Event: publicForm(p.ev), Org: p.org, Signer: p.ctx.Signer, Height: p.ctx.Height, Time: p.ctx.Time,
		Index: index, Receiver: p.receiver}
	store.SetJSON(kv, EventKey(id), se)
	for _, h := range p.touched {
		if s, ok := p.byHash(h); ok && !s.exists {
			continue // a new unit: FirstEvent names this event
		}
		kv.Set(byEPCKey(h[:], id), []byte{1})
	}
	kv.Set(byTimeKey(p.ctx.Time, id), []byte{1})
	if p.ev.BizStep != "" {
		kv.Set(cat(byStepPrefix(p.ev.BizStep), u64(id)), []byte{1})
	}
	if p.ev.Disposition != "" {
		kv.Set(cat(byDispPrefix(p.ev.Disposition), u64(id)), []byte{1})
	}
	return id
}

// nextID takes the next id of the counter at key.
func nextID(kv store.KV, key []byte) uint64 {
	id := counter(kv, key)
	kv.Set(key, u64(id+1))
	return id
}

// counter reads the next id of the counter at key (ids start at 1).
func counter(kv store.Reader, key []byte) uint64 {
	if bz := kv.Get(key); bz != nil {
		return binary.BigEndian.Uint64(bz)
	}
	return 1
}

// raise records an alert for an event that was not applied.
func (k Keeper) raise(ctx *module.Context, orgID string, index int, ev *Event, a *alertErr) uint64 {
	kv := ctx.Store(StoreName)
	al := &Alert{Kind: a.kind, EPC: a.epc, Org: orgID, Height: ctx.Height, Time: ctx.Time, EventHash: ev.Hash, EventIndex: index, Detail: a.detail}
	if sg, ok := ParseSGTIN(a.epc); ok {
		al.GTIN = sg.GTIN
		if pr := k.Product(kv, sg.GTIN); pr != nil {
			al.Owner = pr.Owner
		}
	}
	if a.u != nil {
		al.Custodian = a.u.Custodian
		if al.Owner == "" {
			al.Owner = a.u.Owner
		}
	}
	al.ID = nextID(kv, keyNextAlert)
	store.SetJSON(kv, AlertKey(al.ID), al)
	for _, o := range []string{al.Org, al.Owner, al.Custodian} {
		if o != "" {
			kv.Set(alertOrgKey(o, al.ID), []byte{1})
		}
	}
	return al.ID
}

func (k Keeper) capture(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgCapture)
	if err := k.requireRole(ctx, m.Org, CaptureRoles); err != nil {
		return err
	}
	kv, idx := ctx.Store(StoreName), ctx.Store(IndexStoreName)
	params := k.Params(kv)
	n := 0
	for i := range m.Events {
		ev := &m.Events[i]
		n += len(ev.EPCs) + len(ev.ChildEPCs) + len(ev.InputEPCs) + len(ev.OutputEPCs)
	}
	if len(m.Events) > params.MaxEventsPerCapture || n > params.MaxEPCsPerCapture {
		return ErrTooLarge.Wrapf("%d events and %d EPCs; at most %d and %d", len(m.Events), n, params.MaxEventsPerCapture, params.MaxEPCsPerCapture)
	}
	for i := range m.Events {
		ev := &m.Events[i]
		p := &eventPlan{k: k, ctx: ctx, kv: kv, idx: idx, org: m.Org, ev: ev, units: map[string]*unitState{}, hashes: map[[32]byte]*unitState{}, products: map[string]*Product{}, seen: map[[32]byte]bool{}}
		err := p.run()
		var ae *alertErr
		if errors.As(err, &ae) {
			id := k.raise(ctx, m.Org, i, ev, ae)
			ctx.Emit(module.NewEvent("supply.event", "index", fmt.Sprint(i), "outcome", OutcomeAlert, "alert_id", fmt.Sprint(id),
				"alert", ae.kind, "epc", ae.epc, "reason", ae.detail))
			continue
		}
		if err != nil {
			var ee *epcError
			if errors.As(err, &ee) {
				return wrapEvent(ee.err, fmt.Sprintf("event %d (%s) %s", i, ev.Kind, ee.epc))
			}
			return wrapEvent(err, fmt.Sprintf("event %d (%s)", i, ev.Kind))
		}
		p.coldChain()
		id := p.apply(i)
		ctx.Emit(module.NewEvent("supply.event", "index", fmt.Sprint(i), "outcome", OutcomeApplied, "event_id", fmt.Sprint(id),
			"biz_step", ev.BizStep, "units", fmt.Sprint(len(p.touched))))
	}
	return nil
}

// wrapEvent prefixes a coded error's message with the event it concerns,
// keeping its code.
func wrapEvent(err error, where string) error {
	var me *module.Error
	for _, e := range allErrors() {
		if errors.Is(err, e) {
			me = e
			break
		}
	}
	if me == nil {
		return ErrInvalidMsg.Wrapf("%s: %v", where, err)
	}
	return me.Wrapf("%s: %s", where, trimDesc(err.Error(), me.Desc))
}

func trimDesc(msg, desc string) string {
	if len(msg) > len(desc)+2 && msg[:len(desc)] == desc {
		return msg[len(desc)+2:]
	}
	return msg
}

var timeZero time.Time
