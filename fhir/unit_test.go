package fhir

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/records"
)

const didA = "did:medchain:abcdefghijklmnopqrstuvwxyz"

func testHandler() *Handler {
	return &Handler{cfg: Config{ChainID: "test-chain", Now: func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }}, org: "dev-hospital"}
}

func mustValid(t *testing.T, what string, v any) {
	t.Helper()
	if issues := Validate(encodeJSON(v)); len(issues) > 0 {
		t.Fatalf("%s is not valid FHIR R4: %+v\n%s", what, issues, encodeJSON(v))
	}
}

// TestGeneratedResourcesValid checks that what the server makes up itself
// (CapabilityStatement, Consent and AuditEvent from chain state,
// OperationOutcome, search Bundle) is valid FHIR R4.
func TestGeneratedResourcesValid(t *testing.T) {
	h := testHandler()
	r := httptest.NewRequest("GET", "http://node/fhir/metadata", nil)
	cs := h.capability(r)
	mustValid(t, "CapabilityStatement", cs)
	// It lists exactly the stored types plus AuditEvent.
	rest := cs["rest"].([]any)[0].(map[string]any)
	if n := len(rest["resource"].([]any)); n != len(types)+1 {
		t.Errorf("CapabilityStatement lists %d types, want %d", n, len(types)+1)
	}

	nb := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
	anchors := anchorLookup(func(id string) *records.Anchor {
		if id == "rec1" {
			return &records.Anchor{ID: id, ResourceType: "Observation", Patient: didA}
		}
		return nil
	})
	for i, c := range []*consent.Consent{
		{ID: 1, Patient: didA, Grantee: consent.Grantee{Kind: consent.GranteeDID, DID: "did:medchain:bbbbbbbbbbbbbbbbbbbbbbbbbb"}, Purposes: []string{"TREAT"}, NotBefore: nb, Status: consent.StatusActive, GrantedBy: didA},
		{ID: 2, Patient: didA, Grantee: consent.Grantee{Kind: consent.GranteeRole, Org: "dev-hospital", Role: "nurse"}, Purposes: []string{"HPAYMT", "TREAT"},
			ResourceTypes: []string{"Observation"}, RecordIDs: []string{"rec1", "rec2"}, Categories: []string{"laboratory"}, NotBefore: nb, NotAfter: nb.Add(time.Hour),
			Condition: `purpose == "TREAT"`, Status: consent.StatusRevoked, GrantedBy: "did:medchain:cccccccccccccccccccccccccc"},
		{ID: 3, Patient: didA, Grantee: consent.Grantee{Kind: consent.GranteeOrg, Org: "other"}, Purposes: []string{"HRESCH"}, NotBefore: nb.AddDate(5, 0, 0), Status: consent.StatusActive, GrantedBy: didA},
	} {
		res := h.consentResource(c, anchors)
		mustValid(t, "Consent", res)
		want := []string{"active", "inactive", "proposed"}[i]
		if res["status"] != want {
			t.Errorf("consent %d status %v, want %s", c.ID, res["status"], want)
		}
	}
	for _, ev := range []*records.AccessEvent{
		{ID: 7, Patient: didA, Requester: didA, Records: []string{"rec1"}, Purpose: "TREAT", Decision: records.Permit, Basis: "patient", Time: nb, Height: 5},
		{ID: 8, Patient: didA, Requester: "did:medchain:bbbbbbbbbbbbbbbbbbbbbbbbbb", Submitter: "did:medchain:dddddddddddddddddddddddddd", RequesterOrg: "dev-hospital",
			Records: []string{"rec1", "gone"}, Purpose: "ETREAT", Decision: records.Permit, Basis: "break-glass", BreakGlass: true, Reason: "life-threatening", Time: nb, Height: 6},
		{ID: 9, Patient: didA, Requester: "did:medchain:bbbbbbbbbbbbbbbbbbbbbbbbbb", Records: []string{}, Purpose: "TREAT", Decision: records.Deny, Basis: "no consent", Time: nb, Height: 7},
	} {
		res := h.auditEvent(ev, anchors)
		mustValid(t, "AuditEvent", res)
		if ev.BreakGlass != strings.Contains(string(encodeJSON(res)), `"BTG"`) {
			t.Errorf("event %d: break-glass label wrong", ev.ID)
		}
	}
	mustValid(t, "OperationOutcome", outcome([]Issue{{Severity: "error", Code: "invalid", Diagnostic: "x", Expression: "Patient.birthDate"}}))
	q := &query{count: 1}
	e := entry{typ: "Observation", id: "rec1", res: map[string]any{"resourceType": "Observation", "id": "rec1", "status": "final", "code": map[string]any{"text": "x"}}, mode: "match"}
	b := searchBundle(httptest.NewRequest("GET", "http://node/fhir/Observation?patient=x&_count=1", nil), "/Observation", []entry{e, e}, q, withheldOutcome(1))
	mustValid(t, "searchset Bundle", b)
	if b["total"] != 2 || len(b["link"].([]any)) != 2 {
		t.Errorf("paging: total %v links %v", b["total"], b["link"])
	}
}

