package fhir_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/auth"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/fhir"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/testutil/nodetest"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
)

// env is a running dev node with its FHIR API and some identities.
type env struct {
	t       testing.TB
	dev     *nodetest.Dev
	run     *nodetest.Running
	c       *client.Client
	base    string
	chainID string
	logPath string
	hc      *http.Client
	mu      sync.Mutex
}

func newEnv(t testing.TB) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	dev := nodetest.NewDev(t)
	logPath := filepath.Join(t.TempDir(), "node.log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lf.Close() })
	r := nodetest.StartLogged(t, dev.Home, lf, "*:info")
	t.Cleanup(r.Stop)
	if r.Node.Vault == nil {
		t.Fatal("the dev node has no vault")
	}
	c := dev.Client(t)
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dev: dev, run: r, c: c, base: "http://" + dev.Addrs.API, chainID: st.ChainID, logPath: logPath, hc: &http.Client{Timeout: 5 * time.Minute}}
}

// register adds a keyring key, registers its DID and, with roles, makes it
// a member of the dev organization.
func (e *env) register(name string, roles ...string) *keyring.Key {
	e.t.Helper()
	ctx := context.Background()
	e.mu.Lock()
	k, err := e.dev.Keyring.Add(name)
	e.mu.Unlock()
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.c.Submit(ctx, client.KeySigner{Key: k}, client.RegisterMsg(k))
	if err != nil || res.Code != 0 {
		e.t.Fatalf("register %s: %+v %v", name, res, err)
	}
	k.DID = client.KeySigner{Key: k}.DID()
	if len(roles) > 0 {
		admin, err := e.dev.Keyring.Get("admin")
		if err != nil {
			e.t.Fatal(err)
		}
		res, err := e.c.Submit(ctx, client.KeySigner{Key: admin}, &org.MsgAddMember{Org: e.run.Node.Vault.Org(), Member: k.DID, Roles: org.SortRoles(roles)})
		if err != nil || res.Code != 0 {
			e.t.Fatalf("add member %s: %+v %v", name, res, err)
		}
	}
	return k
}

func (e *env) token(k *keyring.Key) string {
	e.t.Helper()
	s := client.KeySigner{Key: k}
	iss, err := auth.Issue(k.SigningKey, s.DID(), s.KeyID(), e.chainID, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return iss.Token
}

func pid(did string) string { return strings.TrimPrefix(did, identity.Method) }

// resp is an answer of the FHIR API.
type resp struct {
	status int
	header http.Header
	body   []byte
	res    map[string]any
}

func (r *resp) String() string { return fmt.Sprintf("%d %s", r.status, clip(string(r.body), 600)) }

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func (e *env) do(method, path, token string, body []byte, hdr ...string) *resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	hr, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer hr.Body.Close()
	bz, _ := io.ReadAll(hr.Body)
	r := &resp{status: hr.StatusCode, header: hr.Header, body: bz}
	dec := json.NewDecoder(bytes.NewReader(bz))
	dec.UseNumber() // FHIR decimals keep their precision
	_ = dec.Decode(&r.res)
	return r
}

// wantOutcome checks an error answer: status, an OperationOutcome body
// and the FHIR content type.
func wantOutcome(t *testing.T, r *resp, status int, what string) {
	t.Helper()
	if r.status != status || r.res["resourceType"] != "OperationOutcome" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/fhir+json") {
		t.Fatalf("%s: got %s, want %d with an OperationOutcome", what, r, status)
	}
	if issues := fhir.Validate(r.body); len(issues) > 0 {
		t.Fatalf("%s: the OperationOutcome is invalid: %+v", what, issues)
	}
}

// decode parses JSON keeping numbers as written.
func decode(t testing.TB, bz []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(bz))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return m
}

func encode(v any) []byte {
	bz, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return bz
}

