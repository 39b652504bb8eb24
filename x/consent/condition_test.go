package consent_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/records"
)

var condInput = consent.ConditionInput{
	Purpose:        "TREAT",
	Requester:      "did:medchain:aaaaaaaaaaaaaaaaaaaaaaaaaa",
	RequesterOrgs:  []string{"org-01", "org-03"},
	RequesterRoles: []string{"org-01/nurse", "org-03/emergency", "org-03/practitioner"},
	RecordType:     "Observation",
	RecordCategory: "laboratory",
	RecordOrg:      "org-01",
	Time:           time.Date(2025, 3, 1, 14, 30, 0, 0, time.UTC),
}

// cube is a comprehension of n^3 iterations.
func cube(n int) string {
	var l []string
	for i := 0; i < n; i++ {
		l = append(l, fmt.Sprint(i))
	}
	s := "[" + strings.Join(l, ",") + "]"
	return fmt.Sprintf("%s.all(a, %s.all(b, %s.all(c, a + b + c >= 0)))", s, s, s)
}

func TestConditions(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		compiles  bool
		want      bool // evaluation on condInput
		errSubstr string
	}{
		{"empty is true", "", true, true, ""},
		{"purpose", `purpose == "TREAT"`, true, true, ""},
		{"purpose false", `purpose == "HPAYMT"`, true, false, ""},
		{"role membership", `"org-03/practitioner" in requester_roles && record_org == "org-01"`, true, true, ""},
		{"org membership", `requester_orgs.exists(o, o == "org-02")`, true, false, ""},
		{"record scope", `record_type in ["Observation", "DiagnosticReport"] && record_category != "mental-health"`, true, true, ""},
		{"requester", `requester.startsWith("did:medchain:")`, true, true, ""},
		{"block time window", `time >= timestamp("2025-01-01T00:00:00Z") && time < timestamp("2026-01-01T00:00:00Z")`, true, true, ""},
		{"office hours in UTC", `time.getHours() >= 8 && time.getHours() < 18 && time.getDayOfWeek() in [1, 2, 3, 4, 5]`, true, false, ""}, // a Saturday
		{"runtime error is false", `requester_roles[7] == "x"`, true, false, ""},
		{"division by zero is false", `1 / (size(requester_orgs) - 2) == 0`, true, false, ""},
		{"syntax error", `purpose == `, false, false, "Syntax error"},
		{"undeclared variable", `patient_name == "x"`, false, false, "undeclared reference"},
		{"not bool", `purpose`, false, false, "want bool"},
		{"not bool (list)", `requester_orgs`, false, false, "want bool"},
		{"map literal", `{"a": true}["a"]`, false, false, "may not use maps"},
		{"map iteration", `{"a": 1, "b": 2}.map(k, k)[0] == "a"`, false, false, "may not use maps"},
		{"map inside a list", `size([{"a": 1}]) == 1`, false, false, "may not use maps"},
		{"time zone", `time.getHours("America/New_York") > 3`, false, false, "time zone"},
		{"time zone offset", `time.getMinutes("+01:00") == 30`, false, false, "time zone"},
		{"too long", "true ||" + strings.Repeat(" true ||", 200) + " true", false, false, "limit 1024"},
		{"within the cost limit", cube(6), true, true, ""},
		{"over the cost limit is false", cube(25), true, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := consent.CompileCondition(tc.src)
			if tc.src != "" && (err == nil) != tc.compiles {
				t.Fatalf("CompileCondition: got %v, want compiles=%v", err, tc.compiles)
			}
			if err != nil && !strings.Contains(err.Error(), tc.errSubstr) {
				t.Fatalf("CompileCondition: got %v, want an error containing %q", err, tc.errSubstr)
			}
			// A condition that does not compile never grants.
			if got := consent.EvalCondition(tc.src, condInput); got != tc.want {
				t.Fatalf("EvalCondition: got %v, want %v", got, tc.want)
			}
			if tc.src != "" {
				m := didGrant("did:medchain:aaaaaaaaaaaaaaaaaaaaaaaaaa", "did:medchain:bbbbbbbbbbbbbbbbbbbbbbbbbb", "TREAT")
				m.Condition = tc.src
				if err := m.ValidateBasic(); (err == nil) != tc.compiles {
					t.Fatalf("MsgGrant.ValidateBasic: got %v, want valid=%v", err, tc.compiles)
				}
			}
		})
	}
}

