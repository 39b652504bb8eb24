package consent_test

import (
	"fmt"
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

// world is a chain with two organizations, a patient, a guardian-to-be, a
// practitioner of org-01 and an unrelated registered identity.
type world struct {
	h                             *testutil.Harness
	patient, guardian, doc, other *testutil.Signer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	h := testutil.New(t, testutil.Config{Orgs: 2})
	w := &world{h: h, patient: testutil.NewSigner("patient"), guardian: testutil.NewSigner("guardian"),
		doc: testutil.NewSigner("doc"), other: testutil.NewSigner("other")}
	h.Register(w.patient, w.guardian, w.doc, w.other)
	h.AddMember(h.Orgs[0], w.doc, org.RolePractitioner)
	return w
}

func didGrant(patient, grantee string, purposes ...string) *consent.MsgGrant {
	return &consent.MsgGrant{Patient: patient, Grantee: consent.Grantee{Kind: consent.GranteeDID, DID: grantee}, Purposes: purposes}
}

// one runs msg signed by s in a block of its own and returns its result.
func (w *world) one(s *testutil.Signer, msgs ...module.Msg) *abci.ExecTxResult {
	w.h.T.Helper()
	return w.h.Exec(s, msgs...)
}

func ok(t *testing.T, what string, r *abci.ExecTxResult) {
	t.Helper()
	testutil.WantCode(t, what, r, "", 0)
}

// grantedID returns the consent id of a consent.granted event in r.
func grantedID(t *testing.T, r *abci.ExecTxResult) uint64 {
	t.Helper()
	evs := testutil.Events(r, "consent.granted")
	if len(evs) != 1 {
		t.Fatalf("got %d consent.granted events, want 1", len(evs))
	}
	var id uint64
	fmt.Sscan(evs[0]["id"], &id)
	return id
}

func TestGrantAndRevoke(t *testing.T) {
	w := newWorld(t)
	h := w.h
	r := w.one(w.patient, didGrant(w.patient.DID, w.doc.DID, consent.PurposeTreatment))
	ok(t, "grant", r)
	if got := testutil.Events(r, "consent.granted"); len(got) != 1 || got[0]["id"] != "1" || got[0]["patient"] != w.patient.DID || got[0]["grantee_kind"] != "did" {
		t.Fatalf("grant events: got %v, want one consent.granted for id 1", got)
	}
	c := h.Consent(1)
	if c == nil || c.Status != consent.StatusActive || c.GrantedBy != w.patient.DID || c.CreatedHeight != h.Height ||
		!c.NotBefore.Equal(testutil.BlockTime(h.Height)) || !c.NotAfter.IsZero() || c.Grantee.DID != w.doc.DID {
		t.Fatalf("consent 1: got %+v, want active, granted by the patient at height %d from its block time, no end", c, h.Height)
	}
	// A second consent, with every scope dimension and a window.
	nb, na := testutil.BlockTime(100), testutil.BlockTime(200)
	m := &consent.MsgGrant{Patient: w.patient.DID, Grantee: consent.Grantee{Kind: consent.GranteeRole, Org: "org-02", Role: org.RoleNurse},
		ResourceTypes: []string{"Condition", "Observation"}, RecordIDs: []string{"r-1"}, Categories: []string{"laboratory"},
		Purposes: []string{consent.PurposeOperations, consent.PurposeTreatment}, NotBefore: uint64(nb.Unix()), NotAfter: uint64(na.Unix()),
		Condition: `purpose == "TREAT"`}
	r = w.one(w.patient, m)
	ok(t, "scoped grant", r)
	if id := grantedID(t, r); id != 2 {
		t.Fatalf("second consent id: got %d, want 2", id)
	}
	c = h.Consent(2)
	if !c.NotBefore.Equal(nb) || !c.NotAfter.Equal(na) || c.Condition != m.Condition || len(c.ResourceTypes) != 2 || c.Grantee.Role != org.RoleNurse {
		t.Fatalf("consent 2: got %+v", c)
	}
	if cs := h.Consents(w.patient.DID); len(cs) != 2 || cs[0].ID != 1 || cs[1].ID != 2 {
		t.Fatalf("ByPatient: got %d consents, want ids 1 then 2", len(cs))
	}
	if cs := h.Consents(w.other.DID); len(cs) != 0 {
		t.Fatalf("another patient's consents: got %d, want 0", len(cs))
	}

	// Revocation, from the height it commits.
	r = w.one(w.patient, &consent.MsgRevoke{ConsentID: 1})
	ok(t, "revoke", r)
	if got := testutil.Events(r, "consent.revoked"); len(got) != 1 || got[0]["id"] != "1" {
		t.Fatalf("revoke events: got %v", got)
	}
	c = h.Consent(1)
	if c.Status != consent.StatusRevoked || c.RevokedHeight != h.Height || c.RevokedBy != w.patient.DID {
		t.Fatalf("revoked consent: got %+v", c)
	}
	if c.ActiveAt(testutil.BlockTime(h.Height)) {
		t.Fatal("a revoked consent is active")
	}
	testutil.WantCode(t, "revoke twice", w.one(w.patient, &consent.MsgRevoke{ConsentID: 1}), consent.StoreName, consent.ErrNotActive.Code)
	testutil.WantCode(t, "revoke unknown", w.one(w.patient, &consent.MsgRevoke{ConsentID: 99}), consent.StoreName, consent.ErrNotFound.Code)
	testutil.WantCode(t, "revoke by a stranger", w.one(w.other, &consent.MsgRevoke{ConsentID: 2}), consent.StoreName, consent.ErrUnauthorized.Code)
	testutil.WantCode(t, "revoke by the grantee", w.one(w.doc, &consent.MsgRevoke{ConsentID: 2}), consent.StoreName, consent.ErrUnauthorized.Code)
	testutil.WantCode(t, "revoke id 0", w.one(w.patient, &consent.MsgRevoke{ConsentID: 0}), app.Codespace, app.ErrInvalidMsg.Code, "consent id is required")
	if h.Consent(2).Status != consent.StatusActive {
		t.Fatal("refused revocations changed consent 2")
	}
}

func TestActiveAt(t *testing.T) {
	t0 := testutil.BlockTime(10)
	c := &consent.Consent{Status: consent.StatusActive, NotBefore: t0, NotAfter: t0.Add(time.Hour)}
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{t0.Add(-time.Second), false}, {t0, true}, {t0.Add(59 * time.Minute), true}, {t0.Add(time.Hour), false},
	} {
		if got := c.ActiveAt(tc.at); got != tc.want {
			t.Errorf("ActiveAt(%s): got %v, want %v", tc.at, got, tc.want)
		}
	}
	c.NotAfter = time.Time{}
	if !c.ActiveAt(t0.AddDate(100, 0, 0)) {
		t.Error("a consent without an end is not active a century later")
	}
}

