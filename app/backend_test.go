package app_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	dbm "github.com/cosmos/cosmos-db"

	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/testutil"
)

// runBlocks opens an App on db with opts, runs InitChain (for a fresh
// database) and commits the given number of empty blocks after its last
// height, and returns the App and the last app hash.
func runBlocks(t *testing.T, db dbm.DB, opts app.Options, blocks int) (*app.App, []byte) {
	t.Helper()
	a, err := app.New(db, opts)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	ctx := context.Background()
	info, err := a.Info(ctx, &abci.RequestInfo{})
	if err != nil {
		t.Fatal(err)
	}
	height, hash := info.LastBlockHeight, info.LastBlockAppHash
	if height == 0 {
		state, _ := testutil.Genesis(testutil.Config{Orgs: 2})
		if _, err := a.InitChain(ctx, &abci.RequestInitChain{Time: testutil.GenesisTime, ChainId: testutil.ChainID, AppStateBytes: state, InitialHeight: 1}); err != nil {
			t.Fatal(err)
		}
	}
	for range blocks {
		height++
		res, err := a.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: height, Time: testutil.BlockTime(height)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Commit(ctx, &abci.RequestCommit{}); err != nil {
			t.Fatal(err)
		}
		hash = res.AppHash
	}
	return a, hash
}

// TestStateBackendFollowsTheDatabase: a new database gets the default
// backend (memtree); a database keeps the backend that wrote it when none
// is configured; forcing the other one is refused with the reason; and
// both backends commit the same app hashes.
func TestStateBackendFollowsTheDatabase(t *testing.T) {
	memDB, iavlDB := dbm.NewMemDB(), dbm.NewMemDB()
	a, memHash := runBlocks(t, memDB, app.Options{}, 3)
	if a.StateBackend() != app.StateMemTree {
		t.Fatalf("a new database opened with %q, want %q", a.StateBackend(), app.StateMemTree)
	}
	b, iavlHash := runBlocks(t, iavlDB, app.Options{StateBackend: app.StateIAVL}, 3)
	if b.StateBackend() != app.StateIAVL {
		t.Fatalf("StateBackend %q, want iavl", b.StateBackend())
	}
	if !bytes.Equal(memHash, iavlHash) {
		t.Fatalf("app hash after 3 blocks: memtree %X, IAVL %X", memHash, iavlHash)
	}
	a.Close()
	b.Close()

	// Reopened with no backend configured, each keeps its own, and goes on.
	a, memHash = runBlocks(t, memDB, app.Options{}, 2)
	b, iavlHash = runBlocks(t, iavlDB, app.Options{}, 2)
	if a.StateBackend() != app.StateMemTree || b.StateBackend() != app.StateIAVL {
		t.Fatalf("reopened with %q and %q, want memtree and iavl", a.StateBackend(), b.StateBackend())
	}
	if !bytes.Equal(memHash, iavlHash) {
		t.Fatalf("app hash after 5 blocks: memtree %X, IAVL %X", memHash, iavlHash)
	}

	if _, err := app.New(iavlDB, app.Options{StateBackend: app.StateMemTree}); err == nil || !strings.Contains(err.Error(), "IAVL") {
		t.Fatalf("memtree forced on an IAVL database: %v, want a refusal naming IAVL", err)
	}
	if _, err := app.New(memDB, app.Options{StateBackend: app.StateIAVL}); err == nil || !strings.Contains(err.Error(), "memtree") {
		t.Fatalf("IAVL forced on a memtree database: %v, want a refusal naming memtree", err)
	}
	if _, err := app.New(dbm.NewMemDB(), app.Options{StateBackend: "leveldb"}); err == nil {
		t.Fatal("an unknown backend was accepted")
	}
}
