package supply

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
)

// Keeper reads and writes supply state. Every read function takes the
// store reader of the supply module ("supply") at the height the caller
// answers from — those that find units by EPC (Unit, Children, Events,
// Provenance, Held, RecallNotices, Verify, VerifyEPC) take it with the unit
// index as Readers — and orgs, where needed, the org store's reader.
type Keeper struct {
	orgs OrgReader
}

// Readers is what the keeper reads to find units by EPC: State, the supply
// store as committed at the height answered from, and Index, the unit
// index (IndexStoreName). The index has no heights: a reader of it sees
// its latest content whatever height it was opened at, and every entry
// read is confirmed against State (the unit at the number it names must
// have the EPC asked for), so any reader of it serves any height of State.
type Readers struct {
	State store.Reader
	Index store.Reader
}

func getJSON(r store.Reader, key []byte, v any) bool { return store.GetJSON(r, StoreName, key, v) }

// Params returns the module parameters.
func (Keeper) Params(r store.Reader) Params {
	p := DefaultParams()
	getJSON(r, keyParams, &p)
	return p
}

// Product returns the product registered under gtin (any GTIN form), or nil.
func (Keeper) Product(r store.Reader, gtin string) *Product {
	g, ok := NormalizeGTIN(gtin)
	if !ok {
		return nil
	}
	p := &Product{}
	if !getJSON(r, ProductKey(g), p) {
		return nil
	}
	return p
}

// Lot returns lot data of gtin, or nil.
func (Keeper) Lot(r store.Reader, gtin, lot string) *Lot {
	g, ok := NormalizeGTIN(gtin)
	if !ok {
		return nil
	}
	l := &Lot{}
	if !getJSON(r, LotKey(g, lot), l) {
		return nil
	}
	return l
}

// Lots returns every lot of gtin, in lot order.
func (Keeper) Lots(r store.Reader, gtin string) []*Lot {
	g, ok := NormalizeGTIN(gtin)
	if !ok {
		return nil
	}
	var out []*Lot
	p := lotPrefix(g)
	it := r.Iterator(p, store.PrefixEnd(p))
	defer it.Close()
	for ; it.Valid(); it.Next() {
		l := &Lot{}
		if err := json.Unmarshal(it.Value(), l); err != nil {
			panic(fmt.Sprintf("supply: corrupt lot: %v", err))
		}
		out = append(out, l)
	}
	return out
}

// Unit returns the unit with EPC epc (a pure-identity URN), or nil.
func (Keeper) Unit(r Readers, epc string) *Unit {
	h := EPCHash(epc)
	return unitByEPC(r.State, r.Index, h[:], epc)
}

// indexedNumber returns the unit number the index gives EPC hash h, or 0.
// It is a hint: see unitByEPC.
func indexedNumber(idx store.Reader, h []byte) uint64 {
	bz := idx.Get(IndexKey(h))
	if len(bz) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(bz)
}

// unitAt returns the unit at number n in st, or nil.
func unitAt(st store.Reader, n uint64) *Unit {
	if n == 0 {
		return nil
	}
	u := &Unit{}
	if !getJSON(st, UnitKey(n), u) {
		return nil
	}
	return u
}

// unitByEPC finds the unit with EPC epc (hash h): the index names a
// number, and the authenticated unit at that number must have that EPC.
// A missing entry, a number without a unit (an entry of a height never
// committed, or of a later height than st's) or a unit of another EPC all
// mean "no such unit" (nil).
func unitByEPC(st, idx store.Reader, h []byte, epc string) *Unit {
	u := unitAt(st, indexedNumber(idx, h))
	if u == nil || u.EPC != epc {
		return nil
	}
	return u
}

// unitByHash is unitByEPC for a unit known by its EPC hash (the custodian
// and child indexes name units so): the unit found must hash to h.
func unitByHash(st, idx store.Reader, h []byte) *Unit {
	u := unitAt(st, indexedNumber(idx, h))
	if u == nil {
		return nil
	}
	if uh := EPCHash(u.EPC); !bytes.Equal(uh[:], h) {
		return nil
	}
	return u
}

// Children returns the EPCs packed directly in container epc, in key order.
func (Keeper) Children(r Readers, epc string) []string {
	h := EPCHash(epc)
	var out []string
	p := childPrefix(h[:])
	it := r.State.Iterator(p, store.PrefixEnd(p))
	defer it.Close()
	for ; it.Valid(); it.Next() {
		if u := unitByHash(r.State, r.Index, it.Key()[len(p):]); u != nil {
			out = append(out, u.EPC)
		}
	}
	return out
}

