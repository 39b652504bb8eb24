package e2e

import (
	"bytes"
	"context"
	"crypto/hpke"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/auth"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/testnet/harness"
	"github.com/medchain/medchain/vault"
	"github.com/medchain/medchain/vault/blob/fs"
	"github.com/medchain/medchain/vault/envelope"
	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/records"
)

// people registers identities and hands out FHIR tokens on a testnet.
type people struct {
	t  *testing.T
	tn *harness.Testnet
}

// submit sends msgs signed by s through node i and fails the test unless
// they commit with code 0; it returns once every running node has
// committed that height (nodes apply a block at slightly different times).
func (p people) submit(i int, s client.Signer, what string, msgs ...module.Msg) {
	p.t.Helper()
	ctx, cancel := ctxFor(30 * time.Second)
	defer cancel()
	res, err := p.tn.Node(i).Client.Submit(ctx, s, msgs...)
	if err != nil || res.Code != 0 {
		p.t.Fatalf("%s: %+v %v", what, res, err)
	}
	if err := p.tn.WaitHeight(res.Height, 30*time.Second, p.tn.Up()...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// person registers a deterministic identity and, with org >= 0, makes it
// a member of founding organization org with roles.
func (p people) person(name string, orgIdx int, roles ...string) *harness.Signer {
	p.t.Helper()
	s := harness.NewSigner(p.t.Name() + "/" + name)
	p.submit(0, s, "register "+name, s.Register())
	if orgIdx >= 0 {
		mf := p.tn.Manifest()
		p.submit(orgIdx, p.tn.Admin(orgIdx), "add member "+name,
			&org.MsgAddMember{Org: mf.Nodes[orgIdx].OrgID, Member: s.DID(), Roles: org.SortRoles(roles)})
	}
	return s
}

func (p people) token(s *harness.Signer) string {
	p.t.Helper()
	iss, err := auth.Issue(s.SigningKey(), s.DID(), s.KeyID(), p.tn.ChainID, 10*time.Minute)
	if err != nil {
		p.t.Fatal(err)
	}
	return iss.Token
}

// fhirDo calls node i's FHIR API and returns the status and body (the
// OperationOutcome's message for errors).
func (p people) fhirDo(i int, method, path, token string, body []byte) (int, []byte) {
	p.t.Helper()
	ctx, cancel := ctxFor(60 * time.Second)
	defer cancel()
	r, err := p.tn.Node(i).Client.FHIR(ctx, method, path, token, body, nil)
	var ae *client.APIError
	switch {
	case errors.As(err, &ae):
		return ae.Status, []byte(ae.Message)
	case err != nil:
		p.t.Fatalf("%s %s on node%d: %v", method, path, i, err)
	}
	return r.Status, r.Body
}

// create posts a resource through node i and returns its id.
func (p people) create(i int, token, typ string, body []byte) string {
	p.t.Helper()
	st, out := p.fhirDo(i, "POST", "/"+typ, token, body)
	if st != http.StatusCreated {
		p.t.Fatalf("create %s on node%d: %d %s", typ, i, st, out)
	}
	var res struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.ID == "" {
		p.t.Fatalf("create %s: no id in %s", typ, out)
	}
	return res.ID
}

func fhirID(did string) string { return strings.TrimPrefix(did, identity.Method) }

func observation(patient, text string, value int) []byte {
	return []byte(fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"text":%q},`+
		`"subject":{"reference":"Patient/%s"},"valueQuantity":{"value":%d,"unit":"mg/dL"}}`, text, fhirID(patient), value))
}

// sameJSON reports whether got (a read) holds every element of want (what
// was posted) with the same value; the server adds id and meta.
func sameJSON(t *testing.T, want, got []byte) bool {
	t.Helper()
	var w, g map[string]any
	if json.Unmarshal(want, &w) != nil || json.Unmarshal(got, &g) != nil {
		return false
	}
	for k, v := range w {
		a, _ := json.Marshal(v)
		b, _ := json.Marshal(g[k])
		if !bytes.Equal(a, b) {
			t.Logf("element %s: posted %s, read %s", k, a, b)
			return false
		}
	}
	return true
}

// TestRecordsTwoOrganizations runs issue 4's two-organization scenario on
// two validators, each run by its own organization (hospital org0 = A,
// clinic org1 = B), as separate processes: a practitioner of A writes a
// record of a patient through A's node; a practitioner of B reading it
// through B's node is denied; the patient grants B; B's practitioner reads
// it through B's node, whose vault fetches it from A's vault over the
// node-to-node release call (B's vault never stores it); the patient
// revokes through B's node; B is denied again, and A's vault refuses to
// release under the earlier permit; the patient's access log, on both
// nodes, shows each attempt with its decision.
func TestRecordsTwoOrganizations(t *testing.T) {
	tn := newTestnet(t, harness.Options{Validators: 2})
	start := time.Now()
	mf := tn.Manifest()
	const a, b = 0, 1
	// Every node knows the other organization's vault.
	for i, nd := range mf.Nodes {
		s, err := node.LoadSettings(nd.Home)
		if err != nil {
			t.Fatal(err)
		}
		other := mf.Nodes[1-i]
		if s.Peers[other.OrgID] != other.APIURL || len(s.Peers) != 1 {
			t.Fatalf("%s: vault peers %v, want %s -> %s", nd.Name, s.Peers, other.OrgID, other.APIURL)
		}
	}
	p := people{t, tn}
	patient := p.person("patient", -1)
	docA := p.person("doc-a", a, org.RolePractitioner)
	docB := p.person("doc-b", b, org.RolePractitioner)
	patTok, tokA, tokB := p.token(patient), p.token(docA), p.token(docB)

	obs := observation(patient.DID(), "Canarytwoorg glucose", 97)
	id := p.create(a, tokA, "Observation", obs)
	if st, out := p.fhirDo(a, "GET", "/Observation/"+id, tokA, nil); st != 200 || !sameJSON(t, obs, out) {
		t.Fatalf("A reads its own record: %d %s", st, out)
	}

	// 1. No consent: B is denied.
	if st, out := p.fhirDo(b, "GET", "/Observation/"+id, tokB, nil); st != http.StatusForbidden {
		t.Fatalf("B before consent: %d %s, want 403", st, out)
	}
	// 2. The patient grants organization B, for treatment.
	p.submit(a, patient, "grant", &consent.MsgGrant{Patient: patient.DID(),
		Grantee: consent.Grantee{Kind: consent.GranteeOrg, Org: mf.Nodes[b].OrgID}, Purposes: []string{consent.PurposeTreatment}})
	ctx, cancel := ctxFor(30 * time.Second)
	cl, err := tn.Node(b).Client.PatientConsents(ctx, patient.DID(), 0)
	cancel()
	if err != nil || len(cl.Consents) != 1 {
		t.Fatalf("consents: %+v %v", cl, err)
	}
	consentID := cl.Consents[0].ID
	// 3. B's practitioner reads through B's node: B's vault fetches the
	// record from A's vault.
	st, out := p.fhirDo(b, "GET", "/Observation/"+id, tokB, nil)
	if st != 200 || !sameJSON(t, obs, out) {
		t.Fatalf("B with consent: %d %s", st, out)
	}
	if keys := blobKeys(t, mf.Nodes[b].Home, id); len(keys) != 0 {
		t.Errorf("B's vault stored A's record: %v", keys)
	}
	if keys := blobKeys(t, mf.Nodes[a].Home, id); len(keys) != 1 {
		t.Errorf("A's vault holds %v for the record, want one blob", keys)
	}
	log := accessLog(t, tn, b, patient.DID())
	permit := log[len(log)-1]
	if permit.Decision != records.Permit || permit.Requester != docB.DID() || permit.RequesterOrg != mf.Nodes[b].OrgID ||
		permit.Basis != fmt.Sprintf("consent:%d", consentID) {
		t.Fatalf("B's read was logged as %+v", permit)
	}
	// 4. The patient revokes, through B's node this time.
	p.submit(b, patient, "revoke", &consent.MsgRevoke{ConsentID: consentID})
	// 5. B is denied again...
	if st, out := p.fhirDo(b, "GET", "/Observation/"+id, tokB, nil); st != http.StatusForbidden {
		t.Fatalf("B after revocation: %d %s, want 403", st, out)
	}
	// ...and A's vault refuses to release under the permit B got before
	// the revocation, although that permit has not expired.
	if code, msg := releaseAs(t, tn, b, a, permit.ID, id); code != http.StatusForbidden || !strings.Contains(msg, "revoked") {
		t.Errorf("release under the pre-revocation permit: %d %q, want 403 (revoked)", code, msg)
	}
	// The patient still reads their own record through either node.
	for _, i := range []int{a, b} {
		if st, out := p.fhirDo(i, "GET", "/Observation/"+id, patTok, nil); st != 200 || !sameJSON(t, obs, out) {
			t.Errorf("patient reads through node%d: %d %s", i, st, out)
		}
	}

	// 6. The patient's access log shows all of it, the same on both nodes.
	if err := tn.WaitHeight(tn.MaxHeight(a, b), 30*time.Second, a, b); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, ev := range accessLog(t, tn, a, patient.DID()) {
		want = append(want, fmt.Sprintf("%d %s %s %s %s", ev.ID, ev.Requester, ev.RequesterOrg, ev.Decision, ev.Basis))
	}
	var got []string
	var fromB []*records.AccessEvent
	for _, ev := range accessLog(t, tn, b, patient.DID()) {
		got = append(got, fmt.Sprintf("%d %s %s %s %s", ev.ID, ev.Requester, ev.RequesterOrg, ev.Decision, ev.Basis))
		if ev.Requester == docB.DID() {
			fromB = append(fromB, ev)
		}
	}
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Errorf("the access log differs between nodes:\n%s\n---\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
	var decisions []string
	for _, ev := range fromB {
		decisions = append(decisions, ev.Decision)
		if ev.RequesterOrg != mf.Nodes[b].OrgID || len(ev.Records) != 1 || ev.Records[0] != id || ev.Purpose != consent.PurposeTreatment {
			t.Errorf("event %d: %+v", ev.ID, ev)
		}
	}
	if strings.Join(decisions, ",") != "deny,permit,deny" {
		t.Errorf("B's attempts logged as %v, want deny, permit, deny", decisions)
	}
	if fromB[2].Basis != "no consent covers "+id {
		t.Errorf("the denial after revocation has basis %q", fromB[2].Basis)
	}
	// The same, as FHIR AuditEvents for the patient, through B's node.
	st, out = p.fhirDo(b, "GET", "/AuditEvent?patient=Patient/"+fhirID(patient.DID())+"&_count=100", patTok, nil)
	if st != 200 || strings.Count(string(out), docB.DID()) < 3 || !strings.Contains(string(out), `"outcome":"4"`) {
		t.Errorf("AuditEvents: %d %s", st, out)
	}
	t.Logf("two organizations: write at A, deny, grant, read through B from A's vault, revoke, deny; %d access events; %s", len(got), time.Since(start).Round(time.Millisecond))
	tn.Check()
}

// blobKeys lists the blobs a node's vault holds for a record.
func blobKeys(t *testing.T, home, id string) []string {
	t.Helper()
	st, err := fs.Open(node.VaultDir(home))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, p := range vault.RecordBlobPrefixes(id) {
		k, err := st.List(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k...)
	}
	return keys
}

func accessLog(t *testing.T, tn *harness.Testnet, i int, patient string) []*records.AccessEvent {
	t.Helper()
	ctx, cancel := ctxFor(30 * time.Second)
	defer cancel()
	l, err := tn.Node(i).Client.FullAccessLog(ctx, patient)
	if err != nil {
		t.Fatal(err)
	}
	return l.Events
}

// vaultKey reads node i's vault key from its keyring.
func vaultKey(t *testing.T, tn *harness.Testnet, i int) *keyring.Key {
	t.Helper()
	kr, err := keyring.Open(node.KeyringDir(tn.Manifest().Nodes[i].Home), func(bool) ([]byte, error) { return []byte(harness.Passphrase), nil })
	if err != nil {
		t.Fatal(err)
	}
	k, err := kr.Get(node.VaultKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// releaseAs asks node holder's vault, as node from's vault, to release
// record id under access event ev, and returns the answer.
func releaseAs(t *testing.T, tn *harness.Testnet, from, holder int, ev uint64, id string) (int, string) {
	t.Helper()
	k := vaultKey(t, tn, from)
	req := &vault.ReleaseRequest{EventID: ev, RecordID: id, Version: 1}
	req.Sign(tn.ChainID, tn.Manifest().Nodes[from].VaultDID, k.Generation, k.SigningKey, time.Now())
	body, _ := json.Marshal(req)
	resp, err := http.Post(tn.Manifest().Nodes[holder].APIURL+vault.ReleasePath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, strings.TrimSpace(buf.String())
}

// TestErasureInterruptedByCrash crashes a node in the middle of an
// erasure and checks that the erasure completes after the restart. The
// node's vault runs with the test hook MEDCHAIN_TEST_VAULT_HALT_AFTER_SHREDS
// (node.VaultHaltEnv) = 2: it deletes two of the patient's blobs, then
// stops before deleting more or posting its receipt. The test SIGKILLs the
// node there, restarts it without the hook, and checks: the receipt lands
// and the erasure is complete; reads answer 410 Gone; none of the
// patient's blobs remain, and no key — the vault's or the patient's own —
// opens any byte left in the vault as one of the patient's records;
// another patient's records are untouched.
func TestErasureInterruptedByCrash(t *testing.T) {
	tn := newTestnet(t, harness.Options{Validators: 1, NoStart: true,
		LogLevel: "*:error,state:info,medchain:info,vault:info"})
	start := time.Now()
	n0 := tn.Node(0)
	home := tn.Manifest().Nodes[0].Home
	n0.Env = []string{node.VaultHaltEnv + "=2"}
	tn.Start(0)
	p := people{t, tn}
	pat := p.person("patient", -1)
	other := p.person("other", -1)
	doc := p.person("doc", 0, org.RolePractitioner)
	tokDoc, tokPat := p.token(doc), p.token(pat)

	// The patient's records: a Patient and three Observations, one of them
	// updated (two blobs): five blobs in all. The other patient's two.
	patRes := []byte(`{"resourceType":"Patient","id":"` + fhirID(pat.DID()) + `","name":[{"family":"Canaryerasure"}],"birthDate":"1931-07-04"}`)
	ids := []string{p.create(0, tokDoc, "Patient", patRes)}
	for v := range 3 {
		ids = append(ids, p.create(0, tokDoc, "Observation", observation(pat.DID(), "Canaryerasure note", v)))
	}
	upd := observation(pat.DID(), "Canaryerasure note", 42)
	var m map[string]any
	_ = json.Unmarshal(upd, &m)
	m["id"] = ids[1]
	updBody, _ := json.Marshal(m)
	if st, out := p.fhirDo(0, "PUT", "/Observation/"+ids[1], tokDoc, updBody); st != 200 {
		t.Fatalf("update: %d %s", st, out)
	}
	otherObs := observation(other.DID(), "Untouched glucose", 88)
	otherIDs := []string{p.create(0, tokDoc, "Observation", otherObs), p.create(0, tokDoc, "Observation", observation(other.DID(), "Untouched", 1))}
	// The vault's record ids (a Patient's FHIR id is the patient's, its
	// record id is the vault's) and types, from the chain.
	ctx, cancel := ctxFor(10 * time.Second)
	rl, err := n0.Client.PatientRecords(ctx, pat.DID(), 0)
	cancel()
	if err != nil || len(rl.Records) != 4 {
		t.Fatalf("the patient's anchors: %+v %v", rl, err)
	}
	recType := map[string]string{}
	var recIDs []string
	patBlobs := 0
	for _, a := range rl.Records {
		recType[a.ID] = a.ResourceType
		recIDs = append(recIDs, a.ID)
		patBlobs += len(blobKeys(t, home, a.ID))
	}
	// Both versions of the updated record are kept until erasure: five.
	if patBlobs != 5 {
		t.Fatalf("the patient has %d blobs, want 5", patBlobs)
	}

	// The erasure request commits; the vault shreds two blobs and halts.
	p.submit(0, pat, "erase", &records.MsgRequestErasure{Patient: pat.DID()})
	deadline := time.Now().Add(30 * time.Second)
	for !n0.LogContains("vault erasure halted by the test hook") {
		if time.Now().After(deadline) {
			t.Fatalf("the vault did not reach the hook:\n%s", n0.LogTail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	left := 0
	for _, id := range recIDs {
		left += len(blobKeys(t, home, id))
	}
	if left != patBlobs-2 {
		t.Fatalf("%d of the patient's %d blobs left at the hook, want %d", left, patBlobs, patBlobs-2)
	}
	ctx, cancel = ctxFor(10 * time.Second)
	es, err := n0.Client.Erasure(ctx, pat.DID(), 0)
	cancel()
	if err != nil || !es.Requested || es.Complete {
		t.Fatalf("erasure before the crash: %+v %v, want requested and not complete", es, err)
	}
	// Crash: no graceful shutdown, no receipt.
	tn.Kill(0)
	n0.Env = nil
	tn.Start(0)
	deadline = time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := ctxFor(5 * time.Second)
		es, err = n0.Client.Erasure(ctx, pat.DID(), 0)
		cancel()
		if err == nil && es.Complete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("erasure not complete 30 s after the restart: %+v %v\n%s", es, err, n0.LogTail(30))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, id := range recIDs {
		if keys := blobKeys(t, home, id); len(keys) != 0 {
			t.Errorf("record %s still has blobs %v", id, keys)
		}
	}
	// Reads: 410 for everyone, the patient included.
	for _, id := range ids[1:] {
		for _, tok := range []string{tokDoc, tokPat} {
			if st, out := p.fhirDo(0, "GET", "/Observation/"+id, tok, nil); st != http.StatusGone {
				t.Errorf("read %s after erasure: %d %s, want 410", id, st, out)
			}
		}
	}
	if st, out := p.fhirDo(0, "GET", "/Patient/"+fhirID(pat.DID()), tokDoc, nil); st != http.StatusGone {
		t.Errorf("Patient after erasure: %d %s, want 410", st, out)
	}
	// No key opens anything left as one of the patient's records.
	vk := vaultKey(t, tn, 0)
	keys := []struct {
		name string
		priv hpke.PrivateKey
	}{{"vault", vk.EncryptionKey}, {"patient", pat.EncryptionKey()}}
	st, err := fs.Open(node.VaultDir(home))
	if err != nil {
		t.Fatal(err)
	}
	all, err := st.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	tries := 0
	for _, key := range all {
		bz, err := st.Get(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(bz, []byte("Canaryerasure")) {
			t.Errorf("blob %s holds the patient's plaintext", key)
		}
		env, err := envelope.Unmarshal(bz)
		if err != nil {
			continue
		}
		for _, id := range recIDs {
			for v := uint64(1); v <= 2; v++ {
				ad := envelope.AD{RecordID: id, Version: v, Patient: pat.DID(), ResourceType: recType[id]}
				for _, w := range env.Wrapped {
					for _, k := range keys {
						tries++
						if _, err := envelope.Open(env, ad, w.KeyID, k.priv); err == nil {
							t.Errorf("the %s key opens blob %s as %s v%d", k.name, key, id, v)
						}
					}
				}
			}
		}
		// Only the other patient's blobs remain, and (a control of the
		// attempts above) the vault's key does open them as theirs.
		rid, _, _ := vault.ParseBlobKey(key)
		if rid != otherIDs[0] && rid != otherIDs[1] {
			t.Errorf("unexpected blob left after erasure: %s", key)
			continue
		}
		ad := envelope.AD{RecordID: rid, Version: 1, Patient: other.DID(), ResourceType: "Observation"}
		if _, err := envelope.Open(env, ad, identity.EncryptionKeyID(tn.Manifest().Nodes[0].VaultDID, vk.Generation), vk.EncryptionKey); err != nil {
			t.Errorf("control: the vault key does not open the other patient's blob %s: %v", key, err)
		}
	}
	if len(all) != 2 {
		t.Errorf("%d blobs left, want the other patient's 2: %v", len(all), all)
	}
	// The other patient's records are untouched.
	if st, out := p.fhirDo(0, "GET", "/Observation/"+otherIDs[0], tokDoc, nil); st != 200 || !sameJSON(t, otherObs, out) {
		t.Errorf("other patient's record after the erasure: %d %s", st, out)
	}
	if data, err := os.ReadFile(filepath.Join(home, "node.log")); err == nil && bytes.Contains(data, []byte("Canaryerasure")) {
		t.Errorf("the node log holds the patient's plaintext")
	}
	t.Logf("erasure interrupted after 2 of %d blobs, crash, restart, receipt; %d decryption attempts on %d remaining blobs, 0 opened; %s",
		patBlobs, tries, len(all), time.Since(start).Round(time.Millisecond))
	tn.Check()
}
