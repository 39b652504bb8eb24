package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/testnet/harness"
)

func without(all []int, drop ...int) []int {
	return slices.DeleteFunc(slices.Clone(all), func(i int) bool { return slices.Contains(drop, i) })
}

// TestCrashOneValidator kills one validator at a time under load, first the
// current proposer, then another: the other three keep committing blocks,
// and the restarted node catches up by block sync. Then it freezes one
// (SIGSTOP) and continues it (SIGCONT), with the same expectations.
func TestCrashOneValidator(t *testing.T) {
	tn := newTestnet(t, harness.Options{})
	tn.StartLoad(harness.LoadOptions{})
	all := tn.All()
	if _, _, err := tn.WaitProgress(5, 30*time.Second, all...); err != nil {
		t.Fatal(err)
	}
	var killed []int
	for cycle := range 2 {
		victim, err := tn.Proposer()
		if err != nil {
			t.Fatal(err)
		}
		if cycle > 0 {
			victim = without(all, killed...)[tn.Rand(len(all)-len(killed))]
		}
		killed = append(killed, victim)
		t.Logf("cycle %d: killing %s (proposer: %v)", cycle, tn.Node(victim).Info.Name, cycle == 0)
		tn.Kill(victim)
		others := without(all, victim)
		from, to, err := tn.WaitProgress(8, 30*time.Second, others...)
		if err != nil {
			t.Fatalf("with %s down: %v", tn.Node(victim).Info.Name, err)
		}
		t.Logf("with %s down the others went from %d to %d", tn.Node(victim).Info.Name, from, to)
		tn.Start(victim)
		target := tn.MaxHeight(others...)
		if err := tn.Node(victim).WaitCaughtUp(target, 60*time.Second); err != nil {
			t.Fatalf("restarted node did not catch up: %v", err)
		}
		if run := tn.Node(victim).RunLog(); !strings.Contains(run, "Time to switch to consensus reactor") {
			t.Errorf("%s caught up without block sync? its log has no \"Time to switch to consensus reactor\"", tn.Node(victim).Info.Name)
		}
	}
	// A frozen validator (SIGSTOP) is a crash the others cannot tell apart
	// from a slow node; after SIGCONT it catches up.
	victim := tn.Rand(4)
	tn.Pause(victim)
	if _, _, err := tn.WaitProgress(5, 30*time.Second, without(all, victim)...); err != nil {
		t.Fatalf("with %s paused: %v", tn.Node(victim).Info.Name, err)
	}
	tn.Resume(victim)
	if err := tn.Node(victim).WaitCaughtUp(tn.MaxHeight(without(all, victim)...), 60*time.Second); err != nil {
		t.Fatalf("resumed node did not catch up: %v", err)
	}
	if _, _, err := tn.WaitProgress(3, 30*time.Second, all...); err != nil {
		t.Fatal(err)
	}
	tn.Check()
}

// TestCrashTwoValidatorsHalts kills two of four validators under load: with
// half the voting power gone no block may commit (and none may fork); once
// one returns, progress resumes.
func TestCrashTwoValidatorsHalts(t *testing.T) {
	tn := newTestnet(t, harness.Options{})
	tn.StartLoad(harness.LoadOptions{})
	all := tn.All()
	if _, _, err := tn.WaitProgress(5, 30*time.Second, all...); err != nil {
		t.Fatal(err)
	}
	a := tn.Rand(4)
	b := without(all, a)[tn.Rand(3)]
	tn.Kill(a, b)
	survivors := without(all, a, b)
	time.Sleep(2 * time.Second) // a height whose precommits were already out may still land
	top, err := tn.ExpectNoProgress(8*time.Second, survivors...)
	if err != nil {
		t.Fatalf("with 2 of 4 validators down: %v", err)
	}
	t.Logf("halted at height %d with %s and %s down", top, tn.Node(a).Info.Name, tn.Node(b).Info.Name)
	tn.Start(a)
	if _, _, err := tn.WaitProgress(3, 45*time.Second, survivors...); err != nil {
		t.Fatalf("after restarting %s: %v", tn.Node(a).Info.Name, err)
	}
	tn.Start(b)
	if err := tn.WaitHeight(tn.MaxHeight(survivors...), 60*time.Second, all...); err != nil {
		t.Fatal(err)
	}
	tn.Check()
}

// TestPartitionHalves splits the network 2|2 through the link proxies,
// twice with different halves: neither side has a quorum, so no block
// commits and nothing forks; after the heal progress resumes.
func TestPartitionHalves(t *testing.T) {
	tn := newTestnet(t, harness.Options{})
	tn.StartLoad(harness.LoadOptions{})
	all := tn.All()
	for _, halves := range [][2][]int{{{0, 1}, {2, 3}}, {{0, 2}, {1, 3}}} {
		if _, _, err := tn.WaitProgress(5, 45*time.Second, all...); err != nil {
			t.Fatal(err)
		}
		tn.Partition(halves[0], halves[1])
		time.Sleep(2 * time.Second)
		top, err := tn.ExpectNoProgress(8*time.Second, all...)
		if err != nil {
			t.Fatalf("partition %v|%v: %v", halves[0], halves[1], err)
		}
		t.Logf("partition %v|%v halted at height %d", halves[0], halves[1], top)
		tn.Heal()
		if _, _, err := tn.WaitProgress(3, 45*time.Second, all...); err != nil {
			t.Fatalf("after heal: %v", err)
		}
	}
	tn.Check()
}

// TestCrashAllRepeatedly SIGKILLs all four validators at once, three times,
// under load: each restart resumes from the last committed height (the
// blocks before the crash are unchanged) and no acknowledged transaction
// is lost.
func TestCrashAllRepeatedly(t *testing.T) {
	tn := newTestnet(t, harness.Options{})
	tn.StartLoad(harness.LoadOptions{})
	all := tn.All()
	for cycle := range 3 {
		if _, _, err := tn.WaitProgress(5, 60*time.Second, all...); err != nil {
			t.Fatal(err)
		}
		before := tn.Heights(all...)
		low := before[0]
		for _, h := range before {
			low = min(low, h)
		}
		ctx, cancel := ctxFor(3 * time.Second)
		ref, err := tn.Node(0).Client.Block(ctx, low)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		tn.Kill(all...)
		tn.Start(all...)
		after := tn.Heights(all...)
		for _, i := range all {
			if after[i] < before[i] {
				t.Errorf("cycle %d: %s restarted at height %d, below the %d it had committed", cycle, tn.Node(i).Info.Name, after[i], before[i])
			}
			ctx, cancel := ctxFor(3 * time.Second)
			b, err := tn.Node(i).Client.Block(ctx, low)
			cancel()
			if err != nil || b.Hash != ref.Hash {
				t.Errorf("cycle %d: %s: block %d changed across the crash (%v)", cycle, tn.Node(i).Info.Name, low, err)
			}
		}
		t.Logf("cycle %d: heights before %v, after restart %v", cycle, before, after)
		if _, _, err := tn.WaitProgress(3, 60*time.Second, all...); err != nil {
			t.Fatalf("cycle %d: no progress after restart: %v", cycle, err)
		}
	}
	tn.Check()
}
