package records_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/records"
)

// The authorization matrix: who may read the patient's records, under which
// consent, for what. The reference policy below is written as data, from
// the rules patients are promised, not derived from the implementation:
//
//   - The patient and their guardian, acting for themselves, read
//     everything, whatever the consents say. They hold no organization
//     role, so they cannot break the glass (their attempt names the holding
//     organization, of which they are not members: refused with a code).
//   - The holding organization's care staff (practitioner, nurse) read its
//     records for treatment (TREAT, and so "all Observations" for TREAT)
//     without a consent; for payment (HPAYMT) they need one.
//   - Anyone else needs a consent that is active at the block time (not
//     revoked, inside its window), granted to them (by DID, their acting
//     organization, or their role there), for the purpose, covering every
//     requested record (type, id, category) and whose condition is true.
//   - Break-glass: permitted to whoever holds the emergency role in the
//     organization they act for, whatever the consents; denied (and logged)
//     to other members.
//   - An identity acting for no organization that is neither the patient
//     nor a guardian is denied (and logged), even with a DID consent: DID
//     consents are exercised while acting for an organization.
//   - A deactivated identity is refused at admission (or, through its
//     organization's vault, by the records module): no decision, no event.
//
// Letters: P permit, D deny (both logged: exactly one event), R refused with
// a code (no event).

var matrixStates = []string{"none", "did-grant", "org-grant", "role-grant", "revoked", "expired", "not-yet-valid",
	"wrong-purpose", "wrong-type", "wrong-record", "other-org", "condition-false", "condition-true"}

var matrixActions = []string{"read one for TREAT", "read one for HPAYMT", "read all Observations", "break-glass"}

type matrixCaller struct {
	name  string
	org   string   // the organization they act for ("": themselves)
	roles []string // their roles there (the first is the one role grants name)
}

var matrixCallers = []matrixCaller{
	{"patient", "", nil},
	{"guardian", "", nil},
	{"authoring practitioner", "org-01", []string{org.RolePractitioner}},
	{"authoring org's nurse", "org-01", []string{org.RoleNurse}},
	{"other org's practitioner", "org-02", []string{org.RolePractitioner, org.RoleEmergency}},
	{"pharmacist at another org", "org-03", []string{org.RolePharmacist}},
	{"insurer's billing staff", "org-04", []string{org.RoleBilling}},
	{"unrelated identity", "", nil},
	{"deactivated identity", "org-02", []string{org.RolePractitioner}},
}

// matrixPolicy[caller][action]: one letter per state, in matrixStates order:
//
//	none did org role revoked expired not-yet purpose type record other-org cond-false cond-true
var matrixPolicy = map[string][4]string{
	"patient": {
		"P P P P P P P P P P P P P",
		"P P P P P P P P P P P P P",
		"P P P P P P P P P P P P P",
		"R R R R R R R R R R R R R",
	},
	"guardian": {
		"P P P P P P P P P P P P P",
		"P P P P P P P P P P P P P",
		"P P P P P P P P P P P P P",
		"R R R R R R R R R R R R R",
	},
	"authoring practitioner": {
		"P P P P P P P P P P P P P",
		"D P P P D D D D D D D D P",
		"P P P P P P P P P P P P P",
		"D D D D D D D D D D D D D",
	},
	"authoring org's nurse": {
		"P P P P P P P P P P P P P",
		"D P P P D D D D D D D D P",
		"P P P P P P P P P P P P P",
		"D D D D D D D D D D D D D",
	},
	"other org's practitioner": {
		"D P P P D D D D D D D D P",
		"D P P P D D D D D D D D P",
		"D P P P D D D D D D D D P",
		"P P P P P P P P P P P P P",
	},
	"pharmacist at another org": {
		"D P P P D D D D D D D D P",
		"D P P P D D D D D D D D P",
		"D P P P D D D D D D D D P",
		"D D D D D D D D D D D D D",
	},
	"insurer's billing staff": {
		"D P P P D D D D D D D D P",
		"D P P P D D D D D D D D P",
		"D P P P D D D D D D D D P",
		"D D D D D D D D D D D D D",
	},
	"unrelated identity": {
		"D D D D D D D D D D D D D",
		"D D D D D D D D D D D D D",
		"D D D D D D D D D D D D D",
		"R R R R R R R R R R R R R",
	},
	"deactivated identity": {
		"R R R R R R R R R R R R R",
		"R R R R R R R R R R R R R",
		"R R R R R R R R R R R R R",
		"R R R R R R R R R R R R R",
	},
}

