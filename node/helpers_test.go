package node_test

import (
	"encoding/hex"

	"testing"

	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"

	"github.com/medchain/medchain/api/types"
)

func cloneProof(p *types.Proof) *types.Proof {
	c := *p
	c.ProofOps = &cmtcrypto.ProofOps{}
	for _, op := range p.ProofOps.Ops {
		c.ProofOps.Ops = append(c.ProofOps.Ops, cmtcrypto.ProofOp{Type: op.Type, Key: append([]byte(nil), op.Key...), Data: append([]byte(nil), op.Data...)})
	}
	return &c
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
