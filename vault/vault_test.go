package vault_test

import (
	"context"
	"errors"
	"github.com/medchain/medchain/vault/blob"
	"github.com/medchain/medchain/vault/blob/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/testutil/nodetest"
	"github.com/medchain/medchain/vault"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/records"
)

func register(t *testing.T, c *client.Client, kr *keyring.Keyring, name string) *keyring.Key {
	t.Helper()
	k, err := kr.Add(name)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Submit(context.Background(), client.KeySigner{Key: k}, client.RegisterMsg(k))
	if err != nil || res.Code != 0 {
		t.Fatalf("register %s: %+v %v", name, res, err)
	}
	k.DID = client.KeySigner{Key: k}.DID()
	return k
}

// addPractitioner makes k a practitioner of orgID, signed by the dev
// chain's admin.
func addPractitioner(t *testing.T, c *client.Client, kr *keyring.Keyring, orgID string, k *keyring.Key) {
	t.Helper()
	admin, _ := kr.Get("admin")
	res, err := c.Submit(context.Background(), client.KeySigner{Key: admin}, &org.MsgAddMember{Org: orgID, Member: k.DID, Roles: []string{org.RolePractitioner}})
	if err != nil || res.Code != 0 {
		t.Fatalf("add %s: %+v %v", k.Name, res, err)
	}
}

// TestVault stores a record through a real node's vault, reads it back as
// the patient, is denied as a stranger, detects a tampered blob, and erases.
// vaultEnv is a running dev node with its vault and a practitioner,
// "doctor", of the vault's organization.
type vaultEnv struct {
	dev    *nodetest.Dev
	run    *nodetest.Running
	c      *client.Client
	v      *vault.Service
	doctor *keyring.Key
	blobs  *fs.Store // the vault's blob store, for tests that reach under it
}

// startVault starts a dev node, registers the doctor and the named
// identities (returned in order) and stops the node when the test ends.
func startVault(t *testing.T, names ...string) (*vaultEnv, []*keyring.Key) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	e := &vaultEnv{dev: nodetest.NewDev(t)}
	e.run = nodetest.Start(t, e.dev.Home)
	t.Cleanup(e.run.Stop)
	e.c = e.dev.Client(t)
	if e.v = e.run.Node.Vault; e.v == nil {
		t.Fatal("the dev node has no vault")
	}
	keys := make([]*keyring.Key, len(names))
	for i, n := range names {
		keys[i] = register(t, e.c, e.dev.Keyring, n)
	}
	e.doctor = register(t, e.c, e.dev.Keyring, "doctor")
	addPractitioner(t, e.c, e.dev.Keyring, e.v.Org(), e.doctor)
	var err error
	if e.blobs, err = fs.Open(node.VaultDir(e.dev.Home)); err != nil {
		t.Fatal(err)
	}
	return e, keys
}

