package records_test

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/records"
)

// world: org-01 (a hospital) with a practitioner, a nurse, a billing clerk,
// an emergency physician and its vault; org-02 with a practitioner and its
// vault; a patient, a guardian and an unrelated identity.
type world struct {
	h                            *testutil.Harness
	patient, guardian, stranger  *testutil.Signer
	doc, nurse, clerk, er, vault *testutil.Signer // org-01
	doc2, vault2                 *testutil.Signer // org-02
	all                          []*testutil.Signer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	h := testutil.New(t, testutil.Config{Orgs: 2})
	w := &world{h: h}
	for _, p := range []struct {
		s    **testutil.Signer
		seed string
	}{
		{&w.patient, "patient"}, {&w.guardian, "guardian"}, {&w.stranger, "stranger"}, {&w.doc, "doc"}, {&w.nurse, "nurse"},
		{&w.clerk, "clerk"}, {&w.er, "er"}, {&w.vault, "vault"}, {&w.doc2, "doc2"}, {&w.vault2, "vault2"},
	} {
		*p.s = testutil.NewSigner(p.seed)
		w.all = append(w.all, *p.s)
	}
	h.Register(w.all...)
	a1, a2 := h.Orgs[0].Admin, h.Orgs[1].Admin
	add := func(admin *testutil.Signer, o string, s *testutil.Signer, roles ...string) []byte {
		return admin.Sign(h.ChainID, &org.MsgAddMember{Org: o, Member: s.DID, Roles: org.SortRoles(roles)})
	}
	h.MustBlock(
		add(a1, "org-01", w.doc, org.RolePractitioner), add(a1, "org-01", w.nurse, org.RoleNurse),
		add(a1, "org-01", w.clerk, org.RoleBilling), add(a1, "org-01", w.er, org.RoleEmergency, org.RolePractitioner),
		add(a1, "org-01", w.vault, org.RoleVault),
		add(a2, "org-02", w.doc2, org.RolePractitioner), add(a2, "org-02", w.vault2, org.RoleVault),
	)
	h.MustBlock(w.patient.Sign(h.ChainID, &consent.MsgSetGuardian{Patient: w.patient.DID, Guardian: w.guardian.DID}))
	return w
}

func (w *world) exec(s *testutil.Signer, msgs ...module.Msg) *abci.ExecTxResult {
	w.h.T.Helper()
	return w.h.Exec(s, msgs...)
}

func ok(t *testing.T, what string, r *abci.ExecTxResult) {
	t.Helper()
	testutil.WantCode(t, what, r, "", 0)
}

func anchor(id, patient, o string, v uint64) *records.MsgAnchor {
	return testutil.AnchorMsg(id, patient, o, "Observation", "laboratory", v)
}