// Event returns stored event id, or nil.
func (Keeper) Event(r store.Reader, id uint64) *StoredEvent {
	e := &StoredEvent{}
	if !getJSON(r, EventKey(id), e) {
		return nil
	}
	return e
}

// Provenance returns every event on the unit epc, oldest first: its own
// events and those on the containers it was packed in while it was packed.
func (k Keeper) Provenance(r Readers, epc string) []*StoredEvent {
	return k.Events(r, EventFilter{EPC: epc, Limit: -1})
}

// Events returns stored events matching f, in id (and so block time)
// order, at most f.Limit (0: DefaultEventLimit; negative: all).
func (k Keeper) Events(rs Readers, f EventFilter) []*StoredEvent {
	r := rs.State
	limit := f.Limit
	if limit == 0 {
		limit = DefaultEventLimit
	}
	var p, start []byte
	idAt := func(key []byte) uint64 { return binary.BigEndian.Uint64(key[len(key)-8:]) }
	switch {
	case f.EPC != "":
		h := EPCHash(f.EPC)
		p = byEPCPrefix(h[:])
		start = byEPCKey(h[:], f.After+1)
	case f.BizStep != "":
		p = byStepPrefix(f.BizStep)
		start = cat(p, u64(f.After+1))
	case f.Disposition != "":
		p = byDispPrefix(f.Disposition)
		start = cat(p, u64(f.After+1))
	case !f.From.IsZero():
		p = prefixByTime
		start = byTimeKey(f.From, 0)
	default:
		p = prefixEvent
		start = EventKey(f.After + 1)
	}
	if f.After == ^uint64(0) {
		return nil
	}
	var out []*StoredEvent
	// A unit's creating event is not in the EPC index (Unit.FirstEvent).
	var first uint64
	if f.EPC != "" {
		if u := k.Unit(rs, f.EPC); u != nil && u.FirstEvent > f.After {
			first = u.FirstEvent
		}
	}
	it := r.Iterator(start, store.PrefixEnd(p))
	defer it.Close()
	for valid := true; limit < 0 || len(out) < limit; {
		valid = valid && it.Valid()
		var id uint64
		switch {
		case valid && (first == 0 || idAt(it.Key()) < first):
			id = idAt(it.Key())
			it.Next()
		case first != 0:
			id, first = first, 0
		default:
			return out
		}
		if id <= f.After {
			continue
		}
		e := k.Event(r, id)
		if e == nil {
			continue
		}
		if !f.To.IsZero() && !e.Time.Before(f.To) {
			if p[0] == prefixByTime[0] {
				break
			}
			continue
		}
		if (!f.From.IsZero() && e.Time.Before(f.From)) || (f.BizStep != "" && e.Event.BizStep != f.BizStep) ||
			(f.Disposition != "" && e.Event.Disposition != f.Disposition) {
			continue
		}
		out = append(out, e)
	}
	return out
}

// Alert returns alert id, or nil.
func (Keeper) Alert(r store.Reader, id uint64) *Alert {
	a := &Alert{}
	if !getJSON(r, AlertKey(id), a) {
		return nil
	}
	return a
}

// Alerts returns the alerts orgID may see, oldest first: every alert for a
// regulator; otherwise those it raised, on its products, or on units it
// held. orgs reads the org store.
func (k Keeper) Alerts(r, orgs store.Reader, orgID string) []*Alert {
	var out []*Alert
	if o, err := k.orgs.Org(orgs, orgID); err == nil && o.Type == RegulatorType {
		it := r.Iterator(prefixAlert, store.PrefixEnd(prefixAlert))
		defer it.Close()
		for ; it.Valid(); it.Next() {
			a := &Alert{}
			if err := json.Unmarshal(it.Value(), a); err != nil {
				panic(fmt.Sprintf("supply: corrupt alert: %v", err))
			}
			out = append(out, a)
		}
		return out
	}
	p := alertOrgPrefix(orgID)
	it := r.Iterator(p, store.PrefixEnd(p))
	defer it.Close()
	for ; it.Valid(); it.Next() {
		if a := k.Alert(r, binary.BigEndian.Uint64(it.Key()[len(p):])); a != nil {
			out = append(out, a)
		}
	}
	return out
}

// Recall returns the recall of (gtin, lot), or of every lot of gtin, or nil.
func (Keeper) Recall(r store.Reader, gtin, lot string) *Recall {
	rc := &Recall{}
	if lot != "" && getJSON(r, RecallKey(gtin, lot), rc) {
		return rc
	}
	if getJSON(r, RecallKey(gtin, ""), rc) {
		return rc
	}
	return nil
}

