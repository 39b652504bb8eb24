package e2e

import (
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/testnet/harness"
	"github.com/medchain/medchain/x/org"
)

// TestGovernanceUnderLoad changes the consortium while load runs: a
// set_validator that would give one organization a third or more of the
// voting power is refused (org/13); a fifth organization and its validator
// (a new node from the same genesis) are admitted by a > 2/3 vote, the new
// node syncs and signs blocks, and a second vote removes it again.
func TestGovernanceUnderLoad(t *testing.T) {
	tn := newTestnet(t, harness.Options{})
	tn.StartLoad(harness.LoadOptions{Signers: 16, Rate: 20})
	founders := []int{0, 1, 2, 3}
	var voters []harness.Voter
	for _, i := range founders {
		voters = append(voters, tn.FounderVoter(i))
	}

	// The power cap: 4 organizations at 10 each; org0 at 15 would hold
	// exactly a third (15 of 45), at 30 half.
	key0, _ := hex.DecodeString(tn.Node(0).Info.ValidatorPubKey)
	for _, power := range []uint64{15, 30} {
		op, _, err := tn.Propose(voters[0].Signer, &org.MsgSubmitProposal{
			ProposerOrg: voters[0].Org, Kind: org.KindSetValidator, Org: voters[0].Org, ValidatorKey: key0, Power: power})
		if err != nil {
			t.Fatal(err)
		}
		if !op.Is(org.ErrPowerCap) {
			t.Fatalf("set_validator org0 power %d: want rejection %s/%d, got %s %s/%d %q", power,
				org.ErrPowerCap.Codespace, org.ErrPowerCap.Code, op.Outcome, op.Codespace, op.Code, op.Log)
		}
		t.Logf("set_validator org0 power %d refused: %s", power, op.Log)
	}

	// A fifth node joins from the same genesis as a full node and syncs.
	joiner := tn.AddNode()
	tn.Start(joiner.Index)
	if err := joiner.WaitCaughtUp(tn.MaxHeight(founders...), 90*time.Second); err != nil {
		t.Fatal(err)
	}

	// Its organization's admin registers, then org0 proposes admitting it.
	admin4 := harness.NewSigner(fmt.Sprintf("org4-admin/%d", tn.Seed))
	if _, err := tn.SubmitMsgs(admin4, "gov.register-admin", admin4.Register()); err != nil {
		t.Fatal(err)
	}
	key4, _ := hex.DecodeString(joiner.Info.ValidatorPubKey)
	admit := &org.MsgSubmitProposal{Kind: org.KindAdmitOrg, Org: "org4", Name: "Organization 4",
		OrgType: node.OrgTypeOf(4), Admin: admin4.DID(), ValidatorKey: key4, Power: node.TestnetPower}
	pr, yes, err := tn.Govern(voters[0], admit, voters)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Status != org.ProposalPassed {
		t.Fatalf("admit_org: status %s (%s) after %d approvals", pr.Status, pr.Result, yes)
	}
	if n := len(pr.Electorate); !org.Passes(yes, n) || org.Passes(yes-1, n) {
		t.Errorf("admit_org passed with %d of %d approvals; org.Passes says the threshold is elsewhere", yes, n)
	}
	t.Logf("org4 admitted at height %d with %d of %d approvals", pr.DecidedHeight, yes, len(pr.Electorate))

	// The validator update applies two heights later; the joiner must sign.
	signedAt, err := waitSigner(tn, joiner.Info.ValidatorAddress, pr.DecidedHeight+2, true, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node4's validator signed the commit of height %d", signedAt)

	// Remove it again: now 5 electors, so 4 approvals are needed.
	voters5 := append(slices.Clone(voters), harness.Voter{Signer: admin4, Org: "org4"})
	pr, yes, err = tn.Govern(voters[1], &org.MsgSubmitProposal{Kind: org.KindRemoveOrg, Org: "org4"}, voters5)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Status != org.ProposalPassed {
		t.Fatalf("remove_org: status %s (%s) after %d approvals", pr.Status, pr.Result, yes)
	}
	if n := len(pr.Electorate); n != 5 || !org.Passes(yes, n) || org.Passes(yes-1, n) {
		t.Errorf("remove_org passed with %d of %d approvals", yes, n)
	}
	t.Logf("org4 removed at height %d with %d of %d approvals", pr.DecidedHeight, yes, len(pr.Electorate))
	gone, err := waitSigner(tn, joiner.Info.ValidatorAddress, pr.DecidedHeight+3, false, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node4's validator no longer signs (height %d)", gone)
	var vals struct {
		Validators []struct {
			Address string `json:"address"`
		} `json:"validators"`
	}
	if err := tn.RPC(0, "validators", nil, &vals); err != nil {
		t.Fatal(err)
	}
	if len(vals.Validators) != 4 {
		t.Errorf("validator set has %d validators after the removal, want 4", len(vals.Validators))
	}
	if _, _, err := tn.WaitProgress(3, 30*time.Second, tn.All()...); err != nil {
		t.Fatal(err)
	}
	tn.Check()
}

// waitSigner scans commits from height from upward until one includes
// (want) or, from there on, three in a row exclude (!want) the validator
// address, and returns that height.
func waitSigner(tn *harness.Testnet, addr string, from int64, want bool, timeout time.Duration) (int64, error) {
	deadline := time.Now().Add(timeout)
	absent := 0
	for h := from; time.Now().Before(deadline); {
		signers, err := tn.CommitSigners(tn.AnyUp(), h)
		if err != nil { // not committed yet
			time.Sleep(300 * time.Millisecond)
			continue
		}
		has := slices.Contains(signers, addr)
		switch {
		case want && has:
			return h, nil
		case !want && !has:
			absent++
			if absent == 3 {
				return h, nil
			}
		case !want && has:
			absent = 0
		}
		h++
	}
	return 0, fmt.Errorf("validator %s: no commit from height %d on %s it within %s", addr, from,
		map[bool]string{true: "signed by", false: "stopped carrying"}[want], timeout)
}
