package fhir

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/vault"
	"github.com/medchain/medchain/x/records"
)

// pendingWrite is a validated, authorised record version ready to store.
type pendingWrite struct {
	typ      string
	fhirID   string // the resource's id (a Patient's is its DID's id)
	recordID string // the vault record id
	patient  string
	category string
	res      map[string]any
	update   bool // a new version of an existing record
}

// writableType checks that records of typ may be written here.
func writableType(typ string) error {
	if typ == "AuditEvent" {
		return errorf(http.StatusMethodNotAllowed, "not-supported", "AuditEvent resources are the chain's access events; they cannot be written")
	}
	if _, ok := types[typ]; !ok {
		return typeError(typ)
	}
	return nil
}

// prepare resolves the patient a resource is about, checks that the caller
// may write it here, and fixes its record id (urlID: the id of an update;
// pending: record ids to patients of a transaction's other entries;
// assign: the id a new record gets, "" for a fresh one).
func (h *Handler) prepare(c *caller, typ string, res map[string]any, urlID string, pending map[string]string, assign string) (*pendingWrite, error) {
	if err := writableType(typ); err != nil {
		return nil, err
	}
	pw := &pendingWrite{typ: typ, res: res}
	bodyID, _ := res["id"].(string)
	if urlID != "" && bodyID != urlID {
		return nil, badRequest("the resource's id must equal the id in the URL (%s/%s)", typ, clip(urlID, 64))
	}
	// Whom the resource is about.
	var dids []string
	var bad int
	switch typ {
	case "Patient":
		if did := selfPatient(res); did != "" {
			dids = []string{did}
		}
		if len(dids) == 0 {
			return nil, unprocessable("a Patient resource names its medchain patient by its id (the method-specific id of the patient's DID) or by an identifier whose value is the DID")
		}
	case "Provenance":
		var err error
		if dids, bad, err = h.provenancePatients(res, pending); err != nil {
			return nil, err
		}
	default:
		dids, bad = resourcePatients(typ, res)
	}
	field := strings.Join(types[typ].patient, " or ")
	if typ == "Provenance" {
		field = "target"
	}
	switch {
	case bad > 0:
		return nil, &Error{Status: http.StatusUnprocessableEntity, Issues: []Issue{{Severity: "error", Code: "processing", Expression: typ + "." + field,
			Diagnostic: "a patient reference does not name a registered medchain patient (use Patient/<the method-specific id of the patient's DID>)"}}}
	case len(dids) == 0:
		return nil, &Error{Status: http.StatusUnprocessableEntity, Issues: []Issue{{Severity: "error", Code: "required", Expression: typ + "." + field,
			Diagnostic: "a record must reference the registered patient it is about (Patient/<the method-specific id of the patient's DID>)"}}}
	case len(dids) > 1:
		return nil, unprocessable("%s.%s names more than one patient; a record is about one patient", typ, field)
	}
	pw.patient = dids[0]
	if err := h.activePatient(pw.patient); err != nil {
		return nil, err
	}
	if err := h.mayWrite(c, pw.patient); err != nil {
		return nil, err
	}
	// Which record.
	rs, err := h.reader(records.StoreName)
	if err != nil {
		return nil, err
	}
	switch {
	case typ == "Patient":
		pw.fhirID = fhirID(pw.patient)
		if urlID != "" && patientDID(urlID) != pw.patient {
			return nil, badRequest("Patient/%s is not the patient the resource names", clip(urlID, 64))
		}
		if a := h.ownPatientRecord(rs, pw.patient); a != nil && a.Status == records.StatusActive {
			pw.recordID, pw.update = a.ID, true
		} else {
			pw.recordID = vault.NewRecordID()
		}
	case urlID != "":
		a, err := records.Keeper{}.Anchor(rs, urlID)
		switch {
		case err != nil || a.ResourceType != typ:
			return nil, notFound("%s/%s not found (updates create no records; POST to create)", typ, clip(urlID, 64))
		case a.Status == records.StatusErased:
			return nil, gone("%s/%s has been erased at the patient's request", typ, urlID)
		case a.HolderOrg != h.org:
			return nil, forbidden("%s/%s is held by organization %q; update it through that organization's node", typ, urlID, a.HolderOrg)
		case a.Patient != pw.patient:
			return nil, unprocessable("%s/%s is about another patient; a record cannot change patients", typ, urlID)
		}
		pw.fhirID, pw.recordID, pw.update = urlID, urlID, true
	default:
		pw.recordID = assign
		if pw.recordID == "" {
			pw.recordID = vault.NewRecordID()
		}
		pw.fhirID = pw.recordID
	}
	res["id"] = pw.fhirID
	stripServerMeta(res)
	pw.category = chainCategory(typ, res)
	return pw, nil
}

// mayWrite: the patient, or a member of this node's organization with an
// authoring role (the chain checks it again when the record is anchored).
func (h *Handler) mayWrite(c *caller, patient string) error {
	if c.DID == patient {
		return nil
	}
	for _, r := range records.AuthorRoles {
		if slices.Contains(c.Roles, r) {
			return nil
		}
	}
	return forbidden("only the patient, or a member of %q holding one of the roles %s, may write records through this node", h.org, strings.Join(records.AuthorRoles, ", "))
}

// ownPatientRecord returns this organization's active Patient record of
// patient, if any (the latest updated).
func (h *Handler) ownPatientRecord(r store.Reader, patient string) *records.Anchor {
	var best *records.Anchor
	for _, a := range (records.Keeper{}).PatientRecords(r, patient) {
		if a.ResourceType == "Patient" && a.HolderOrg == h.org && a.Status == records.StatusActive && (best == nil || a.Updated.After(best.Updated)) {
			best = a
		}
	}
	return best
}

