package node_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/store/proof"
	"github.com/medchain/medchain/x/identity"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// running is a node started by startNode.
type running struct {
	n    *node.Node
	stop func()
}

// startNode runs the node in home until stop is called, and waits for its
// API to answer.
func startNode(t *testing.T, home string, addrs node.Addrs) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *node.Node, 1)
	done := make(chan error, 1)
	go func() {
		done <- node.Run(ctx, home, node.RunOptions{Addrs: addrs, Logger: testLogger(), Ready: func(n *node.Node) { ready <- n }})
	}()
	select {
	case n := <-ready:
		r := &running{n: n}
		r.stop = func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("node stopped with error: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("node did not stop within 30s")
			}
		}
		return r
	case err := <-done:
		cancel()
		t.Fatalf("node did not start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("node did not start within 60s")
	}
	return nil
}

func waitHeight(t *testing.T, c *client.Client, min int64) int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := c.Status(context.Background()); err == nil && st.Height >= min {
			return st.Height
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("height %d not reached within 30s", min)
	return 0
}

// TestNodeIntegration runs a real in-process CometBFT node: it registers
// identities, rotates a key, reads them back with light-client-verified
// proofs, restarts the node and finds the state intact, and checks that
// tampered proofs fail with typed errors.
func TestNodeIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	t.Setenv("MEDCHAIN_PASSPHRASE", "integration-test")
	home := t.TempDir()
	kr, err := keyring.Open(node.KeyringDir(home), keyring.EnvOrPrompt())
	if err != nil {
		t.Fatal(err)
	}
	addrs := node.Addrs{API: freeAddr(t), RPC: freeAddr(t), P2P: freeAddr(t)}
	if _, err := node.InitDev(home, node.InitOptions{Keyring: kr, Addrs: addrs}); err != nil {
		t.Fatal(err)
	}
	r := startNode(t, home, node.Addrs{})
	ctx := context.Background()
	c, err := client.New("http://" + addrs.API)
	if err != nil {
		t.Fatal(err)
	}
	waitHeight(t, c, 1)

	alice, err := kr.Add("alice")
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Submit(ctx, client.KeySigner{Key: alice}, client.RegisterMsg(alice))
	if err != nil || res.Code != 0 {
		t.Fatalf("register alice: %+v, %v", res, err)
	}
	did := identity.DIDFromKey(alice.SigningPublic())
	regHeight := res.Height

	v, err := client.NewVerifier(ctx, c, client.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec, vr, err := v.Identity(ctx, did, 0)
	if err != nil {
		t.Fatalf("verified read: %v", err)
	}
	if rec.DID != did || len(rec.SigningKeys) != 1 || vr.Height < regHeight {
		t.Fatalf("verified record %+v at %+v, want %s with one key at height >= %d", rec, vr, did, regHeight)
	}

	// Rotate: the keyring makes generation 2; generation 1 signs the change.
	if err := kr.SetDID("alice", did); err != nil {
		t.Fatal(err)
	}
	alice2, err := kr.Rotate("alice")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := c.Status(ctx)
	old := client.GenerationSigner{Identity: did, Generation: 1, Private: alice2.Previous[0].SigningKey}
	res, err = c.Submit(ctx, old, client.RotateMsg(st.ChainID, did, alice2))
	if err != nil || res.Code != 0 {
		t.Fatalf("rotate: %+v, %v", res, err)
	}
	rotHeight := res.Height
	rec, _, err = v.Identity(ctx, did, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.SigningKeys) != 2 || rec.CurrentSigningKey().ID != identity.SigningKeyID(did, 2) {
		t.Fatalf("after rotation got keys %+v, want key-2 current", rec.SigningKeys)
	}
	// A signature made with key-1 before the rotation is still checkable.
	if _, ok := rec.KeyAt(identity.SigningKeyID(did, 1), regHeight); !ok {
		t.Errorf("key-1 not valid at height %d after rotation", regHeight)
	}
	if _, ok := rec.KeyAt(identity.SigningKeyID(did, 1), rotHeight); ok {
		t.Errorf("key-1 still valid at rotation height %d", rotHeight)
	}
	// The state before the rotation is readable, verified, at its height.
	recOld, vrOld, err := v.Identity(ctx, did, rotHeight-1)
	if err != nil || len(recOld.SigningKeys) != 1 || vrOld.Height != rotHeight-1 {
		t.Fatalf("historic read at %d: %+v %+v %v", rotHeight-1, recOld, vrOld, err)
	}
	// The old key can no longer sign; the new one can.
	res, err = c.Submit(ctx, old, &identity.MsgDeactivate{DID: did})
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != 15 || res.Codespace != "tx" {
		t.Errorf("tx signed by rotated key: code %s/%d, want tx/15", res.Codespace, res.Code)
	}

	// Tampered proofs fail with typed errors.
	raw, err := c.Identity(ctx, did, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	good := *raw.Proof
	if _, err := v.VerifyProof(ctx, &good); err != nil {
		t.Fatalf("untampered proof: %v", err)
	}
	for i := range good.ProofOps.Ops {
		for _, pos := range []int{0, len(good.ProofOps.Ops[i].Data) / 2, len(good.ProofOps.Ops[i].Data) - 1} {
			bad := cloneProof(&good)
			bad.ProofOps.Ops[i].Data[pos] ^= 0x01
			_, err := v.VerifyProof(ctx, bad)
			if !errors.Is(err, client.ErrVerification) || !isTyped(err) {
				t.Errorf("op %d byte %d flipped: got %v, want a typed verification error", i, pos, err)
			}
		}
	}
	badValue := cloneProof(&good)
	badValue.Value = append([]byte(nil), good.Value...)
	badValue.Value[len(badValue.Value)/2] ^= 1
	if _, err := v.VerifyProof(ctx, badValue); !errors.Is(err, proof.ErrValueMismatch) {
		t.Errorf("altered value: got %v, want ErrValueMismatch", err)
	}
	// Checked against another height's app hash, the proof fails.
	// Header regHeight carries the state root from before alice existed.
	other, err := c.Block(ctx, regHeight)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.Verify(good.ProofOps, mustHex(t, other.AppHash), good.Store, good.Key, good.Value); !errors.Is(err, proof.ErrRootMismatch) {
		t.Errorf("proof against header %d's app hash: got %v, want ErrRootMismatch", regHeight, err)
	}

	// Restart: the height continues and the state is intact.
	before := waitHeight(t, c, 1)
	r.stop()
	r = startNode(t, home, node.Addrs{})
	defer r.stop()
	after := waitHeight(t, c, before+1)
	if after <= before {
		t.Fatalf("height after restart %d, want > %d", after, before)
	}
	v2, err := client.NewVerifier(ctx, c, client.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err = v2.Identity(ctx, did, 0)
	if err != nil || len(rec.SigningKeys) != 2 {
		t.Fatalf("after restart (new verifier): %+v, %v", rec, err)
	}
	rec, _, err = v.Identity(ctx, did, 0)
	if err != nil || len(rec.SigningKeys) != 2 {
		t.Fatalf("after restart: %+v, %v", rec, err)
	}
	// The sequence continues too.
	bob, _ := kr.Add("bob")
	res, err = c.Submit(ctx, client.KeySigner{Key: bob}, client.RegisterMsg(bob))
	if err != nil || res.Code != 0 {
		t.Fatalf("register after restart: %+v %v", res, err)
	}
	res, err = c.Submit(ctx, client.KeySigner{Key: alice2}, &identity.MsgDeactivate{DID: did})
	if err != nil || res.Code != 0 {
		t.Fatalf("deactivate with new key after restart: %+v %v", res, err)
	}
}

func isTyped(err error) bool {
	for _, e := range []error{proof.ErrMalformed, proof.ErrRootMismatch, proof.ErrKeyMismatch, proof.ErrValueMismatch} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
