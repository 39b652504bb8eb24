package e2e

import (
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/testnet/harness"
	"github.com/medchain/medchain/x/org"
)

// TestReplayAndCrossChain sends, under load: a transaction signed for
// another chain id (refused with tx/5); the same committed bytes again, to
// the same and to another node (refused: sequence reused); and, for each
// founding admin at once, two different transactions with the same
// (signer, sequence) to two different nodes simultaneously, of which
// exactly one may execute.
func TestReplayAndCrossChain(t *testing.T) {
	tn := newTestnet(t, harness.Options{})
	tn.StartLoad(harness.LoadOptions{Signers: 16, Rate: 20})
	admin := tn.Admin(0)
	orgID := tn.Manifest().Nodes[0].OrgID
	member := tn.Manifest().Nodes[1].AdminDID
	addMember := func(role string) *org.MsgAddMember {
		return &org.MsgAddMember{Org: orgID, Member: member, Roles: []string{role}}
	}
	nextSeq := func(s client.Signer) uint64 {
		ctx, cancel := ctxFor(3 * time.Second)
		defer cancel()
		seq, err := tn.Node(0).Client.NextSequence(ctx, s.DID())
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}

	// Another chain id.
	bz, err := client.BuildTx(admin, "some-other-chain", nextSeq(admin), addMember(org.RoleNurse))
	if err != nil {
		t.Fatal(err)
	}
	if op := tn.Send(0, "replay.other-chain", bz, 15*time.Second); !op.Is(app.ErrWrongChain) {
		t.Errorf("tx for another chain: want %s/%d, got %s %s/%d %q", app.ErrWrongChain.Codespace, app.ErrWrongChain.Code, op.Outcome, op.Codespace, op.Code, op.Log)
	}

	// The same bytes twice (and a third time to another node).
	bz, err = client.BuildTx(admin, tn.ChainID, nextSeq(admin), addMember(org.RoleStaff))
	if err != nil {
		t.Fatal(err)
	}
	orig := tn.Send(0, "replay.original", bz, 15*time.Second)
	if orig.Outcome != harness.Committed {
		t.Fatalf("original: %s %s/%d %q %s", orig.Outcome, orig.Codespace, orig.Code, orig.Log, orig.Error)
	}
	// A node that has not committed the original's block yet still holds
	// the bytes as pending and answers with their commit (the same
	// transaction, not a second execution); a replay is what reaches a node
	// that has committed them.
	if err := tn.WaitHeight(orig.Height, 15*time.Second, 0, 2); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2} {
		if op := tn.Send(i, "replay.again", bz, 15*time.Second); op.Outcome != harness.Rejected || !op.Is(app.ErrSequenceReused) {
			t.Errorf("replay to %s: want rejected %s/%d, got %s %s/%d %q", tn.Node(i).Info.Name, app.ErrSequenceReused.Codespace, app.ErrSequenceReused.Code, op.Outcome, op.Codespace, op.Code, op.Log)
		}
	}

	// Same (signer, sequence), different content, two nodes, at once: one
	// race per founding admin, all concurrently.
	type race struct {
		a, b harness.Op
	}
	races := make([]race, 4)
	var wg sync.WaitGroup
	for k := range 4 {
		s := tn.Admin(k)
		o := tn.Manifest().Nodes[k].OrgID
		seq := nextSeq(s)
		bzA, _ := client.BuildTx(s, tn.ChainID, seq, &org.MsgAddMember{Org: o, Member: member, Roles: []string{org.RoleAuditor}})
		bzB, _ := client.BuildTx(s, tn.ChainID, seq, &org.MsgAddMember{Org: o, Member: member, Roles: []string{org.RoleBilling}})
		nodeA, nodeB := k, (k+2)%4
		wg.Add(2)
		go func() { defer wg.Done(); races[k].a = tn.Send(nodeA, "replay.race", bzA, 15*time.Second) }()
		go func() { defer wg.Done(); races[k].b = tn.Send(nodeB, "replay.race", bzB, 15*time.Second) }()
	}
	wg.Wait()
	for k, r := range races {
		committed := 0
		for _, op := range []harness.Op{r.a, r.b} {
			if op.Outcome == harness.Committed {
				committed++
			}
			t.Logf("org%d race: %s to node%d: %s %s/%d %s", k, op.TxHash[:12], op.Node, op.Outcome, op.Codespace, op.Code, op.Error)
		}
		if committed > 1 {
			t.Errorf("org%d: both transactions with sequence %d were acknowledged", k, r.a.Sequence)
		}
		// The loser is told it lost (tx/9), at CheckTx or once the winner's
		// block shows it was superseded, not left "unknown" at a timeout.
		for _, op := range []harness.Op{r.a, r.b} {
			if op.Outcome != harness.Committed && (op.Outcome != harness.Rejected || !op.Is(app.ErrSequenceReused)) {
				t.Errorf("org%d: the transaction that lost the race: want rejected %s/%d, got %s %s/%d %s", k, app.ErrSequenceReused.Codespace, app.ErrSequenceReused.Code, op.Outcome, op.Codespace, op.Code, op.Error)
			}
		}
		// The chain decides: exactly one of the two executed.
		executed := 0
		for _, op := range []harness.Op{r.a, r.b} {
			if res := tn.FindTx(op.TxHash, 2*time.Second); res != nil && res.Code == 0 {
				executed++
			}
		}
		if executed != 1 {
			t.Errorf("org%d: %d of the two transactions with sequence %d executed, want exactly 1", k, executed, r.a.Sequence)
		}
	}
	tn.Check() // INV-ONCE over the whole chain
}