// normalize drops what the server sets (id, meta.versionId,
// meta.lastUpdated) and re-reads the JSON with numbers as written.
func normalize(t testing.TB, m map[string]any) any {
	t.Helper()
	m = decode(t, encode(m))
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

// sameFHIR compares two resources as FHIR JSON, ignoring what the server
// sets; on a difference it names the first differing top-level element.
func sameFHIR(t testing.TB, want, got map[string]any) string {
	t.Helper()
	w, g := normalize(t, want).(map[string]any), normalize(t, got).(map[string]any)
	if reflect.DeepEqual(w, g) {
		return ""
	}
	for k := range w {
		if !reflect.DeepEqual(w[k], g[k]) {
			return "element " + k + " differs"
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			return "element " + k + " added"
		}
	}
	return "differs"
}

// patientFields are the elements through which the examples reference
// their patient.
var patientFields = []string{"subject", "patient", "beneficiary", "for"}

// rewritePatient points a resource at the patient (its patient references,
// or for a Patient its id); false when it has no patient reference.
func rewritePatient(res map[string]any, did string) bool {
	if res["resourceType"] == "Patient" {
		res["id"] = pid(did)
		return true
	}
	ok := false
	for _, f := range patientFields {
		switch v := res[f].(type) {
		case map[string]any:
			v["reference"] = "Patient/" + pid(did)
			ok = true
		case []any:
			for _, x := range v {
				if m, isMap := x.(map[string]any); isMap {
					m["reference"] = "Patient/" + pid(did)
					ok = true
				}
			}
		}
	}
	return ok
}

// testdata returns ../shared/testdata/<name>, skipping when absent.
func testdata(t testing.TB, name string) string {
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

// pickExamples chooses up to n example files that carry a patient
// reference (or are Patients), types taken in turn so the set is varied.
func pickExamples(t *testing.T, n int) []string {
	var files []string
	for _, d := range []string{testdata(t, "hl7-fhir-r4-examples"), testdata(t, "hl7-us-core-examples")} {
		fs, _ := filepath.Glob(filepath.Join(d, "*.json"))
		files = append(files, fs...)
	}
	byType := map[string][]string{}
	var order []string
	for _, f := range files {
		bz, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res := decode(t, bz)
		typ, _ := res["resourceType"].(string)
		if typ == "Bundle" || typ == "AuditEvent" || typ == "Provenance" || len(bz) > 64<<10 {
			continue
		}
		if !rewritePatient(res, "did:medchain:aaaaaaaaaaaaaaaaaaaaaaaaaa") {
			continue
		}
		if byType[typ] == nil {
			order = append(order, typ)
		}
		byType[typ] = append(byType[typ], f)
	}
	var out []string
	for round := 0; len(out) < n; round++ {
		added := false
		for _, typ := range order {
			if round < len(byType[typ]) && len(out) < n {
				out = append(out, byType[typ][round])
				added = true
			}
		}
		if !added {
			break
		}
	}
	return out
}

// parallel runs f(i) for i < n, at most k at once.
func parallel(n, k int, f func(i int)) {
	sem := make(chan struct{}, k)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

func (e *env) anchorCount(did string) int {
	e.t.Helper()
	l, err := e.c.PatientRecords(context.Background(), did, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(l.Records)
}

// TestFHIR runs the FHIR API against a real node: the R4 and US Core
// examples and Synthea transaction Bundles round-trip; invalid resources
// are refused with no state change; tokens; consent denials logged;
// search; updates; consents and access events as FHIR; break-glass;
// erasure; and no PHI anywhere but the vault's ciphertext.
func TestFHIR(t *testing.T) {
	e := newEnv(t)
	start := time.Now()
	doc := e.register("doc", org.RolePractitioner)
	alice := e.register("alice")
	bob := e.register("bob")
	docTok, aliceTok, bobTok := e.token(doc), e.token(alice), e.token(bob)

	t.Run("metadata", func(t *testing.T) {
		r := e.do("GET", "/fhir/metadata", "", nil)
		if r.status != 200 || r.res["resourceType"] != "CapabilityStatement" {
			t.Fatalf("metadata: %s", r)
		}
		if issues := fhir.Validate(r.body); len(issues) > 0 {
			t.Fatalf("CapabilityStatement invalid: %+v", issues)
		}
	})

	var aliceObs string // an Observation of alice's, for later subtests
	t.Run("examples", func(t *testing.T) {
		files := pickExamples(t, 40)
		if len(files) < 30 {
			t.Fatalf("only %d examples picked", len(files))
		}
		types := map[string]bool{}
		var mu sync.Mutex
		patientFiles := 0
		// Patients of alice go one at a time (each is a new version of her
		// Patient record); everything else in parallel.
		check := func(f string) {
			bz, _ := os.ReadFile(f)
			res := decode(t, bz)
			rewritePatient(res, alice.DID)
			typ := res["resourceType"].(string)
			r := e.do("POST", "/fhir/"+typ, docTok, encode(res))
			if r.status != http.StatusCreated {
				t.Errorf("%s: create: %s", filepath.Base(f), r)
				return
			}
			loc := r.header.Get("Location")
			id, _ := r.res["id"].(string)
			if !strings.Contains(loc, "/fhir/"+typ+"/"+id+"/_history/") || r.res["meta"].(map[string]any)["versionId"] == nil {
				t.Errorf("%s: Location %q, body id %q", filepath.Base(f), loc, id)
			}
			if d := sameFHIR(t, res, r.res); d != "" {
				t.Errorf("%s: the created resource is not the posted one: %s", filepath.Base(f), d)
			}
			got := e.do("GET", "/fhir/"+typ+"/"+id, docTok, nil)
			if got.status != 200 {
				t.Errorf("%s: read: %s", filepath.Base(f), got)
				return
			}
			if d := sameFHIR(t, res, got.res); d != "" {
				t.Errorf("%s: read back differs: %s", filepath.Base(f), d)
			}
			// The Location (a version) reads too.
			if v := e.do("GET", strings.TrimPrefix(loc, e.base), docTok, nil); v.status != 200 {
				t.Errorf("%s: vread of Location: %s", filepath.Base(f), v)
			}
			mu.Lock()
			types[typ] = true
			if typ == "Observation" && aliceObs == "" {
				aliceObs = id
			}
			mu.Unlock()
		}
		for _, f := range files {
			if res := decode(t, must(os.ReadFile(f))); res["resourceType"] == "Patient" {
				check(f)
				patientFiles++
			}
		}
		var rest []string
		for _, f := range files {
			if res := decode(t, must(os.ReadFile(f))); res["resourceType"] != "Patient" {
				rest = append(rest, f)
			}
		}
		parallel(len(rest), 12, func(i int) { check(rest[i]) })
		t.Logf("%d examples of %d types (%d Patients) round-tripped in %s", len(files), len(types), patientFiles, time.Since(start).Round(time.Millisecond))
		if aliceObs == "" {
			t.Fatal("no Observation among the examples")
		}
	})

	t.Run("invalid", func(t *testing.T) {
		before := e.anchorCount(alice.DID)
		obs := func(extra string) []byte {
			return []byte(`{"resourceType":"Observation","status":"final","code":{"text":"glucose"},"subject":{"reference":"Patient/` + pid(alice.DID) + `"}` + extra + `}`)
		}
		cases := []struct {
			name, path string
			body       []byte
			status     int
			hdr        []string
		}{
			{"broken JSON", "/fhir/Observation", []byte(`{"resourceType":"Observation",`), 400, nil},
			{"not an object", "/fhir/Observation", []byte(`[1,2]`), 400, nil},
			{"unknown field", "/fhir/Observation", obs(`,"colour":"red"`), 422, nil},
			{"wrong type", "/fhir/Observation", obs(`,"issued":42`), 422, nil},
			{"bad date", "/fhir/Observation", obs(`,"effectiveDateTime":"2021-02-30"`), 422, nil},
			{"bad code", "/fhir/Observation", []byte(`{"resourceType":"Observation","status":"done","code":{"text":"x"},"subject":{"reference":"Patient/` + pid(alice.DID) + `"}}`), 422, nil},
			{"missing required", "/fhir/Observation", []byte(`{"resourceType":"Observation","code":{"text":"x"},"subject":{"reference":"Patient/` + pid(alice.DID) + `"}}`), 422, nil},
			{"bad birth date", "/fhir/Patient", []byte(`{"resourceType":"Patient","id":"` + pid(alice.DID) + `","birthDate":"1970-13-01"}`), 422, nil},
			{"wrong resourceType for the URL", "/fhir/Condition", obs(""), 400, nil},
			{"no patient", "/fhir/Observation", []byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"}}`), 422, nil},
			{"unregistered patient", "/fhir/Observation", []byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/example"}}`), 422, nil},
			{"unregistered DID", "/fhir/Observation", []byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/aaaaaaaaaaaaaaaaaaaaaaaaaa"}}`), 422, nil},
			{"Patient not naming a patient", "/fhir/Patient", []byte(`{"resourceType":"Patient","id":"example"}`), 422, nil},
			{"not a patient record", "/fhir/Organization", []byte(`{"resourceType":"Organization","name":"x"}`), 404, nil},
			{"not a FHIR type", "/fhir/Nonsense", []byte(`{"resourceType":"Nonsense"}`), 404, nil},
			{"AuditEvent", "/fhir/AuditEvent", []byte(`{"resourceType":"AuditEvent"}`), 405, nil},
			{"XML", "/fhir/Observation", []byte(`<Observation/>`), 415, []string{"Content-Type", "application/fhir+xml"}},
			{"too large", "/fhir/Observation", obs(`,"valueString":"` + strings.Repeat("x", 2<<20) + `"`), 413, nil},
			{"batch Bundle", "/fhir", []byte(`{"resourceType":"Bundle","type":"batch","entry":[]}`), 422, nil},
			{"transaction with an invalid entry", "/fhir", []byte(`{"resourceType":"Bundle","type":"transaction","entry":[` +
				`{"fullUrl":"urn:uuid:6f0d6b5e-0d7b-4b5e-9f0a-000000000001","resource":` + string(obs("")) + `,"request":{"method":"POST","url":"Observation"}},` +
				`{"resource":` + string(obs(`,"effectiveDateTime":"yesterday"`)) + `,"request":{"method":"POST","url":"Observation"}}]}`), 422, nil},
			{"transaction with an unauthorised entry", "/fhir", []byte(`{"resourceType":"Bundle","type":"transaction","entry":[` +
				`{"resource":` + string(obs("")) + `,"request":{"method":"POST","url":"Observation"}},` +
				`{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/example"}},"request":{"method":"POST","url":"Observation"}}]}`), 422, nil},
			{"transaction with a dangling urn", "/fhir", []byte(`{"resourceType":"Bundle","type":"transaction","entry":[` +
				`{"resource":` + string(obs(`,"hasMember":[{"reference":"urn:uuid:6f0d6b5e-0d7b-4b5e-9f0a-0000000000ff"}]`)) + `,"request":{"method":"POST","url":"Observation"}}]}`), 422, nil},
		}
		for _, tc := range cases {
			r := e.do("POST", tc.path, docTok, tc.body, tc.hdr...)
			wantOutcome(t, r, tc.status, tc.name)
		}
		if after := e.anchorCount(alice.DID); after != before {
			t.Errorf("invalid posts changed state: %d anchors, then %d", before, after)
		}
	})

	t.Run("tokens", func(t *testing.T) {
		path := "/fhir/AuditEvent?patient=Patient/" + pid(alice.DID)
		r := e.do("GET", path, "", nil)
		wantOutcome(t, r, 401, "no token")
		if !strings.Contains(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 without a Bearer challenge: %v", r.header)
		}
		wantOutcome(t, e.do("GET", path, "not-a-token", nil), 401, "garbage")
		s := client.KeySigner{Key: alice}
		expired, _ := auth.IssueAt(time.Now().Add(-20*time.Minute), alice.SigningKey, s.DID(), s.KeyID(), e.chainID, 5*time.Minute)
		wantOutcome(t, e.do("GET", path, expired.Token, nil), 401, "expired")
		other, _ := auth.Issue(alice.SigningKey, s.DID(), s.KeyID(), "another-chain", 0)
		wantOutcome(t, e.do("GET", path, other.Token, nil), 401, "wrong audience")
		if r := e.do("GET", path, aliceTok, nil); r.status != 200 {
			t.Fatalf("good token: %s", r)
		}
		// Rotate carol's key: her old key's tokens stop at once.
		carol := e.register("carol")
		oldTok := e.token(carol)
		cpath := "/fhir/AuditEvent?patient=Patient/" + pid(carol.DID)
		if r := e.do("GET", cpath, oldTok, nil); r.status != 200 {
			t.Fatalf("carol before rotation: %s", r)
		}
		next, err := e.dev.Keyring.Rotate("carol")
		if err != nil {
			t.Fatal(err)
		}
		next.DID = carol.DID
		prev := next.Previous[len(next.Previous)-1]
		signer := client.GenerationSigner{Identity: carol.DID, Generation: prev.Generation, Private: prev.SigningKey}
		res, err := e.c.Submit(context.Background(), signer, client.RotateMsg(e.chainID, carol.DID, next))
		if err != nil || res.Code != 0 {
			t.Fatalf("rotate: %+v %v", res, err)
		}
		r = e.do("GET", cpath, oldTok, nil)
		wantOutcome(t, r, 401, "rotated-away key")
		if !strings.Contains(string(r.body), "rotated") {
			t.Errorf("the 401 does not say the key was rotated: %s", r)
		}
		if r := e.do("GET", cpath, e.token(next), nil); r.status != 200 {
			t.Fatalf("carol's new key: %s", r)
		}
		// A key of the DID that is not its signing key at all.
		_, stranger, _ := ed25519.GenerateKey(nil)
		forged, _ := auth.Issue(stranger, carol.DID, identity.SigningKeyID(carol.DID, 2), e.chainID, 0)
		wantOutcome(t, e.do("GET", cpath, forged.Token, nil), 401, "forged signature")
	})

	t.Run("denied and logged", func(t *testing.T) {
		if aliceObs == "" {
			t.Skip("no record from the examples")
		}
		r := e.do("GET", "/fhir/Observation/"+aliceObs, bobTok, nil)
		wantOutcome(t, r, 403, "bob reads alice's record")
		r = e.do("GET", "/fhir/Observation?patient=Patient/"+pid(alice.DID), bobTok, nil)
		wantOutcome(t, r, 403, "bob searches alice's records")
		log, err := e.c.FullAccessLog(context.Background(), alice.DID)
		if err != nil {
			t.Fatal(err)
		}
		denials := 0
		for _, ev := range log.Events {
			if ev.Requester == bob.DID && ev.Decision == "deny" {
				denials++
			}
		}
		if denials != 2 {
			t.Errorf("alice's access log shows %d denials of bob, want 2", denials)
		}
		// The same, as FHIR AuditEvents for alice; never for bob.
		r = e.do("GET", "/fhir/AuditEvent?patient=Patient/"+pid(alice.DID)+"&_count=1000", aliceTok, nil)
		if r.status != 200 || !strings.Contains(string(r.body), bob.DID) || !strings.Contains(string(r.body), `"outcome":"4"`) {
			t.Fatalf("alice's AuditEvents: %s", r)
		}
		if issues := fhir.Validate(r.body); len(issues) > 0 {
			t.Errorf("AuditEvent Bundle invalid: %+v", issues)
		}
		if total := num(r.res["total"]); int(total) != len(log.Events) {
			t.Errorf("AuditEvent total %v, access log %d", r.res["total"], len(log.Events))
		}
		wantOutcome(t, e.do("GET", "/fhir/AuditEvent?patient=Patient/"+pid(alice.DID), bobTok, nil), 403, "bob reads alice's log")
		// Reading one's own record needs no consent.
		if r := e.do("GET", "/fhir/Observation/"+aliceObs, aliceTok, nil); r.status != 200 {
			t.Errorf("alice reads her record: %s", r)
		}
	})

	t.Run("search", func(t *testing.T) {
		dana := e.register("dana")
		p := "Patient/" + pid(dana.DID)
		mk := func(code, cat, date string) string {
			body := fmt.Sprintf(`{"resourceType":"Observation","status":"final",`+
				`"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"%s"}]}],`+
				`"code":{"coding":[{"system":"http://loinc.org","code":"%s"}]},"subject":{"reference":"%s"},"effectiveDateTime":"%s"}`, cat, code, p, date)
			r := e.do("POST", "/fhir/Observation", docTok, []byte(body))
			if r.status != 201 {
				t.Fatalf("create: %s", r)
			}
			return r.res["id"].(string)
		}
		a := mk("2339-0", "laboratory", "2020-01-15")
		b := mk("8867-4", "vital-signs", "2021-06-01T10:00:00Z")
		c := mk("2339-0", "laboratory", "2022-03-03")
		ids := func(r *resp) []string {
			var out []string
			for _, en := range asSlice(r.res["entry"]) {
				res := en.(map[string]any)["resource"].(map[string]any)
				out = append(out, res["id"].(string))
			}
			return out
		}
		for _, tc := range []struct {
			q    string
			want []string
		}{
			{"", []string{c, b, a}},
			{"&code=http://loinc.org|2339-0", []string{c, a}},
			{"&code=8867-4", []string{b}},
			{"&category=vital-signs", []string{b}},
			{"&date=ge2021", []string{c, b}},
			{"&date=lt2021&code=2339-0", []string{a}},
			{"&date=2021-06", []string{b}},
			{"&_id=" + a + "," + b, []string{b, a}},
			{"&_lastUpdated=gt2000-01-01", []string{c, b, a}},
			{"&_lastUpdated=lt2000-01-01", nil},
		} {
			r := e.do("GET", "/fhir/Observation?patient="+p+tc.q, docTok, nil)
			if r.status != 200 || r.res["type"] != "searchset" {
				t.Fatalf("search %s: %s", tc.q, r)
			}
			if got := ids(r); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("search %q: %v, want %v", tc.q, got, tc.want)
			}
		}
		// Paging.
		r := e.do("GET", "/fhir/Observation?patient="+p+"&_count=2", docTok, nil)
		if total := num(r.res["total"]); total != 3 || len(ids(r)) != 2 {
			t.Fatalf("page 1: %s", r)
		}
		var next string
		for _, l := range asSlice(r.res["link"]) {
			if l.(map[string]any)["relation"] == "next" {
				next = l.(map[string]any)["url"].(string)
			}
		}
		if next == "" {
			t.Fatalf("no next link: %s", r)
		}
		r2 := e.do("GET", strings.TrimPrefix(next, e.base), docTok, nil)
		if got := ids(r2); !reflect.DeepEqual(got, []string{a}) {
			t.Errorf("page 2: %v", got)
		}
		wantOutcome(t, e.do("GET", "/fhir/Observation", docTok, nil), 400, "search without patient")
		wantOutcome(t, e.do("GET", "/fhir/Observation?patient="+p+"&colour=red", docTok, nil), 400, "unknown parameter")
		wantOutcome(t, e.do("GET", "/fhir/Observation?patient="+p+"&date=soon", docTok, nil), 400, "bad date parameter")
		wantOutcome(t, e.do("GET", "/fhir/Observation?patient="+p+"&_purpose=GOSSIP", docTok, nil), 400, "bad purpose")
		// $everything: the records dana's doctor may see.
		r = e.do("GET", "/fhir/Patient/"+pid(dana.DID)+"/$everything", docTok, nil)
		if total := num(r.res["total"]); r.status != 200 || total != 3 {
			t.Errorf("$everything: %s", r)
		}
	})

	t.Run("update", func(t *testing.T) {
		body := func(status string) []byte {
			return []byte(`{"resourceType":"Condition","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"` + status + `"}]},` +
				`"code":{"text":"asthma"},"subject":{"reference":"Patient/` + pid(alice.DID) + `"}}`)
		}
		r := e.do("POST", "/fhir/Condition", docTok, body("active"))
		if r.status != 201 {
			t.Fatalf("create: %s", r)
		}
		id := r.res["id"].(string)
		upd := decode(t, body("resolved"))
		upd["id"] = id
		r = e.do("PUT", "/fhir/Condition/"+id, docTok, encode(upd), "If-Match", `W/"1"`)
		if r.status != 200 || r.res["meta"].(map[string]any)["versionId"] != "2" || r.header.Get("ETag") != `W/"2"` {
			t.Fatalf("update: %s", r)
		}
		got := e.do("GET", "/fhir/Condition/"+id, docTok, nil)
		if d := sameFHIR(t, upd, got.res); d != "" || got.res["meta"].(map[string]any)["versionId"] != "2" {
			t.Errorf("read after update: %s %s", d, got)
		}
		wantOutcome(t, e.do("PUT", "/fhir/Condition/"+id, docTok, encode(upd), "If-Match", `W/"1"`), 412, "stale If-Match")
		wantOutcome(t, e.do("GET", "/fhir/Condition/"+id+"/_history/1", docTok, nil), 404, "old version")
		other := decode(t, body("resolved"))
		other["id"] = id
		other["subject"] = map[string]any{"reference": "Patient/" + pid(bob.DID)}
		wantOutcome(t, e.do("PUT", "/fhir/Condition/"+id, docTok, encode(other), "If-Match", `W/"2"`), 422, "moving a record to another patient")
		wantOutcome(t, e.do("PUT", "/fhir/Observation/"+id, docTok, encode(upd)), 400, "type mismatch")
		noID := decode(t, body("resolved"))
		wantOutcome(t, e.do("PUT", "/fhir/Condition/"+id, docTok, encode(noID)), 400, "update without id")
		// bob may not write alice's records; alice may add her own.
		wantOutcome(t, e.do("POST", "/fhir/Condition", bobTok, body("active")), 403, "bob writes for alice")
		if r := e.do("POST", "/fhir/Condition", aliceTok, body("active")); r.status != 201 {
			t.Errorf("alice adds her own record: %s", r)
		}
		wantOutcome(t, e.do("DELETE", "/fhir/Condition/"+id, docTok, nil), 405, "DELETE")
		wantOutcome(t, e.do("GET", "/fhir/Condition/nosuchrecord", docTok, nil), 404, "unknown id")
	})

	t.Run("consents", func(t *testing.T) {
		res, err := e.c.Submit(context.Background(), client.KeySigner{Key: alice}, grantMsg(alice.DID, bob.DID))
		if err != nil || res.Code != 0 {
			t.Fatalf("grant: %+v %v", res, err)
		}
		r := e.do("GET", "/fhir/Consent?patient=Patient/"+pid(alice.DID), aliceTok, nil)
		if r.status != 200 || !strings.Contains(string(r.body), `"id":"consent-`) {
			t.Fatalf("alice's consents: %s", r)
		}
		if issues := fhir.Validate(r.body); len(issues) > 0 {
			t.Errorf("Consent Bundle invalid: %+v", issues)
		}
		var cid string
		for _, en := range asSlice(r.res["entry"]) {
			res := en.(map[string]any)["resource"].(map[string]any)
			if id, _ := res["id"].(string); strings.HasPrefix(id, "consent-") {
				cid = id
			}
		}
		one := e.do("GET", "/fhir/Consent/"+cid, docTok, nil)
		if one.status != 200 || one.res["status"] != "active" || !strings.Contains(string(one.body), bob.DID) {
			t.Errorf("Consent/%s: %s", cid, one)
		}
		wantOutcome(t, e.do("GET", "/fhir/Consent?patient=Patient/"+pid(alice.DID), bobTok, nil), 403, "bob lists alice's consents")
	})

	t.Run("break-glass", func(t *testing.T) {
		if aliceObs == "" {
			t.Skip("no record")
		}
		er := e.register("er", org.RoleEmergency)
		r := e.do("GET", "/fhir/Observation/"+aliceObs, e.token(er), nil, "X-Break-Glass", "patient-unconscious")
		if r.status != 200 {
			t.Fatalf("break-glass read: %s", r)
		}
		wantOutcome(t, e.do("GET", "/fhir/Observation/"+aliceObs, e.token(er), nil, "X-Break-Glass", "curiosity"), 400, "free-text reason")
		r = e.do("GET", "/fhir/AuditEvent?patient=Patient/"+pid(alice.DID)+"&_count=1000", aliceTok, nil)
		if !strings.Contains(string(r.body), `"code":"BTG"`) || !strings.Contains(string(r.body), "BREAK-GLASS") {
			t.Errorf("the break-glass access is not flagged in alice's AuditEvents")
		}
	})

	t.Run("synthea transactions", func(t *testing.T) {
		dir := testdata(t, "synthea-fhir-r4-bundles")
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(files) > 3 {
			files = files[:3]
		}
		for i, f := range files {
			p := e.register(fmt.Sprintf("synthea%d", i))
			bundle := decode(t, must(os.ReadFile(f)))
			entries := asSlice(bundle["entry"])
			for _, en := range entries {
				if res := en.(map[string]any)["resource"].(map[string]any); res["resourceType"] == "Patient" {
					res["id"] = pid(p.DID)
				}
			}
			t0 := time.Now()
			r := e.do("POST", "/fhir", docTok, encode(bundle))
			if r.status != 200 || r.res["type"] != "transaction-response" {
				t.Fatalf("%s: transaction: %s", filepath.Base(f), r)
			}
			out := asSlice(r.res["entry"])
			if len(out) != len(entries) {
				t.Fatalf("%s: %d response entries for %d", filepath.Base(f), len(out), len(entries))
			}
			// What the server assigned, to rewrite the originals' references.
			refs := map[string]string{}
			for j, en := range entries {
				loc := out[j].(map[string]any)["response"].(map[string]any)["location"].(string)
				typ, rest, _ := strings.Cut(loc, "/")
				id, _, _ := strings.Cut(rest, "/")
				refs[en.(map[string]any)["fullUrl"].(string)] = typ + "/" + id
			}
			took := time.Since(t0)
			// Read everything back.
			rb := e.do("GET", "/fhir/Patient/"+pid(p.DID)+"/$everything?_count=1000", docTok, nil)
			if rb.status != 200 {
				t.Fatalf("$everything: %s", rb)
			}
			got := map[string]map[string]any{}
			for _, en := range asSlice(rb.res["entry"]) {
				res := en.(map[string]any)["resource"].(map[string]any)
				got[res["resourceType"].(string)+"/"+res["id"].(string)] = res
			}
			for _, en := range entries {
				em := en.(map[string]any)
				want := em["resource"].(map[string]any)
				rewriteRefs(want, refs)
				key := refs[em["fullUrl"].(string)]
				if d := sameFHIR(t, want, got[key]); d != "" {
					t.Errorf("%s: %s read back differs: %s", filepath.Base(f), key, d)
				}
			}
			t.Logf("%s: %d entries written in %s (%.0f records/s), read back in one $everything", filepath.Base(f), len(entries), took.Round(time.Millisecond), float64(len(entries))/took.Seconds())
		}
	})

	t.Run("no PHI outside the vault", func(t *testing.T) {
		erin := e.register("erin")
		canaries := []string{"Qwertzcanary", "Yxcvbcanary", "1917-03-29", "19170329", "CANARY-7730-1123", "Canarynotetext"}
		pat := fmt.Sprintf(`{"resourceType":"Patient","id":"%s","identifier":[{"system":"urn:oid:2.16.840.1.113883.4.1","value":"CANARY-7730-1123"}],`+
			`"name":[{"family":"Qwertzcanary","given":["Yxcvbcanary"]}],"birthDate":"1917-03-29"}`, pid(erin.DID))
		if r := e.do("POST", "/fhir/Patient", docTok, []byte(pat)); r.status != 201 {
			t.Fatalf("canary patient: %s", r)
		}
		ob := `{"resourceType":"Observation","status":"final","code":{"text":"Canarynotetext"},"subject":{"reference":"Patient/` + pid(erin.DID) + `","display":"Yxcvbcanary Qwertzcanary"},` +
			`"note":[{"text":"born 1917-03-29, Canarynotetext"}]}`
		r := e.do("POST", "/fhir/Observation", docTok, []byte(ob))
		if r.status != 201 {
			t.Fatalf("canary observation: %s", r)
		}
		// Read them (a read path that logged content would show here), and
		// fail some writes that mention them.
		if got := e.do("GET", "/fhir/Patient/"+pid(erin.DID), docTok, nil); got.status != 200 || !strings.Contains(string(got.body), "Qwertzcanary") {
			t.Fatalf("read canary patient: %s", got)
		}
		e.do("GET", "/fhir/Observation/"+r.res["id"].(string), bobTok, nil)
		e.do("POST", "/fhir/Patient", docTok, []byte(`{"resourceType":"Patient","id":"`+pid(erin.DID)+`","birthDate":"Qwertzcanary"}`))
		e.do("POST", "/fhir/Observation", docTok, []byte(`{"resourceType":"Observation","Yxcvbcanary":1}`))
		// Synthea names and birth dates went in too.
		canaries = append(canaries, syntheaCanaries(t)...)
		time.Sleep(1500 * time.Millisecond) // a few more blocks, flushed logs
		home := e.dev.Home
		vaultDir := node.VaultDir(home)
		if blobs, _ := filepath.Glob(filepath.Join(vaultDir, "rec", "*", "*")); len(blobs) == 0 {
			t.Fatalf("control: no records under the vault directory %s; the vault is not where the test looks", vaultDir)
		}
		found := grepTree(t, home, canaries, func(p string) bool {
			return strings.HasPrefix(p, vaultDir) || strings.HasPrefix(p, filepath.Join(home, "keyring"))
		})
		found = append(found, grepTree(t, e.logPath, canaries, nil)...)
		// Controls: the searches do find what is there.
		if len(grepTree(t, e.logPath, []string{e.chainID}, nil)) == 0 {
			t.Error("control: the chain id is not found in the node log; the log is not being searched")
		}
		if len(scanChain(t, e, []string{erin.DID})) == 0 {
			t.Error("control: erin's DID is not found on chain; the chain scan is broken")
		}
		for _, f := range found {
			t.Errorf("PHI outside the vault: %s", f)
		}
		if len(grepTree(t, vaultDir, canaries, nil)) > 0 {
			t.Errorf("the vault holds plaintext")
		}
		// Compressed storage could hide a match from grep: read the chain's
		// contents logically too (every transaction, every event, all state).
		for _, f := range scanChain(t, e, canaries) {
			t.Errorf("PHI on chain: %s", f)
		}
	})

	t.Run("erasure", func(t *testing.T) {
		frank := e.register("frank")
		pat := `{"resourceType":"Patient","id":"` + pid(frank.DID) + `","gender":"male"}`
		if r := e.do("POST", "/fhir/Patient", docTok, []byte(pat)); r.status != 201 {
			t.Fatalf("create: %s", r)
		}
		r := e.do("POST", "/fhir/Observation", docTok, []byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/`+pid(frank.DID)+`"}}`))
		if r.status != 201 {
			t.Fatalf("create: %s", r)
		}
		id := r.res["id"].(string)
		res, err := e.c.Submit(context.Background(), client.KeySigner{Key: frank}, erasure(frank.DID))
		if err != nil || res.Code != 0 {
			t.Fatalf("erase: %+v %v", res, err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, err := e.c.Erasure(context.Background(), frank.DID, 0)
			if err == nil && st.Complete {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("erasure not confirmed: %+v %v", st, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		wantOutcome(t, e.do("GET", "/fhir/Observation/"+id, docTok, nil), 410, "read after erasure")
		wantOutcome(t, e.do("GET", "/fhir/Observation/"+id, e.token(frank), nil), 410, "the patient reads after erasure")
		wantOutcome(t, e.do("GET", "/fhir/Patient/"+pid(frank.DID), docTok, nil), 410, "Patient after erasure")
		upd := `{"resourceType":"Observation","id":"` + id + `","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/` + pid(frank.DID) + `"}}`
		wantOutcome(t, e.do("PUT", "/fhir/Observation/"+id, docTok, []byte(upd)), 410, "update after erasure")
		s := e.do("GET", "/fhir/Observation?patient=Patient/"+pid(frank.DID), docTok, nil)
		if total := num(s.res["total"]); s.status != 200 || total != 0 {
			t.Errorf("search after erasure: %s", s)
		}
		// Others are untouched.
		if aliceObs != "" {
			if r := e.do("GET", "/fhir/Observation/"+aliceObs, docTok, nil); r.status != 200 {
				t.Errorf("alice's record after frank's erasure: %s", r)
			}
		}
	})
	// Nothing failed inside the server unexpectedly.
	logBytes, _ := os.ReadFile(e.logPath)
	for _, line := range strings.Split(string(logBytes), "\n") {
		if strings.Contains(line, "FHIR handler panic") || strings.Contains(line, "FHIR request failed") || strings.Contains(line, "FHIR transaction write failed") {
			t.Errorf("node log: %s", clip(line, 300))
		}
	}
	t.Logf("TestFHIR took %s", time.Since(start).Round(time.Millisecond))
}

// num reads a JSON number.
func num(v any) float64 {
	n, _ := v.(json.Number)
	f, _ := n.Float64()
	return f
}

func must(bz []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return bz
}

func asSlice(v any) []any {
	l, _ := v.([]any)
	return l
}

// rewriteRefs replaces references as the server does in a transaction.
func rewriteRefs(v any, refs map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && k == "reference" {
				if to, ok := refs[s]; ok {
					x[k] = to
				}
				continue
			}
			rewriteRefs(val, refs)
		}
	case []any:
		for _, e := range x {
			rewriteRefs(e, refs)
		}
	}
}