// TestGrantFailures covers every "fails if" of MsgGrant: the stateless ones
// are refused at admission (tx/12, the log names the consent reason), the
// rest by the handler with a consent code.
func TestGrantFailures(t *testing.T) {
	w := newWorld(t)
	h := w.h
	ghost := testutil.NewSigner("never registered")
	gone := testutil.NewSigner("deactivated grantee")
	ward := testutil.NewSigner("ward")
	h.Register(gone, ward)
	h.MustBlock(ward.Sign(h.ChainID, &consent.MsgSetGuardian{Patient: ward.DID, Guardian: w.guardian.DID}))
	h.MustBlock(gone.Sign(h.ChainID, &identity.MsgDeactivate{DID: gone.DID}), ward.Sign(h.ChainID, &identity.MsgDeactivate{DID: ward.DID}))
	// Remove org-02 by governance (2 of 2 approve).
	h.MustBlock(h.Orgs[0].Admin.Sign(h.ChainID, &org.MsgSubmitProposal{ProposerOrg: "org-01", Kind: org.KindRemoveOrg, Org: "org-02"}))
	h.MustBlock(h.Orgs[1].Admin.Sign(h.ChainID, &org.MsgVote{ProposalID: 1, Org: "org-02", Approve: true}))
	if h.App.Org.Keeper.IsActiveOrg(h.Reader(org.StoreName), "org-02") {
		t.Fatal("org-02 was not removed")
	}

	p := w.patient.DID
	base := func() *consent.MsgGrant { return didGrant(p, w.doc.DID, consent.PurposeTreatment) }
	with := func(f func(m *consent.MsgGrant)) *consent.MsgGrant { m := base(); f(m); return m }
	long := strings.Repeat("A", 129)
	var many []string
	for i := 0; i < 65; i++ {
		many = append(many, fmt.Sprintf("r-%03d", i))
	}
	for _, tc := range []struct {
		name   string
		signer *testutil.Signer
		msg    *consent.MsgGrant
		space  string
		code   uint32
		log    string
	}{
		{"patient not a DID", w.patient, with(func(m *consent.MsgGrant) { m.Patient = "did:example:x" }), app.Codespace, app.ErrInvalidMsg.Code, "not a medchain DID"},
		{"unknown grantee kind", w.patient, with(func(m *consent.MsgGrant) { m.Grantee.Kind = "group" }), app.Codespace, app.ErrInvalidMsg.Code, "use did, org or role"},
		{"did grantee with an org", w.patient, with(func(m *consent.MsgGrant) { m.Grantee.Org = "org-01" }), app.Codespace, app.ErrInvalidMsg.Code, "exactly a valid DID"},
		{"did grantee not a DID", w.patient, with(func(m *consent.MsgGrant) { m.Grantee.DID = "bob" }), app.Codespace, app.ErrInvalidMsg.Code, "exactly a valid DID"},
		{"org grantee with a bad id", w.patient, with(func(m *consent.MsgGrant) { m.Grantee = consent.Grantee{Kind: consent.GranteeOrg, Org: "Org 1"} }), app.Codespace, app.ErrInvalidMsg.Code, "organization id"},
		{"org grantee with a role", w.patient, with(func(m *consent.MsgGrant) {
			m.Grantee = consent.Grantee{Kind: consent.GranteeOrg, Org: "org-01", Role: "nurse"}
		}), app.Codespace, app.ErrInvalidMsg.Code, "exactly a valid organization id"},
		{"role grantee with an unknown role", w.patient, with(func(m *consent.MsgGrant) {
			m.Grantee = consent.Grantee{Kind: consent.GranteeRole, Org: "org-01", Role: "surgeon"}
		}), app.Codespace, app.ErrInvalidMsg.Code, "a role grantee needs"},
		{"no purpose", w.patient, with(func(m *consent.MsgGrant) { m.Purposes = nil }), app.Codespace, app.ErrInvalidMsg.Code, "at least one purpose"},
		{"unknown purpose", w.patient, with(func(m *consent.MsgGrant) { m.Purposes = []string{"MARKETING"} }), app.Codespace, app.ErrInvalidMsg.Code, "invalid entry"},
		{"unsorted purposes", w.patient, with(func(m *consent.MsgGrant) { m.Purposes = []string{"TREAT", "HPAYMT"} }), app.Codespace, app.ErrInvalidMsg.Code, "sorted and unique"},
		{"duplicate record ids", w.patient, with(func(m *consent.MsgGrant) { m.RecordIDs = []string{"a", "a"} }), app.Codespace, app.ErrInvalidMsg.Code, "sorted and unique"},
		{"empty category", w.patient, with(func(m *consent.MsgGrant) { m.Categories = []string{""} }), app.Codespace, app.ErrInvalidMsg.Code, "invalid entry"},
		{"entry too long", w.patient, with(func(m *consent.MsgGrant) { m.ResourceTypes = []string{long} }), app.Codespace, app.ErrInvalidMsg.Code, "invalid entry"},
		{"too many entries", w.patient, with(func(m *consent.MsgGrant) { m.RecordIDs = many }), app.Codespace, app.ErrInvalidMsg.Code, "at most 64"},
		{"bad resource type", w.patient, with(func(m *consent.MsgGrant) { m.ResourceTypes = []string{"observation"} }), app.Codespace, app.ErrInvalidMsg.Code, "invalid entry"},
		{"not_after before not_before", w.patient, with(func(m *consent.MsgGrant) { m.NotBefore, m.NotAfter = 2000, 1000 }), app.Codespace, app.ErrInvalidMsg.Code, "not_after must be after"},
		{"not_after equal to not_before", w.patient, with(func(m *consent.MsgGrant) { m.NotBefore, m.NotAfter = 2000, 2000 }), app.Codespace, app.ErrInvalidMsg.Code, "not_after must be after"},
		{"times out of range", w.patient, with(func(m *consent.MsgGrant) { m.NotBefore = 1 << 41 }), app.Codespace, app.ErrInvalidMsg.Code, "out of range"},
		{"condition does not parse", w.patient, with(func(m *consent.MsgGrant) { m.Condition = `purpose ==` }), app.Codespace, app.ErrInvalidMsg.Code, consent.ErrBadCondition.Desc},
		{"condition not bool", w.patient, with(func(m *consent.MsgGrant) { m.Condition = `purpose` }), app.Codespace, app.ErrInvalidMsg.Code, "want bool"},
		{"condition uses a map", w.patient, with(func(m *consent.MsgGrant) { m.Condition = `{"a": 1}.size() == 1` }), app.Codespace, app.ErrInvalidMsg.Code, "may not use maps"},
		{"condition uses a time zone", w.patient, with(func(m *consent.MsgGrant) { m.Condition = `time.getHours("Europe/Paris") > 7` }), app.Codespace, app.ErrInvalidMsg.Code, "time zone"},
		{"condition too long", w.patient, with(func(m *consent.MsgGrant) { m.Condition = "true" + strings.Repeat(" ", consent.MaxConditionBytes) }), app.Codespace, app.ErrInvalidMsg.Code, "limit 1024"},
		{"signer is neither patient nor guardian", w.doc, base(), consent.StoreName, consent.ErrUnauthorized.Code, ""},
		{"grantee not registered", w.patient, didGrant(p, ghost.DID, consent.PurposeTreatment), consent.StoreName, consent.ErrUnknownIdentity.Code, "grantee"},
		{"grantee deactivated", w.patient, didGrant(p, gone.DID, consent.PurposeTreatment), consent.StoreName, consent.ErrUnknownIdentity.Code, "grantee"},
		{"patient deactivated (guardian acting)", w.guardian, didGrant(ward.DID, w.doc.DID, consent.PurposeTreatment), consent.StoreName, consent.ErrUnknownIdentity.Code, "patient"},
		{"grantee org unknown", w.patient, with(func(m *consent.MsgGrant) { m.Grantee = consent.Grantee{Kind: consent.GranteeOrg, Org: "org-99"} }), consent.StoreName, consent.ErrUnknownOrg.Code, ""},
		{"grantee org removed", w.patient, with(func(m *consent.MsgGrant) { m.Grantee = consent.Grantee{Kind: consent.GranteeOrg, Org: "org-02"} }), consent.StoreName, consent.ErrUnknownOrg.Code, ""},
		{"role grantee org removed", w.patient, with(func(m *consent.MsgGrant) {
			m.Grantee = consent.Grantee{Kind: consent.GranteeRole, Org: "org-02", Role: org.RoleNurse}
		}), consent.StoreName, consent.ErrUnknownOrg.Code, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := w.one(tc.signer, tc.msg)
			if tc.log != "" {
				testutil.WantCode(t, tc.name, r, tc.space, tc.code, tc.log)
			} else {
				testutil.WantCode(t, tc.name, r, tc.space, tc.code)
			}
			if len(testutil.Events(r, "consent.granted")) != 0 {
				t.Fatal("a refused grant emitted consent.granted")
			}
		})
	}
	if n := len(h.Consents(p)) + len(h.Consents(ward.DID)); n != 0 {
		t.Fatalf("refused grants stored %d consents, want 0", n)
	}
	// The same message, well-formed and from the patient, succeeds.
	ok(t, "valid grant", w.one(w.patient, base()))
}

