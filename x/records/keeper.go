package records

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/org"
)

// Keeper reads and writes records state.
type Keeper struct {
	ids      IdentityChecker
	orgs     OrgReader
	consents ConsentReader
}

func getJSON(r store.Reader, key []byte, v any) bool { return store.GetJSON(r, StoreName, key, v) }

// Anchor returns record id's anchor, or an error wrapping ErrNotFound.
func (Keeper) Anchor(r store.Reader, id string) (*Anchor, error) {
	a := &Anchor{}
	if !getJSON(r, anchorKey(id), a) {
		return nil, ErrNotFound.Wrapf("%q", id)
	}
	return a, nil
}

// PatientRecords returns a patient's anchors in record-id order.
func (k Keeper) PatientRecords(r store.Reader, patient string) []*Anchor {
	var out []*Anchor
	p := byPatientPrefix(patient)
	it := r.Iterator(p, store.PrefixEnd(p))
	defer it.Close()
	for ; it.Valid(); it.Next() {
		if a, err := k.Anchor(r, string(it.Key()[len(p):])); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// Event returns access event id, or an error wrapping ErrNotFound.
func (Keeper) Event(r store.Reader, id uint64) (*AccessEvent, error) {
	e := &AccessEvent{}
	if !getJSON(r, eventKey(id), e) {
		return nil, ErrNotFound.Wrapf("access event %d", id)
	}
	return e, nil
}

// AccessLog returns every access event on a patient's records, oldest
// first, starting after event id after (0: from the start), at most limit
// (0: all).
func (k Keeper) AccessLog(r store.Reader, patient string, after uint64, limit int) []*AccessEvent {
	var out []*AccessEvent
	if after == math.MaxUint64 {
		return nil // nothing comes after; after+1 would wrap to the start
	}
	p := logPrefix(patient)
	start := p
	if after > 0 {
		start = logKey(patient, after+1)
	}
	it := r.Iterator(start, store.PrefixEnd(p))
	defer it.Close()
	for ; it.Valid() && (limit == 0 || len(out) < limit); it.Next() {
		if e, err := k.Event(r, binary.BigEndian.Uint64(it.Key()[len(p):])); err == nil {
			out = append(out, e)
		}
	}
	return out
}

// Erasure returns the patient's erasure, or nil.
func (Keeper) Erasure(r store.Reader, patient string) *Erasure {
	e := &Erasure{}
	if !getJSON(r, erasureKey(patient), e) {
		return nil
	}
	return e
}

// OwedErasures returns the patients whose records org's vault must still
// destroy, sorted.
func (Keeper) OwedErasures(r store.Reader, org string) []string {
	var out []string
	p := owedPrefix(org)
	it := r.Iterator(p, store.PrefixEnd(p))
	defer it.Close()
	for ; it.Valid(); it.Next() {
		out = append(out, string(it.Key()[len(p):]))
	}
	return out
}

// Params returns the module parameters.
func (Keeper) Params(r store.Reader) Params {
	p := DefaultParams()
	getJSON(r, keyParams, &p)
	return p
}

func (k Keeper) anchor(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgAnchor)
	kv := ctx.Store(StoreName)
	orgs := ctx.Store(OrgStore)
	// The checks below read identity and organization state that anchors
	// never change; a vault's transaction of 32 anchors for one patient
	// makes them once (module.Context.Fact).
	ids := ctx.Store(IdentityStore)
	active := func(did string) bool {
		return ctx.Fact("active\x00"+did, func() bool { return k.ids.IsActive(ids, did) })
	}
	if !active(m.Patient) {
		return ErrUnknownIdentity.Wrapf("patient %s", m.Patient)
	}
	if !ctx.Fact("org\x00"+m.Org, func() bool { return k.orgs.IsActiveOrg(orgs, m.Org) }) {
		return ErrUnknownOrg.Wrapf("%q", m.Org)
	}
	who := ctx.Signer
	if m.Author != "" {
		if !ctx.Fact("vault\x00"+m.Org+"\x00"+ctx.Signer, func() bool { return k.orgs.HasRole(orgs, ctx.Signer, m.Org, "vault") }) {
			return ErrNotAuthor.Wrapf("only %q's vault may write on behalf of %s", m.Org, m.Author)
		}
		if !active(m.Author) {
			return ErrUnknownIdentity.Wrapf("author %s", m.Author)
		}
		who = m.Author
	}
	author := who == m.Patient ||
		ctx.Fact("author\x00"+m.Org+"\x00"+who, func() bool { return k.orgs.HasAnyRole(orgs, who, m.Org, AuthorRoles...) })
	if !author {
		return ErrNotAuthor.Wrapf("%s holds none of %v in %q and is not the patient", who, AuthorRoles, m.Org)
	}
	prev, err := k.Anchor(kv, m.ID)
	switch {
	case err != nil && m.Version != 1:
		return ErrVersion.Wrapf("record %q does not exist; its first version is 1", m.ID)
	case err == nil && (prev.Patient != m.Patient || prev.HolderOrg != m.Org || prev.ResourceType != m.ResourceType):
		return ErrVersion.Wrapf("record id %q is taken", m.ID)
	case err == nil && prev.Status == StatusErased:
		return ErrErased.Wrapf("%q", m.ID)
	case err == nil && m.Version != prev.Version+1:
		return ErrVersion.Wrapf("record %q is at version %d; the next is %d", m.ID, prev.Version, prev.Version+1)
	}
	a := &Anchor{ID: m.ID, Patient: m.Patient, HolderOrg: m.Org, Author: who, Submitter: ctx.Signer, ResourceType: m.ResourceType,
		Category: m.Category, Version: m.Version, CiphertextHash: m.CiphertextHash, Commitment: m.Commitment,
		Status: StatusActive, CreatedHeight: ctx.Height, Created: ctx.Time, UpdatedHeight: ctx.Height, Updated: ctx.Time}
	if prev != nil {
		a.CreatedHeight, a.Created = prev.CreatedHeight, prev.Created
	}
	store.SetJSON(kv, anchorKey(m.ID), a)
	kv.Set(byPatientKey(m.Patient, m.ID), []byte{1})
	ctx.Emit(module.NewEvent("records.anchored", "id", m.ID, "patient", m.Patient, "org", m.Org, "version", fmt.Sprint(m.Version)))
	return nil
}

// decide returns the decision for one access request, without writing.
func (k Keeper) decide(ctx *module.Context, requester string, m *MsgRequestAccess, recs []*Anchor) (decision, basis string, notAfter time.Time) {
	params := k.Params(ctx.Store(StoreName))
	orgs := ctx.Store(OrgStore)
	cons := ctx.Store(ConsentStore)
	deny := func(why string) (string, string, time.Time) { return Deny, why, time.Time{} }
	for _, a := range recs {
		if a.Status == StatusErased {
			return deny("erased")
		}
	}
	switch {
	case m.Org == "" && requester == m.Patient:
		return Permit, "patient", ctx.Time.Add(params.AccessTTL)
	case m.Org == "" && slices.Contains(k.consents.Guardians(cons, m.Patient), requester):
		return Permit, "guardian", ctx.Time.Add(params.AccessTTL)
	case m.Org == "":
		return deny("no consent")
	case m.BreakGlass:
		if !k.orgs.HasRole(orgs, requester, m.Org, "emergency") {
			return deny("break-glass needs the emergency role")
		}
		return Permit, "break-glass", ctx.Time.Add(params.BreakGlassTTL)
	}
	req := consent.Requester{DID: requester, Org: m.Org}
	for _, mem := range k.orgs.Memberships(orgs, requester) {
		if k.orgs.IsActiveOrg(orgs, mem.Org) {
			req.Memberships = append(req.Memberships, consent.Membership{Org: mem.Org, Roles: mem.Roles})
		}
	}
	notAfter = ctx.Time.Add(params.AccessTTL)
	var bases []string
	for _, a := range recs {
		// The organization that holds a record treats its own patients.
		if a.HolderOrg == m.Org && (m.Purpose == consent.PurposeTreatment || m.Purpose == consent.PurposeOperations) &&
			slices.ContainsFunc(CareRoles, func(role string) bool { return k.orgs.HasRole(orgs, requester, m.Org, role) }) {
			bases = appendOnce(bases, "holder-org")
			continue
		}
		c := k.consents.Find(cons, m.Patient, req, m.Purpose, consent.Record{ID: a.ID, Type: a.ResourceType, Category: a.Category, HolderOrg: a.HolderOrg}, ctx.Time)
		if c == nil {
			return deny("no consent covers " + a.ID)
		}
		bases = appendOnce(bases, fmt.Sprintf("consent:%d", c.ID))
		if !c.NotAfter.IsZero() && c.NotAfter.Before(notAfter) {
			notAfter = c.NotAfter
		}
	}
	if len(recs) == 0 {
		return deny("no records")
	}
	return Permit, strings.Join(bases, ","), notAfter
}

func appendOnce(l []string, s string) []string {
	if slices.Contains(l, s) {
		return l
	}
	return append(l, s)
}

func (k Keeper) requestAccess(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgRequestAccess)
	kv := ctx.Store(StoreName)
	requester := ctx.Signer
	if m.Requester != "" {
		// A vault asks on behalf of someone who authenticated to its node.
		vaultOrgs := k.orgs.Memberships(ctx.Store(OrgStore), ctx.Signer)
		isVault := slices.ContainsFunc(vaultOrgs, func(mem *org.Member) bool {
			return mem.HasRole("vault") && k.orgs.IsActiveOrg(ctx.Store(OrgStore), mem.Org) && (m.Org == "" || mem.Org == m.Org)
		})
		if !isVault {
			return ErrUnauthorized.Wrapf("%s is not the vault of %q", ctx.Signer, m.Org)
		}
		// Admission checks the signer is active; the vault vouches only for
		// who authenticated, so the requester is checked here.
		if !k.ids.IsActive(ctx.Store(IdentityStore), m.Requester) {
			return ErrUnknownIdentity.Wrapf("requester %s", m.Requester)
		}
		requester = m.Requester
	}
	if !k.ids.IsActive(ctx.Store(IdentityStore), m.Patient) {
		return ErrUnknownIdentity.Wrapf("patient %s", m.Patient)
	}
	if m.Org != "" && !k.orgs.IsActiveOrg(ctx.Store(OrgStore), m.Org) {
		return ErrUnknownOrg.Wrapf("%q", m.Org)
	}
	if m.Org != "" && len(k.orgRoles(ctx, requester, m.Org)) == 0 {
		return ErrNotMember.Wrapf("%s in %q", requester, m.Org)
	}
	// Resolve the records; an unknown id or another patient's record is a
	// denial that is logged like any other.
	var recs []*Anchor
	missing := ""
	if len(m.Records) > 0 {
		for _, id := range m.Records {
			a, err := k.Anchor(kv, id)
			if err != nil || a.Patient != m.Patient {
				missing = id
				break
			}
			recs = append(recs, a)
		}
	} else {
		for _, a := range k.PatientRecords(kv, m.Patient) {
			if a.Status == StatusActive && (m.ResourceType == "" || a.ResourceType == m.ResourceType) {
				recs = append(recs, a)
			}
		}
		if len(recs) > MaxRecordsPerRequest {
			recs = recs[:MaxRecordsPerRequest]
		}
	}
	ev := &AccessEvent{Patient: m.Patient, Requester: requester, Submitter: ctx.Signer, RequesterOrg: m.Org, Purpose: m.Purpose,
		BreakGlass: m.BreakGlass, Reason: m.Reason, Height: ctx.Height, Time: ctx.Time, Records: []string{}}
	for _, a := range recs {
		ev.Records = append(ev.Records, a.ID)
	}
	if missing != "" {
		ev.Records = append(ev.Records, missing)
		ev.Decision, ev.Basis = Deny, "not found: "+missing
	} else {
		ev.Decision, ev.Basis, ev.NotAfter = k.decide(ctx, requester, m, recs)
	}
	id := uint64(1)
	if bz := kv.Get(keyNextEvent); bz != nil {
		id = binary.BigEndian.Uint64(bz)
	}
	kv.Set(keyNextEvent, binary.BigEndian.AppendUint64(nil, id+1))
	ev.ID = id
	store.SetJSON(kv, eventKey(id), ev)
	kv.Set(logKey(m.Patient, id), []byte{1})
	ctx.Emit(module.NewEvent("records.access", "id", fmt.Sprint(id), "patient", m.Patient, "requester", requester,
		"decision", ev.Decision, "basis", ev.Basis, "break_glass", fmt.Sprint(m.BreakGlass)))
	return nil
}

