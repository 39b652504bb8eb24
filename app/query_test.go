package app_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/store/proof"
	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/x/identity"
)

// TestQueryProofs checks that /store/<name>/key answers with a value and
// ProofOps that verify against the app hash of the height queried.
func TestQueryProofs(t *testing.T) {
	h := newHarness(t, 2)
	s := testutil.NewSigner("queried")
	h.Block()
	h.Register(s) // height 2
	h.Block()     // height 3
	key := identity.RecordKey(s.DID)
	for _, tc := range []struct {
		name    string
		height  int64
		present bool
	}{
		{"before registration", 1, false},
		{"at registration", 2, true},
		{"latest", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := h.App.Query(context.Background(), &abci.RequestQuery{Path: "/store/identity/key", Data: key, Height: tc.height, Prove: true})
			if err != nil || resp.Code != 0 {
				t.Fatalf("Query: got (%v, %d %s), want success", err, resp.Code, resp.Log)
			}
			wantH := tc.height
			if wantH == 0 {
				wantH = h.Height
			}
			if resp.Height != wantH {
				t.Fatalf("Query height: got %d, want %d", resp.Height, wantH)
			}
			if (resp.Value != nil) != tc.present {
				t.Fatalf("Query value: got %q, want present=%v", resp.Value, tc.present)
			}
			if err := proof.Verify(resp.ProofOps, h.AppHashes[wantH], identity.StoreName, key, resp.Value); err != nil {
				t.Fatalf("Verify: got %v, want nil", err)
			}
			// Against another height's (different) app hash it fails.
			other := h.AppHashes[1]
			if bytes.Equal(other, h.AppHashes[wantH]) {
				other = h.AppHashes[2]
			}
			if err := proof.Verify(resp.ProofOps, other, identity.StoreName, key, resp.Value); !errors.Is(err, proof.ErrRootMismatch) {
				t.Fatalf("Verify against another height's app hash: got %v, want ErrRootMismatch", err)
			}
		})
	}
	for _, tc := range []struct {
		path   string
		height int64
		want   uint32
	}{
		{"/store/identity", 0, app.ErrQueryPath.Code},
		{"/custom/x", 0, app.ErrQueryPath.Code},
		{"/store/nope/key", 0, app.ErrQueryStore.Code},
		{"/store/identity/key", 99, app.ErrQueryHeight.Code},
	} {
		resp, err := h.App.Query(context.Background(), &abci.RequestQuery{Path: tc.path, Data: key, Height: tc.height})
		if err != nil || resp.Codespace != "query" || resp.Code != tc.want {
			t.Errorf("Query(%s, %d): got (%v, %s/%d), want query/%d", tc.path, tc.height, err, resp.Codespace, resp.Code, tc.want)
		}
	}
}
