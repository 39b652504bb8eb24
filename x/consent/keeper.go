package consent

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
)

// Keeper reads and writes consent state.
type Keeper struct {
	ids  IdentityChecker
	orgs OrgChecker
}

func getJSON(r store.Reader, key []byte, v any) bool { return store.GetJSON(r, StoreName, key, v) }

// Get returns consent id, or an error wrapping ErrNotFound.
func (Keeper) Get(r store.Reader, id uint64) (*Consent, error) {
	c := &Consent{}
	if !getJSON(r, consentKey(id), c) {
		return nil, ErrNotFound.Wrapf("%d", id)
	}
	return c, nil
}

// ByPatient returns a patient's consents (all statuses), oldest first. Its
// cost depends on this patient's consents only, never on the chain's total.
func (k Keeper) ByPatient(r store.Reader, patient string) []*Consent {
	var out []*Consent
	p := byPatientPrefix(patient)
	it := r.Iterator(p, store.PrefixEnd(p))
	defer it.Close()
	for ; it.Valid(); it.Next() {
		id := binary.BigEndian.Uint64(it.Key()[len(p):])
		if c, err := k.Get(r, id); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// Guardians returns the guardians of patient (sorted).
func (Keeper) Guardians(r store.Reader, patient string) []string {
	var g Guardians
	getJSON(r, guardianKey(patient), &g)
	return g.Guardians
}

// MayManage reports whether did may act for patient: the patient or one of
// their guardians.
func (k Keeper) MayManage(r store.Reader, patient, did string) bool {
	return did == patient || slices.Contains(k.Guardians(r, patient), did)
}

func (k Keeper) grant(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgGrant)
	kv := ctx.Store(StoreName)
	if !k.MayManage(kv, m.Patient, ctx.Signer) {
		return ErrUnauthorized.Wrapf("%s is neither the patient nor a guardian", ctx.Signer)
	}
	ids := ctx.Store(IdentityStore)
	if !k.ids.IsActive(ids, m.Patient) {
		return ErrUnknownIdentity.Wrapf("patient %s", m.Patient)
	}
	switch m.Grantee.Kind {
	case GranteeDID:
		if !k.ids.IsActive(ids, m.Grantee.DID) {
			return ErrUnknownIdentity.Wrapf("grantee %s", m.Grantee.DID)
		}
	default:
		if !k.orgs.IsActiveOrg(ctx.Store(OrgStore), m.Grantee.Org) {
			return ErrUnknownOrg.Wrapf("%q", m.Grantee.Org)
		}
	}
	id := uint64(1)
	if bz := kv.Get(keyNextID); bz != nil {
		id = binary.BigEndian.Uint64(bz)
	}
	kv.Set(keyNextID, binary.BigEndian.AppendUint64(nil, id+1))
	c := &Consent{
		ID: id, Patient: m.Patient, Grantee: m.Grantee,
		ResourceTypes: m.ResourceTypes, RecordIDs: m.RecordIDs, Categories: m.Categories, Purposes: m.Purposes,
		NotBefore: ctx.Time, Condition: m.Condition, Status: StatusActive, GrantedBy: ctx.Signer, CreatedHeight: ctx.Height,
	}
	if m.NotBefore != 0 {
		c.NotBefore = time.Unix(int64(m.NotBefore), 0).UTC()
	}
	if m.NotAfter != 0 {
		c.NotAfter = time.Unix(int64(m.NotAfter), 0).UTC()
	}
	store.SetJSON(kv, consentKey(id), c)
	kv.Set(byPatientKey(m.Patient, id), []byte{1})
	ctx.Emit(module.NewEvent("consent.granted", "id", fmt.Sprint(id), "patient", m.Patient, "grantee_kind", m.Grantee.Kind))
	return nil
}

func (k Keeper) revoke(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgRevoke)
	kv := ctx.Store(StoreName)
	c, err := k.Get(kv, m.ConsentID)
	if err != nil {
		return err
	}
	if !k.MayManage(kv, c.Patient, ctx.Signer) {
		return ErrUnauthorized.Wrapf("%s is neither the patient nor a guardian", ctx.Signer)
	}
	if c.Status != StatusActive {
		return ErrNotActive.Wrapf("consent %d is %s", c.ID, c.Status)
	}
	c.Status, c.RevokedHeight, c.RevokedBy = StatusRevoked, ctx.Height, ctx.Signer
	store.SetJSON(kv, consentKey(c.ID), c)
	ctx.Emit(module.NewEvent("consent.revoked", "id", fmt.Sprint(c.ID), "patient", c.Patient))
	return nil
}

