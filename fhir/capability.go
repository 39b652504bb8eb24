package fhir

import (
	"net/http"
	"time"
)

// startTime dates the CapabilityStatement.
var startTime = time.Now()

var paramTypes = map[string]string{
	"patient": "reference", "subject": "reference", "_id": "token", "_lastUpdated": "date",
	"code": "token", "category": "token", "date": "date",
}

var paramDocs = map[string]string{
	"patient":      "Required: the patient (Patient/<id>, <id> or the DID). A search covers one patient's records that the caller may read.",
	"subject":      "Same as patient (Patient references only).",
	"_id":          "Record ids (comma-separated). For Patient: the patient's id.",
	"_lastUpdated": "When the record's current version was anchored on chain (prefixes eq, ne, gt, lt, ge, le, sa, eb, ap).",
	"code":         "[system|]code of the type's code element.",
	"category":     "[system|]code of the type's category.",
	"date":         "The type's clinical date (prefixes eq, ne, gt, lt, ge, le, sa, eb, ap).",
}

// capability returns the CapabilityStatement: exactly what this server
// implements.
func (h *Handler) capability(r *http.Request) map[string]any {
	var resources []any
	for _, t := range sortedTypes() {
		var sps []any
		for _, p := range searchParams(t) {
			sps = append(sps, map[string]any{"name": p, "type": paramTypes[p], "documentation": paramDocs[p]})
		}
		rc := map[string]any{
			"type": t,
			"interaction": []any{
				map[string]any{"code": "read", "documentation": "An access request for the caller's purpose of use (X-Purpose-Of-Use or _purpose, default TREAT; break-glass with X-Break-Glass: <reason code>), decided on chain and logged in the patient's access log."},
				map[string]any{"code": "vread", "documentation": "The current version only."},
				map[string]any{"code": "update", "documentation": "Records held by this node's organization; a new version."},
				map[string]any{"code": "create", "documentation": "The server assigns the id (a Patient's is its DID's method-specific id) and meta.versionId/lastUpdated."},
				map[string]any{"code": "search-type", "documentation": "Over one patient's records the caller may read; _count (default 50, at most 1000) and _offset page."},
			},
			"versioning":        "versioned",
			"readHistory":       false,
			"updateCreate":      t == "Patient",
			"conditionalCreate": false,
			"conditionalUpdate": false,
			"conditionalDelete": "not-supported",
			"searchParam":       sps,
		}
		switch t {
		case "Patient":
			rc["documentation"] = "A patient's FHIR id is the method-specific id of their DID (Patient/<id> is did:medchain:<id>). Each organization holds at most one Patient resource per patient; a create for a patient who has one here adds a version."
			rc["operation"] = []any{map[string]any{"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
				"documentation": "Every record of the patient the caller may read (_type, _since, _count, _offset)."}}
		case "Consent":
			rc["documentation"] = "Search and read also return the patient's on-chain consents (ids consent-<n>); those are granted and revoked with signed transactions (medchain tx consent), not through this API."
		case "Provenance":
			rc["documentation"] = "A Provenance is stored as a record of the patient its targets are about."
		}
		resources = append(resources, rc)
	}
	resources = append(resources, map[string]any{
		"type":          "AuditEvent",
		"documentation": "The chain's access events (permitted and denied, break-glass labelled BTG) on a patient's records, readable by the patient and guardians.",
		"interaction":   []any{map[string]any{"code": "read"}, map[string]any{"code": "search-type"}},
		"searchParam": []any{
			map[string]any{"name": "patient", "type": "reference", "documentation": "Required: whose access log."},
			map[string]any{"name": "date", "type": "date", "documentation": "When the access was decided."},
		},
	})
	return map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         startTime.UTC().Format("2006-01-02T15:04:05Z07:00"),
		"publisher":    "medchain",
		"kind":         "instance",
		"software":     map[string]any{"name": "medchain"},
		"implementation": map[string]any{
			"description": "medchain node FHIR API (organization " + h.org + ", chain " + h.cfg.ChainID + ")",
			"url":         baseURL(r),
		},
		"fhirVersion": "4.0.1",
		"format":      []any{"application/fhir+json", "json"},
		"rest": []any{map[string]any{
			"mode": "server",
			"documentation": "Patient records are validated (FHIR R4), encrypted in this node's vault and anchored on chain; every read is an access request decided on chain against the patient's consents and logged. " +
				"Errors are OperationOutcomes: 400 malformed, 401 token, 403 denied, 404, 410 erased, 413 too large, 422 invalid resource.",
			"security": map[string]any{
				"cors":        false,
				"description": "Authorization: Bearer <JWT signed with EdDSA by the caller's current DID key; kid = the key's DID URL, iss = sub = the DID, aud = the chain id, at most 15 minutes> (medchain auth token --from NAME).",
			},
			"resource":    resources,
			"interaction": []any{map[string]any{"code": "transaction", "documentation": "Entries POST or PUT; all are validated and authorised before any is written."}},
		}},
	}
}

func (h *Handler) metadata(w http.ResponseWriter, r *http.Request, _ *caller) error {
	writeResource(w, http.StatusOK, h.capability(r))
	return nil
}
