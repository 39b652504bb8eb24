package vault_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/medchain/medchain/auth"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/vault"
)

// tamperCanary is in every record's plaintext; a tampered read must never
// return it.
const tamperCanary = "Tampercanary"

// TestTamperDetectedOnRead tampers with blobs in a running node's vault
// directory and reads them through the vault's read path (an access
// request decided on chain, then the blob checked against its anchor and
// opened), and once through the FHIR API:
//
//   - single bit flips at 240 positions sampled over the whole blob (first
//     and last bytes, nonce, wrapped keys, ciphertext and tag alike),
//     truncation and an appended byte;
//   - two patients' blobs swapped, and two records of one patient swapped;
//   - an older version of a record replayed in place of the current one.
//
// Each must fail with ErrTampered and no plaintext; untouched records read
// normally before and after (the control).
func TestTamperDetectedOnRead(t *testing.T) {
	e, people := startVault(t, "alice", "bob")
	dev, r, v, doctor, blobs := e.dev, e.run, e.v, e.doctor, e.blobs
	alice, bob := people[0], people[1]
	ctx := context.Background()
	resource := func(i int) []byte {
		return []byte(fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"text":"%s %d"},"valueQuantity":{"value":%d}}`, tamperCanary, i, i))
	}
	put := func(p *keyring.Key, id string, i int) *vault.Stored {
		st, err := v.Put(ctx, vault.Write{Author: doctor.DID, Patient: p.DID, ResourceType: "Observation", Category: "laboratory", ID: id, Resource: resource(i)})
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		return st
	}
	// 48 records of alice's, written 16 at a time; 2 of bob's.
	const n = 48
	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ids[i] = put(alice, "", i).ID
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	slices.Sort(ids)
	bobIDs := []string{put(bob, "", 1000).ID, put(bob, "", 1001).ID}
	slices.Sort(bobIDs)
	key := func(id string, version int) string { return vault.BlobKey(id, uint64(version)) }
	orig := map[string][]byte{}
	for _, id := range append(slices.Clone(ids), bobIDs...) {
		bz, err := blobs.Get(ctx, key(id, 1))
		if err != nil {
			t.Fatal(err)
		}
		orig[id] = bz
	}
	write := func(id string, version int, bz []byte) {
		t.Helper()
		if err := blobs.Put(ctx, key(id, version), bz); err != nil {
			t.Fatal(err)
		}
	}
	restore := func() {
		t.Helper()
		for id, bz := range orig {
			write(id, 1, bz)
		}
	}
	// read asks as the patient for records and returns each one's outcome.
	read := func(p *keyring.Key, recs []string) []vault.Record {
		t.Helper()
		res, err := v.Access(ctx, vault.AccessRequest{Requester: p.DID, Patient: p.DID, Records: recs, Purpose: "TREAT"})
		if err != nil || len(res.Records) != len(recs) {
			t.Fatalf("access: %+v %v", res, err)
		}
		return res.Records
	}
	wantTampered := func(what string, got []vault.Record) int {
		t.Helper()
		for _, rec := range got {
			if !errors.Is(rec.Err, vault.ErrTampered) || rec.Resource != nil {
				t.Errorf("%s: record %s: err %v, %d bytes released; want ErrTampered and nothing", what, rec.Anchor.ID, rec.Err, len(rec.Resource))
			}
			if bytes.Contains(rec.Resource, []byte(tamperCanary)) {
				t.Errorf("%s: plaintext released", what)
			}
		}
		return len(got)
	}
	wantClean := func(what string, p *keyring.Key, recs []string) {
		t.Helper()
		for _, rec := range read(p, recs) {
			if rec.Err != nil || !bytes.Contains(rec.Resource, []byte(tamperCanary)) {
				t.Fatalf("%s: record %s: %v", what, rec.Anchor.ID, rec.Err)
			}
		}
	}
	wantClean("control before tampering", alice, ids)

	// Bit flips: five rounds, each flipping one bit in every one of the 48
	// blobs, at positions spread evenly over the blob with a different
	// offset per round (240 positions, including the first and last bits),
	// all read back in one access request.
	trials := 0
	for round := range 5 {
		for i, id := range ids {
			bz := slices.Clone(orig[id])
			bits := len(bz) * 8
			pos := (i*bits/n + round*bits/(5*n)) % bits
			switch {
			case round == 0 && i == 0:
				pos = 0
			case round == 4 && i == n-1:
				pos = bits - 1
			}
			bz[pos/8] ^= 1 << (pos % 8)
			write(id, 1, bz)
		}
		trials += wantTampered(fmt.Sprintf("bit flips, round %d", round), read(alice, ids))
		restore()
	}
	// Truncated (to half, or by one byte) and extended blobs.
	for i, id := range ids[:12] {
		bz := slices.Clone(orig[id])
		switch i % 3 {
		case 0:
			bz = bz[:len(bz)/2]
		case 1:
			bz = bz[:len(bz)-1]
		default:
			bz = append(bz, 0)
		}
		write(id, 1, bz)
	}
	trials += wantTampered("truncated or extended", read(alice, ids[:12]))
	restore()

	// Two patients' blobs swapped: each is a valid envelope, of the other.
	write(ids[0], 1, orig[bobIDs[0]])
	write(bobIDs[0], 1, orig[ids[0]])
	trials += wantTampered("alice's record holding bob's blob", read(alice, ids[:1]))
	trials += wantTampered("bob's record holding alice's blob", read(bob, bobIDs[:1]))
	// Two records of one patient swapped.
	write(ids[1], 1, orig[ids[2]])
	write(ids[2], 1, orig[ids[1]])
	trials += wantTampered("alice's records swapped", read(alice, ids[1:3]))
	restore()

	// An older version replayed: version 2 of a record is written, then its
	// blob is replaced by version 1's (and by version 1's copied to the
	// version-2 key and nothing else).
	st := put(alice, ids[3], 500)
	if st.Version != 2 {
		t.Fatalf("update made version %d", st.Version)
	}
	v2, err := blobs.Get(ctx, key(ids[3], 2))
	if err != nil {
		t.Fatal(err)
	}
	write(ids[3], 2, orig[ids[3]])
	trials += wantTampered("version 1 replayed as version 2", read(alice, ids[3:4]))
	// Version 2 of another record, re-labelled: a valid newer envelope of
	// the same patient in place of a different record's current version.
	write(ids[4], 1, v2)
	trials += wantTampered("another record's newer version", read(alice, ids[4:5]))
	write(ids[3], 2, v2)
	restore()

	// Through the FHIR API: 500 with an OperationOutcome, no plaintext.
	bz := slices.Clone(orig[ids[5]])
	bz[len(bz)/3] ^= 0x80
	write(ids[5], 1, bz)
	s := client.KeySigner{Key: alice}
	tok, err := auth.Issue(alice.SigningKey, s.DID(), s.KeyID(), r.Node.App.ChainID(), 0)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+dev.Addrs.API+"/fhir/Observation/"+ids[5], nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !bytes.Contains(body, []byte(`"OperationOutcome"`)) || bytes.Contains(body, []byte(tamperCanary)) {
		t.Errorf("FHIR read of a tampered record: %d %s; want 500 with an OperationOutcome and no content", resp.StatusCode, body)
	}
	trials++
	restore()

	// Everything reads again once restored.
	wantClean("control after tampering", alice, ids)
	wantClean("control after tampering", bob, bobIDs)
	t.Logf("%d tamper trials through the read path, all detected, no plaintext released", trials)
}
