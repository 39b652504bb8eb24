package fhir

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	apitypes "github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/records"
)

// The chain's own records read as FHIR: consents as Consent resources
// (ids "consent-<n>") and access events as AuditEvent resources (ids
// "access-<n>").
const (
	chainConsentPrefix = "consent-"
	accessEventPrefix  = "access-"

	actReason      = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	orgSystem      = "https://medchain.dev/fhir/NamingSystem/org"
	categorySystem = "https://medchain.dev/fhir/CodeSystem/record-category"
	conditionExt   = "https://medchain.dev/fhir/StructureDefinition/consent-condition-cel"
	granteeRoleExt = "https://medchain.dev/fhir/StructureDefinition/consent-grantee-role"
)

func didRef(did, patient string) map[string]any {
	if did == patient {
		return map[string]any{"reference": "Patient/" + fhirID(did)}
	}
	return map[string]any{"identifier": map[string]any{"system": didSystem, "value": did}}
}

func orgRef(o string) map[string]any {
	return map[string]any{"type": "Organization", "identifier": map[string]any{"system": orgSystem, "value": o}, "display": o}
}

func coding(system, code string) map[string]any {
	return map[string]any{"system": system, "code": code}
}

// consentResource renders an on-chain consent as a FHIR R4 Consent. Its
// state (active, inactive for revoked or expired, proposed before its
// start) is judged at the node's time.
func (h *Handler) consentResource(c *consent.Consent, rs anchorLookup) map[string]any {
	state := apitypes.ConsentState(c, h.cfg.Now())
	status := map[string]string{apitypes.ConsentActive: "active", apitypes.ConsentRevoked: "inactive", apitypes.ConsentExpired: "inactive", apitypes.ConsentPending: "proposed"}[state]
	version := "1"
	if c.Status == consent.StatusRevoked {
		version = "2"
	}
	var actorRef map[string]any
	switch c.Grantee.Kind {
	case consent.GranteeDID:
		actorRef = didRef(c.Grantee.DID, "")
	case consent.GranteeOrg:
		actorRef = orgRef(c.Grantee.Org)
	case consent.GranteeRole:
		actorRef = orgRef(c.Grantee.Org)
		actorRef["display"] = c.Grantee.Role + " members of " + c.Grantee.Org
	}
	actor := map[string]any{
		"role":      map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP", "display": "information recipient"}}},
		"reference": actorRef,
	}
	prov := map[string]any{"type": "permit", "actor": []any{actor}}
	if c.Grantee.Kind == consent.GranteeRole {
		prov["extension"] = []any{map[string]any{"url": granteeRoleExt, "valueCode": c.Grantee.Role}}
	}
	period := map[string]any{"start": instant(c.NotBefore)}
	if !c.NotAfter.IsZero() {
		period["end"] = instant(c.NotAfter)
	}
	prov["period"] = period
	var purposes []any
	for _, p := range c.Purposes {
		purposes = append(purposes, coding(actReason, p))
	}
	prov["purpose"] = purposes
	var classes []any
	for _, t := range c.ResourceTypes {
		classes = append(classes, coding("http://hl7.org/fhir/resource-types", t))
	}
	if classes != nil {
		prov["class"] = classes
	}
	var codes []any
	for _, cat := range c.Categories {
		codes = append(codes, map[string]any{"coding": []any{coding(categorySystem, cat)}})
	}
	if codes != nil {
		prov["code"] = codes
	}
	var data []any
	for _, id := range c.RecordIDs {
		ref := map[string]any{"identifier": map[string]any{"system": "https://medchain.dev/fhir/NamingSystem/record", "value": id}}
		if a := rs.anchor(id); a != nil {
			ref = map[string]any{"reference": a.ResourceType + "/" + id}
			if a.ResourceType == "Patient" {
				ref["reference"] = "Patient/" + fhirID(a.Patient)
			}
		}
		data = append(data, map[string]any{"meaning": "instance", "reference": ref})
	}
	if data != nil {
		prov["data"] = data
	}
	res := map[string]any{
		"resourceType": "Consent",
		"id":           chainConsentPrefix + strconv.FormatUint(c.ID, 10),
		"meta":         map[string]any{"versionId": version},
		"status":       status,
		"scope":        map[string]any{"coding": []any{coding("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy")}},
		"category":     []any{map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}}}},
		"patient":      map[string]any{"reference": "Patient/" + fhirID(c.Patient)},
		"dateTime":     instant(c.NotBefore),
		"performer":    []any{didRef(c.GrantedBy, c.Patient)},
		"policyRule":   map[string]any{"coding": []any{coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN")}},
		"provision":    prov,
	}
	if c.Condition != "" {
		res["extension"] = []any{map[string]any{"url": conditionExt, "valueString": c.Condition}}
	}
	return res
}