func TestAnchor(t *testing.T) {
	w := newWorld(t)
	h := w.h
	p := w.patient.DID

	// By the authoring practitioner.
	r := w.exec(w.doc, anchor("obs-1", p, "org-01", 1))
	ok(t, "anchor by author", r)
	if ev := testutil.Events(r, "records.anchored"); len(ev) != 1 || ev[0]["id"] != "obs-1" || ev[0]["org"] != "org-01" || ev[0]["version"] != "1" || ev[0]["patient"] != p {
		t.Fatalf("anchored event: got %v", ev)
	}
	a := h.Anchor("obs-1")
	want := anchor("obs-1", p, "org-01", 1)
	if a.Patient != p || a.HolderOrg != "org-01" || a.Author != w.doc.DID || a.Submitter != w.doc.DID || a.Version != 1 ||
		a.Status != records.StatusActive || string(a.CiphertextHash) != string(want.CiphertextHash) || string(a.Commitment) != string(want.Commitment) ||
		a.CreatedHeight != h.Height || !a.Created.Equal(testutil.BlockTime(h.Height)) || a.ResourceType != "Observation" || a.Category != "laboratory" {
		t.Fatalf("anchor: got %+v", a)
	}
	// By the patient, for their own record.
	ok(t, "anchor by patient", w.exec(w.patient, anchor("self-1", p, "org-02", 1)))
	if a := h.Anchor("self-1"); a.Author != p || a.HolderOrg != "org-02" {
		t.Fatalf("patient's anchor: got %+v", a)
	}
	// By the vault on behalf of an author, and of the patient.
	m := anchor("obs-2", p, "org-01", 1)
	m.Author = w.nurse.DID
	ok(t, "anchor by vault for the nurse", w.exec(w.vault, m))
	if a := h.Anchor("obs-2"); a.Author != w.nurse.DID || a.Submitter != w.vault.DID {
		t.Fatalf("vault's anchor: got author %s submitter %s, want the nurse and the vault", a.Author, a.Submitter)
	}
	m = anchor("self-2", p, "org-01", 1)
	m.Author = p
	ok(t, "anchor by vault for the patient", w.exec(w.vault, m))

	if got := h.App.Records.Keeper.PatientRecords(h.Reader(records.StoreName), p); len(got) != 4 || got[0].ID != "obs-1" || got[3].ID != "self-2" {
		t.Fatalf("PatientRecords: got %d anchors, want 4 in id order", len(got))
	}

	// Failures.
	ghost := testutil.NewSigner("ghost")
	gone := testutil.NewSigner("gone")
	h.Register(gone)
	h.AddMember(h.Orgs[0], gone, org.RolePractitioner)
	h.MustBlock(gone.Sign(h.ChainID, &identity.MsgDeactivate{DID: gone.DID}))
	onBehalf := func(id, author string) *records.MsgAnchor {
		m := anchor(id, p, "org-01", 1)
		m.Author = author
		return m
	}
	with := func(f func(m *records.MsgAnchor)) *records.MsgAnchor {
		m := anchor("x-1", p, "org-01", 1)
		f(m)
		return m
	}
	for _, tc := range []struct {
		name   string
		signer *testutil.Signer
		msg    *records.MsgAnchor
		space  string
		code   uint32
		log    string
	}{
		{"patient not registered", w.doc, anchor("x-1", ghost.DID, "org-01", 1), records.StoreName, records.ErrUnknownIdentity.Code, "patient"},
		{"org unknown", w.doc, anchor("x-1", p, "org-99", 1), records.StoreName, records.ErrUnknownOrg.Code, ""},
		{"signer without an authoring role", w.clerk, anchor("x-1", p, "org-01", 1), records.StoreName, records.ErrNotAuthor.Code, ""},
		{"signer of another org", w.doc2, anchor("x-1", p, "org-01", 1), records.StoreName, records.ErrNotAuthor.Code, ""},
		{"vault role of nothing", w.stranger, anchor("x-1", p, "org-01", 1), records.StoreName, records.ErrNotAuthor.Code, ""},
		{"on behalf, signer not the vault", w.doc, onBehalf("x-1", w.nurse.DID), records.StoreName, records.ErrNotAuthor.Code, "vault"},
		{"on behalf, another org's vault", w.vault2, onBehalf("x-1", w.nurse.DID), records.StoreName, records.ErrNotAuthor.Code, "vault"},
		{"on behalf, author without an authoring role", w.vault, onBehalf("x-1", w.clerk.DID), records.StoreName, records.ErrNotAuthor.Code, ""},
		{"on behalf, author not a member", w.vault, onBehalf("x-1", w.stranger.DID), records.StoreName, records.ErrNotAuthor.Code, ""},
		{"on behalf, author deactivated", w.vault, onBehalf("x-1", gone.DID), records.StoreName, records.ErrUnknownIdentity.Code, "author"},
		{"on behalf, author unregistered", w.vault, onBehalf("x-1", ghost.DID), records.StoreName, records.ErrUnknownIdentity.Code, "author"},
		{"vault alone is not an author", w.vault, anchor("x-1", p, "org-01", 1), records.StoreName, records.ErrNotAuthor.Code, ""},
		{"bad record id", w.doc, anchor("x/1", p, "org-01", 1), app.Codespace, app.ErrInvalidMsg.Code, "not a FHIR id"},
		{"record id too long", w.doc, anchor(strings.Repeat("a", 65), p, "org-01", 1), app.Codespace, app.ErrInvalidMsg.Code, "not a FHIR id"},
		{"patient not a DID", w.doc, anchor("x-1", "patient-1", "org-01", 1), app.Codespace, app.ErrInvalidMsg.Code, "not a medchain DID"},
		{"author not a DID", w.vault, onBehalf("x-1", "dr-who"), app.Codespace, app.ErrInvalidMsg.Code, "author"},
		{"bad org id", w.doc, anchor("x-1", p, "ORG", 1), app.Codespace, app.ErrInvalidMsg.Code, "organization id"},
		{"bad resource type", w.doc, with(func(m *records.MsgAnchor) { m.ResourceType = "observation" }), app.Codespace, app.ErrInvalidMsg.Code, "resource type"},
		{"free-text category", w.doc, with(func(m *records.MsgAnchor) { m.Category = "John's HIV test" }), app.Codespace, app.ErrInvalidMsg.Code, "category"},
		{"version 0", w.doc, with(func(m *records.MsgAnchor) { m.Version = 0 }), app.Codespace, app.ErrInvalidMsg.Code, "version starts at 1"},
		{"short hash", w.doc, with(func(m *records.MsgAnchor) { m.CiphertextHash = m.CiphertextHash[:31] }), app.Codespace, app.ErrInvalidMsg.Code, "32 bytes"},
		{"no commitment", w.doc, with(func(m *records.MsgAnchor) { m.Commitment = nil }), app.Codespace, app.ErrInvalidMsg.Code, "32 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := w.exec(tc.signer, tc.msg)
			testutil.WantCode(t, tc.name, r, tc.space, tc.code, tc.log)
			if h.Anchor(tc.msg.ID) != nil {
				t.Fatal("a refused anchor was stored")
			}
		})
	}
}

