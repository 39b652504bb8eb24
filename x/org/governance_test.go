package org_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/x/org"
)

// admitMsg proposes admitting org id with admin and, if val is non-nil, a
// validator of power 10.
func admitMsg(proposer, id, admin string, val []byte) *org.MsgSubmitProposal {
	m := &org.MsgSubmitProposal{ProposerOrg: proposer, Kind: org.KindAdmitOrg, Org: id, Name: "Org " + id, OrgType: "clinic", Admin: admin}
	if val != nil {
		m.ValidatorKey, m.Power = val, 10
	}
	return m
}

func vote(h *testutil.Harness, o *testutil.Org, id uint64, approve bool) []byte {
	return o.Admin.Sign(h.ChainID, &org.MsgVote{ProposalID: id, Org: o.ID, Approve: approve})
}

func wantCode(t *testing.T, what string, r *abci.ExecTxResult, codespace string, code uint32) {
	t.Helper()
	if r.Codespace != codespace || r.Code != code {
		t.Fatalf("%s: got %s/%d (%s), want %s/%d", what, r.Codespace, r.Code, r.Log, codespace, code)
	}
}

// wantUpdates checks that got is exactly one update of the Ed25519 key pub
// to power.
func wantUpdates(t *testing.T, got []abci.ValidatorUpdate, pub []byte, power int64) {
	t.Helper()
	if len(got) != 1 || !bytes.Equal(got[0].PubKey.GetEd25519(), pub) || got[0].Power != power {
		t.Fatalf("validator updates: got %v, want [%X: %d]", got, pub, power)
	}
}

func getOrg(h *testutil.Harness, id string) *org.Org {
	h.T.Helper()
	bz := h.Get(org.StoreName, org.OrgKey(id))
	if bz == nil {
		return nil
	}
	o := &org.Org{}
	if err := json.Unmarshal(bz, o); err != nil {
		h.T.Fatalf("org %s: %v", id, err)
	}
	return o
}

// TestAdmitOrgThreshold walks an admit_org proposal through 2..5 approvals
// of 7: it stays open until more than two thirds approve (5 of 7), then
// executes, creating the organization and returning its validator to
// CometBFT.
func TestAdmitOrgThreshold(t *testing.T) {
	h := testutil.New(t, testutil.Config{Orgs: 7})
	admin := testutil.NewSigner("new admin")
	h.Register(admin)
	val := testutil.NewKey("new validator").Pub()

	h.MustBlock(h.Orgs[0].Admin.Sign(h.ChainID, admitMsg(h.Orgs[0].ID, "new-clinic", admin.DID, val)))
	p := h.Proposal(1)
	if p.Status != org.ProposalVoting || len(p.Votes) != 1 || len(p.Electorate) != 7 {
		t.Fatalf("after submission: got status %s, %d votes, electorate %d; want voting, 1, 7", p.Status, len(p.Votes), len(p.Electorate))
	}
	for yes := 2; yes <= 5; yes++ {
		h.MustBlock(vote(h, h.Orgs[yes-1], 1, true))
		p := h.Proposal(1)
		passes := 3*yes > 2*7
		if passes != org.Passes(yes, 7) {
			t.Fatalf("org.Passes(%d, 7): got %v, want %v", yes, org.Passes(yes, 7), passes)
		}
		o := getOrg(h, "new-clinic")
		if !passes {
			if p.Status != org.ProposalVoting {
				t.Fatalf("%d/7 approvals: got status %s, want %s", yes, p.Status, org.ProposalVoting)
			}
			if o != nil {
				t.Fatalf("%d/7 approvals: got org %+v, want none yet", yes, o)
			}
			if len(h.Last.ValidatorUpdates) != 0 {
				t.Fatalf("%d/7 approvals: got validator updates %v, want none", yes, h.Last.ValidatorUpdates)
			}
			continue
		}
		if p.Status != org.ProposalPassed || p.DecidedHeight != h.Height {
			t.Fatalf("%d/7 approvals: got status %s decided at %d, want %s at %d", yes, p.Status, p.DecidedHeight, org.ProposalPassed, h.Height)
		}
		if o == nil || o.Status != org.StatusActive || o.Power() != 10 {
			t.Fatalf("%d/7 approvals: got org %+v, want an active org of power 10", yes, o)
		}
		if h.Get(org.StoreName, org.MemberKey("new-clinic", admin.DID)) == nil {
			t.Fatalf("admitted org: got no membership for its admin, want one")
		}
		wantUpdates(t, h.Last.ValidatorUpdates, val, 10)
		if yes != 5 {
			t.Fatalf("passed with %d of 7, want exactly 5", yes)
		}
	}
	// Once passed, the proposal takes no more votes.
	r := h.Block(vote(h, h.Orgs[5], 1, true))[0]
	wantCode(t, "vote after passing", r, org.StoreName, org.ErrNotVoting.Code)
}

