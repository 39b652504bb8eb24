package fhir

import (
	"net/url"
	"strings"

	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/records"
)

// didSystem is the identifier system under which a Patient or a logical
// reference may carry a DID.
const didSystem = "urn:ietf:rfc:3986"

// refPatient returns the DID a reference names as a patient: "Patient/<id>"
// (also absolute or with a _history suffix), a "did:medchain:..." URI, or
// a logical reference by identifier whose value is the DID. ok is false
// when the reference names no Patient at all; did is "" when it names one
// that is not a medchain patient id.
func refPatient(ref any) (did string, ok bool) {
	m, _ := ref.(map[string]any)
	if m == nil {
		return "", false
	}
	if s, _ := m["reference"].(string); s != "" {
		if identity.ValidDID(s) {
			return s, true
		}
		p := s
		if u, err := url.Parse(s); err == nil && u.IsAbs() {
			p = u.Path
		}
		p = strings.TrimPrefix(p, "/")
		if i := strings.Index(p, "/_history/"); i >= 0 {
			p = p[:i]
		}
		segs := strings.Split(p, "/")
		if len(segs) >= 2 && segs[len(segs)-2] == "Patient" {
			return patientDID(segs[len(segs)-1]), true
		}
		return "", false
	}
	if idf, _ := m["identifier"].(map[string]any); idf != nil {
		if v, _ := idf["value"].(string); identity.ValidDID(v) {
			return v, true
		}
	}
	if t, _ := m["type"].(string); t == "Patient" {
		return "", true
	}
	return "", false
}

// resourcePatients returns the patients a resource names (its patient
// elements' Patient references), and how many references named no
// registered-form patient.
func resourcePatients(typ string, res map[string]any) (dids []string, bad int) {
	for _, f := range types[typ].patient {
		for _, ref := range path(res, f) {
			did, ok := refPatient(ref)
			switch {
			case !ok:
			case did == "":
				bad++
			default:
				if !contains(dids, did) {
					dids = append(dids, did)
				}
			}
		}
	}
	return dids, bad
}

// selfPatient returns the DID a Patient resource is about: its id, or an
// identifier whose value is the DID.
func selfPatient(res map[string]any) string {
	if id, _ := res["id"].(string); id != "" {
		if did := patientDID(id); did != "" {
			return did
		}
	}
	for _, v := range asList(res["identifier"]) {
		m, _ := v.(map[string]any)
		if s, _ := m["value"].(string); identity.ValidDID(s) {
			return s
		}
	}
	return ""
}

// recordRef parses "Type/id" (or an absolute URL ending so).
func recordRef(s string) (typ, id string) {
	if u, err := url.Parse(s); err == nil && u.IsAbs() {
		s = u.Path
	}
	if i := strings.Index(s, "/_history/"); i >= 0 {
		s = s[:i]
	}
	segs := strings.Split(strings.Trim(s, "/"), "/")
	if len(segs) < 2 {
		return "", ""
	}
	return segs[len(segs)-2], segs[len(segs)-1]
}

// provenancePatients resolves the patients a Provenance's targets are
// about: Patient references directly, other records through their anchors
// on chain or, in a transaction, through the entries being written
// (pending maps record ids to patients).
func (h *Handler) provenancePatients(res map[string]any, pending map[string]string) (dids []string, bad int, err error) {
	rs, err := h.reader(records.StoreName)
	if err != nil {
		return nil, 0, err
	}
	for _, t := range asList(res["target"]) {
		if did, ok := refPatient(t); ok {
			if did == "" {
				bad++
			} else if !contains(dids, did) {
				dids = append(dids, did)
			}
			continue
		}
		m, _ := t.(map[string]any)
		s, _ := m["reference"].(string)
		typ, id := recordRef(s)
		if typ == "" {
			bad++
			continue
		}
		did := pending[id]
		if did == "" {
			if a, err := (records.Keeper{}).Anchor(rs, id); err == nil && a.ResourceType == typ {
				did = a.Patient
			}
		}
		if did == "" {
			bad++
		} else if !contains(dids, did) {
			dids = append(dids, did)
		}
	}
	return dids, bad, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