func TestVersions(t *testing.T) {
	w := newWorld(t)
	h := w.h
	p := w.patient.DID
	ok(t, "v1", w.exec(w.doc, anchor("obs-1", p, "org-01", 1)))
	created := h.Height
	testutil.WantCode(t, "v1 again", w.exec(w.doc, anchor("obs-1", p, "org-01", 1)), records.StoreName, records.ErrVersion.Code, "next is 2")
	testutil.WantCode(t, "v3 skips v2", w.exec(w.doc, anchor("obs-1", p, "org-01", 3)), records.StoreName, records.ErrVersion.Code, "next is 2")
	testutil.WantCode(t, "new record at v2", w.exec(w.doc, anchor("obs-9", p, "org-01", 2)), records.StoreName, records.ErrVersion.Code, "first version is 1")
	testutil.WantCode(t, "id taken by another patient", w.exec(w.doc, anchor("obs-1", w.stranger.DID, "org-01", 2)), records.StoreName, records.ErrVersion.Code, "taken")
	testutil.WantCode(t, "id taken at another org", w.exec(w.doc2, anchor("obs-1", p, "org-02", 2)), records.StoreName, records.ErrVersion.Code, "taken")
	other := anchor("obs-1", p, "org-01", 2)
	other.ResourceType = "Condition"
	testutil.WantCode(t, "id taken by another type", w.exec(w.doc, other), records.StoreName, records.ErrVersion.Code, "taken")
	// Another author of the same organization writes version 2.
	v2 := anchor("obs-1", p, "org-01", 2)
	v2.Category = "vital-signs"
	ok(t, "v2 by the nurse", w.exec(w.nurse, v2))
	a := h.Anchor("obs-1")
	if a.Version != 2 || a.Author != w.nurse.DID || a.CreatedHeight != created || a.UpdatedHeight != h.Height ||
		string(a.CiphertextHash) != string(v2.CiphertextHash) || a.Category != "vital-signs" {
		t.Fatalf("after v2: got %+v, want version 2 by the nurse, created at %d, updated at %d", a, created, h.Height)
	}
	// After erasure the record takes no more versions.
	ok(t, "erase", w.exec(w.patient, &records.MsgRequestErasure{Patient: p}))
	testutil.WantCode(t, "v3 after erasure", w.exec(w.doc, anchor("obs-1", p, "org-01", 3)), records.StoreName, records.ErrErased.Code)
}

// access runs one access request signed by s and returns its result and the
// event it appended to the patient's log (nil if none).
func (w *world) access(t *testing.T, s *testutil.Signer, m *records.MsgRequestAccess) (*abci.ExecTxResult, *records.AccessEvent) {
	t.Helper()
	before := len(w.h.AccessLog(m.Patient))
	r := w.exec(s, m)
	log := w.h.AccessLog(m.Patient)
	switch {
	case r.Code != 0 && len(log) != before:
		t.Fatalf("a refused request (%s/%d) appended %d events", r.Codespace, r.Code, len(log)-before)
	case r.Code != 0:
		return r, nil
	case len(log) != before+1:
		t.Fatalf("request appended %d events, want exactly 1", len(log)-before)
	}
	ev := log[len(log)-1]
	evs := testutil.Events(r, "records.access")
	if len(evs) != 1 || evs[0]["id"] != fmt.Sprint(ev.ID) || evs[0]["decision"] != ev.Decision || evs[0]["basis"] != ev.Basis ||
		evs[0]["break_glass"] != fmt.Sprint(ev.BreakGlass) || evs[0]["requester"] != ev.Requester {
		t.Fatalf("records.access events %v do not match the logged event %+v", evs, ev)
	}
	return r, ev
}

func read(o, patient string, purpose string, ids ...string) *records.MsgRequestAccess {
	return &records.MsgRequestAccess{Org: o, Patient: patient, Records: ids, Purpose: purpose}
}

func wantEvent(t *testing.T, what string, ev *records.AccessEvent, decision, basis string) {
	t.Helper()
	if ev == nil || ev.Decision != decision || ev.Basis != basis {
		t.Fatalf("%s: got %+v, want %s (%s)", what, ev, decision, basis)
	}
}