// TestRejectedProposalCannotPass checks that a proposal is rejected as soon
// as it can no longer reach the threshold, and that later approvals are
// refused.
func TestRejectedProposalCannotPass(t *testing.T) {
	h := testutil.New(t, testutil.Config{Orgs: 7})
	admin := testutil.NewSigner("new admin")
	h.Register(admin)
	h.MustBlock(h.Orgs[0].Admin.Sign(h.ChainID, admitMsg(h.Orgs[0].ID, "new-clinic", admin.DID, nil)))
	for no := 1; no <= 3; no++ {
		h.MustBlock(vote(h, h.Orgs[no], 1, false))
		want := org.ProposalVoting
		if !org.Passes(7-no, 7) {
			want = org.ProposalRejected
		}
		if got := h.Proposal(1).Status; got != want {
			t.Fatalf("after %d rejections: got %s, want %s", no, got, want)
		}
	}
	if got := h.Proposal(1).Status; got != org.ProposalRejected {
		t.Fatalf("after 3 of 7 rejections: got %s, want %s", got, org.ProposalRejected)
	}
	for _, o := range h.Orgs[4:] {
		r := h.Block(vote(h, o, 1, true))[0]
		wantCode(t, "approval of a rejected proposal", r, org.StoreName, org.ErrNotVoting.Code)
	}
	if p := h.Proposal(1); p.Status != org.ProposalRejected || len(p.Votes) != 4 {
		t.Fatalf("rejected proposal: got status %s with %d votes, want %s with 4", p.Status, len(p.Votes), org.ProposalRejected)
	}
	if o := getOrg(h, "new-clinic"); o != nil {
		t.Fatalf("rejected admission: got org %+v, want none", o)
	}
}

// TestVoteEligibility checks that only the organizations active at
// submission may vote, and each only once.
func TestVoteEligibility(t *testing.T) {
	h := testutil.New(t, testutil.Config{Orgs: 7})
	x, y := testutil.NewSigner("admin x"), testutil.NewSigner("admin y")
	h.Register(x, y)
	// Proposal 1 admits org-x; proposal 2 (org-y) is submitted before org-x exists.
	h.MustBlock(
		h.Orgs[0].Admin.Sign(h.ChainID, admitMsg(h.Orgs[0].ID, "org-x", x.DID, nil)),
		h.Orgs[1].Admin.Sign(h.ChainID, admitMsg(h.Orgs[1].ID, "org-y", y.DID, nil)),
	)
	h.MustBlock(vote(h, h.Orgs[1], 1, true), vote(h, h.Orgs[2], 1, true), vote(h, h.Orgs[3], 1, true), vote(h, h.Orgs[4], 1, true))
	if got := h.Proposal(1).Status; got != org.ProposalPassed {
		t.Fatalf("proposal 1: got %s, want %s", got, org.ProposalPassed)
	}
	orgX := &testutil.Org{ID: "org-x", Admin: x}

	r := h.Block(vote(h, orgX, 2, true))[0]
	wantCode(t, "vote by an org admitted after submission", r, org.StoreName, org.ErrNotElector.Code)

	res := h.Block(vote(h, h.Orgs[2], 2, true), vote(h, h.Orgs[2], 2, false))
	wantCode(t, "first vote", res[0], "", 0)
	wantCode(t, "second vote by the same org", res[1], org.StoreName, org.ErrAlreadyVoted.Code)
	r = h.Block(vote(h, h.Orgs[1], 2, true))[0]
	wantCode(t, "vote by the proposer org", r, org.StoreName, org.ErrAlreadyVoted.Code)

	// A non-admin may not vote for an organization.
	r = h.Block(x.Sign(h.ChainID, &org.MsgVote{ProposalID: 2, Org: h.Orgs[3].ID, Approve: true}))[0]
	wantCode(t, "vote by a non-admin", r, org.StoreName, org.ErrNotAdmin.Code)

	p := h.Proposal(2)
	if p.Status != org.ProposalVoting || len(p.Votes) != 2 {
		t.Fatalf("proposal 2: got %s with %d votes, want voting with 2", p.Status, len(p.Votes))
	}
	if len(p.Electorate) != 7 || slices.Contains(p.Electorate, "org-x") {
		t.Fatalf("proposal 2 electorate: got %v, want the 7 founding orgs", p.Electorate)
	}
}