// Recalls returns every recall record, in (gtin, lot) order.
func (Keeper) Recalls(r store.Reader) []*Recall {
	var out []*Recall
	it := r.Iterator(prefixRecall, store.PrefixEnd(prefixRecall))
	defer it.Close()
	for ; it.Valid(); it.Next() {
		rc := &Recall{}
		if err := json.Unmarshal(it.Value(), rc); err != nil {
			panic(fmt.Sprintf("supply: corrupt recall: %v", err))
		}
		out = append(out, rc)
	}
	return out
}

// RecallNotice is one recalled unit an organization holds.
type RecallNotice struct {
	EPC    string `json:"epc"`
	GTIN   string `json:"gtin"`
	Lot    string `json:"lot,omitempty"`
	Status string `json:"status"` // active or in_transit
	Recall Recall `json:"recall"`
}

// RecallNotices returns exactly the recalled units orgID currently holds
// (as custodian, active or in transit), in (gtin, lot, unit key) order. It
// reads one index range per recall record, never every unit.
func (k Keeper) RecallNotices(rs Readers, orgID string) []RecallNotice {
	r := rs.State
	var out []RecallNotice
	recalls := k.Recalls(r)
	for _, rc := range recalls {
		var p []byte
		if rc.Lot == "" {
			p = heldGTINPrefix(orgID, rc.GTIN)
		} else {
			if k.Recall(r, rc.GTIN, "") != nil {
				continue // the whole product is recalled; listed under lot ""
			}
			p = heldLotPrefix(orgID, rc.GTIN, rc.Lot)
		}
		k.heldIn(rs, orgID, p, func(u *Unit) bool {
			if u.GTIN == rc.GTIN && (rc.Lot == "" || rc.Lot == u.Lot) {
				out = append(out, RecallNotice{EPC: u.EPC, GTIN: u.GTIN, Lot: u.Lot, Status: u.Status, Recall: *rc})
			}
			return true
		})
	}
	slices.SortStableFunc(out, func(a, b RecallNotice) int {
		if c := strings.Compare(a.GTIN, b.GTIN); c != 0 {
			return c
		}
		return strings.Compare(a.Lot, b.Lot)
	})
	return out
}

// Held returns the EPCs of the units orgID holds (active or in transit),
// at most limit (0: all), in index order.
func (Keeper) Held(r Readers, orgID string, limit int) []string {
	var out []string
	k := Keeper{}
	k.heldIn(r, orgID, heldOrgPrefix(orgID), func(u *Unit) bool {
		out = append(out, u.EPC)
		return limit <= 0 || len(out) < limit
	})
	return out
}

// heldIn calls fn for each unit orgID holds whose custodian index entry
// starts with prefix: units of their own, then each cohort's members that
// are still in it, until fn returns false.
func (k Keeper) heldIn(rs Readers, orgID string, prefix []byte, fn func(*Unit) bool) {
	r := rs.State
	it := r.Iterator(prefix, store.PrefixEnd(prefix))
	defer it.Close()
	for ; it.Valid(); it.Next() {
		key, val := it.Key(), it.Value()
		if len(val) == 1 { // a unit of its own
			if u := unitByHash(r, rs.Index, key[len(key)-32:]); u != nil && !fn(u) {
				return
			}
			continue
		}
		id := binary.BigEndian.Uint64(key[len(key)-8:])
		e := k.Event(r, id)
		if e == nil {
			continue
		}
		for _, l := range [][]string{e.Event.EPCs, {e.Event.ParentID}, e.Event.ChildEPCs, e.Event.OutputEPCs} {
			for _, epc := range l {
				if epc == "" {
					continue
				}
				// Members of this cohort only: the same event may hold
				// cohorts of several GTINs.
				u := k.Unit(rs, epc)
				if u == nil || u.Cohort != id || u.Custodian != orgID || string(cohortKey(orgID, u.GTIN, u.Lot, id)) != string(key) {
					continue
				}
				if !fn(u) {
					return
				}
			}
		}
	}
}