func TestAccessDecisions(t *testing.T) {
	w := newWorld(t)
	h := w.h
	p := w.patient.DID
	h.MustBlock(w.doc.Sign(h.ChainID, anchor("obs-1", p, "org-01", 1), anchor("obs-2", p, "org-01", 1),
		testutil.AnchorMsg("cond-1", p, "org-01", "Condition", "problem-list", 1)),
		w.doc2.Sign(h.ChainID, anchor("b-obs-1", p, "org-02", 1)),
		w.doc.Sign(h.ChainID, anchor("s-obs-1", w.stranger.DID, "org-01", 1)))
	params := records.DefaultParams()

	// The patient and the guardian, acting for themselves.
	_, ev := w.access(t, w.patient, read("", p, "TREAT", "b-obs-1", "obs-1"))
	wantEvent(t, "patient", ev, records.Permit, "patient")
	if now := testutil.BlockTime(h.Height); !ev.NotAfter.Equal(now.Add(params.AccessTTL)) || !ev.Time.Equal(now) || ev.Height != h.Height ||
		ev.Requester != p || ev.Submitter != p || ev.RequesterOrg != "" || !slices.Equal(ev.Records, []string{"b-obs-1", "obs-1"}) {
		t.Fatalf("patient's event: got %+v", ev)
	}
	_, ev = w.access(t, w.guardian, read("", p, "HRESCH", "obs-1"))
	wantEvent(t, "guardian", ev, records.Permit, "guardian")
	_, ev = w.access(t, w.stranger, read("", p, "TREAT", "obs-1"))
	wantEvent(t, "stranger for themselves", ev, records.Deny, "no consent")
	if ev.NotAfter.IsZero() == false || ev.Permits(w.stranger.DID, "obs-1", ev.Time) {
		t.Fatalf("a denial carries an expiry or permits: %+v", ev)
	}

	// The holding organization's care roles, for treatment and operations.
	_, ev = w.access(t, w.nurse, read("org-01", p, "TREAT", "obs-1", "obs-2"))
	wantEvent(t, "nurse TREAT", ev, records.Permit, "holder-org")
	if ev.RequesterOrg != "org-01" {
		t.Fatalf("requester org: got %q", ev.RequesterOrg)
	}
	_, ev = w.access(t, w.doc, read("org-01", p, "HOPERAT", "cond-1"))
	wantEvent(t, "practitioner HOPERAT", ev, records.Permit, "holder-org")
	_, ev = w.access(t, w.doc, read("org-01", p, "HPAYMT", "obs-1"))
	wantEvent(t, "practitioner HPAYMT", ev, records.Deny, "no consent covers obs-1")
	_, ev = w.access(t, w.clerk, read("org-01", p, "TREAT", "obs-1"))
	wantEvent(t, "billing clerk TREAT", ev, records.Deny, "no consent covers obs-1")
	_, ev = w.access(t, w.doc, read("org-01", p, "TREAT", "b-obs-1", "obs-1"))
	wantEvent(t, "a record held elsewhere", ev, records.Deny, "no consent covers b-obs-1")

	// Unknown records and another patient's record: denied and logged.
	_, ev = w.access(t, w.doc, read("org-01", p, "TREAT", "nope"))
	wantEvent(t, "unknown record", ev, records.Deny, "not found: nope")
	_, ev = w.access(t, w.doc, read("org-01", p, "TREAT", "obs-1", "s-obs-1"))
	wantEvent(t, "another patient's record", ev, records.Deny, "not found: s-obs-1")

	// Consents, for another organization.
	_, ev = w.access(t, w.doc2, read("org-02", p, "TREAT", "obs-1"))
	wantEvent(t, "org-02 without consent", ev, records.Deny, "no consent covers obs-1")
	end := testutil.BlockTime(h.Height + 10) // expires before the last request below
	g := &consent.MsgGrant{Patient: p, Grantee: consent.Grantee{Kind: consent.GranteeOrg, Org: "org-02"}, Purposes: []string{"TREAT"},
		ResourceTypes: []string{"Observation"}, NotAfter: uint64(end.Unix())}
	ok(t, "grant org-02 Observations", w.exec(w.patient, g))
	_, ev = w.access(t, w.doc2, read("org-02", p, "TREAT", "obs-1", "obs-2"))
	wantEvent(t, "org-02 with consent", ev, records.Permit, "consent:1")
	if !ev.NotAfter.Equal(end) {
		t.Fatalf("permit expiry: got %s, want the consent's end %s (before the %s TTL)", ev.NotAfter, end, params.AccessTTL)
	}
	_, ev = w.access(t, w.doc2, read("org-02", p, "TREAT", "cond-1", "obs-1"))
	wantEvent(t, "one record out of scope", ev, records.Deny, "no consent covers cond-1")
	// All records of a type; all records.
	_, ev = w.access(t, w.doc2, &records.MsgRequestAccess{Org: "org-02", Patient: p, ResourceType: "Observation", Purpose: "TREAT"})
	wantEvent(t, "all Observations", ev, records.Permit, "holder-org,consent:1") // b-obs-1 is org-02's own
	if !slices.Equal(ev.Records, []string{"b-obs-1", "obs-1", "obs-2"}) {
		t.Fatalf("all Observations: got records %v", ev.Records)
	}
	_, ev = w.access(t, w.doc2, &records.MsgRequestAccess{Org: "org-02", Patient: p, Purpose: "TREAT"})
	wantEvent(t, "all records", ev, records.Deny, "no consent covers cond-1")
	// b-obs-1 is org-02's own (holder-org), the others by consent.
	_, ev = w.access(t, w.doc2, read("org-02", p, "TREAT", "b-obs-1", "obs-1"))
	wantEvent(t, "mixed bases", ev, records.Permit, "holder-org,consent:1")
	_, ev = w.access(t, w.doc2, &records.MsgRequestAccess{Org: "org-02", Patient: p, ResourceType: "Patient", Purpose: "TREAT"})
	wantEvent(t, "no records of the type", ev, records.Deny, "no records")
	// A consent to org-02 does not let its member act for org-01.
	h.AddMember(h.Orgs[0], w.doc2, org.RoleBilling)
	_, ev = w.access(t, w.doc2, read("org-01", p, "TREAT", "obs-1"))
	wantEvent(t, "org-02 consent used for org-01", ev, records.Deny, "no consent covers obs-1")
	// Expired.
	h.Block()
	_, ev = w.access(t, w.doc2, read("org-02", p, "TREAT", "obs-1"))
	wantEvent(t, "after the consent's end", ev, records.Deny, "no consent covers obs-1")

	// On behalf: the vault of the requester's node signs.
	m := read("org-01", p, "TREAT", "obs-1")
	m.Requester = w.nurse.DID
	_, ev = w.access(t, w.vault, m)
	wantEvent(t, "vault for the nurse", ev, records.Permit, "holder-org")
	if ev.Requester != w.nurse.DID || ev.Submitter != w.vault.DID {
		t.Fatalf("on behalf: requester %s submitter %s, want the nurse and the vault", ev.Requester, ev.Submitter)
	}
	m = read("", p, "TREAT", "obs-1")
	m.Requester = p
	_, ev = w.access(t, w.vault2, m)
	wantEvent(t, "any vault for the patient", ev, records.Permit, "patient")

	// Refused with a code, and not logged.
	gone := testutil.NewSigner("gone")
	h.Register(gone)
	h.AddMember(h.Orgs[0], gone, org.RoleNurse)
	h.MustBlock(gone.Sign(h.ChainID, &identity.MsgDeactivate{DID: gone.DID}))
	onBehalf := func(o, requester string) *records.MsgRequestAccess {
		m := read(o, p, "TREAT", "obs-1")
		m.Requester = requester
		return m
	}
	for _, tc := range []struct {
		name   string
		signer *testutil.Signer
		msg    *records.MsgRequestAccess
		space  string
		code   uint32
		log    string
	}{
		{"patient unregistered", w.doc, read("org-01", testutil.NewSigner("ghost").DID, "TREAT", "obs-1"), records.StoreName, records.ErrUnknownIdentity.Code, "patient"},
		{"org unknown", w.doc, read("org-99", p, "TREAT", "obs-1"), records.StoreName, records.ErrUnknownOrg.Code, ""},
		{"not a member of org", w.stranger, read("org-01", p, "TREAT", "obs-1"), records.StoreName, records.ErrNotMember.Code, ""},
		{"on behalf, not a vault", w.doc, onBehalf("org-01", w.nurse.DID), records.StoreName, records.ErrUnauthorized.Code, "not the vault"},
		{"on behalf, another org's vault", w.vault2, onBehalf("org-01", w.nurse.DID), records.StoreName, records.ErrUnauthorized.Code, "not the vault"},
		{"on behalf, deactivated requester", w.vault, onBehalf("org-01", gone.DID), records.StoreName, records.ErrUnknownIdentity.Code, "requester"},
		{"on behalf, unregistered requester", w.vault, onBehalf("", testutil.NewSigner("ghost").DID), records.StoreName, records.ErrUnknownIdentity.Code, "requester"},
		{"deactivated signer", gone, read("org-01", p, "TREAT", "obs-1"), app.Codespace, app.ErrSignerInactive.Code, ""},
		{"unknown purpose", w.doc, read("org-01", p, "CURIOSITY", "obs-1"), app.Codespace, app.ErrInvalidMsg.Code, "purpose"},
		{"unsorted records", w.doc, read("org-01", p, "TREAT", "obs-2", "obs-1"), app.Codespace, app.ErrInvalidMsg.Code, "sorted and unique"},
		{"records and a type", w.doc, &records.MsgRequestAccess{Org: "org-01", Patient: p, Records: []string{"obs-1"}, ResourceType: "Observation", Purpose: "TREAT"}, app.Codespace, app.ErrInvalidMsg.Code, "not both"},
		{"reason without break-glass", w.doc, &records.MsgRequestAccess{Org: "org-01", Patient: p, Purpose: "TREAT", Reason: "life-threatening"}, app.Codespace, app.ErrInvalidMsg.Code, "only for break-glass"},
		{"bad org id", w.doc, read("Org", p, "TREAT", "obs-1"), app.Codespace, app.ErrInvalidMsg.Code, "organization id"},
		{"requester not a DID", w.vault, onBehalf("org-01", "nurse"), app.Codespace, app.ErrInvalidMsg.Code, "requester"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := w.access(t, tc.signer, tc.msg)
			testutil.WantCode(t, tc.name, r, tc.space, tc.code, tc.log)
		})
	}
}