func (k Keeper) setGuardian(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgSetGuardian)
	if ctx.Signer != m.Patient {
		return ErrUnauthorized.Wrapf("only the patient names guardians")
	}
	kv := ctx.Store(StoreName)
	if !m.Remove && !k.ids.IsActive(ctx.Store(IdentityStore), m.Guardian) {
		return ErrUnknownIdentity.Wrapf("guardian %s", m.Guardian)
	}
	g := Guardians{Patient: m.Patient, Guardians: k.Guardians(kv, m.Patient)}
	if m.Remove {
		g.Guardians = slices.DeleteFunc(g.Guardians, func(s string) bool { return s == m.Guardian })
	} else if !slices.Contains(g.Guardians, m.Guardian) {
		if len(g.Guardians) >= 8 {
			return ErrInvalidMsg.Wrapf("at most 8 guardians")
		}
		g.Guardians = append(g.Guardians, m.Guardian)
		slices.Sort(g.Guardians)
	}
	if len(g.Guardians) == 0 {
		kv.Delete(guardianKey(m.Patient))
	} else {
		store.SetJSON(kv, guardianKey(m.Patient), g)
	}
	ctx.Emit(module.NewEvent("consent.guardian_set", "patient", m.Patient, "guardian", m.Guardian, "removed", fmt.Sprint(m.Remove)))
	return nil
}

// Requester is who asks for access, with the roles they hold.
type Requester struct {
	DID string
	// Org is the organization the requester acts for. Organization and role
	// consents match only a membership in it: a consent to one organization
	// never lets its member read on behalf of another. Empty: no
	// organization or role consent matches.
	Org         string
	Memberships []Membership
}

// Membership is one organization of a requester and their roles there.
type Membership struct {
	Org   string
	Roles []string
}

// Record describes the record access is asked for.
type Record struct {
	ID, Type, Category, HolderOrg string
}

func (r Requester) input(purpose string, rec Record, t time.Time) ConditionInput {
	in := ConditionInput{Purpose: purpose, Requester: r.DID, RecordType: rec.Type, RecordCategory: rec.Category, RecordOrg: rec.HolderOrg, Time: t}
	for _, m := range r.Memberships {
		in.RequesterOrgs = append(in.RequesterOrgs, m.Org)
		for _, role := range m.Roles {
			in.RequesterRoles = append(in.RequesterRoles, m.Org+"/"+role)
		}
	}
	return in
}

func (c *Consent) grants(r Requester) bool {
	switch c.Grantee.Kind {
	case GranteeDID:
		return c.Grantee.DID == r.DID
	case GranteeOrg:
		return r.Org == c.Grantee.Org && slices.ContainsFunc(r.Memberships, func(m Membership) bool { return m.Org == c.Grantee.Org })
	case GranteeRole:
		return r.Org == c.Grantee.Org && slices.ContainsFunc(r.Memberships, func(m Membership) bool {
			return m.Org == c.Grantee.Org && slices.Contains(m.Roles, c.Grantee.Role)
		})
	}
	return false
}

func inScope(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }

// Covers reports whether consent c allows req to read rec for purpose at
// block time t. Everything must hold: active at t, the grantee matches, the
// purpose is listed, the record is in scope in every dimension, and the
// condition (if any) evaluates to true.
func (c *Consent) Covers(req Requester, purpose string, rec Record, t time.Time) bool {
	return c.ActiveAt(t) && c.grants(req) && slices.Contains(c.Purposes, purpose) &&
		inScope(c.ResourceTypes, rec.Type) && inScope(c.RecordIDs, rec.ID) && inScope(c.Categories, rec.Category) &&
		EvalCondition(c.Condition, req.input(purpose, rec, t))
}

// Find returns the first (oldest) of patient's consents that covers the
// request, or nil.
func (k Keeper) Find(r store.Reader, patient string, req Requester, purpose string, rec Record, t time.Time) *Consent {
	for _, c := range k.ByPatient(r, patient) {
		if c.Covers(req, purpose, rec, t) {
			return c
		}
	}
	return nil
}