// Verify answers a verification request (DSCSA saleable-returns style) from
// state: gtin in any GTIN form, serial as in the SGTIN URN, and, if
// given, the lot and expiry (YYYY-MM-DD) printed on the pack, judged at
// time now (the block time of the height read).
func (k Keeper) Verify(rs Readers, gtin, serial, lot, expiry string, now time.Time) VerifyResult {
	r := rs.State
	res := VerifyResult{GTIN: gtin, Serial: serial}
	g, ok := NormalizeGTIN(gtin)
	if !ok {
		res.Reason, res.Detail = ReasonUnknownSerial, "not a valid GTIN"
		return res
	}
	res.GTIN = g
	p := k.Product(r, g)
	if p == nil {
		res.Reason, res.Detail = ReasonUnknownProduct, "product not registered"
		return res
	}
	// The URN's company-prefix partition is normally the owner's prefix
	// length; an EPC encoded with another partition is found too.
	res.EPC = SGTINURN(g, len(p.Prefix), serial)
	u := k.Unit(rs, res.EPC)
	for l := 6; u == nil && l <= 12; l++ {
		if e := SGTINURN(g, l, serial); l != len(p.Prefix) {
			if u = k.Unit(rs, e); u != nil {
				res.EPC = e
			}
		}
	}
	return k.verifyUnit(r, res.EPC, u, lot, expiry, now)
}

// VerifyEPC is Verify for an SGTIN URN.
func (k Keeper) VerifyEPC(r Readers, epc, lot, expiry string, now time.Time) VerifyResult {
	return k.verifyUnit(r.State, epc, k.Unit(r, epc), lot, expiry, now)
}

// verifyUnit judges u, the unit epc names (nil: none).
func (k Keeper) verifyUnit(r store.Reader, epc string, u *Unit, lot, expiry string, now time.Time) VerifyResult {
	res := VerifyResult{EPC: epc}
	if s, ok := ParseSGTIN(epc); ok {
		res.GTIN, res.Serial = s.GTIN, s.Serial
	}
	if u == nil {
		res.Reason, res.Detail = ReasonUnknownSerial, "no such serial was commissioned"
		return res
	}
	res.Status, res.Custodian, res.Lot, res.Expiry, res.Excursion = u.Status, u.Custodian, u.Lot, u.Expiry, u.Excursion
	res.Recalled = u.GTIN != "" && k.Recall(r, u.GTIN, u.Lot) != nil
	fail := func(reason, detail string) VerifyResult {
		res.Reason, res.Detail = reason, detail
		return res
	}
	switch {
	case lot != "" && lot != u.Lot:
		return fail(ReasonLotMismatch, "the lot on the pack is not the lot commissioned")
	case expiry != "" && expiry != u.Expiry:
		return fail(ReasonExpiryMismatch, "the expiry on the pack is not the expiry commissioned")
	case u.Status == StatusStolen:
		return fail(ReasonStolen, "reported stolen")
	case res.Recalled:
		return fail(ReasonRecalled, "the lot is recalled")
	case u.Status == StatusDecommissioned:
		return fail(ReasonDecommissioned, "decommissioned")
	case u.Status == StatusDestroyed:
		return fail(ReasonDestroyed, "destroyed")
	case u.Status == StatusDispensed:
		return fail(ReasonDispensed, "already dispensed")
	case u.Excursion:
		return fail(ReasonExcursion, "a temperature outside the lot's range was recorded")
	case u.Expiry != "" && u.Expiry < now.UTC().Format(time.DateOnly):
		return fail(ReasonExpired, "past its expiry date")
	case u.Status == StatusInTransit && now.Sub(u.ShippedTime) > k.Params(r).MaxTransit:
		return fail(ReasonCustodyGap, "in transit longer than the allowed time; never received")
	}
	res.Verified = true
	return res
}

// --- handlers: products, lots, recalls -------------------------------------

func (k Keeper) requireRole(ctx *module.Context, orgID string, roles []string) error {
	orgs := ctx.Store(OrgStore)
	if !k.orgs.IsActiveOrg(orgs, orgID) {
		return ErrUnknownOrg.Wrapf("%q", orgID)
	}
	for _, role := range roles {
		if k.orgs.HasRole(orgs, ctx.Signer, orgID, role) {
			return nil
		}
	}
	return ErrUnauthorized.Wrapf("%s holds none of %v in %q", ctx.Signer, roles, orgID)
}

// putLot creates or completes lot data; conflicting values are refused.
func putLot(ctx *module.Context, gtin, lot, expiry string, has bool, lo, hi int64) (*Lot, error) {
	kv := ctx.Store(StoreName)
	l := &Lot{}
	if !getJSON(kv, LotKey(gtin, lot), l) {
		l = &Lot{GTIN: gtin, Lot: lot, RegisteredHeight: ctx.Height}
	}
	if expiry != "" {
		if l.Expiry != "" && l.Expiry != expiry {
			return nil, ErrLotMismatch.Wrapf("lot %s of %s expires %s, not %s", lot, gtin, l.Expiry, expiry)
		}
		l.Expiry = expiry
	}
	if has {
		if l.HasTempRange && (l.TempMinMilli != lo || l.TempMaxMilli != hi) {
			return nil, ErrLotMismatch.Wrapf("lot %s of %s already has the range [%d, %d] m°C", lot, gtin, l.TempMinMilli, l.TempMaxMilli)
		}
		l.HasTempRange, l.TempMinMilli, l.TempMaxMilli = true, lo, hi
	}
	store.SetJSON(kv, LotKey(gtin, lot), l)
	return l, nil
}

