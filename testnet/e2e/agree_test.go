package e2e

import (
	"testing"
	"time"

	"github.com/medchain/medchain/testnet/harness"
)

// TestAgreementUnderLoad runs 4 validators under steady load and checks
// that every node has the same block hash and app hash at every height,
// and that every acknowledged transaction is in the chain on every node.
func TestAgreementUnderLoad(t *testing.T) {
	tn := newTestnet(t, harness.Options{})
	load := tn.StartLoad(harness.LoadOptions{})
	if _, _, err := tn.WaitProgress(25, 60*time.Second, tn.All()...); err != nil {
		t.Fatal(err)
	}
	if load.Committed() == 0 {
		t.Fatal("no load operation committed")
	}
	tn.Check()
}
