package node_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/testutil/nodetest"
	"github.com/medchain/medchain/x/identity"
)

// TestStateSnapshotsAcrossRestart runs a real node on the memtree backend
// with a snapshot every 3 heights: after some blocks exactly one snapshot
// file is left (the latest, at a multiple of 3), and a restart loads it,
// replays the heights after it, and serves the same verified state and
// sequences.
func TestStateSnapshotsAcrossRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	dev, r, did := startAndRegister(t, func(s *node.Settings) { s.SnapshotInterval = 3 })
	ctx := context.Background()
	c := dev.Client(t)
	before := nodetest.WaitHeight(t, c, 8)
	r.Stop()

	snaps, _ := filepath.Glob(filepath.Join(dev.Home, "data", "state-snapshots", "snapshot-*"))
	if len(snaps) != 1 {
		t.Fatalf("snapshot files %v, want exactly the latest", snaps)
	}
	h, err := strconv.ParseInt(strings.TrimPrefix(filepath.Base(snaps[0]), "snapshot-"), 10, 64)
	if err != nil || h%3 != 0 || h < 6 || h > before {
		t.Fatalf("snapshot %s: want a multiple of 3 in [6, %d]", snaps[0], before)
	}

	r = nodetest.Start(t, dev.Home)
	defer r.Stop()
	nodetest.WaitHeight(t, c, before+1)
	v, err := client.NewVerifier(ctx, c, client.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rec, _, err := v.Identity(ctx, did, 0); err != nil || rec.DID != did {
		t.Fatalf("verified read after restarting from the snapshot of height %d: %+v, %v", h, rec, err)
	}
	bob, err := dev.Keyring.Add("bob")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Submit(ctx, client.KeySigner{Key: bob}, client.RegisterMsg(bob)); err != nil || res.Code != 0 {
		t.Fatalf("register after restart: %+v, %v", res, err)
	}
}

// TestMigrateStateToMemTree: a node that ran on IAVL, stopped and
// migrated with node.MigrateState, restarts on memtree at the same height
// and app hash and serves the same verified state.
func TestMigrateStateToMemTree(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	dev, r, did := startAndRegister(t, func(s *node.Settings) { s.StateBackend = "iavl" })
	ctx := context.Background()
	c := dev.Client(t)
	r.Stop()
	if _, _, err := node.MigrateState(dev.Home); err != nil {
		t.Fatal(err)
	}
	h, hash, err := node.MigrateState(dev.Home)
	if err == nil || !strings.Contains(err.Error(), "nothing to migrate") {
		t.Fatalf("second migration: %d %X %v, want nothing to migrate", h, hash, err)
	}
	if s, _ := node.LoadSettings(dev.Home); s.StateBackend != "" {
		t.Fatalf("state_backend still %q after migration", s.StateBackend)
	}
	snaps, _ := filepath.Glob(filepath.Join(dev.Home, "data", "state-snapshots", "snapshot-*"))
	if len(snaps) != 1 {
		t.Fatalf("snapshot files after migration: %v", snaps)
	}

	r = nodetest.Start(t, dev.Home)
	defer r.Stop()
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nodetest.WaitHeight(t, c, st.Height+1)
	v, err := client.NewVerifier(ctx, c, client.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rec, _, err := v.Identity(ctx, did, 0); err != nil || rec.DID != did {
		t.Fatalf("verified read after migration: %+v, %v", rec, err)
	}
	bob, err := dev.Keyring.Add("bob")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Submit(ctx, client.KeySigner{Key: bob}, client.RegisterMsg(bob)); err != nil || res.Code != 0 {
		t.Fatalf("register after migration: %+v, %v", res, err)
	}
}

// startAndRegister starts a development node whose settings adjust
// adjust changes, waits for its first block, and registers alice; it returns her
// DID.
func startAndRegister(t *testing.T, adjust func(*node.Settings)) (*nodetest.Dev, *nodetest.Running, string) {
	t.Helper()
	dev := nodetest.NewDev(t)
	s, err := node.LoadSettings(dev.Home)
	if err != nil {
		t.Fatal(err)
	}
	adjust(&s)
	if err := node.SaveSettings(dev.Home, s); err != nil {
		t.Fatal(err)
	}
	r := nodetest.Start(t, dev.Home)
	c := dev.Client(t)
	nodetest.WaitHeight(t, c, 1)
	alice, err := dev.Keyring.Add("alice")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Submit(context.Background(), client.KeySigner{Key: alice}, client.RegisterMsg(alice)); err != nil || res.Code != 0 {
		t.Fatalf("register alice: %+v, %v", res, err)
	}
	return dev, r, identity.DIDFromKey(alice.SigningPublic())
}
