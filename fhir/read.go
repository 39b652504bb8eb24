package fhir

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/medchain/medchain/vault"
	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/records"
)

// opened is a record released by an access request, decoded.
type opened struct {
	anchor *records.Anchor
	res    map[string]any
	err    error
}

// access asks the chain for the caller's access to the given records of
// patient (one access request per MaxRecordsPerRequest records) and
// returns them opened. A denial is an error (403); per-record failures
// (erased since, tampered, holder unreachable) are returned in opened.err.
func (h *Handler) access(ctx context.Context, r *http.Request, c *caller, patient string, anchors []*records.Anchor) ([]opened, error) {
	purpose, breakGlass, err := purposeOf(r)
	if err != nil {
		return nil, err
	}
	actFor, err := h.actingOrg(c, patient)
	if err != nil {
		return nil, err
	}
	if breakGlass != "" {
		manages, err := h.managesFor(c, patient)
		if err != nil {
			return nil, err
		}
		switch {
		case manages:
			breakGlass = "" // the patient and guardians need no emergency access
		case actFor == "":
			return nil, forbidden("break-glass access is for members of %q with the emergency role", h.org)
		}
	}
	if actFor != "" && breakGlass == "" {
		anchors = h.plausible(c, actFor, purpose, patient, anchors)
	}
	ids := make([]string, 0, len(anchors))
	for _, a := range anchors {
		ids = append(ids, a.ID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var out []opened
	for len(ids) > 0 {
		n := min(len(ids), records.MaxRecordsPerRequest)
		chunk := ids[:n]
		ids = ids[n:]
		res, err := h.cfg.Vault.Access(ctx, vault.AccessRequest{
			Requester: c.DID, Org: actFor, Patient: patient, Records: chunk, Purpose: purpose,
			BreakGlass: breakGlass != "", Reason: breakGlass,
		})
		if err != nil {
			return nil, vaultError(err)
		}
		for _, rec := range res.Records {
			o := opened{anchor: rec.Anchor, err: rec.Err}
			if rec.Err != nil && rec.Anchor != nil {
				// Ids only: the error names the record, never its content.
				h.cfg.Logger.Error("record not released", "record", rec.Anchor.ID, "event", res.Event.ID, "err", rec.Err.Error())
			}
			if o.err == nil {
				if o.res, o.err = decodeObject(rec.Resource); o.err != nil {
					o.err = vault.ErrTampered
				}
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// plausible narrows a member's request to the records the chain would let
// them read (their organization's own records for care, or records a
// consent covers), judged on the latest committed state; the chain decides
// again. A request all-or-nothing on chain would otherwise be denied
// whole for one record held elsewhere without consent. When nothing is
// plausible the request goes ahead unchanged, so that the chain records
// the denial.
func (h *Handler) plausible(c *caller, actFor, purpose, patient string, anchors []*records.Anchor) []*records.Anchor {
	orgs, err1 := h.reader(org.StoreName)
	cons, err2 := h.reader(consent.StoreName)
	if err1 != nil || err2 != nil {
		return anchors
	}
	req := consent.Requester{DID: c.DID, Org: actFor}
	for _, m := range (org.Keeper{}).Memberships(orgs, c.DID) {
		if (org.Keeper{}).IsActiveOrg(orgs, m.Org) {
			req.Memberships = append(req.Memberships, consent.Membership{Org: m.Org, Roles: m.Roles})
		}
	}
	care := slices.ContainsFunc(records.CareRoles, func(role string) bool { return slices.Contains(c.Roles, role) }) &&
		(purpose == consent.PurposeTreatment || purpose == consent.PurposeOperations)
	now := h.cfg.Now()
	var out []*records.Anchor
	for _, a := range anchors {
		if (care && a.HolderOrg == actFor) ||
			(consent.Keeper{}).Find(cons, patient, req, purpose, consent.Record{ID: a.ID, Type: a.ResourceType, Category: a.Category, HolderOrg: a.HolderOrg}, now) != nil {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return anchors
	}
	return out
}

// patientAnchors returns a patient's record anchors of type typ ("" for
// every type) and whether any were erased.
func (h *Handler) patientAnchors(patient, typ string) (active []*records.Anchor, erased bool, err error) {
	rs, err := h.reader(records.StoreName)
	if err != nil {
		return nil, false, err
	}
	for _, a := range (records.Keeper{}).PatientRecords(rs, patient) {
		if typ != "" && a.ResourceType != typ {
			continue
		}
		if a.Status == records.StatusErased {
			erased = true
			continue
		}
		active = append(active, a)
	}
	return active, erased, nil
}

func (h *Handler) read(w http.ResponseWriter, r *http.Request, c *caller) error {
	typ, id, vid := r.PathValue("type"), r.PathValue("id"), r.PathValue("vid")
	switch {
	case typ == "AuditEvent":
		return h.readAuditEvent(w, r, c, id)
	case typ == "Consent" && strings.HasPrefix(id, chainConsentPrefix):
		return h.readChainConsent(w, r, c, id)
	}
	if _, ok := types[typ]; !ok {
		return typeError(typ)
	}
	var anchors []*records.Anchor
	var patient string
	if typ == "Patient" {
		if patient = patientDID(id); patient == "" {
			return notFound("Patient/%s not found (a patient's id is the method-specific id of their DID)", clip(id, 64))
		}
		active, erased, err := h.patientAnchors(patient, "Patient")
		if err != nil {
			return err
		}
		if len(active) == 0 && erased {
			return gone("Patient/%s has been erased at the patient's request", id)
		}
		if len(active) == 0 {
			return notFound("no Patient resource is stored for Patient/%s", id)
		}
		anchors = active
	} else {
		a, err := h.cfg.Vault.Anchor(id)
		switch {
		case err != nil || a.ResourceType != typ:
			return notFound("%s/%s not found", typ, clip(id, 64))
		case a.Status == records.StatusErased:
			return gone("%s/%s has been erased at the patient's request", typ, id)
		case vid != "" && vid != strconv.FormatUint(a.Version, 10):
			return notFound("%s/%s: only the current version (%d) can be read", typ, id, a.Version)
		}
		anchors, patient = []*records.Anchor{a}, a.Patient
	}
	recs, err := h.access(r.Context(), r, c, patient, anchors)
	if err != nil {
		return err
	}
	var best *opened
	var firstErr error
	for i := range recs {
		o := &recs[i]
		if o.err != nil {
			if firstErr == nil {
				firstErr = o.err
			}
			continue
		}
		if best == nil || o.anchor.Updated.After(best.anchor.Updated) {
			best = o
		}
	}
	if best == nil {
		if firstErr == nil {
			firstErr = vault.ErrNotFound
		}
		return vaultError(firstErr)
	}
	a := best.anchor
	fid := id
	if vid != "" && vid != strconv.FormatUint(a.Version, 10) {
		return notFound("%s/%s: only the current version (%d) can be read", typ, id, a.Version)
	}
	w.Header().Set("ETag", etag(a.Version))
	w.Header().Set("Last-Modified", a.Updated.UTC().Format(http.TimeFormat))
	writeResource(w, http.StatusOK, render(best.res, fid, a.Version, a.Updated))
	return nil
}