func TestBreakGlass(t *testing.T) {
	w := newWorld(t)
	h := w.h
	p := w.patient.DID
	ok(t, "anchor", w.exec(w.doc2, anchor("obs-1", p, "org-02", 1)))
	bg := func(o, reason string) *records.MsgRequestAccess {
		return &records.MsgRequestAccess{Org: o, Patient: p, Records: []string{"obs-1"}, Purpose: "ETREAT", BreakGlass: true, Reason: reason}
	}
	r, ev := w.access(t, w.er, bg("org-01", "patient-unconscious"))
	wantEvent(t, "emergency physician", ev, records.Permit, "break-glass")
	if !ev.BreakGlass || ev.Reason != "patient-unconscious" || !ev.NotAfter.Equal(testutil.BlockTime(h.Height).Add(time.Hour)) || ev.Purpose != "ETREAT" {
		t.Fatalf("break-glass event: got %+v, want flagged, with its reason code and one hour", ev)
	}
	if a := testutil.Events(r, "records.access"); a[0]["break_glass"] != "true" {
		t.Fatalf("records.access event: got %v, want break_glass=true", a)
	}
	// Without the emergency role: denied, and the attempt is logged and flagged.
	for _, s := range []*testutil.Signer{w.doc, w.nurse, w.clerk} {
		_, ev = w.access(t, s, bg("org-01", "life-threatening"))
		wantEvent(t, "break-glass without the emergency role", ev, records.Deny, "break-glass needs the emergency role")
		if !ev.BreakGlass || ev.Reason != "life-threatening" {
			t.Fatalf("denied break-glass event not flagged: %+v", ev)
		}
	}
	// The emergency role elsewhere does not count.
	h.AddMember(h.Orgs[1], w.er, org.RoleNurse)
	_, ev = w.access(t, w.er, bg("org-02", "life-threatening"))
	wantEvent(t, "emergency role in another org", ev, records.Deny, "break-glass needs the emergency role")
	// Via the vault.
	m := bg("org-01", "other-emergency")
	m.Requester = w.er.DID
	_, ev = w.access(t, w.vault, m)
	wantEvent(t, "vault for the emergency physician", ev, records.Permit, "break-glass")
	// Reason codes only; ETREAT only; an organization is required.
	for _, tc := range []struct {
		name string
		msg  *records.MsgRequestAccess
		log  string
	}{
		{"free-text reason", bg("org-01", "Patient John Doe collapsed in the lobby"), "reason code"},
		{"no reason", bg("org-01", ""), "reason code"},
		{"purpose TREAT", &records.MsgRequestAccess{Org: "org-01", Patient: p, Purpose: "TREAT", BreakGlass: true, Reason: "life-threatening"}, "ETREAT"},
		{"no organization", bg("", "life-threatening"), "organization"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := w.access(t, w.er, tc.msg)
			testutil.WantCode(t, tc.name, r, app.Codespace, app.ErrInvalidMsg.Code, tc.log)
		})
	}
	testutil.WantCode(t, "break-glass by a non-member", func() *abci.ExecTxResult { r, _ := w.access(t, w.stranger, bg("org-01", "life-threatening")); return r }(),
		records.StoreName, records.ErrNotMember.Code)
	// Break-glass does not open erased records.
	ok(t, "erase", w.exec(w.patient, &records.MsgRequestErasure{Patient: p}))
	_, ev = w.access(t, w.er, bg("org-01", "life-threatening"))
	wantEvent(t, "break-glass on an erased record", ev, records.Deny, "erased")
}