func (k Keeper) registerProduct(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgRegisterProduct)
	if err := k.requireRole(ctx, m.Org, RegisterRoles); err != nil {
		return err
	}
	in := m.GTIN
	if in == "" {
		in = m.UDIDI
	}
	g, _ := NormalizeGTIN(in)
	owner, prefix := k.orgs.PrefixOwner(ctx.Store(OrgStore), g[1:])
	if owner != m.Org {
		return ErrNotPrefixOwner.Wrapf("GTIN %s: %q owns no GS1 company prefix it starts with", g, m.Org)
	}
	kind := m.Kind
	if kind == "" {
		kind = ProductDrug
		if m.UDIDI != "" {
			kind = ProductDevice
		}
	}
	udi := ""
	if m.UDIDI != "" {
		udi = g
	}
	kv := ctx.Store(StoreName)
	p := &Product{}
	if getJSON(kv, ProductKey(g), p) {
		if p.Owner != m.Org || (m.NDC != "" && m.NDC != p.NDC) || (udi != "" && udi != p.UDIDI) ||
			(m.Name != "" && m.Name != p.Name) || (m.Kind != "" && m.Kind != p.Kind) {
			return ErrProductExists.Wrapf("GTIN %s", g)
		}
	} else {
		p = &Product{GTIN: g, NDC: m.NDC, UDIDI: udi, Name: m.Name, Kind: kind, Owner: m.Org, Prefix: prefix,
			RegisteredHeight: ctx.Height, Registered: ctx.Time}
		store.SetJSON(kv, ProductKey(g), p)
		ctx.Emit(module.NewEvent("supply.product_registered", "gtin", g, "org", m.Org, "kind", kind))
	}
	if m.Lot != "" {
		if _, err := putLot(ctx, g, m.Lot, m.Expiry, m.HasTempRange, m.TempMinMilli, m.TempMaxMilli); err != nil {
			return err
		}
		ctx.Emit(module.NewEvent("supply.lot_registered", "gtin", g, "lot", m.Lot))
	}
	return nil
}

func (k Keeper) registerLot(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgRegisterLot)
	if err := k.requireRole(ctx, m.Org, RegisterRoles); err != nil {
		return err
	}
	g, _ := NormalizeGTIN(m.GTIN)
	p := k.Product(ctx.Store(StoreName), g)
	if p == nil {
		return ErrUnknownProduct.Wrapf("GTIN %s", g)
	}
	if p.Owner != m.Org {
		return ErrNotPrefixOwner.Wrapf("GTIN %s belongs to %q", g, p.Owner)
	}
	if _, err := putLot(ctx, g, m.Lot, m.Expiry, m.HasTempRange, m.TempMinMilli, m.TempMaxMilli); err != nil {
		return err
	}
	ctx.Emit(module.NewEvent("supply.lot_registered", "gtin", g, "lot", m.Lot))
	return nil
}

func (k Keeper) recall(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgRecall)
	if err := k.requireRole(ctx, m.Org, RecallRoles); err != nil {
		return err
	}
	g, _ := NormalizeGTIN(m.GTIN)
	kv := ctx.Store(StoreName)
	p := k.Product(kv, g)
	if p == nil {
		return ErrUnknownProduct.Wrapf("GTIN %s", g)
	}
	o, err := k.orgs.Org(ctx.Store(OrgStore), m.Org)
	if err != nil || (p.Owner != m.Org && o.Type != RegulatorType) {
		return ErrNotRecaller.Wrapf("%q is neither the owner of %s nor a regulator", m.Org, g)
	}
	lots := m.Lots
	if len(lots) == 0 {
		lots = []string{""}
	}
	for _, l := range lots {
		if kv.Has(RecallKey(g, l)) {
			continue // recalled already; the first recall stands
		}
		store.SetJSON(kv, RecallKey(g, l), &Recall{GTIN: g, Lot: l, By: m.Org, Signer: ctx.Signer, Reason: m.Reason, Height: ctx.Height, Time: ctx.Time})
	}
	ctx.Emit(module.NewEvent("supply.recalled", "gtin", g, "lots", strings.Join(m.Lots, ","), "org", m.Org))
	return nil
}
