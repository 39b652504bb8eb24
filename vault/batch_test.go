package vault_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/vault"
	"github.com/medchain/medchain/vault/blob/fs"
	"github.com/medchain/medchain/vault/envelope"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/records"
)

// TestBatchSealedAndLegacyEnvelopes: PutBatch seals a batch with one HPKE
// encapsulation per distinct recipient key — the vault's once for all the
// batch's patients, each patient's once — and every record keeps its own
// data key. Batch-sealed records and a record version sealed the way vaults
// sealed before batch sealing (envelope.Seal, single-shot wrapped keys)
// are then read through the vault, opened by the patient's own key,
// released through the node-to-node release route, and erased.
func TestBatchSealedAndLegacyEnvelopes(t *testing.T) {
	e, ids := startVault(t, "alice", "bob")
	dev, r, c, v, doctor := e.dev, e.run, e.c, e.v, e.doctor
	alice, bob := ids[0], ids[1]
	ctx := context.Background()
	vk, err := dev.Keyring.Get(node.VaultKey)
	if err != nil {
		t.Fatal(err)
	}
	vaultKeyID := identity.EncryptionKeyID(v.DID(), vk.Generation)
	keyID := func(k *keyring.Key) string { return identity.EncryptionKeyID(k.DID, k.Generation) }
	blobs, err := fs.Open(node.VaultDir(dev.Home))
	if err != nil {
		t.Fatal(err)
	}
	resource := func(i int) []byte {
		return fmt.Appendf(nil, `{"resourceType":"Observation","status":"final","code":{"text":"batch canary %d"}}`, i)
	}
	// blobKeyOf finds the one stored blob of a record version, whatever the
	// store layout: its key contains the id and ends with the version.
	blobKeyOf := func(id string, version uint64) string {
		t.Helper()
		keys, err := blobs.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var found []string
		for _, k := range keys {
			rest, ok := strings.CutSuffix(k, fmt.Sprint(version))
			if ok && strings.Contains(k, id) && rest != "" && (rest[len(rest)-1] < '0' || rest[len(rest)-1] > '9') {
				found = append(found, k)
			}
		}
		if len(found) != 1 {
			t.Fatalf("blobs of %s v%d: %v", id, version, found)
		}
		return found[0]
	}
	stored := func(id string, version uint64) ([]byte, *envelope.Envelope) {
		t.Helper()
		bz, err := blobs.Get(ctx, blobKeyOf(id, version))
		if err != nil {
			t.Fatal(err)
		}
		env, err := envelope.Unmarshal(bz)
		if err != nil {
			t.Fatal(err)
		}
		return bz, env
	}
	// resourceIn decrypts a vault payload with a recipient's key.
	resourceIn := func(env *envelope.Envelope, ad envelope.AD, keyID string, k *keyring.Key) []byte {
		t.Helper()
		plain, err := envelope.Open(env, ad, keyID, k.EncryptionKey)
		if err != nil {
			t.Fatalf("open %s v%d as %s: %v", ad.RecordID, ad.Version, keyID, err)
		}
		var p struct {
			Resource json.RawMessage `json:"resource"`
		}
		if err := json.Unmarshal(plain, &p); err != nil {
			t.Fatal(err)
		}
		return p.Resource
	}

	// One batch: four records of alice's, two of bob's.
	var ws []vault.Write
	patientOf := map[int]*keyring.Key{}
	for i := range 6 {
		p := alice
		if i%3 == 2 {
			p = bob
		}
		patientOf[i] = p
		ws = append(ws, vault.Write{Author: doctor.DID, Patient: p.DID, ResourceType: "Observation", Category: "laboratory", Resource: resource(i)})
	}
	out, err := v.PutBatch(ctx, ws)
	if err != nil {
		t.Fatalf("PutBatch: %v", err)
	}
	encs := map[string]map[string]bool{}
	commitments := map[string]bool{}
	want := map[string][]byte{} // record id -> resource of its current version
	for i, st := range out {
		_, env := stored(st.ID, 1)
		p := patientOf[i]
		for _, wk := range env.Wrapped {
			if wk.Scheme != envelope.WrapBatch {
				t.Fatalf("record %d: key %s wrapped with scheme %d, want WrapBatch", i, wk.KeyID, wk.Scheme)
			}
			if encs[wk.KeyID] == nil {
				encs[wk.KeyID] = map[string]bool{}
			}
			encs[wk.KeyID][string(wk.Enc)] = true
		}
		commitments[string(env.KeyCommitment)] = true
		// The patient's own DID key opens it, as does the vault's.
		ad := envelope.AD{RecordID: st.ID, Version: 1, Patient: p.DID, ResourceType: "Observation"}
		if got := resourceIn(env, ad, keyID(p), p); !bytes.Equal(got, resource(i)) {
			t.Fatalf("record %d: the patient's key opened something else", i)
		}
		if got := resourceIn(env, ad, vaultKeyID, vk); !bytes.Equal(got, resource(i)) {
			t.Fatalf("record %d: the vault's key opened something else", i)
		}
		want[st.ID] = resource(i)
	}
	if len(encs) != 3 || len(commitments) != len(out) {
		t.Fatalf("%d recipient keys (want 3: alice, bob, the vault), %d distinct data keys for %d records", len(encs), len(commitments), len(out))
	}
	for id, m := range encs {
		if len(m) != 1 {
			t.Fatalf("%s: %d encapsulations in one batch, want 1", id, len(m))
		}
	}
	// The next write is another batch, with its own encapsulations.
	next, err := v.Put(ctx, vault.Write{Author: doctor.DID, Patient: alice.DID, ResourceType: "Observation", Category: "laboratory", Resource: resource(6)})
	if err != nil {
		t.Fatal(err)
	}
	want[next.ID] = resource(6)
	_, env := stored(next.ID, 1)
	for _, wk := range env.Wrapped {
		if wk.Scheme != envelope.WrapBatch || encs[wk.KeyID][string(wk.Enc)] {
			t.Fatalf("second batch: key %s scheme %d, reuses the first batch's encapsulation: %v", wk.KeyID, wk.Scheme, encs[wk.KeyID][string(wk.Enc)])
		}
	}

	// Version 2 of alice's first record, sealed and anchored the way vaults
	// did before batch sealing.
	legacyID := out[0].ID
	key1 := blobKeyOf(legacyID, 1)
	legacyKey := strings.TrimSuffix(key1, "1") + "2"
	salt := envelope.NewSalt()
	saltJSON, _ := json.Marshal(salt[:])
	legacyResource := resource(100)
	plain := fmt.Appendf(nil, `{"salt":%s,"resource":%s}`, saltJSON, legacyResource)
	legacyAD := envelope.AD{RecordID: legacyID, Version: 2, Patient: alice.DID, ResourceType: "Observation"}
	legacy, err := envelope.Seal(plain, legacyAD, []envelope.Recipient{
		{KeyID: keyID(alice), KEM: identity.KEMMLKEM768X25519, PublicKey: alice.EncryptionPublic()},
		{KeyID: vaultKeyID, KEM: identity.KEMMLKEM768X25519, PublicKey: vk.EncryptionPublic()},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, wk := range legacy.Wrapped {
		if wk.Scheme != envelope.WrapHPKE {
			t.Fatal("envelope.Seal no longer writes single-shot keys")
		}
	}
	legacyBlob, err := legacy.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := blobs.Put(ctx, legacyKey, legacyBlob); err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256(legacyBlob)
	commit := envelope.Commitment(salt, legacyResource)
	res, err := v.Submit(ctx, &records.MsgAnchor{ID: legacyID, Patient: alice.DID, Org: v.Org(), ResourceType: "Observation",
		Category: "laboratory", Version: 2, CiphertextHash: hash[:], Commitment: commit[:], Author: doctor.DID})
	if err != nil || res.Code != 0 {
		t.Fatalf("anchor the legacy version: %+v %v", res, err)
	}
	want[legacyID] = legacyResource

	// Reads through the vault: batch-sealed and legacy alike.
	var aliceIDs, bobIDs []string
	for i, st := range out {
		if patientOf[i] == alice {
			aliceIDs = append(aliceIDs, st.ID)
		} else {
			bobIDs = append(bobIDs, st.ID)
		}
	}
	aliceIDs = append(aliceIDs, next.ID)
	read := func(p *keyring.Key, ids []string) *vault.AccessResult {
		t.Helper()
		ids = slices.Sorted(slices.Values(ids))
		got, err := v.Access(ctx, vault.AccessRequest{Requester: p.DID, Patient: p.DID, Records: ids, Purpose: "TREAT"})
		if err != nil || len(got.Records) != len(ids) {
			t.Fatalf("access: %+v %v", got, err)
		}
		for _, rec := range got.Records {
			if rec.Err != nil || !bytes.Equal(rec.Resource, want[rec.Anchor.ID]) {
				t.Fatalf("read %s v%d: %v, %q", rec.Anchor.ID, rec.Anchor.Version, rec.Err, rec.Resource)
			}
		}
		return got
	}
	read(alice, aliceIDs)
	read(bob, bobIDs)

	// The node-to-node release route re-wraps either kind to the requesting
	// vault (here the vault itself, which asked on alice's behalf) with a
	// single-shot key, so that a requesting vault that predates batch
	// sealing can use the key.
	for _, rel := range []struct {
		id      string
		version uint64
		blob    []byte
	}{{out[1].ID, 1, nil}, {legacyID, 2, legacyBlob}} {
		got := read(alice, []string{rel.id})
		req := &vault.ReleaseRequest{EventID: got.Event.ID, Height: got.Event.Height, RecordID: rel.id, Version: rel.version}
		req.Sign(r.Node.App.ChainID(), v.DID(), vk.Generation, vk.SigningKey, time.Now())
		body, _ := json.Marshal(req)
		resp, err := http.Post("http://"+dev.Addrs.API+vault.ReleasePath, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("release %s: %d %s", rel.id, resp.StatusCode, raw)
		}
		if bytes.Contains(raw, []byte(`"Scheme"`)) {
			t.Fatalf("release %s: the released key names a scheme: %s", rel.id, raw)
		}
		var rr vault.ReleaseResponse
		if err := json.Unmarshal(raw, &rr); err != nil {
			t.Fatal(err)
		}
		if h := sha256.Sum256(rr.Envelope); !bytes.Equal(h[:], got.Records[0].Anchor.CiphertextHash) {
			t.Fatalf("release %s: the envelope is not the anchored blob", rel.id)
		}
		if rel.blob != nil && !bytes.Equal(rr.Envelope, rel.blob) {
			t.Fatalf("release %s: the legacy blob changed", rel.id)
		}
		env, err := envelope.Unmarshal(rr.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		if rr.Wrapped.Scheme != envelope.WrapHPKE || rr.Wrapped.KeyID != vaultKeyID {
			t.Fatalf("release %s: key %s with scheme %d", rel.id, rr.Wrapped.KeyID, rr.Wrapped.Scheme)
		}
		env.Wrapped = []envelope.WrappedKey{rr.Wrapped} // only the released key
		ad := envelope.AD{RecordID: rel.id, Version: rel.version, Patient: alice.DID, ResourceType: "Observation"}
		if pt := resourceIn(env, ad, vaultKeyID, vk); !bytes.Equal(pt, want[rel.id]) {
			t.Fatalf("release %s: the released key opened something else", rel.id)
		}
	}

	// Erasure of alice: her blobs, batch-sealed and legacy, go; bob's,
	// sealed in the same batch (they share the vault's encapsulation),
	// still read.
	res, err = c.Submit(ctx, client.KeySigner{Key: alice}, &records.MsgRequestErasure{Patient: alice.DID})
	if err != nil || res.Code != 0 {
		t.Fatalf("erase: %+v %v", res, err)
	}
	v.SweepErasures(ctx)
	for deadline := time.Now().Add(20 * time.Second); ; {
		st, err := c.Erasure(ctx, alice.DID, 0)
		if err == nil && st.Complete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("erasure not confirmed: %+v %v", st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	keys, err := blobs.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		for _, id := range aliceIDs {
			if strings.Contains(k, id) {
				t.Errorf("blob %s of an erased record is still stored", k)
			}
		}
	}
	if _, err := v.Access(ctx, vault.AccessRequest{Requester: alice.DID, Patient: alice.DID, Records: slices.Sorted(slices.Values(aliceIDs)), Purpose: "TREAT"}); !errors.Is(err, vault.ErrErased) {
		t.Errorf("read after erasure: %v, want ErrErased", err)
	}
	read(bob, bobIDs)
}
