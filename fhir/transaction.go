package fhir

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/medchain/medchain/vault"
)

// maxEntries bounds one transaction.
const maxEntries = 5000

// txEntry is one entry of a transaction being processed.
type txEntry struct {
	method, typ, urlID string
	fullURL            string
	res                map[string]any
	assign             string // the id a POST gets, fixed before references are rewritten
	pw                 *pendingWrite
	stored             *vault.Stored
}

// entryError places err at entry i of the Bundle.
func entryError(i int, err error) error {
	var fe *Error
	if !errors.As(err, &fe) {
		return err
	}
	out := &Error{Status: fe.Status, Challenge: fe.Challenge, Headers: fe.Headers}
	prefix := fmt.Sprintf("Bundle.entry[%d]", i)
	for _, is := range fe.Issues {
		if is.Expression != "" {
			is.Expression = prefix + ".resource." + is.Expression
		} else {
			is.Expression = prefix
		}
		out.Issues = append(out.Issues, is)
	}
	return out
}

// transaction processes a transaction Bundle: every entry (POST or PUT of
// a patient record) is validated, its references to other entries
// (fullUrl, e.g. urn:uuid) rewritten to the ids the server assigns, and
// authorised; only when all pass are they written, with their anchors
// batched into chain transactions of vault.MaxAnchorsPerTx. A transaction
// of at most that many entries is anchored all or nothing; a larger one
// that fails while writing (rare: the chain or the vault failing) can
// leave some entries written, and the response says how many.
func (h *Handler) transaction(w http.ResponseWriter, r *http.Request, c *caller) error {
	bz, err := readBody(r)
	if err != nil {
		return err
	}
	b, err := decodeObject(bz)
	if err != nil {
		return err
	}
	if rt, _ := b["resourceType"].(string); rt != "Bundle" {
		return badRequest("POST /fhir takes a Bundle of type transaction; post single resources to /fhir/<type>")
	}
	if typ, _ := b["type"].(string); typ != "transaction" {
		return unprocessable("Bundle type %q is not processed; this server processes transaction Bundles", clip(typ, 30))
	}
	if issues := Validate(bz); len(issues) > 0 {
		return &Error{Status: http.StatusUnprocessableEntity, Issues: issues}
	}
	raw := asList(b["entry"])
	if len(raw) > maxEntries {
		return errorf(http.StatusRequestEntityTooLarge, "too-long", "a transaction has at most %d entries", maxEntries)
	}
	entries := make([]*txEntry, len(raw))
	for i, e := range raw {
		te, err := parseEntry(e)
		if err != nil {
			return entryError(i, err)
		}
		entries[i] = te
	}
	// Ids for the new records, so references between entries can be
	// rewritten before anything is checked or stored.
	refs := map[string]string{}
	patients := map[string]int{}
	for i, te := range entries {
		switch {
		case te.typ == "Patient":
			did := selfPatient(te.res)
			if did == "" {
				return entryError(i, unprocessable("a Patient resource names its medchain patient by its id (the method-specific id of the patient's DID) or by an identifier whose value is the DID"))
			}
			if j, dup := patients[did]; dup {
				return entryError(i, unprocessable("entry %d is also the Patient resource of this patient; send one", j))
			}
			patients[did] = i
			te.assign = fhirID(did)
		case te.method == http.MethodPut:
			te.assign = te.urlID
		default:
			te.assign = vault.NewRecordID()
		}
		target := te.typ + "/" + te.assign
		if te.fullURL != "" {
			refs[te.fullURL] = target
			if old, _ := te.res["id"].(string); old != "" && strings.HasSuffix(te.fullURL, "/"+te.typ+"/"+old) {
				refs[te.typ+"/"+old] = target
			}
		}
	}
	for i, te := range entries {
		if err := rewriteRefs(te.res, refs); err != nil {
			return entryError(i, err)
		}
	}
	// Check every entry; Provenance last, as it points at the others.
	pending := map[string]string{}
	for pass := 0; pass < 2; pass++ {
		for i, te := range entries {
			if (te.typ == "Provenance") != (pass == 1) {
				continue
			}
			urlID := ""
			if te.method == http.MethodPut {
				urlID = te.urlID
			}
			if te.method == http.MethodPost && te.typ != "Patient" {
				te.res["id"] = te.assign
			}
			pw, err := h.prepare(c, te.typ, te.res, urlID, pending, te.assign)
			if err != nil {
				return entryError(i, err)
			}
			te.pw = pw
			pending[pw.recordID] = pw.patient
		}
	}
	// Write: every entry encrypted and stored, then anchored together
	// (vault.MaxAnchorsPerTx anchors to a chain transaction).
	ctx, cancel := writeContext(r)
	defer cancel()
	writes := make([]vault.Write, len(entries))
	for i, te := range entries {
		writes[i] = h.vaultWrite(c, te.pw)
	}
	stored, err := h.cfg.Vault.PutBatch(ctx, writes)
	if err != nil {
		written := 0
		for i, te := range entries {
			if te.stored = stored[i]; te.stored != nil {
				written++
			}
		}
		firstAt := 0
		var be *vault.BatchError
		if errors.As(err, &be) {
			firstAt, err = be.Index, be.Err
		}
		err := entryError(firstAt, vaultError(err))
		var fe *Error
		if !errors.As(err, &fe) {
			h.cfg.Logger.Error("FHIR transaction write failed", "entry", firstAt, "err", err.Error())
			fe = errorf(http.StatusInternalServerError, "exception", "writing entry %d failed; see the node log", firstAt)
		}
		if written > 0 {
			fe.Issues = append(fe.Issues, Issue{Severity: "warning", Code: "incomplete",
				Diagnostic: fmt.Sprintf("%d of %d entries were written before the failure and remain stored", written, len(entries))})
		}
		return fe
	}
	for i, te := range entries {
		te.stored = stored[i]
	}
	base := baseURL(r)
	full := preferReturn(r, "minimal") == "representation"
	out := []any{}
	for _, te := range entries {
		status := "201 Created"
		if te.pw.update {
			status = "200 OK"
		}
		e := map[string]any{
			"fullUrl": base + "/" + te.typ + "/" + te.pw.fhirID,
			"response": map[string]any{
				"status":   status,
				"location": fmt.Sprintf("%s/%s/_history/%d", te.typ, te.pw.fhirID, te.stored.Version),
				"etag":     etag(te.stored.Version),
			},
		}
		if !te.stored.Updated.IsZero() {
			e["response"].(map[string]any)["lastModified"] = instant(te.stored.Updated)
		}
		if full {
			e["resource"] = render(te.pw.res, te.pw.fhirID, te.stored.Version, te.stored.Updated)
		}
		out = append(out, e)
	}
	resp := map[string]any{"resourceType": "Bundle", "type": "transaction-response"}
	if len(out) > 0 {
		resp["entry"] = out
	}
	writeResource(w, http.StatusOK, resp)
	return nil
}

