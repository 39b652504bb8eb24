package app_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	abcicli "github.com/cometbft/cometbft/abci/client"
	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/medchain/medchain/app"
	mtest "github.com/medchain/medchain/testutil"
)

// The mempool connection's pipeline answers every new transaction, in
// arrival order, exactly as CheckTx does; Flush returns only once all are
// answered; the transactions' signatures were batch-verified ahead, so
// CheckTx found them cached; the global and per-request callbacks both run
// once per request. The connection is the one ClientCreator gives a node.
func TestCheckPipeline(t *testing.T) {
	h, reg := sigHarness(t, 1)
	cl, err := app.ClientCreator(h.App).NewABCIClient()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	globals := 0
	cl.SetResponseCallback(func(req *abci.Request, res *abci.Response) {
		mu.Lock()
		globals++
		mu.Unlock()
	})
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Stop() })

	// 60 registrations, an admin's 20 transactions with consecutive
	// sequences (which only pass in order), and a bad signature.
	var txs [][]byte
	want := map[int]uint32{}
	admin := h.Orgs[0].Admin
	for i := range 60 {
		s := mtest.NewSigner(fmt.Sprint("pipe/", i))
		txs = append(txs, s.Sign(h.ChainID, s.Register()))
		if i%3 == 0 {
			txs = append(txs, admin.Sign(h.ChainID, addAuditor(h.Orgs[0], s.DID)))
		}
	}
	o := mtest.NewSigner("pipe/bad")
	bad := o.SignTx(o.Body(h.ChainID, o.Register()))
	bad.Signature[0] ^= 1
	want[len(txs)] = app.ErrBadSignature.Code
	txs = append(txs, bad.MarshalWire())

	ctx := context.Background()
	rrs := make([]*abcicli.ReqRes, len(txs))
	var order []int
	for i, bz := range txs {
		rr, err := cl.CheckTxAsync(ctx, &abci.RequestCheckTx{Tx: bz, Type: abci.CheckTxType_New})
		if err != nil {
			t.Fatal(err)
		}
		rr.SetCallback(func(*abci.Response) {
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		})
		rrs[i] = rr
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != len(txs) || globals != len(txs) {
		t.Fatalf("after Flush: %d request callbacks and %d global ones, want %d each", len(order), globals, len(txs))
	}
	for k, i := range order {
		if k != i {
			t.Fatalf("answer %d was for request %d: the pipeline reordered", k, i)
		}
	}
	for i, rr := range rrs {
		r := rr.Response.GetCheckTx()
		if r == nil || r.Code != want[i] {
			t.Fatalf("request %d: %v, want code %d", i, r, want[i])
		}
	}
	// Every good signature verified once (80), the bad one refused once by
	// CheckTx; all the registrations' signatures were found in the cache.
	got := sigChecks(t, reg)
	if got[1] != 80 || got[2] != 1 || got[0] < 60 {
		t.Fatalf("cached, verified, invalid = %v, want [>=60 80 1]", got)
	}
}

// A block of transactions this node never saw (as in block sync) has their
// signatures batch-verified before execution, so deliver finds every one
// in the cache; transactions seen before are not verified again.
func TestFinalizeBlockBatchesUnseen(t *testing.T) {
	h, reg := sigHarness(t, 1)
	var txs [][]byte
	for i := range 24 {
		s := mtest.NewSigner(fmt.Sprint("unseen/", i))
		txs = append(txs, s.Sign(h.ChainID, s.Register()))
	}
	before := sigChecks(t, reg)
	h.MustBlock(txs...)
	got := sigChecks(t, reg)
	if d := [3]int{got[0] - before[0], got[1] - before[1], got[2] - before[2]}; d != [3]int{24, 24, 0} {
		t.Fatalf("block of 24 unseen: cached, verified, invalid += %v, want [24 24 0] (verified ahead, found by deliver)", d)
	}

	// Seen in CheckTx first: the block verifies nothing more.
	var seen [][]byte
	for i := range 8 {
		s := mtest.NewSigner(fmt.Sprint("seen/", i))
		bz := s.Sign(h.ChainID, s.Register())
		mustCheck(t, h, bz)
		seen = append(seen, bz)
	}
	before = sigChecks(t, reg)
	h.MustBlock(seen...)
	got = sigChecks(t, reg)
	if got[1] != before[1] || got[0]-before[0] != 8 {
		t.Fatalf("block of 8 seen: cached, verified %v -> %v, want 8 more cached and none verified", before, got)
	}
}
