package main

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestRecordsCLI runs issue 4's acceptance sequence against the real
// binary on a fresh dev chain: register a patient and a practitioner, get
// tokens with "auth token", store FHIR resources (one at a time and as a
// transaction) with "records put", read them back equal, list them, see a
// stranger refused (403) and the attempt in the patient's access log,
// erase and get 410, and find none of the patient's canary data in the
// node's data directory or log.
func TestRecordsCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a node")
	}
	d := newDevNode(t)
	d.startForTest("/fhir/metadata", "the node's FHIR API")
	dir, home, node, logPath := d.dir, d.home, d.url, filepath.Join(d.dir, "node.log")
	c, at, run, js := d.cli, d.at, d.runAt, d.jsonAt
	did := map[string]string{}
	for _, name := range []string{"pat", "doc", "nosy"} {
		run("keys", "add", name)
		var reg struct {
			DID  string `json:"did"`
			Code uint32 `json:"code"`
		}
		js(&reg, "tx", "identity", "register", "--from", name)
		if reg.Code != 0 || reg.DID == "" {
			t.Fatalf("register %s: %+v", name, reg)
		}
		did[name] = reg.DID
	}
	run("tx", "org", "add-member", "--from", "admin", "--member", did["doc"], "--role", "practitioner")
	pid := strings.TrimPrefix(did["pat"], "did:medchain:")

	// auth token.
	var tok struct {
		Token     string    `json:"token"`
		DID       string    `json:"did"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	js(&tok, "auth", "token", "--from", "doc", "--ttl", "2m")
	if tok.DID != did["doc"] || strings.Count(tok.Token, ".") != 2 || time.Until(tok.ExpiresAt) > 2*time.Minute+time.Second || time.Until(tok.ExpiresAt) < time.Minute {
		t.Fatalf("auth token: %+v", tok)
	}
	if out := strings.TrimSpace(run("auth", "token", "--from", "doc")); strings.Count(out, ".") != 2 || strings.ContainsAny(out, " \n") {
		t.Fatalf("auth token (text) is not just the token: %q", out)
	}
	if _, err := c.run(append([]string{"auth", "token", "--from", "doc", "--ttl", "1h"}, at...)...); err == nil {
		t.Fatal("a one-hour token was issued")
	}
	req, _ := http.NewRequest("GET", node+"/fhir/AuditEvent?patient=Patient/"+strings.TrimPrefix(did["doc"], "did:medchain:"), nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the token does not open the FHIR API: %v %v", resp, err)
	}

	// records put / get of the examples, rewritten to the patient; the
	// Patient carries canaries.
	const canaryName, canaryBirth = "Zebulonia Quixcanary", "1923-11-07"
	write := func(name string, res map[string]any) string {
		p := filepath.Join(dir, name)
		bz, _ := json.Marshal(res)
		if err := os.WriteFile(p, bz, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	example := func(file string) map[string]any {
		bz, err := os.ReadFile(filepath.Join("..", "..", "fhir", "testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		return recordsDecode(t, bz)
	}
	patient := example("Patient-example.json")
	patient["id"] = pid
	patient["name"] = []any{map[string]any{"text": canaryName}}
	patient["birthDate"] = canaryBirth
	obs := example("Observation-example.json")
	obs["subject"] = map[string]any{"reference": "Patient/" + pid}
	allergy := example("allergyintolerance-example.json")
	allergy["patient"] = map[string]any{"reference": "Patient/" + pid}
	for name, res := range map[string]map[string]any{"patient.json": patient, "obs.json": obs, "allergy.json": allergy} {
		var stored map[string]any
		js(&stored, "records", "put", write(name, res), "--from", "doc")
		id, _ := stored["id"].(string)
		typ := res["resourceType"].(string)
		if id == "" || !recordsSame(t, res, stored) {
			t.Fatalf("records put %s: %v", name, stored)
		}
		var got map[string]any
		js(&got, "records", "get", typ+"/"+id, "--from", "doc")
		if !recordsSame(t, res, got) {
			t.Errorf("records get %s/%s does not give back what was put", typ, id)
		}
	}
	if out := run("records", "put", write("obs2.json", obs), "--from", "doc"); !strings.HasPrefix(out, "stored Observation/") {
		t.Errorf("records put (text): %q", out)
	}
	// A transaction Bundle.
	bundle := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"fullUrl": "urn:uuid:7a1c2d3e-0000-4000-8000-000000000001", "resource": map[string]any{
			"resourceType": "Encounter", "status": "finished", "class": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
			"subject": map[string]any{"reference": "Patient/" + pid}}, "request": map[string]any{"method": "POST", "url": "Encounter"}},
		map[string]any{"resource": map[string]any{"resourceType": "Condition", "code": map[string]any{"text": "sprain"},
			"subject": map[string]any{"reference": "Patient/" + pid}, "encounter": map[string]any{"reference": "urn:uuid:7a1c2d3e-0000-4000-8000-000000000001"}},
			"request": map[string]any{"method": "POST", "url": "Condition"}},
	}}
	if out := run("records", "put", write("bundle.json", bundle), "--from", "doc"); strings.Count(out, "201 Created") != 2 {
		t.Errorf("records put of a transaction: %q", out)
	}
	// Invalid: refused with an OperationOutcome, nothing stored.
	before := recordsAnchors(t, node, did["pat"])
	bad := example("Observation-example.json")
	bad["subject"] = map[string]any{"reference": "Patient/" + pid}
	bad["effectiveDateTime"] = "2016-02-30"
	if _, err := c.run(append([]string{"records", "put", write("bad.json", bad), "--from", "doc", "-o", "json"}, at...)...); err == nil || !strings.Contains(err.Error(), "effectiveDateTime") {
		t.Errorf("an invalid date was accepted or not explained: %v", err)
	}
	if after := recordsAnchors(t, node, did["pat"]); after != before {
		t.Errorf("the refused record changed state: %d anchors, then %d", before, after)
	}

	// records list, by the patient and by the doctor.
	var list struct {
		Patient string `json:"patient"`
		Count   int    `json:"count"`
		Records []struct {
			Type, ID string
		} `json:"records"`
	}
	js(&list, "records", "list", "--from", "pat")
	if list.Patient != did["pat"] || list.Count != 6 {
		t.Fatalf("records list --from pat: %+v, want 6 records", list)
	}
	js(&list, "records", "list", "--patient", did["pat"], "--from", "doc", "--type", "Observation")
	if list.Count != 2 {
		t.Errorf("records list --type Observation: %+v", list)
	}
	obsID := list.Records[0].ID

	// A stranger is refused, and the attempt is in the patient's log.
	if _, err := c.run(append([]string{"records", "get", "Observation/" + obsID, "--from", "nosy", "-o", "json"}, at...)...); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("nosy's read: %v, want a 403 (forbidden)", err)
	}
	var log struct {
		Events []struct {
			Requester, Decision string
		} `json:"events"`
	}
	recordsGetJSON(t, node+"/v1/patients/"+did["pat"]+"/access-log", &log)
	found := false
	for _, ev := range log.Events {
		found = found || (ev.Requester == did["nosy"] && ev.Decision == "deny")
	}
	if !found {
		t.Errorf("nosy's refused read is not in the patient's access log: %+v", log)
	}

	// No PHI in the node's data (block store, state, tx index) or its log.
	time.Sleep(time.Second)
	for _, f := range recordsGrep(t, home, []string{canaryName, "Quixcanary", canaryBirth}, filepath.Join(home, "vault")) {
		t.Errorf("PHI outside the vault: %s", f)
	}
	for _, f := range recordsGrep(t, logPath, []string{canaryName, "Quixcanary", canaryBirth}, "") {
		t.Errorf("PHI in the node log: %s", f)
	}

	// Erasure: then 410.
	run("tx", "records", "erase", "--from", "pat")
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st struct{ Complete bool }
		recordsGetJSON(t, node+"/v1/patients/"+did["pat"]+"/erasure", &st)
		if st.Complete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("erasure not confirmed within 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := c.run(append([]string{"records", "get", "Observation/" + obsID, "--from", "doc", "-o", "json"}, at...)...); err == nil || !strings.Contains(err.Error(), "deleted") {
		t.Errorf("read after erasure: %v, want 410 (deleted)", err)
	}
}

func recordsDecode(t *testing.T, bz []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(bz))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// recordsSame compares FHIR JSON, ignoring id and the meta the server sets.
func recordsSame(t *testing.T, want, got map[string]any) bool {
	norm := func(m map[string]any) map[string]any {
		bz, _ := json.Marshal(m)
		m = recordsDecode(t, bz)
		delete(m, "id")
		if meta, ok := m["meta"].(map[string]any); ok {
			delete(meta, "versionId")
			delete(meta, "lastUpdated")
			if len(meta) == 0 {
				delete(m, "meta")
			}
		}
		return m
	}
	return reflect.DeepEqual(norm(want), norm(got))
}

func recordsGetJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	bz, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, bz)
	}
	if err := json.Unmarshal(bz, v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func recordsAnchors(t *testing.T, node, did string) int {
	var l struct {
		Records []any `json:"records"`
	}
	recordsGetJSON(t, node+"/v1/patients/"+did+"/records", &l)
	return len(l.Records)
}

// recordsGrep lists the files under root (but not under skip) containing a
// canary.
func recordsGrep(t *testing.T, root string, canaries []string, skip string) []string {
	var found []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if skip != "" && p == skip {
				return filepath.SkipDir
			}
			return nil
		}
		bz, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		for _, c := range canaries {
			if bytes.Contains(bz, []byte(c)) {
				found = append(found, p+" contains "+c)
			}
		}
		return nil
	})
	return found
}
