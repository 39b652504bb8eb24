package app_test

import (
	"context"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/medchain/medchain/testutil"
)

// TestInitialHeight checks that a chain starting at initial_height 5 commits
// version 5 first and reports it in Info, as CometBFT's handshake requires.
func TestInitialHeight(t *testing.T) {
	state, _ := testutil.Genesis(testutil.Config{Orgs: 1})
	a := testutil.NewApp(t)
	ctx := context.Background()
	if _, err := a.InitChain(ctx, &abci.RequestInitChain{Time: testutil.GenesisTime, ChainId: testutil.ChainID, AppStateBytes: state, InitialHeight: 5}); err != nil {
		t.Fatal(err)
	}
	fb, err := a.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: 5, Time: testutil.BlockTime(5)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(ctx, &abci.RequestCommit{}); err != nil {
		t.Fatal(err)
	}
	info, err := a.Info(ctx, &abci.RequestInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if info.LastBlockHeight != 5 || string(info.LastBlockAppHash) != string(fb.AppHash) {
		t.Fatalf("Info after first block: height %d hash %X, want 5 and %X", info.LastBlockHeight, info.LastBlockAppHash, fb.AppHash)
	}
}
