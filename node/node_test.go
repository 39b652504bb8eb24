package node_test

import (
	"context"
	"errors"
	"testing"

	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/store/proof"
	"github.com/medchain/medchain/testutil/nodetest"
	"github.com/medchain/medchain/x/identity"
)

// TestNodeIntegration runs a real in-process CometBFT node: it registers
// identities, rotates a key, reads them back with light-client-verified
// proofs, restarts the node and finds the state intact, and checks that
// tampered proofs fail with typed errors.
func TestNodeIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	dev := nodetest.NewDev(t)
	home, kr := dev.Home, dev.Keyring
	r := nodetest.Start(t, home)
	ctx := context.Background()
	c := dev.Client(t)
	nodetest.WaitHeight(t, c, 1)

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
	before := nodetest.WaitHeight(t, c, 1)
	r.Stop()
	r = nodetest.Start(t, home)
	defer r.Stop()
	after := nodetest.WaitHeight(t, c, before+1)
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