func TestGuardian(t *testing.T) {
	w := newWorld(t)
	h := w.h
	p := w.patient.DID
	r := w.one(w.patient, &consent.MsgSetGuardian{Patient: p, Guardian: w.guardian.DID})
	ok(t, "name guardian", r)
	if ev := testutil.Events(r, "consent.guardian_set"); len(ev) != 1 || ev[0]["guardian"] != w.guardian.DID || ev[0]["removed"] != "false" {
		t.Fatalf("guardian event: got %v", ev)
	}
	if g := h.App.Consent.Keeper.Guardians(h.Reader(consent.StoreName), p); len(g) != 1 || g[0] != w.guardian.DID {
		t.Fatalf("guardians: got %v", g)
	}
	// The guardian grants and revokes for the patient.
	r = w.one(w.guardian, didGrant(p, w.doc.DID, consent.PurposeTreatment))
	ok(t, "guardian grants", r)
	id := grantedID(t, r)
	if c := h.Consent(id); c.Patient != p || c.GrantedBy != w.guardian.DID {
		t.Fatalf("guardian's consent: got patient %s granted by %s", c.Patient, c.GrantedBy)
	}
	ok(t, "guardian revokes", w.one(w.guardian, &consent.MsgRevoke{ConsentID: id}))
	if c := h.Consent(id); c.RevokedBy != w.guardian.DID {
		t.Fatalf("revoked by: got %s, want the guardian", c.RevokedBy)
	}
	// Guardians manage consents, not guardians.
	testutil.WantCode(t, "guardian names a guardian", w.one(w.guardian, &consent.MsgSetGuardian{Patient: p, Guardian: w.other.DID}),
		consent.StoreName, consent.ErrUnauthorized.Code)
	testutil.WantCode(t, "stranger names a guardian", w.one(w.other, &consent.MsgSetGuardian{Patient: p, Guardian: w.other.DID}),
		consent.StoreName, consent.ErrUnauthorized.Code)
	testutil.WantCode(t, "unregistered guardian", w.one(w.patient, &consent.MsgSetGuardian{Patient: p, Guardian: testutil.NewSigner("ghost").DID}),
		consent.StoreName, consent.ErrUnknownIdentity.Code)
	testutil.WantCode(t, "own guardian", w.one(w.patient, &consent.MsgSetGuardian{Patient: p, Guardian: p}),
		app.Codespace, app.ErrInvalidMsg.Code, "own guardian")
	testutil.WantCode(t, "guardian not a DID", w.one(w.patient, &consent.MsgSetGuardian{Patient: p, Guardian: "x"}),
		app.Codespace, app.ErrInvalidMsg.Code, "must be medchain DIDs")
	// Naming the same guardian twice is a no-op; at most 8.
	ok(t, "same guardian again", w.one(w.patient, &consent.MsgSetGuardian{Patient: p, Guardian: w.guardian.DID}))
	var more []*testutil.Signer
	for i := 0; i < 8; i++ {
		more = append(more, testutil.NewSigner(fmt.Sprintf("guardian %d", i)))
	}
	h.Register(more...)
	for _, g := range more[:7] {
		ok(t, "name guardian", w.one(w.patient, &consent.MsgSetGuardian{Patient: p, Guardian: g.DID}))
	}
	gs := h.App.Consent.Keeper.Guardians(h.Reader(consent.StoreName), p)
	if len(gs) != 8 {
		t.Fatalf("guardians: got %d, want 8", len(gs))
	}
	for i := 1; i < len(gs); i++ {
		if gs[i-1] >= gs[i] {
			t.Fatalf("guardians not sorted: %v", gs)
		}
	}
	testutil.WantCode(t, "ninth guardian", w.one(w.patient, &consent.MsgSetGuardian{Patient: p, Guardian: more[7].DID}),
		consent.StoreName, consent.ErrInvalidMsg.Code, "at most 8")
	// Removal: the removed guardian can no longer grant.
	for _, g := range more[:7] {
		ok(t, "remove guardian", w.one(w.patient, &consent.MsgSetGuardian{Patient: p, Guardian: g.DID, Remove: true}))
	}
	r = w.one(w.patient, &consent.MsgSetGuardian{Patient: p, Guardian: w.guardian.DID, Remove: true})
	ok(t, "remove the last guardian", r)
	if ev := testutil.Events(r, "consent.guardian_set"); len(ev) != 1 || ev[0]["removed"] != "true" {
		t.Fatalf("removal event: got %v", ev)
	}
	if h.Get(consent.StoreName, append([]byte{0x04}, p...)) != nil {
		t.Fatal("the guardians key survives the removal of the last guardian")
	}
	testutil.WantCode(t, "removed guardian grants", w.one(w.guardian, didGrant(p, w.doc.DID, consent.PurposeTreatment)),
		consent.StoreName, consent.ErrUnauthorized.Code)
}

