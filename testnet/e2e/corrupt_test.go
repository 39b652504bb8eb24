package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/testnet/harness"
)

// TestCorruptAppDBRefusesToServe stops a validator, keeps a clean copy of
// its data directory, and restarts it from copies whose application
// database was corrupted (bytes flipped in, or truncation of, its table
// files): the node must exit with an error that says the database is
// corrupt, and never serve /v1/status meanwhile. Restored from the clean
// copy it catches up. The other three keep committing throughout.
func TestCorruptAppDBRefusesToServe(t *testing.T) {
	tn := newTestnet(t, harness.Options{})
	tn.StartLoad(harness.LoadOptions{Signers: 16, Rate: 20})
	all := tn.All()
	if _, _, err := tn.WaitProgress(10, 60*time.Second, all...); err != nil {
		t.Fatal(err)
	}
	victim := 3
	n := tn.Node(victim)
	tn.Stop(victim)
	clean, err := tn.BackupData(victim, "clean")
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{harness.CorruptFlip, harness.CorruptTruncate} {
		if err := tn.RestoreData(victim, clean); err != nil {
			t.Fatal(err)
		}
		if _, err := tn.CorruptAppDB(victim, mode); err != nil {
			t.Fatal(err)
		}
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
		done, exitErr := n.Exited()
		served := false
		deadline := time.After(60 * time.Second)
	wait:
		for {
			select {
			case <-done:
				break wait
			case <-deadline:
				t.Fatalf("%s: node with a corrupted database (%s) still running after 60s", mode, n.Info.Name)
			case <-time.After(200 * time.Millisecond):
				if _, err := n.Height(); err == nil {
					served = true
				}
			}
		}
		if served {
			t.Errorf("%s: the node served /v1/status from a corrupted database", mode)
		}
		if exitErr() == nil || n.ExitCode() == 0 {
			t.Errorf("%s: the node exited with status 0 (%v)", mode, exitErr())
		}
		run := n.RunLog()
		if !strings.Contains(strings.ToLower(run), "corrupt") {
			t.Errorf("%s: the node's log does not say the database is corrupt:\n%s", mode, n.LogTail(10))
		}
		for _, line := range strings.Split(run, "\n") {
			if strings.Contains(strings.ToLower(line), "corrupt") {
				t.Logf("%s: %s exited (%v): %s", mode, n.Info.Name, exitErr(), line)
				break
			}
		}
		if _, _, err := tn.WaitProgress(2, 30*time.Second, without(all, victim)...); err != nil {
			t.Fatalf("the others stalled: %v", err)
		}
	}
	if err := tn.RestoreData(victim, clean); err != nil {
		t.Fatal(err)
	}
	tn.Start(victim)
	if err := n.WaitCaughtUp(tn.MaxHeight(without(all, victim)...), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	tn.Check()
}