func TestErasure(t *testing.T) {
	w := newWorld(t)
	h := w.h
	p := w.patient.DID
	h.MustBlock(w.doc.Sign(h.ChainID, anchor("a-1", p, "org-01", 1), anchor("a-2", p, "org-01", 1)),
		w.doc2.Sign(h.ChainID, anchor("b-1", p, "org-02", 1)),
		w.doc.Sign(h.ChainID, anchor("s-1", w.stranger.DID, "org-01", 1)))
	testutil.WantCode(t, "stranger erases", w.exec(w.stranger, &records.MsgRequestErasure{Patient: p}), records.StoreName, records.ErrUnauthorized.Code)
	testutil.WantCode(t, "practitioner erases", w.exec(w.doc, &records.MsgRequestErasure{Patient: p}), records.StoreName, records.ErrUnauthorized.Code)
	testutil.WantCode(t, "bad patient", w.exec(w.patient, &records.MsgRequestErasure{Patient: "me"}), app.Codespace, app.ErrInvalidMsg.Code, "not a medchain DID")
	testutil.WantCode(t, "receipt before any request", w.exec(w.vault, &records.MsgErasureReceipt{Patient: p, Org: "org-01"}), records.StoreName, records.ErrNoErasure.Code)

	r := w.exec(w.patient, &records.MsgRequestErasure{Patient: p})
	ok(t, "erase", r)
	if ev := testutil.Events(r, "records.erasure_requested"); len(ev) != 1 || ev[0]["orgs"] != "org-01,org-02" {
		t.Fatalf("erasure event: got %v", ev)
	}
	for _, id := range []string{"a-1", "a-2", "b-1"} {
		a := h.Anchor(id)
		if a.Status != records.StatusErased || a.ErasedHeight != h.Height || a.CiphertextHash != nil || a.Commitment != nil {
			t.Fatalf("%s after erasure: got %+v, want erased with no hashes", id, a)
		}
	}
	if a := h.Anchor("s-1"); a.Status != records.StatusActive || a.CiphertextHash == nil {
		t.Fatal("another patient's record was touched")
	}
	e := h.Erasure(p)
	if e == nil || e.RequestedBy != p || e.RequestedHeight != h.Height || len(e.Orgs) != 2 || e.Complete() ||
		e.Orgs[0].Org != "org-01" || !slices.Equal(e.Orgs[0].Records, []string{"a-1", "a-2"}) || e.Orgs[1].Org != "org-02" {
		t.Fatalf("erasure: got %+v", e)
	}
	rd := h.Reader(records.StoreName)
	if o1, o2 := h.App.Records.Keeper.OwedErasures(rd, "org-01"), h.App.Records.Keeper.OwedErasures(rd, "org-02"); !slices.Equal(o1, []string{p}) || !slices.Equal(o2, []string{p}) {
		t.Fatalf("owed erasures: got %v and %v", o1, o2)
	}
	if h.Erasure(w.stranger.DID) != nil {
		t.Fatal("another patient has an erasure")
	}

	// Reads of erased records are denied, and logged.
	_, ev := w.access(t, w.patient, read("", p, "TREAT", "a-1"))
	wantEvent(t, "patient reads an erased record", ev, records.Deny, "erased")
	_, ev = w.access(t, w.doc, read("org-01", p, "TREAT", "a-1"))
	wantEvent(t, "holder reads an erased record", ev, records.Deny, "erased")
	_, ev = w.access(t, w.doc, &records.MsgRequestAccess{Org: "org-01", Patient: p, Purpose: "TREAT"})
	wantEvent(t, "all records after erasure", ev, records.Deny, "no records")

	// Receipts: the organization's vault or admin, once.
	testutil.WantCode(t, "receipt by a practitioner", w.exec(w.doc, &records.MsgErasureReceipt{Patient: p, Org: "org-01"}), records.StoreName, records.ErrNotMember.Code)
	testutil.WantCode(t, "receipt by another org's vault", w.exec(w.vault2, &records.MsgErasureReceipt{Patient: p, Org: "org-01"}), records.StoreName, records.ErrNotMember.Code)
	testutil.WantCode(t, "receipt for another patient", w.exec(w.vault, &records.MsgErasureReceipt{Patient: w.stranger.DID, Org: "org-01"}), records.StoreName, records.ErrNoErasure.Code)
	testutil.WantCode(t, "receipt malformed", w.exec(w.vault, &records.MsgErasureReceipt{Patient: p, Org: ""}), app.Codespace, app.ErrInvalidMsg.Code)
	r = w.exec(w.vault, &records.MsgErasureReceipt{Patient: p, Org: "org-01"})
	ok(t, "org-01 vault receipt", r)
	if ev := testutil.Events(r, "records.erasure_receipt"); len(ev) != 1 || ev[0]["org"] != "org-01" || ev[0]["complete"] != "false" {
		t.Fatalf("receipt event: got %v", ev)
	}
	e = h.Erasure(p)
	if !e.Orgs[0].Done || e.Orgs[0].DoneHeight != h.Height || e.Orgs[0].ConfirmedBy != w.vault.DID || e.Orgs[1].Done || e.Complete() {
		t.Fatalf("after org-01's receipt: got %+v", e.Orgs)
	}
	testutil.WantCode(t, "second receipt", w.exec(w.vault, &records.MsgErasureReceipt{Patient: p, Org: "org-01"}), records.StoreName, records.ErrNoErasure.Code)
	r = w.exec(h.Orgs[1].Admin, &records.MsgErasureReceipt{Patient: p, Org: "org-02"})
	ok(t, "org-02 admin receipt", r)
	if ev := testutil.Events(r, "records.erasure_receipt"); ev[0]["complete"] != "true" {
		t.Fatalf("last receipt event: got %v", ev)
	}
	if e = h.Erasure(p); !e.Complete() {
		t.Fatalf("erasure not complete: %+v", e.Orgs)
	}
	if o := h.App.Records.Keeper.OwedErasures(h.Reader(records.StoreName), "org-01"); len(o) != 0 {
		t.Fatalf("org-01 still owes %v", o)
	}
	// The state holds no hash of the erased content.
	for _, id := range []string{"a-1", "a-2", "b-1"} {
		bz := h.Get(records.StoreName, records.AnchorKey(id))
		var raw map[string]any
		if err := json.Unmarshal(bz, &raw); err != nil {
			t.Fatal(err)
		}
		if _, has := raw["ciphertext_hash"]; has {
			t.Fatalf("%s still has a ciphertext hash in state: %s", id, bz)
		}
		if _, has := raw["commitment"]; has {
			t.Fatalf("%s still has a commitment in state: %s", id, bz)
		}
	}

	// A guardian may request erasure too.
	ward := testutil.NewSigner("ward")
	h.Register(ward)
	h.MustBlock(ward.Sign(h.ChainID, &consent.MsgSetGuardian{Patient: ward.DID, Guardian: w.guardian.DID}),
		w.doc.Sign(h.ChainID, anchor("w-1", ward.DID, "org-01", 1)))
	ok(t, "guardian erases", w.exec(w.guardian, &records.MsgRequestErasure{Patient: ward.DID}))
	if e := h.Erasure(ward.DID); e == nil || e.RequestedBy != w.guardian.DID || len(e.Orgs) != 1 {
		t.Fatalf("ward's erasure: got %+v", e)
	}
}