// TestPowerCap checks the one-third cap on set_validator and admit_org
// proposals at submission, and that it applies only once four or more
// organizations run validators.
func TestPowerCap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		orgs  int
		power uint64 // new power of org-01's validator
		want  uint32 // 0 or the org error code
	}{
		{"4 orgs, 20 of 50", 4, 20, org.ErrPowerCap.Code},
		{"4 orgs, exactly 15 of 45", 4, 15, org.ErrPowerCap.Code},
		{"4 orgs, 14 of 44", 4, 14, 0},
		{"3 orgs, no cap", 3, 100, 0},
		{"4 orgs, remove the validator", 4, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := testutil.New(t, testutil.Config{Orgs: tc.orgs, Power: 10})
			o := h.Orgs[0]
			m := &org.MsgSubmitProposal{ProposerOrg: o.ID, Kind: org.KindSetValidator, Org: o.ID, ValidatorKey: o.ValKey.Pub(), Power: tc.power}
			r := h.Block(o.Admin.Sign(h.ChainID, m))[0]
			if tc.want != 0 {
				wantCode(t, "submission", r, org.StoreName, tc.want)
				if h.Get(org.StoreName, org.ProposalKey(1)) != nil {
					t.Fatalf("refused submission: got a stored proposal, want none")
				}
				return
			}
			wantCode(t, "submission", r, "", 0)
			// Approve until it passes (the proposer's approval counts).
			var votes [][]byte
			for yes := 1; !org.Passes(yes, tc.orgs); yes++ {
				votes = append(votes, vote(h, h.Orgs[yes], 1, true))
			}
			h.MustBlock(votes...)
			if got := h.Proposal(1).Status; got != org.ProposalPassed {
				t.Fatalf("proposal: got %s (%s), want %s", got, h.Proposal(1).Result, org.ProposalPassed)
			}
			wantUpdates(t, h.Last.ValidatorUpdates, o.ValKey.Pub(), int64(tc.power))
			if got := getOrg(h, o.ID).Power(); got != int64(tc.power) {
				t.Fatalf("org power: got %d, want %d", got, tc.power)
			}
		})
	}
}

// TestPowerCapOnAdmission checks the cap for a new organization's validator.
func TestPowerCapOnAdmission(t *testing.T) {
	h := testutil.New(t, testutil.Config{Orgs: 4, Power: 10})
	admin := testutil.NewSigner("big admin")
	h.Register(admin)
	m := admitMsg(h.Orgs[0].ID, "big-org", admin.DID, testutil.NewKey("big validator").Pub())
	m.Power = 20 // 20 of 60: exactly a third
	r := h.Block(h.Orgs[0].Admin.Sign(h.ChainID, m))[0]
	wantCode(t, "admit with a third of the power", r, org.StoreName, org.ErrPowerCap.Code)
	m.Power = 19 // 19 of 59
	r = h.Block(h.Orgs[0].Admin.Sign(h.ChainID, m))[0]
	wantCode(t, "admit with under a third", r, "", 0)
}