// TestValidityWindowByBlockTime checks that a consent's window is judged by
// the block time of the height that decides: not before not_before, before
// not_after, and that a permit's expiry is capped at the consent's end.
func TestValidityWindowByBlockTime(t *testing.T) {
	w := newWorld(t)
	h := w.h
	rec := testutil.AnchorMsg("rec-1", w.patient.DID, "org-01", "Observation", "laboratory", 1)
	ok(t, "patient anchors a record", w.one(w.patient, rec))
	h.AddMember(h.Orgs[1], w.other, org.RolePractitioner)
	start := h.Height + 1
	nb, na := testutil.BlockTime(start+3), testutil.BlockTime(start+6)
	g := didGrant(w.patient.DID, w.other.DID, consent.PurposeTreatment)
	g.NotBefore, g.NotAfter = uint64(nb.Unix()), uint64(na.Unix())
	ok(t, "grant a window", w.one(w.patient, g))
	ask := &records.MsgRequestAccess{Org: "org-02", Patient: w.patient.DID, Records: []string{"rec-1"}, Purpose: consent.PurposeTreatment}
	for height := start + 1; height <= start+8; height++ {
		r := w.one(w.other, ask)
		ok(t, "request", r)
		if h.Height != height {
			t.Fatalf("height %d, want %d", h.Height, height)
		}
		now := testutil.BlockTime(height)
		want := records.Deny
		if !now.Before(nb) && now.Before(na) {
			want = records.Permit
		}
		log := h.AccessLog(w.patient.DID)
		ev := log[len(log)-1]
		if ev.Decision != want || ev.Height != height || !ev.Time.Equal(now) {
			t.Fatalf("height %d (block time %s, window [%s, %s)): got %s at %d, want %s", height, now, nb, na, ev.Decision, ev.Height, want)
		}
		if want == records.Permit {
			// 15 minutes of access, but never past the consent's end.
			if !ev.NotAfter.Equal(na) {
				t.Fatalf("permit expiry: got %s, want the consent's end %s", ev.NotAfter, na)
			}
			if !ev.Permits(w.other.DID, "rec-1", now) || ev.Permits(w.other.DID, "rec-1", na) || ev.Permits(w.doc.DID, "rec-1", now) {
				t.Fatal("AccessEvent.Permits disagrees with the event")
			}
		}
	}
}