// TestParams checks the records genesis section: the permit TTLs.
func TestParams(t *testing.T) {
	params := records.Params{AccessTTL: 2 * time.Minute, BreakGlassTTL: 10 * time.Minute}
	gen, _ := json.Marshal(records.Genesis{Params: &params})
	patient := testutil.NewSigner("patient")
	h := testutil.New(t, testutil.Config{Identities: []*testutil.Signer{patient}, Modules: map[string]json.RawMessage{records.StoreName: gen}})
	h.MustBlock(patient.Sign(h.ChainID, anchor("r-1", patient.DID, "org-01", 1)))
	if got := h.App.Records.Keeper.Params(h.Reader(records.StoreName)); got != params {
		t.Fatalf("params: got %+v, want %+v", got, params)
	}
	h.MustBlock(patient.Sign(h.ChainID, read("", patient.DID, "TREAT", "r-1")))
	if ev := h.AccessLog(patient.DID)[0]; !ev.NotAfter.Equal(ev.Time.Add(2 * time.Minute)) {
		t.Fatalf("permit expiry: got %s after %s, want 2 minutes", ev.NotAfter, ev.Time)
	}
}

// TestAccessLogPaging reads the log after an event id, with a limit.
func TestAccessLogPaging(t *testing.T) {
	w := newWorld(t)
	h := w.h
	p := w.patient.DID
	var txs [][]byte
	for i := 0; i < 5; i++ {
		txs = append(txs, w.stranger.Sign(h.ChainID, read("", p, "TREAT", "nope")))
	}
	txs = append(txs, w.stranger.Sign(h.ChainID, read("", w.guardian.DID, "TREAT", "nope")))
	h.MustBlock(txs...)
	k, rd := h.App.Records.Keeper, h.Reader(records.StoreName)
	all := k.AccessLog(rd, p, 0, 0)
	ids := func(l []*records.AccessEvent) (out []uint64) {
		for _, e := range l {
			out = append(out, e.ID)
		}
		return out
	}
	if !slices.Equal(ids(all), []uint64{1, 2, 3, 4, 5}) {
		t.Fatalf("log: got ids %v", ids(all))
	}
	if got := ids(k.AccessLog(rd, p, 2, 2)); !slices.Equal(got, []uint64{3, 4}) {
		t.Fatalf("after 2, limit 2: got %v", got)
	}
	if got := ids(k.AccessLog(rd, p, 5, 0)); len(got) != 0 {
		t.Fatalf("after the last: got %v", got)
	}
	if got := ids(k.AccessLog(rd, p, math.MaxUint64, 0)); len(got) != 0 {
		t.Fatalf("after the largest id: got %v, want nothing (not a wrap to the start)", got)
	}
	if got := ids(k.AccessLog(rd, w.guardian.DID, 0, 0)); !slices.Equal(got, []uint64{6}) {
		t.Fatalf("the other log: got %v", got)
	}
	if e, err := k.Event(rd, 6); err != nil || e.Patient != w.guardian.DID {
		t.Fatalf("Event(6): got %+v, %v", e, err)
	}
	if _, err := k.Event(rd, 7); err == nil {
		t.Fatal("Event(7) exists")
	}
}