func TestVault(t *testing.T) {
	e, ids := startVault(t, "patient", "stranger")
	c, v, doctor, blobs := e.c, e.v, e.doctor, e.blobs
	patient, stranger := ids[0], ids[1]
	ctx := context.Background()

	resource := []byte(`{"resourceType":"Observation","status":"final","code":{"text":"canary-glucose"},"subject":{"reference":"Patient/x"}}`)
	st, err := v.Put(ctx, vault.Write{Author: doctor.DID, Patient: patient.DID, ResourceType: "Observation", Category: "laboratory", Resource: resource})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	// A stranger cannot write for this organization.
	if _, err := v.Put(ctx, vault.Write{Author: stranger.DID, Patient: patient.DID, ResourceType: "Observation", Resource: resource}); !errors.Is(err, vault.ErrForbidden) {
		t.Errorf("stranger put: got %v, want ErrForbidden", err)
	}
	// The patient reads it back.
	got, err := v.Access(ctx, vault.AccessRequest{Requester: patient.DID, Patient: patient.DID, Records: []string{st.ID}, Purpose: "TREAT"})
	if err != nil || len(got.Records) != 1 || string(got.Records[0].Resource) != string(resource) {
		t.Fatalf("patient read: %+v %v", got, err)
	}
	// The doctor reads it for treatment (the holding organization).
	if got, err = v.Access(ctx, vault.AccessRequest{Requester: doctor.DID, Org: v.Org(), Patient: patient.DID, Records: []string{st.ID}, Purpose: "TREAT"}); err != nil || got.Records[0].Err != nil {
		t.Fatalf("doctor read: %+v %v", got, err)
	}
	// A stranger acting for themselves is denied, and the attempt is logged.
	den, err := v.Access(ctx, vault.AccessRequest{Requester: stranger.DID, Patient: patient.DID, Records: []string{st.ID}, Purpose: "TREAT"})
	if !errors.Is(err, vault.ErrDenied) || den == nil || den.Event.Decision != records.Deny {
		t.Fatalf("stranger read: %+v %v, want a logged denial", den, err)
	}

	// Flip one byte of the stored blob: the read fails, with no plaintext.
	matches, _ := filepath.Glob(filepath.Join(blobs.Root(), "rec", "*", st.ID+":1*"))
	if len(matches) != 1 {
		t.Fatalf("blob files for %s: %v", st.ID, matches)
	}
	path := matches[0]
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), raw...)
	bad[len(bad)/2] ^= 0x01
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err = v.Access(ctx, vault.AccessRequest{Requester: patient.DID, Patient: patient.DID, Records: []string{st.ID}, Purpose: "TREAT"})
	if err != nil || !errors.Is(got.Records[0].Err, vault.ErrTampered) || got.Records[0].Resource != nil {
		t.Fatalf("tampered read: %+v %v, want ErrTampered and no plaintext", got.Records, err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	// A record written by a vault of the earlier layout (a directory per
	// record) is read, swept and erased all the same.
	old, err := v.Put(ctx, vault.Write{Author: doctor.DID, Patient: patient.DID, ResourceType: "Observation", Category: "laboratory", Resource: resource})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	oldBlob, err := blobs.Get(ctx, vault.BlobKey(old.ID, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := blobs.Put(ctx, vault.LegacyBlobKey(old.ID, 1), oldBlob); err != nil {
		t.Fatal(err)
	}
	if err := blobs.Delete(ctx, vault.BlobKey(old.ID, 1)); err != nil {
		t.Fatal(err)
	}
	got, err = v.Access(ctx, vault.AccessRequest{Requester: patient.DID, Patient: patient.DID, Records: []string{old.ID}, Purpose: "TREAT"})
	if err != nil || got.Records[0].Err != nil || string(got.Records[0].Resource) != string(resource) {
		t.Fatalf("read of a blob in the earlier layout: %+v %v", got, err)
	}

	// Orphans (blobs no anchor accounts for, in either layout) are removed
	// once seen twice grace apart; anchored blobs stay.
	orphans := []string{vault.BlobKey("orphan1", 1), vault.LegacyBlobKey("orphan2", 1), vault.BlobKey(st.ID, 2)}
	for _, k := range orphans {
		if err := blobs.Put(ctx, k, []byte("not anchored")); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.SweepOrphans(ctx, time.Hour); n != 0 {
		t.Errorf("first sweep removed %d blobs, want 0 (first sighting)", n)
	}
	if n := v.SweepOrphans(ctx, time.Hour); n != 0 {
		t.Errorf("sweep within the grace period removed %d blobs", n)
	}
	if n := v.SweepOrphans(ctx, 0); n != len(orphans) {
		t.Errorf("sweep after the grace period removed %d blobs, want %d", n, len(orphans))
	}
	for _, k := range orphans {
		if _, err := blobs.Get(ctx, k); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("orphan %s: %v, want removed", k, err)
		}
	}
	for _, k := range []string{vault.BlobKey(st.ID, 1), vault.LegacyBlobKey(old.ID, 1)} {
		if _, err := blobs.Get(ctx, k); err != nil {
			t.Errorf("anchored blob %s: %v", k, err)
		}
	}

	// Erasure: the patient asks, the vault shreds and confirms, reads are gone.
	res, err := c.Submit(ctx, client.KeySigner{Key: patient}, &records.MsgRequestErasure{Patient: patient.DID})
	if err != nil || res.Code != 0 {
		t.Fatalf("erase: %+v %v", res, err)
	}
	// The node's own sweep (every second) may confirm it before this one.
	v.SweepErasures(ctx)
	for deadline := time.Now().Add(20 * time.Second); ; {
		st, err := c.Erasure(ctx, patient.DID, 0)
		if err == nil && st.Complete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("erasure not confirmed: %+v %v", st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("blob still on disk after erasure: %v", err)
	}
	if _, err := blobs.Get(ctx, vault.LegacyBlobKey(old.ID, 1)); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("blob in the earlier layout after erasure: %v", err)
	}
	if _, err := v.Access(ctx, vault.AccessRequest{Requester: patient.DID, Patient: patient.DID, Records: []string{st.ID}, Purpose: "TREAT"}); !errors.Is(err, vault.ErrErased) {
		t.Errorf("read after erasure: got %v, want ErrErased", err)
	}
}