// TestRevocationTakesEffectAtItsHeight: in one block, a request before the
// revocation is permitted and one after it is denied.
func TestRevocationTakesEffectAtItsHeight(t *testing.T) {
	w := newWorld(t)
	h := w.h
	h.AddMember(h.Orgs[1], w.other, org.RolePractitioner)
	ok(t, "anchor", w.one(w.patient, testutil.AnchorMsg("rec-1", w.patient.DID, "org-01", "Observation", "", 1)))
	ok(t, "grant", w.one(w.patient, didGrant(w.patient.DID, w.other.DID, consent.PurposeTreatment)))
	ask := &records.MsgRequestAccess{Org: "org-02", Patient: w.patient.DID, Records: []string{"rec-1"}, Purpose: consent.PurposeTreatment}
	h.MustBlock(w.other.Sign(h.ChainID, ask), w.patient.Sign(h.ChainID, &consent.MsgRevoke{ConsentID: 1}), w.other.Sign(h.ChainID, ask))
	log := h.AccessLog(w.patient.DID)
	if len(log) != 2 || log[0].Decision != records.Permit || log[0].Basis != "consent:1" || log[1].Decision != records.Deny {
		t.Fatalf("log: got %d events (%v), want permit by consent:1 then deny", len(log), decisions(log))
	}
}

func decisions(log []*records.AccessEvent) []string {
	var out []string
	for _, e := range log {
		out = append(out, e.Decision+"/"+e.Basis)
	}
	return out
}