func TestValidateReportsPathsNotValues(t *testing.T) {
	const canary = "Qzxcanaryvalue"
	for _, tc := range []struct{ body, path string }{
		{`{"resourceType":"Patient","birthDate":"` + canary + `"}`, "Patient.birthDate"},
		{`{"resourceType":"Patient","name":"` + canary + `"}`, "Patient.name"},
		{`{"resourceType":"Patient","` + canary + `":1}`, "Patient"},
		{`{"resourceType":"Observation","status":"` + canary + `","code":{"text":"x"}}`, "Observation.status"},
		{`{"resourceType":"Observation","code":{"text":"x"}}`, "Observation"},
		{`{"resourceType":"Patient","birthDate":"1970-02-30"}`, "Patient.birthDate"},
	} {
		issues := Validate([]byte(tc.body))
		if len(issues) == 0 {
			t.Errorf("%s: accepted", tc.body)
			continue
		}
		if issues[0].Expression != tc.path {
			t.Errorf("%s: expression %q, want %q", tc.body, issues[0].Expression, tc.path)
		}
		if bz, _ := json.Marshal(issues); strings.Contains(string(bz), canary) {
			t.Errorf("%s: the outcome quotes the content: %s", tc.body, bz)
		}
	}
	if _, err := decodeObject([]byte(`{"a": "` + canary + `" x}`)); err == nil || strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "x") {
		t.Errorf("syntax error %v", err)
	}
}