func (k Keeper) orgRoles(ctx *module.Context, did, org string) []string {
	for _, mem := range k.orgs.Memberships(ctx.Store(OrgStore), did) {
		if mem.Org == org {
			return mem.Roles
		}
	}
	return nil
}

func (k Keeper) requestErasure(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgRequestErasure)
	kv := ctx.Store(StoreName)
	if !k.consents.MayManage(ctx.Store(ConsentStore), m.Patient, ctx.Signer) {
		return ErrUnauthorized.Wrapf("%s is neither the patient nor a guardian", ctx.Signer)
	}
	e := k.Erasure(kv, m.Patient)
	if e == nil {
		e = &Erasure{Patient: m.Patient}
	}
	e.RequestedBy, e.RequestedHeight, e.Requested = ctx.Signer, ctx.Height, ctx.Time
	var orgIDs []string
	byOrg := map[string][]string{} // look-ups only; output order comes from orgIDs
	for _, a := range k.PatientRecords(kv, m.Patient) {
		if a.Status != StatusActive {
			continue
		}
		if _, seen := byOrg[a.HolderOrg]; !seen {
			orgIDs = append(orgIDs, a.HolderOrg)
		}
		byOrg[a.HolderOrg] = append(byOrg[a.HolderOrg], a.ID)
		// From now on nothing on chain links to the content: the hashes go.
		a.Status, a.ErasedHeight, a.CiphertextHash, a.Commitment = StatusErased, ctx.Height, nil, nil
		a.UpdatedHeight, a.Updated = ctx.Height, ctx.Time
		store.SetJSON(kv, anchorKey(a.ID), a)
	}
	slices.Sort(orgIDs)
	for _, o := range orgIDs {
		e.Orgs = append(e.Orgs, ErasureOrg{Org: o, Records: byOrg[o]})
		kv.Set(owedKey(o, m.Patient), []byte{1})
	}
	slices.SortFunc(e.Orgs, func(a, b ErasureOrg) int { return strings.Compare(a.Org, b.Org) })
	store.SetJSON(kv, erasureKey(m.Patient), e)
	ctx.Emit(module.NewEvent("records.erasure_requested", "patient", m.Patient, "orgs", strings.Join(orgIDs, ",")))
	return nil
}

func (k Keeper) erasureReceipt(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgErasureReceipt)
	kv := ctx.Store(StoreName)
	ok := false
	for _, role := range VaultRoles {
		ok = ok || k.orgs.HasRole(ctx.Store(OrgStore), ctx.Signer, m.Org, role)
	}
	if !ok {
		return ErrNotMember.Wrapf("%s holds none of %v in %q", ctx.Signer, VaultRoles, m.Org)
	}
	e := k.Erasure(kv, m.Patient)
	if e == nil || !kv.Has(owedKey(m.Org, m.Patient)) {
		return ErrNoErasure.Wrapf("%s at %q", m.Patient, m.Org)
	}
	for i := range e.Orgs {
		if e.Orgs[i].Org == m.Org && !e.Orgs[i].Done {
			e.Orgs[i].Done, e.Orgs[i].DoneHeight, e.Orgs[i].ConfirmedBy = true, ctx.Height, ctx.Signer
		}
	}
	kv.Delete(owedKey(m.Org, m.Patient))
	store.SetJSON(kv, erasureKey(m.Patient), e)
	ctx.Emit(module.NewEvent("records.erasure_receipt", "patient", m.Patient, "org", m.Org, "complete", fmt.Sprint(e.Complete())))
	return nil
}