// stripServerMeta removes what the server sets (meta.versionId and
// meta.lastUpdated come from the record's anchor on every read).
func stripServerMeta(res map[string]any) {
	meta, ok := res["meta"].(map[string]any)
	if !ok {
		return
	}
	delete(meta, "versionId")
	delete(meta, "lastUpdated")
	if len(meta) == 0 {
		delete(res, "meta")
	}
}

// vaultWrite is what the vault stores for a prepared write.
func (h *Handler) vaultWrite(c *caller, pw *pendingWrite) vault.Write {
	return vault.Write{
		Author: c.DID, Patient: pw.patient, ResourceType: pw.typ, Category: pw.category, ID: pw.recordID, Resource: encodeJSON(pw.res),
	}
}

// commit stores and anchors a prepared write.
func (h *Handler) commit(ctx context.Context, c *caller, pw *pendingWrite) (*vault.Stored, error) {
	st, err := h.cfg.Vault.Put(ctx, h.vaultWrite(c, pw))
	if err != nil {
		return nil, vaultError(err)
	}
	return st, nil
}

// instant formats a FHIR instant.
func instant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// render returns a stored resource as served: its id, and meta.versionId
// and meta.lastUpdated from the record's anchor.
func render(res map[string]any, fhirID string, version uint64, updated time.Time) map[string]any {
	out := make(map[string]any, len(res)+1)
	for k, v := range res {
		out[k] = v
	}
	out["id"] = fhirID
	meta := map[string]any{}
	if m, ok := res["meta"].(map[string]any); ok {
		for k, v := range m {
			meta[k] = v
		}
	}
	meta["versionId"] = strconv.FormatUint(version, 10)
	if !updated.IsZero() {
		meta["lastUpdated"] = instant(updated)
	}
	out["meta"] = meta
	return out
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/fhir"
}

func etag(version uint64) string { return fmt.Sprintf(`W/"%d"`, version) }

// ifMatch parses an If-Match header (W/"n" or "n"); 0 when absent.
func ifMatch(r *http.Request) (uint64, error) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" {
		return 0, nil
	}
	v = strings.Trim(strings.TrimPrefix(v, "W/"), `"`)
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 {
		return 0, badRequest("If-Match must be a version ETag such as W/\"2\"")
	}
	return n, nil
}

// preferReturn reads Prefer: return=minimal|representation|OperationOutcome.
func preferReturn(r *http.Request, def string) string {
	for _, p := range strings.Split(r.Header.Get("Prefer"), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "return") {
			switch v {
			case "minimal", "representation", "OperationOutcome":
				return v
			}
		}
	}
	return def
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request, c *caller) error {
	typ := r.PathValue("type")
	if err := writableType(typ); err != nil {
		return err
	}
	bz, err := readBody(r)
	if err != nil {
		return err
	}
	res, err := parseResource(bz, typ)
	if err != nil {
		return err
	}
	pw, err := h.prepare(c, typ, res, "", nil, "")
	if err != nil {
		return err
	}
	return h.store(w, r, c, pw, http.StatusCreated, 0)
}

func (h *Handler) update(w http.ResponseWriter, r *http.Request, c *caller) error {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if err := writableType(typ); err != nil {
		return err
	}
	want, err := ifMatch(r)
	if err != nil {
		return err
	}
	bz, err := readBody(r)
	if err != nil {
		return err
	}
	res, err := parseResource(bz, typ)
	if err != nil {
		return err
	}
	pw, err := h.prepare(c, typ, res, id, nil, "")
	if err != nil {
		return err
	}
	status := http.StatusOK
	if !pw.update {
		status = http.StatusCreated
	}
	return h.store(w, r, c, pw, status, want)
}

// store commits a prepared write and answers it.
func (h *Handler) store(w http.ResponseWriter, r *http.Request, c *caller, pw *pendingWrite, status int, want uint64) error {
	if want != 0 {
		a, err := h.cfg.Vault.Anchor(pw.recordID)
		if err != nil || a.Version != want {
			return errorf(http.StatusPreconditionFailed, "conflict", "If-Match: %s/%s is not at version %d", pw.typ, pw.fhirID, want)
		}
	}
	ctx, cancel := writeContext(r)
	defer cancel()
	st, err := h.commit(ctx, c, pw)
	if err != nil {
		return err
	}
	loc := fmt.Sprintf("%s/%s/%s/_history/%d", baseURL(r), pw.typ, pw.fhirID, st.Version)
	w.Header().Set("Location", loc)
	w.Header().Set("Content-Location", loc)
	w.Header().Set("ETag", etag(st.Version))
	if !st.Updated.IsZero() {
		w.Header().Set("Last-Modified", st.Updated.UTC().Format(http.TimeFormat))
	}
	switch preferReturn(r, "representation") {
	case "minimal":
		w.Header().Set("Content-Type", ContentType)
		w.WriteHeader(status)
		return nil
	case "OperationOutcome":
		writeResource(w, status, outcome([]Issue{{Severity: "information", Code: "informational", Diagnostic: fmt.Sprintf("stored %s/%s version %d", pw.typ, pw.fhirID, st.Version)}}))
		return nil
	}
	writeResource(w, status, render(pw.res, pw.fhirID, st.Version, st.Updated))
	return nil
}