func expected(caller string, action, state int) byte {
	row := strings.ReplaceAll(matrixPolicy[caller][action], " ", "")
	return row[state]
}

// matrixGrants returns the consents that put caller c (DID did) in state.
// Organization and role consents go to the caller's acting organization and
// first role there; for a caller acting for no organization, to org-01 and
// its practitioners (an organization the caller is not in).
func matrixGrants(state string, patient, did string, c matrixCaller) []*consent.MsgGrant {
	both := []string{consent.PurposePayment, consent.PurposeTreatment}
	g := &consent.MsgGrant{Patient: patient, Grantee: consent.Grantee{Kind: consent.GranteeDID, DID: did}, Purposes: both}
	o, role := c.org, ""
	if o == "" {
		o, role = "org-01", org.RolePractitioner
	} else {
		role = c.roles[0]
	}
	switch state {
	case "none":
		return nil
	case "did-grant", "revoked":
	case "org-grant":
		g.Grantee = consent.Grantee{Kind: consent.GranteeOrg, Org: o}
	case "role-grant":
		g.Grantee = consent.Grantee{Kind: consent.GranteeRole, Org: o, Role: role}
	case "expired":
		g.NotBefore, g.NotAfter = uint64(testutil.GenesisTime.Unix()), uint64(testutil.GenesisTime.Unix())+1
	case "not-yet-valid":
		g.NotBefore = uint64(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	case "wrong-purpose":
		g.Purposes = []string{consent.PurposeResearch}
	case "wrong-type":
		g.ResourceTypes = []string{"Condition"}
	case "wrong-record":
		g.RecordIDs = []string{"obs-2"}
	case "other-org":
		g.Grantee = consent.Grantee{Kind: consent.GranteeOrg, Org: "org-05"}
	case "condition-false":
		g.Condition = `record_category == "imaging"`
	case "condition-true":
		g.Condition = fmt.Sprintf(`record_org == "org-01" && record_type == "Observation" && requester == %q && time > timestamp("2024-01-01T00:00:00Z")`, did)
	default:
		panic(state)
	}
	return []*consent.MsgGrant{g}
}

func matrixAttempt(c matrixCaller, action int, patient string) *records.MsgRequestAccess {
	m := &records.MsgRequestAccess{Org: c.org, Patient: patient}
	switch action {
	case 0:
		m.Records, m.Purpose = []string{"obs-1"}, consent.PurposeTreatment
	case 1:
		m.Records, m.Purpose = []string{"obs-1"}, consent.PurposePayment
	case 2:
		m.ResourceType, m.Purpose = "Observation", consent.PurposeTreatment
	case 3:
		m.Records, m.Purpose, m.BreakGlass, m.Reason = []string{"obs-1"}, consent.PurposeEmergencyTreatment, true, "life-threatening"
		if m.Org == "" {
			m.Org = "org-01" // break-glass must name an organization
		}
	}
	return m
}

// TestAuthorizationMatrix checks every cell of callers × consent states ×
// actions against the reference policy, twice: with callers signing their
// own requests, and with their organization's vault signing on their
// behalf (the path the FHIR API takes). Each permitted or denied attempt
// must append exactly one event to the patient's access log; each refused
// one none.
func TestAuthorizationMatrix(t *testing.T) {
	start := time.Now()
	cells, wrong, attempts, events := 0, 0, 0, 0
	for _, viaVault := range []bool{false, true} {
		c, w, a, e := runMatrix(t, viaVault)
		cells, wrong, attempts, events = cells+c, wrong+w, attempts+a, events+e
	}
	t.Logf("authorization matrix: %d cells checked (%d callers × %d consent states × %d actions × 2 signing paths), %d wrong decisions, "+
		"%d attempts logged %d events (1 per permitted or denied attempt, 0 per refused), %s",
		cells, len(matrixCallers), len(matrixStates), len(matrixActions), wrong, attempts, events, time.Since(start).Round(time.Millisecond))
	if wrong != 0 {
		t.Fatalf("%d wrong decisions", wrong)
	}
}

func runMatrix(t *testing.T, viaVault bool) (cells, wrong, logged, events int) {
	h := testutil.New(t, testutil.Config{Orgs: 5, OrgTypes: []string{"hospital", "hospital", "pharmacy", "insurer", "clinic"}})
	patient := testutil.NewSigner("matrix patient")
	signers := make([]*testutil.Signer, len(matrixCallers))
	vaults := make([]*testutil.Signer, 5)
	var everyone []*testutil.Signer
	everyone = append(everyone, patient)
	for i, c := range matrixCallers {
		if c.name == "patient" {
			signers[i] = patient
			continue
		}
		signers[i] = testutil.NewSigner("matrix " + c.name)
		everyone = append(everyone, signers[i])
	}
	for i := range vaults {
		vaults[i] = testutil.NewSigner(fmt.Sprintf("matrix vault %d", i+1))
		everyone = append(everyone, vaults[i])
	}
	h.Register(everyone...)
	var txs [][]byte
	for i, c := range matrixCallers {
		if c.org != "" {
			admin := h.Orgs[orgIndex(c.org)].Admin
			txs = append(txs, admin.Sign(h.ChainID, &org.MsgAddMember{Org: c.org, Member: signers[i].DID, Roles: org.SortRoles(c.roles)}))
		}
	}
	for i, v := range vaults {
		txs = append(txs, h.Orgs[i].Admin.Sign(h.ChainID, &org.MsgAddMember{Org: h.Orgs[i].ID, Member: v.DID, Roles: []string{org.RoleVault}}))
	}
	h.MustBlock(txs...)
	author, guardian, deactivated := signers[2], signers[1], signers[8]
	p := patient.DID
	h.MustBlock(author.Sign(h.ChainID,
		testutil.AnchorMsg("obs-1", p, "org-01", "Observation", "laboratory", 1),
		testutil.AnchorMsg("obs-2", p, "org-01", "Observation", "vital-signs", 1),
		testutil.AnchorMsg("cond-1", p, "org-01", "Condition", "problem-list", 1)),
		patient.Sign(h.ChainID, &consent.MsgSetGuardian{Patient: p, Guardian: guardian.DID}),
		// Consents do not help a deactivated identity: it keeps one for every purpose.
		patient.Sign(h.ChainID, &consent.MsgGrant{Patient: p, Grantee: consent.Grantee{Kind: consent.GranteeDID, DID: deactivated.DID}, Purposes: consent.Purposes}))
	h.MustBlock(deactivated.Sign(h.ChainID, &identity.MsgDeactivate{DID: deactivated.DID}))
	permanent := len(h.Consents(p))

	for si, state := range matrixStates {
		// Put every caller in this state.
		var grants [][]byte
		seen := map[string]bool{} // look-ups only
		for i, c := range matrixCallers {
			if c.name == "deactivated identity" {
				continue // no consent can name a deactivated identity
			}
			for _, g := range matrixGrants(state, p, signers[i].DID, c) {
				if k := string(g.MarshalWire()); !seen[k] {
					seen[k] = true
					grants = append(grants, patient.Sign(h.ChainID, g))
				}
			}
		}
		if len(grants) > 0 {
			h.MustBlock(grants...)
		}
		if state == "revoked" {
			h.MustBlock(revokeActive(h, patient, permanent)...)
		}

		// Every caller tries every action, in one block.
		var txs [][]byte
		type cell struct{ caller, action int }
		var order []cell
		for ci, c := range matrixCallers {
			for ai := range matrixActions {
				m := matrixAttempt(c, ai, p)
				s := signers[ci]
				if viaVault {
					m.Requester = s.DID
					s = vaults[0]
					if m.Org != "" {
						s = vaults[orgIndex(m.Org)]
					}
				}
				txs = append(txs, s.Sign(h.ChainID, m))
				order = append(order, cell{ci, ai})
			}
		}
		before := h.AccessLog(p)
		res := h.Block(txs...)
		h.Resync(everyone...)
		after := h.AccessLog(p)
		var ids []uint64
		for i, r := range res {
			c, ai := matrixCallers[order[i].caller], order[i].action
			want := expected(c.name, ai, si)
			evs := testutil.Events(r, "records.access")
			got := byte('R')
			switch {
			case r.Code != 0 && len(evs) == 0:
			case r.Code == 0 && len(evs) == 1:
				var id uint64
				fmt.Sscan(evs[0]["id"], &id)
				ids = append(ids, id)
				ev, err := h.App.Records.Keeper.Event(h.Reader(records.StoreName), id)
				if err != nil {
					t.Fatalf("%s / %s / %s: event %d: %v", c.name, state, matrixActions[ai], id, err)
				}
				got = map[string]byte{records.Permit: 'P', records.Deny: 'D'}[ev.Decision]
				if ev.Requester != signers[order[i].caller].DID || ev.RequesterOrg != matrixAttempt(c, ai, p).Org || ev.BreakGlass != (ai == 3) || ev.Patient != p {
					t.Errorf("%s / %s / %s: event %+v does not describe the attempt", c.name, state, matrixActions[ai], ev)
				}
				if ai == 2 && !slices.Equal(ev.Records, []string{"obs-1", "obs-2"}) {
					t.Errorf("%s / %s / all Observations: event records %v, want [obs-1 obs-2]", c.name, state, ev.Records)
				}
			default:
				t.Errorf("%s / %s / %s: code %s/%d with %d access events, want 1 event for an executed request and none for a refused one",
					c.name, state, matrixActions[ai], r.Codespace, r.Code, len(evs))
			}
			cells++
			if got != want {
				wrong++
				t.Errorf("vault=%v %s / %s / %s: got %c (%s/%d %s), want %c", viaVault, c.name, state, matrixActions[ai], got, r.Codespace, r.Code, r.Log, want)
			}
		}
		// Exactly the executed attempts were appended, in order, and nothing else.
		if len(after)-len(before) != len(ids) {
			t.Fatalf("state %s: the log grew by %d events for %d executed attempts", state, len(after)-len(before), len(ids))
		}
		for i, id := range ids {
			if after[len(before)+i].ID != id {
				t.Fatalf("state %s: log entry %d is event %d, want %d", state, len(before)+i, after[len(before)+i].ID, id)
			}
		}
		logged += len(res)
		events += len(ids)

		// Back to "none".
		if revs := revokeActive(h, patient, permanent); len(revs) > 0 {
			h.MustBlock(revs...)
		}
	}
	return cells, wrong, logged, events
}

func orgIndex(id string) int {
	var i int
	fmt.Sscanf(id, "org-%d", &i)
	return i - 1
}

// revokeActive returns revocations of the patient's active consents, except
// the first keep (set up before the matrix).
func revokeActive(h *testutil.Harness, patient *testutil.Signer, keep int) [][]byte {
	var txs [][]byte
	for _, c := range h.Consents(patient.DID)[keep:] {
		if c.Status == consent.StatusActive {
			txs = append(txs, patient.Sign(h.ChainID, &consent.MsgRevoke{ConsentID: c.ID}))
		}
	}
	return txs
}