func TestDateParams(t *testing.T) {
	rng := func(s string) (time.Time, time.Time) {
		lo, hi, ok := parseRange(s)
		if !ok {
			t.Fatalf("parseRange(%q) failed", s)
		}
		return lo, hi
	}
	for _, tc := range []struct {
		param, target string
		want          bool
	}{
		{"2013", "2013-04-02", true},
		{"eq2013-04", "2013-04-02T10:00:00Z", true},
		{"eq2013-04-02", "2013-04", false}, // the target is wider than the parameter
		{"gt2013-04-01", "2013-04-02", true},
		{"gt2013-04-02", "2013-04-02", false},
		{"ge2013-04-02", "2013-04-02", true},
		{"lt2013-04-02", "2013-04-01T23:59:59Z", true},
		{"lt2013-04-02", "2013-04-02T00:00:00Z", false},
		{"le2013", "2012-12-31", true},
		{"ne2013", "2014-01-01", true},
		{"sa2013", "2014-01-01", true},
		{"eb2013", "2012-06-01", true},
		{"eq2013-04-02T10:00:00+02:00", "2013-04-02T08:00:00Z", true},
		{"ap2013-04", "2013-04-30", true},
	} {
		p, err := parseDateParam(tc.param)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := rng(tc.target)
		if got := p.matches(lo, hi); got != tc.want {
			t.Errorf("%s against %s: %v, want %v", tc.param, tc.target, got, tc.want)
		}
	}
	for _, bad := range []string{"yesterday", "2013-13", "gt", "2013-04-02T25:00"} {
		if _, err := parseDateParam(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// Periods: open ends run to infinity.
	res := map[string]any{"period": map[string]any{"start": "2010-01-01"}}
	d, _ := parseDateParam("ge2020-01-01")
	if !matchDates([][]dateParam{{d}}, targetRanges(res, []string{"period"})) {
		t.Error("an open-ended period does not reach 2020")
	}
}

func TestTokensAndPatients(t *testing.T) {
	res := map[string]any{
		"code":     map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "15074-8"}}},
		"category": []any{"food"},
	}
	for _, tc := range []struct {
		param string
		field string
		want  bool
	}{
		{"15074-8", "code", true},
		{"http://loinc.org|15074-8", "code", true},
		{"http://snomed.info/sct|15074-8", "code", false},
		{"http://loinc.org|", "code", true},
		{"x,15074-8", "code", true},
		{"food", "category", true},
		{"medication", "category", false},
	} {
		q := &query{}
		if err := q.add("code", tc.param, "Observation"); err != nil {
			t.Fatal(err)
		}
		if got := matchTokens(q.code, res, []string{tc.field}); got != tc.want {
			t.Errorf("%s on %s: %v", tc.param, tc.field, got)
		}
	}
	id := strings.TrimPrefix(didA, "did:medchain:")
	for ref, want := range map[string]string{
		"Patient/" + id:                 didA,
		"Patient/" + id + "/_history/2": didA,
		"http://x/fhir/Patient/" + id:   didA,
		didA:                            didA,
		"Patient/example":               "",
		"Group/" + id:                   "-",
		"#contained":                    "-",
		"urn:uuid:0b2b2a0e-6cd3-4f0e-a0a0-000000000000": "-",
	} {
		did, ok := refPatient(map[string]any{"reference": ref})
		got := did
		if !ok {
			got = "-"
		}
		if got != want {
			t.Errorf("refPatient(%q) = %q, want %q", ref, got, want)
		}
	}
	if did, ok := refPatient(map[string]any{"identifier": map[string]any{"system": didSystem, "value": didA}}); !ok || did != didA {
		t.Errorf("logical reference: %q %v", did, ok)
	}
	if got := chainCategory("Observation", map[string]any{"category": []any{map[string]any{"coding": []any{
		map[string]any{"system": "http://example.org/secret", "code": "hiv"},
		map[string]any{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"},
	}}}}); got != "laboratory" {
		t.Errorf("chain category %q", got)
	}
	if got := chainCategory("Observation", map[string]any{"category": []any{map[string]any{"coding": []any{map[string]any{"system": "http://example.org/secret", "code": "hiv"}}}}}); got != "" {
		t.Errorf("a category outside the public vocabularies went on chain: %q", got)
	}
}

// TestExamplesValidate runs the validator over the FHIR R4 and US Core
// examples: every one must pass (the server accepts them), which guards
// the validator's configuration.
func TestExamplesValidate(t *testing.T) {
	dirs := []string{exampleDir(t, "hl7-fhir-r4-examples"), exampleDir(t, "hl7-us-core-examples")}
	n := 0
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join(d, "*.json"))
		for _, f := range files {
			bz, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if issues := Validate(bz); len(issues) > 0 {
				t.Errorf("%s: %+v", filepath.Base(f), issues)
			}
			n++
		}
	}
	t.Logf("%d examples valid", n)
}

// exampleDir returns ../shared/testdata/<name> (found from the module
// root), skipping the test when it is absent.
func exampleDir(t testing.TB, name string) string {
	t.Helper()
	for _, root := range []string{"../../shared/testdata", "../shared/testdata"} {
		d := filepath.Join(root, name)
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	t.Skipf("test data %s not found (expected at ../shared/testdata/%s beside the repository); skipping", name, name)
	return ""
}

// TestTypeTable: the stored types and the others together are exactly the
// R4 resource types, with no overlap (so an unsupported type is told from
// a misspelt one).
func TestTypeTable(t *testing.T) {
	bz, err := os.ReadFile(filepath.Join(exampleDir(t, "hl7-fhir-r4-schema"), "fhir.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Discriminator struct {
			Mapping map[string]string `json:"mapping"`
		} `json:"discriminator"`
	}
	if err := json.Unmarshal(bz, &schema); err != nil {
		t.Fatal(err)
	}
	all := map[string]bool{}
	for typ := range types {
		all[typ] = true
	}
	for _, typ := range r4Types {
		if all[typ] {
			t.Errorf("%s is both stored and not", typ)
		}
		all[typ] = true
	}
	for typ := range schema.Discriminator.Mapping {
		if !all[typ] {
			t.Errorf("R4 type %s is in neither list", typ)
		}
		delete(all, typ)
	}
	for typ := range all {
		t.Errorf("%s is not an R4 resource type", typ)
	}
}