// parseEntry reads an entry's request and resource.
func parseEntry(e any) (*txEntry, error) {
	em, _ := e.(map[string]any)
	res, _ := em["resource"].(map[string]any)
	req, _ := em["request"].(map[string]any)
	if res == nil || req == nil {
		return nil, badRequest("every transaction entry needs a resource and a request")
	}
	te := &txEntry{res: res}
	te.fullURL, _ = em["fullUrl"].(string)
	te.method, _ = req["method"].(string)
	u, _ := req["url"].(string)
	if te.method != http.MethodPost && te.method != http.MethodPut {
		return nil, unprocessable("request method %s is not supported in a transaction (POST and PUT are)", clip(te.method, 10))
	}
	if pu, err := url.Parse(u); err == nil && pu.IsAbs() {
		u = pu.Path
		if i := strings.Index(u, "/fhir/"); i >= 0 {
			u = u[i+len("/fhir/"):]
		}
	}
	if strings.ContainsAny(u, "?") {
		return nil, unprocessable("conditional %s (%s) is not supported", te.method, "url with a query")
	}
	segs := strings.Split(strings.Trim(u, "/"), "/")
	switch {
	case te.method == http.MethodPost && len(segs) == 1:
		te.typ = segs[0]
	case te.method == http.MethodPut && len(segs) == 2:
		te.typ, te.urlID = segs[0], segs[1]
	default:
		return nil, badRequest("request url must be <type> for POST and <type>/<id> for PUT")
	}
	if rt, _ := res["resourceType"].(string); rt != te.typ {
		return nil, badRequest("resourceType %s does not match the request url's type %s", clip(rt, 64), clip(te.typ, 64))
	}
	if err := writableType(te.typ); err != nil {
		return nil, err
	}
	return te, nil
}

// rewriteRefs replaces references to other entries of the transaction by
// the ids the server assigned; a urn:uuid or urn:oid reference to no entry
// is an error.
func rewriteRefs(v any, refs map[string]string) error {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && k == "reference" {
				if to, ok := refs[s]; ok {
					x[k] = to
				} else if strings.HasPrefix(s, "urn:uuid:") || strings.HasPrefix(s, "urn:oid:") {
					return unprocessable("a reference names a urn that is no entry of this transaction")
				}
				continue
			}
			if err := rewriteRefs(val, refs); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range x {
			if err := rewriteRefs(e, refs); err != nil {
				return err
			}
		}
	}
	return nil
}
