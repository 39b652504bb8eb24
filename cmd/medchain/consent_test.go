package main

import (
	"strings"
	"testing"
	"time"
)

// TestConsentCLI runs the consent, access-log and erasure commands against
// the real binary on a dev chain: grant (by DID, by role, by a guardian),
// list, revoke, request access (permitted, denied, break-glass), read the
// access log and its accounting of disclosures, erase.
func TestConsentCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a node")
	}
	d := newDevNode(t)
	d.startForTest("/v1/status", "node API")
	c, at, run, js := d.cli, d.at, d.runAt, d.jsonAt
	type txOut struct {
		DID         string `json:"did"`
		Code        uint32 `json:"code"`
		Log         string `json:"log"`
		Height      int64  `json:"height"`
		ConsentID   uint64 `json:"consent_id"`
		AccessEvent uint64 `json:"access_event"`
		Decision    string `json:"decision"`
		Basis       string `json:"basis"`
	}
	did := map[string]string{}
	for _, name := range []string{"pat", "doc", "grd", "nosy"} {
		run("keys", "add", name)
		var reg txOut
		js(&reg, "tx", "identity", "register", "--from", name)
		if reg.Code != 0 || reg.DID == "" {
			t.Fatalf("register %s: %+v", name, reg)
		}
		did[name] = reg.DID
	}
	var tx txOut
	js(&tx, "tx", "org", "add-member", "--from", "admin", "--member", did["doc"], "--role", "practitioner", "--role", "emergency")
	if tx.Code != 0 {
		t.Fatalf("add-member: %+v", tx)
	}

	// Grant: to a DID, with scope, window and condition; to a role.
	js(&tx, "tx", "consent", "grant", "--from", "pat", "--grantee-did", did["doc"], "--purpose", "treat,HPAYMT",
		"--resource-type", "Observation", "--not-after", "720h", "--condition", `record_category != "mental-health"`)
	if tx.Code != 0 || tx.ConsentID != 1 {
		t.Fatalf("grant to doc: %+v, want consent 1", tx)
	}
	out := run("tx", "consent", "grant", "--from", "pat", "--grantee-org", "dev-hospital", "--grantee-role", "nurse", "--purpose", "TREAT")
	if !strings.Contains(out, "committed in block") || !strings.Contains(out, "consent id: 2") {
		t.Fatalf("grant to nurses (text): %q", out)
	}
	// Refused before sending: malformed, or a condition that could split the network.
	if _, err := c.run(append([]string{"tx", "consent", "grant", "--from", "pat", "--grantee-did", did["doc"], "--grantee-org", "dev-hospital", "--purpose", "TREAT"}, at...)...); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("two grantees: got %v, want a clear error", err)
	}
	if _, err := c.run(append([]string{"tx", "consent", "grant", "--from", "pat", "--grantee-did", did["doc"], "--purpose", "TREAT", "--condition", `{"a": 1}.size() == 1`}, at...)...); err == nil || !strings.Contains(err.Error(), "may not use maps") {
		t.Fatalf("map condition: got %v, want a refusal", err)
	}
	if _, err := c.run(append([]string{"tx", "consent", "grant", "--from", "pat", "--grantee-did", did["doc"], "--purpose", "TREAT", "--not-after", "soon"}, at...)...); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
		t.Fatalf("bad --not-after: got %v", err)
	}

	type consentsOut struct {
		Height    int64    `json:"height"`
		Guardians []string `json:"guardians"`
		Consents  []struct {
			ID        uint64   `json:"id"`
			State     string   `json:"state"`
			Purposes  []string `json:"purposes"`
			Condition string   `json:"condition"`
			NotAfter  time.Time
			GrantedBy string `json:"granted_by"`
		} `json:"consents"`
	}
	var cs consentsOut
	js(&cs, "query", "consents", "--from", "pat")
	if len(cs.Consents) != 2 || cs.Consents[0].State != "active" || strings.Join(cs.Consents[0].Purposes, ",") != "HPAYMT,TREAT" ||
		cs.Consents[0].Condition == "" || cs.Consents[1].State != "active" {
		t.Fatalf("consents: %+v", cs)
	}
	text := run("query", "consents", "--patient", did["pat"])
	if !strings.Contains(text, "#1  ACTIVE") || !strings.Contains(text, "nurses of dev-hospital") {
		t.Fatalf("consents (text):\n%s", text)
	}

	// Guardian: named by the patient, then grants for them.
	js(&tx, "tx", "consent", "guardian", "--from", "pat", "--guardian", did["grd"])
	if tx.Code != 0 {
		t.Fatalf("guardian: %+v", tx)
	}
	js(&tx, "tx", "consent", "grant", "--from", "grd", "--patient", did["pat"], "--grantee-org", "dev-hospital", "--purpose", "HOPERAT")
	if tx.Code != 0 || tx.ConsentID != 3 {
		t.Fatalf("guardian's grant: %+v", tx)
	}
	js(&tx, "tx", "consent", "grant", "--from", "nosy", "--patient", did["pat"], "--grantee-did", did["nosy"], "--purpose", "TREAT")
	if tx.Code != 4 || !strings.Contains(tx.Log, "neither the patient nor a guardian") {
		t.Fatalf("a stranger's grant: %+v, want consent code 4", tx)
	}

	// Revoke.
	js(&tx, "tx", "consent", "revoke", "1", "--from", "pat")
	if tx.Code != 0 {
		t.Fatalf("revoke: %+v", tx)
	}
	js(&cs, "query", "consents", "--from", "pat")
	if len(cs.Consents) != 3 || cs.Consents[0].State != "revoked" || cs.Consents[2].GrantedBy != did["grd"] || len(cs.Guardians) != 1 {
		t.Fatalf("consents after revoke: %+v", cs)
	}

	// Access requests: the patient's own read, a stranger's, break-glass.
	js(&tx, "tx", "records", "request-access", "--from", "pat", "--patient", did["pat"], "--purpose", "TREAT")
	if tx.Decision != "permit" || tx.Basis != "patient" || tx.AccessEvent != 1 {
		t.Fatalf("patient's own request: %+v", tx)
	}
	js(&tx, "tx", "records", "request-access", "--from", "nosy", "--patient", did["pat"], "--purpose", "TREAT")
	if tx.Decision != "deny" {
		t.Fatalf("stranger's request: %+v", tx)
	}
	out = run("tx", "records", "request-access", "--from", "doc", "--patient", did["pat"], "--org", "dev-hospital", "--break-glass", "--reason", "patient-unconscious")
	if !strings.Contains(out, "decision: permit") || !strings.Contains(out, "basis: break-glass") {
		t.Fatalf("break-glass (text):\n%s", out)
	}
	if _, err := c.run(append([]string{"tx", "records", "request-access", "--from", "doc", "--patient", did["pat"], "--org", "dev-hospital", "--break-glass", "--reason", "he looked pale"}, at...)...); err == nil || !strings.Contains(err.Error(), "reason code") {
		t.Fatalf("free-text break-glass reason: got %v", err)
	}

	// The access log: break-glass first, then every event; JSON; accounting.
	text = run("query", "access-log", "--from", "pat")
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[1], "BREAK-GLASS") || !strings.HasPrefix(lines[2], "BREAK-GLASS") || !strings.Contains(lines[2], "patient-unconscious") {
		t.Fatalf("access log (text) does not lead with the break-glass event:\n%s", text)
	}
	var log struct {
		Height int64 `json:"height"`
		Events []struct {
			ID         uint64 `json:"id"`
			Height     int64  `json:"height"`
			Decision   string `json:"decision"`
			BreakGlass bool   `json:"break_glass"`
			Requester  string `json:"requester"`
		} `json:"events"`
	}
	js(&log, "query", "access-log", "--patient", did["pat"])
	if len(log.Events) != 3 || log.Events[0].Requester != did["pat"] || log.Events[1].Decision != "deny" || !log.Events[2].BreakGlass || log.Events[2].Height < 1 {
		t.Fatalf("access log (json): %+v", log)
	}
	js(&log, "query", "access-log", "--patient", did["pat"], "--after", "1", "--limit", "1")
	if len(log.Events) != 1 || log.Events[0].ID != 2 {
		t.Fatalf("access log page: %+v", log)
	}
	var acc Accounting
	js(&acc, "query", "access-log", "--from", "pat", "--format", "accounting")
	if acc.Events != 3 || acc.Self != 1 || len(acc.Entries) != 2 || acc.Entries[0].Requester != did["nosy"] || acc.Entries[0].Denied != 1 ||
		acc.Entries[1].Requester != did["doc"] || acc.Entries[1].Disclosures != 1 || acc.Entries[1].BreakGlass != 1 || acc.Entries[1].Org != "dev-hospital" {
		t.Fatalf("accounting: %+v", acc)
	}
	text = run("query", "access-log", "--from", "pat", "--format", "accounting")
	if !strings.Contains(text, "accounting of disclosures") || !strings.Contains(text, "BREAK-GLASS x1") {
		t.Fatalf("accounting (text):\n%s", text)
	}

	// Erasure: nothing held, so complete at once.
	out = run("query", "erasure", "--from", "pat")
	if !strings.Contains(out, "no erasure requested") {
		t.Fatalf("erasure before: %q", out)
	}
	js(&tx, "tx", "records", "erase", "--from", "pat")
	if tx.Code != 0 {
		t.Fatalf("erase: %+v", tx)
	}
	var er struct {
		Requested bool `json:"requested"`
		Complete  bool `json:"complete"`
	}
	js(&er, "query", "erasure", "--from", "pat")
	if !er.Requested || !er.Complete {
		t.Fatalf("erasure: %+v", er)
	}
	if _, err := c.run(append([]string{"query", "consents"}, at...)...); err == nil || !strings.Contains(err.Error(), "--patient") {
		t.Fatalf("query consents without a patient: got %v", err)
	}
}