// anchorLookup finds anchors for rendering (nil when unknown).
type anchorLookup func(id string) *records.Anchor

func (l anchorLookup) anchor(id string) *records.Anchor { return l(id) }

func (h *Handler) anchors() anchorLookup {
	return func(id string) *records.Anchor {
		a, err := h.cfg.Vault.Anchor(id)
		if err != nil {
			return nil
		}
		return a
	}
}

// auditEvent renders an access event as a FHIR R4 AuditEvent. Break-glass
// events carry the BTG security label and say so first in outcomeDesc.
func (h *Handler) auditEvent(ev *records.AccessEvent, rs anchorLookup) map[string]any {
	outcomeCode, desc := "0", "permitted ("+ev.Basis+")"
	if ev.Decision != records.Permit {
		outcomeCode, desc = "4", "denied: "+ev.Basis
	}
	meta := map[string]any{"versionId": "1"}
	if ev.BreakGlass {
		desc = "BREAK-GLASS emergency access, reason " + ev.Reason + "; " + desc
		meta["security"] = []any{map[string]any{"system": actReason, "code": "BTG", "display": "Break the glass"}}
	}
	purpose := []any{map[string]any{"coding": []any{coding(actReason, ev.Purpose)}}}
	agents := []any{map[string]any{
		"type":         map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type", "code": "humanuser", "display": "human user"}}},
		"who":          didRef(ev.Requester, ev.Patient),
		"requestor":    true,
		"purposeOfUse": purpose,
	}}
	if ev.RequesterOrg != "" {
		agents = append(agents, map[string]any{
			"type":      map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type", "code": "datacollector", "display": "data collector"}}},
			"who":       orgRef(ev.RequesterOrg),
			"requestor": false,
		})
	}
	if ev.Submitter != "" && ev.Submitter != ev.Requester {
		agents = append(agents, map[string]any{
			"type":      map[string]any{"coding": []any{map[string]any{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110153", "display": "Source Role ID"}}},
			"who":       map[string]any{"type": "Device", "identifier": map[string]any{"system": didSystem, "value": ev.Submitter}, "display": "vault of the requester's node"},
			"requestor": false,
		})
	}
	entities := []any{map[string]any{
		"what": map[string]any{"reference": "Patient/" + fhirID(ev.Patient)},
		"type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1"),
		"role": coding("http://terminology.hl7.org/CodeSystem/object-role", "1"),
	}}
	for _, id := range ev.Records {
		what := map[string]any{"identifier": map[string]any{"system": "https://medchain.dev/fhir/NamingSystem/record", "value": id}}
		if a := rs.anchor(id); a != nil {
			what = map[string]any{"reference": a.ResourceType + "/" + id}
			if a.ResourceType == "Patient" { // a Patient record's FHIR id is the patient's
				what = map[string]any{"type": "Patient", "identifier": map[string]any{"system": "https://medchain.dev/fhir/NamingSystem/record", "value": id}}
			}
		}
		entities = append(entities, map[string]any{
			"what": what,
			"type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2"),
			"role": coding("http://terminology.hl7.org/CodeSystem/object-role", "4"),
		})
	}
	return map[string]any{
		"resourceType":   "AuditEvent",
		"id":             accessEventPrefix + strconv.FormatUint(ev.ID, 10),
		"meta":           meta,
		"type":           map[string]any{"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
		"subtype":        []any{map[string]any{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}},
		"action":         "R",
		"recorded":       instant(ev.Time),
		"outcome":        outcomeCode,
		"outcomeDesc":    desc,
		"purposeOfEvent": purpose,
		"agent":          agents,
		"source": map[string]any{
			"site":     h.cfg.ChainID,
			"observer": map[string]any{"type": "Device", "identifier": map[string]any{"system": "https://medchain.dev/fhir/NamingSystem/chain", "value": h.cfg.ChainID}, "display": "medchain block " + strconv.FormatInt(ev.Height, 10)},
			"type":     []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4", "display": "Application Server"}},
		},
		"entity": entities,
	}
}

// mayReadConsents: the patient, a guardian, or a member of this node's
// organization (consents are chain state every node reads).
func (h *Handler) mayReadConsents(c *caller, patient string) error {
	manages, err := h.managesFor(c, patient)
	if err != nil || manages || c.member() {
		return err
	}
	return forbidden("only the patient, a guardian, or a member of %q may list the patient's consents here", h.org)
}

// mayReadLog: the patient or a guardian (the patient's own access log).
func (h *Handler) mayReadLog(c *caller, patient string) error {
	manages, err := h.managesFor(c, patient)
	if err != nil || manages {
		return err
	}
	return forbidden("only the patient or a guardian may read the patient's access log")
}

func (h *Handler) readChainConsent(w http.ResponseWriter, r *http.Request, c *caller, id string) error {
	n, err := strconv.ParseUint(strings.TrimPrefix(id, chainConsentPrefix), 10, 64)
	if err != nil {
		return notFound("Consent/%s not found", clip(id, 64))
	}
	cs, err := h.reader(consent.StoreName)
	if err != nil {
		return err
	}
	con, err := (consent.Keeper{}).Get(cs, n)
	if err != nil {
		return notFound("Consent/%s not found", id)
	}
	if err := h.mayReadConsents(c, con.Patient); err != nil {
		return err
	}
	writeResource(w, http.StatusOK, h.consentResource(con, h.anchors()))
	return nil
}

func (h *Handler) readAuditEvent(w http.ResponseWriter, r *http.Request, c *caller, id string) error {
	n, err := strconv.ParseUint(strings.TrimPrefix(id, accessEventPrefix), 10, 64)
	if err != nil || !strings.HasPrefix(id, accessEventPrefix) {
		return notFound("AuditEvent/%s not found", clip(id, 64))
	}
	rs, err := h.reader(records.StoreName)
	if err != nil {
		return err
	}
	ev, err := (records.Keeper{}).Event(rs, n)
	if err != nil {
		return notFound("AuditEvent/%s not found", id)
	}
	if err := h.mayReadLog(c, ev.Patient); err != nil {
		return err
	}
	writeResource(w, http.StatusOK, h.auditEvent(ev, h.anchors()))
	return nil
}

// searchConsents lists a patient's on-chain consents as Consent resources,
// then any Consent documents stored as records that the caller may read.
func (h *Handler) searchConsents(w http.ResponseWriter, r *http.Request, c *caller) error {
	q, err := parseQuery(r, "Consent", searchParams("Consent"))
	if err != nil {
		return err
	}
	if q.patient == "" {
		return badRequest("search needs the patient parameter (patient=Patient/<id>)")
	}
	if err := h.mayReadConsents(c, q.patient); err != nil {
		return err
	}
	cs, err := h.reader(consent.StoreName)
	if err != nil {
		return err
	}
	var found []entry
	for _, con := range (consent.Keeper{}).ByPatient(cs, q.patient) {
		res := h.consentResource(con, h.anchors())
		id := res["id"].(string)
		if len(q.ids) > 0 && !slices.Contains(q.ids, id) {
			continue
		}
		if !q.matchResource("Consent", res) {
			continue
		}
		found = append(found, entry{typ: "Consent", id: id, res: res, mode: "match"})
	}
	// Stored Consent documents (scanned forms and the like): a denial
	// leaves them out rather than failing the list.
	var extra []entry
	stored, more, err := h.searchRecords(r, c, "Consent", q)
	var fe *Error
	switch {
	case err == nil:
		found = append(found, stored...)
		extra = more
	case errors.As(err, &fe) && fe.Status == http.StatusForbidden:
		extra = []entry{{typ: "OperationOutcome", mode: "outcome", res: outcome([]Issue{{Severity: "information", Code: "suppressed",
			Diagnostic: "stored Consent documents of this patient were withheld: " + fe.Error()}})}}
	default:
		return err
	}
	writeResource(w, http.StatusOK, searchBundle(r, "/Consent", found, q, extra))
	return nil
}

// searchAuditEvents lists the patient's access log, oldest first.
func (h *Handler) searchAuditEvents(w http.ResponseWriter, r *http.Request, c *caller) error {
	q, err := parseQuery(r, "AuditEvent", []string{"patient", "date"})
	if err != nil {
		return err
	}
	if q.patient == "" {
		return badRequest("search needs the patient parameter (patient=Patient/<id>): the access log is per patient")
	}
	if err := h.mayReadLog(c, q.patient); err != nil {
		return err
	}
	rs, err := h.reader(records.StoreName)
	if err != nil {
		return err
	}
	var found []entry
	for _, ev := range (records.Keeper{}).AccessLog(rs, q.patient, 0, 0) {
		t := ev.Time.Truncate(time.Millisecond)
		if !matchDates(q.date, [][2]time.Time{{t, t.Add(time.Millisecond)}}) {
			continue
		}
		res := h.auditEvent(ev, h.anchors())
		found = append(found, entry{typ: "AuditEvent", id: res["id"].(string), res: res, mode: "match"})
	}
	writeResource(w, http.StatusOK, searchBundle(r, "/AuditEvent", found, q, nil))
	return nil
}