// TestConditionDeterminism evaluates order-sensitive conditions over list
// inputs many times: the result must never vary (the inputs are lists, whose
// order is fixed, never maps).
func TestConditionDeterminism(t *testing.T) {
	for _, src := range []string{
		`requester_roles[0] == "org-01/nurse"`,
		`requester_roles.map(r, r + "!")[2] == "org-03/practitioner!"`,
		`requester_roles.filter(r, r.startsWith("org-03/")) == ["org-03/emergency", "org-03/practitioner"]`,
		`requester_orgs.exists_one(o, o == "org-03")`,
		`requester_roles.all(r, r.contains("/"))`,
		`requester_orgs == ["org-01", "org-03"]`,
	} {
		first := consent.EvalCondition(src, condInput)
		if !first {
			t.Errorf("%s: got false, want true", src)
		}
		for i := 0; i < 300; i++ {
			if got := consent.EvalCondition(src, condInput); got != first {
				t.Fatalf("%s: evaluation %d gave %v, the first gave %v", src, i, got, first)
			}
		}
	}
}

// conditionChain runs the same consents with conditions and access requests
// on a fresh chain and returns it.
func conditionChain(t *testing.T) (*testutil.Harness, []*records.AccessEvent) {
	h := testutil.New(t, testutil.Config{Orgs: 3})
	patient, doc := testutil.NewSigner("patient"), testutil.NewSigner("doc")
	h.Register(patient, doc)
	// Added to org-03 first, then org-01: the condition sees organization order.
	h.AddMember(h.Orgs[2], doc, org.RolePractitioner, org.RoleEmergency)
	h.AddMember(h.Orgs[0], doc, org.RoleNurse)
	h.MustBlock(patient.Sign(h.ChainID,
		testutil.AnchorMsg("lab-1", patient.DID, "org-02", "Observation", "laboratory", 1),
		testutil.AnchorMsg("img-1", patient.DID, "org-02", "ImagingStudy", "imaging", 1)))
	grant := func(cond string) *consent.MsgGrant {
		m := &consent.MsgGrant{Patient: patient.DID, Grantee: consent.Grantee{Kind: consent.GranteeOrg, Org: "org-03"},
			Purposes: []string{"TREAT"}, Condition: cond}
		return m
	}
	h.MustBlock(patient.Sign(h.ChainID,
		grant(`requester_orgs == ["org-01", "org-03"] && requester_roles == ["org-01/nurse", "org-03/emergency", "org-03/practitioner"] && record_type == "Observation"`),
		grant(`requester_roles.filter(r, r.startsWith("org-03/"))[0] == "org-03/emergency" && record_category == "imaging" && time.getHours() == 0`)))
	ask := func(id string) *records.MsgRequestAccess {
		return &records.MsgRequestAccess{Org: "org-03", Patient: patient.DID, Records: []string{id}, Purpose: "TREAT"}
	}
	h.MustBlock(doc.Sign(h.ChainID, ask("lab-1")), doc.Sign(h.ChainID, ask("img-1")))
	return h, h.AccessLog(patient.DID)
}

// TestConditionsOnChain checks that the lists a condition sees come from
// state in a fixed order (organizations by id, roles sorted) and that two
// chains running the same transactions agree on every app hash.
func TestConditionsOnChain(t *testing.T) {
	h1, log := conditionChain(t)
	if len(log) != 2 || log[0].Decision != records.Permit || log[0].Basis != "consent:1" ||
		log[1].Decision != records.Permit || log[1].Basis != "consent:2" {
		t.Fatalf("decisions: got %v, want permit by consent:1 and by consent:2", decisions(log))
	}
	h2, _ := conditionChain(t)
	for i := range h1.AppHashes {
		if !bytes.Equal(h1.AppHashes[i], h2.AppHashes[i]) {
			t.Fatalf("app hash at height %d differs between two identical runs", i)
		}
	}
}
