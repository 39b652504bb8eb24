package vault_test

import (
	"context"
	"testing"

	"github.com/medchain/medchain/vault"
)

// TestVaultKeepsBytes: a resource with an XHTML narrative (<, >, &) and
// whitespace reads back byte for byte. (The payload was once re-encoded
// with json.Marshal, which escaped and compacted the resource, so such
// records failed their commitment check on every read.)
func TestVaultKeepsBytes(t *testing.T) {
	e, ids := startVault(t, "patient")
	ctx, v, patient, doctor := context.Background(), e.v, ids[0], e.doctor
	resource := []byte("{\n  \"resourceType\": \"Observation\",\n  \"text\": {\"status\": \"generated\", \"div\": \"<div xmlns=\\\"http://www.w3.org/1999/xhtml\\\">A &amp; B &lt; C</div>\"},\n" +
		"  \"status\": \"final\", \"code\": {\"text\": \"x\"}, \"valueQuantity\": {\"value\": 1.50}\n}")
	st, err := v.Put(ctx, vault.Write{Author: doctor.DID, Patient: patient.DID, ResourceType: "Observation", Resource: resource})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Access(ctx, vault.AccessRequest{Requester: patient.DID, Patient: patient.DID, Records: []string{st.ID}, Purpose: "TREAT"})
	if err != nil || len(got.Records) != 1 || got.Records[0].Err != nil {
		t.Fatalf("read: %+v %v", got, err)
	}
	if string(got.Records[0].Resource) != string(resource) {
		t.Errorf("read back differs:\n%s\n%s", resource, got.Records[0].Resource)
	}
}
