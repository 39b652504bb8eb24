package app_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/medchain/medchain/app"
	mtest "github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/tx"
)

// sigHarness is a harness whose app reports metrics to reg.
func sigHarness(t *testing.T, orgs int) (*mtest.Harness, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	a, err := app.New(dbm.NewMemDB(), app.Options{Metrics: app.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	state, os := mtest.Genesis(mtest.Config{Orgs: orgs})
	h := &mtest.Harness{T: t, App: a, ChainID: mtest.ChainID, Orgs: os}
	if _, err := a.InitChain(context.Background(), &abci.RequestInitChain{
		Time: mtest.GenesisTime, ChainId: mtest.ChainID, AppStateBytes: state, InitialHeight: 1,
	}); err != nil {
		t.Fatal(err)
	}
	h.Block() // CheckTx reads committed state from here on
	return h, reg
}

// sigChecks returns the signature checks so far: cached, verified, invalid.
func sigChecks(t *testing.T, reg *prometheus.Registry) [3]int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out [3]int
	for _, mf := range mfs {
		if mf.GetName() != "medchain_signature_checks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			i := map[string]int{"cached": 0, "verified": 1, "invalid": 2}[m.GetLabel()[0].GetValue()]
			out[i] = int(m.GetCounter().GetValue())
		}
	}
	return out
}

func mustCheck(t *testing.T, h *mtest.Harness, bz []byte) {
	t.Helper()
	if r := h.CheckTx(bz); r.Code != abci.CodeTypeOK {
		t.Fatalf("CheckTx: code %d %s", r.Code, r.Log)
	}
}

// A signature is verified once per node: in CheckTx. FinalizeBlock finds it
// in the cache, and so do rechecks; a rotation's proof of possession is
// verified in CheckTx too.
func TestSignatureVerifiedOncePerNode(t *testing.T) {
	h, reg := sigHarness(t, 1)
	s := mtest.NewSigner("once")
	reg1 := s.Sign(h.ChainID, s.Register())
	mustCheck(t, h, reg1)
	if got := sigChecks(t, reg); got != [3]int{0, 1, 0} {
		t.Fatalf("after CheckTx: cached, verified, invalid = %v, want [0 1 0]", got)
	}
	h.MustBlock(reg1)
	if got := sigChecks(t, reg); got != [3]int{1, 1, 0} {
		t.Fatalf("after the block: %v, want [1 1 0]", got)
	}

	next := mtest.NewKey("once/2")
	rot := s.Sign(h.ChainID, s.RotateMsg(h.ChainID, next))
	mustCheck(t, h, rot)
	if got := sigChecks(t, reg); got != [3]int{1, 3, 0} {
		t.Fatalf("after CheckTx of a rotation: %v, want [1 3 0] (transaction and proof)", got)
	}
	h.Block() // CometBFT rechecks the mempool after every block
	if r, err := h.App.CheckTx(context.Background(), &abci.RequestCheckTx{Tx: rot, Type: abci.CheckTxType_Recheck}); err != nil || r.Code != 0 {
		t.Fatalf("recheck: %v %v", err, r)
	}
	if got := sigChecks(t, reg); got != [3]int{2, 3, 0} {
		t.Fatalf("after the recheck: %v, want [2 3 0]", got)
	}
	h.MustBlock(rot)
	if got := sigChecks(t, reg); got != [3]int{4, 3, 0} {
		t.Fatalf("after the rotation's block: %v, want [4 3 0]", got)
	}
}

// The cache is keyed by public key, message and signature together: a
// proposer cannot get a transaction past FinalizeBlock by pairing a cached
// signature with other bytes, or a cached message with another signature,
// and a key rotated away earlier in the block is refused whatever the cache
// holds.
func TestSignatureCacheAdmitsNothingUnverified(t *testing.T) {
	h, reg := sigHarness(t, 2)
	admin := h.Orgs[0].Admin
	good := admin.Body(h.ChainID, addAuditor(h.Orgs[0], h.Orgs[1].Admin.DID))
	goodTx := admin.SignTx(good)
	mustCheck(t, h, goodTx.MarshalWire())

	// The cached signature on another body (a different member).
	other := admin.Body(h.ChainID, addAuditor(h.Orgs[0], mtest.NewSigner("x").DID))
	swapped := tx.Tx{Body: other, Signature: goodTx.Signature}.MarshalWire()
	// The cached body with a signature by another key.
	forged := tx.Tx{Body: good, Signature: ed25519.Sign(mtest.NewKey("mallory").Signing, good.SignBytes())}.MarshalWire()
	// A signature whose last byte is flipped.
	flipped := goodTx
	flipped.Signature = append([]byte(nil), goodTx.Signature...)
	flipped.Signature[63] ^= 1

	res := h.Block(swapped, forged, flipped.MarshalWire(), goodTx.MarshalWire())
	for i, want := range []uint32{app.ErrBadSignature.Code, app.ErrBadSignature.Code, app.ErrBadSignature.Code, 0} {
		if res[i].Code != want {
			t.Errorf("tx %d: code %d (%s), want %d", i, res[i].Code, res[i].Log, want)
		}
	}
	if got := sigChecks(t, reg); got[0] != 1 || got[2] != 3 {
		t.Errorf("cached, verified, invalid = %v: want 1 cached (the good one) and 3 invalid", got)
	}

	// Verified and cached in CheckTx, then the signer rotates its key in the
	// same block, ahead of it: refused.
	s := mtest.NewSigner("rotating")
	h.MustBlock(s.Sign(h.ChainID, s.Register()))
	late := s.Sign(h.ChainID, addAuditor(h.Orgs[0], admin.DID)) // seq 1, key-1
	mustCheck(t, h, late)
	s.Seq = 1
	next := mtest.NewKey("rotating/2")
	rot := s.Sign(h.ChainID, s.RotateMsg(h.ChainID, next)) // also seq 1
	res = h.Block(rot, late)
	if res[0].Code != 0 || res[1].Code != app.ErrSignerKeyRotated.Code {
		t.Fatalf("rotation then old-key tx: codes %d, %d (%s); want 0, %d", res[0].Code, res[1].Code, res[1].Log, app.ErrSignerKeyRotated.Code)
	}
}

// CheckTx's per-height caches follow the committed state: a transaction
// admitted to the mempool is refused on recheck once a block consumed its
// sequence, or rotated its key away.
func TestRecheckSeesNewState(t *testing.T) {
	h, _ := sigHarness(t, 1)
	admin := h.Orgs[0].Admin
	a1 := mtest.NewSigner("a1")
	h.MustBlock(a1.Sign(h.ChainID, a1.Register()))

	pending := admin.Sign(h.ChainID, addAuditor(h.Orgs[0], a1.DID))
	mustCheck(t, h, pending)
	admin.Seq--
	rival := admin.Sign(h.ChainID, addAuditor(h.Orgs[0], admin.DID)) // same sequence
	h.Block(rival)
	r, err := h.App.CheckTx(context.Background(), &abci.RequestCheckTx{Tx: pending, Type: abci.CheckTxType_Recheck})
	if err != nil || r.Code != app.ErrSequenceReused.Code {
		t.Fatalf("recheck after the sequence was used: %v %+v, want code %d", err, r, app.ErrSequenceReused.Code)
	}

	old := a1.Sign(h.ChainID, addAuditor(h.Orgs[0], admin.DID)) // key-1, seq 1
	mustCheck(t, h, old)
	a1.Seq = 1
	h.MustBlock(a1.Sign(h.ChainID, a1.RotateMsg(h.ChainID, mtest.NewKey("a1/2"))))
	r, err = h.App.CheckTx(context.Background(), &abci.RequestCheckTx{Tx: old, Type: abci.CheckTxType_Recheck})
	if err != nil || r.Code != app.ErrSignerKeyRotated.Code {
		t.Fatalf("recheck after the key was rotated: %v %+v, want code %d", err, r, app.ErrSignerKeyRotated.Code)
	}
}

// CometBFT calls CheckTx from the mempool connection while the consensus
// connection executes blocks (run with -race): the blocks come out the same
// as without mempool traffic.
func TestCheckTxConcurrentWithBlocks(t *testing.T) {
	build := func() ([][]byte, [][]byte) {
		var blockTxs, mempool [][]byte
		for i := range 60 {
			s := mtest.NewSigner(fmt.Sprint("conc/", i))
			blockTxs = append(blockTxs, s.Sign(mtest.ChainID, s.Register()))
			m := mtest.NewSigner(fmt.Sprint("mempool/", i))
			mempool = append(mempool, m.Sign(mtest.ChainID, m.Register()))
		}
		return blockTxs, mempool
	}
	blockTxs, mempool := build()
	quiet, _ := sigHarness(t, 1)
	busy, _ := sigHarness(t, 1)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = busy.App.CheckTx(context.Background(), &abci.RequestCheckTx{Tx: mempool[i%len(mempool)]})
			_ = busy.App.ChainID()
		}
	}()
	for i := 0; i < len(blockTxs); i += 10 {
		quiet.MustBlock(blockTxs[i : i+10]...)
		busy.MustBlock(blockTxs[i : i+10]...)
	}
	close(stop)
	wg.Wait()
	for hgt := range quiet.AppHashes {
		if string(quiet.AppHashes[hgt]) != string(busy.AppHashes[hgt]) {
			t.Fatalf("height %d: app hash %X with concurrent CheckTx, %X without", hgt, busy.AppHashes[hgt], quiet.AppHashes[hgt])
		}
	}
}

// Precheck verifies a new transaction's signature ahead of CheckTx (outside
// the app lock), so CheckTx finds it cached; it decides nothing: a bad
// signature is neither cached nor counted, and CheckTx still refuses it.
func TestPrecheckVerifiesAheadOfCheckTx(t *testing.T) {
	h, reg := sigHarness(t, 1)
	s := mtest.NewSigner("pre")
	bz := s.Sign(h.ChainID, s.Register())
	h.App.Precheck(bz)
	if got := sigChecks(t, reg); got != [3]int{0, 1, 0} {
		t.Fatalf("after Precheck: cached, verified, invalid = %v, want [0 1 0]", got)
	}
	mustCheck(t, h, bz)
	if got := sigChecks(t, reg); got != [3]int{1, 1, 0} {
		t.Fatalf("after CheckTx: %v, want [1 1 0] (found in the cache)", got)
	}

	// A bad signature: Precheck leaves no trace; CheckTx refuses it.
	o := mtest.NewSigner("pre/bad")
	bad := o.SignTx(o.Body(h.ChainID, o.Register()))
	bad.Signature[0] ^= 1
	badBz := bad.MarshalWire()
	h.App.Precheck(badBz)
	if got := sigChecks(t, reg); got != [3]int{1, 1, 0} {
		t.Fatalf("after Precheck of a bad signature: %v, want unchanged [1 1 0]", got)
	}
	if r := h.CheckTx(badBz); r.Code != app.ErrBadSignature.Code {
		t.Fatalf("CheckTx of a bad signature: code %d (%s)", r.Code, r.Log)
	}
	if got := sigChecks(t, reg); got != [3]int{1, 1, 1} {
		t.Fatalf("after CheckTx of a bad signature: %v, want [1 1 1]", got)
	}

	// A signer Precheck has no key for (not a registration, never resolved
	// by CheckTx) is left to CheckTx.
	h.MustBlock(bz)
	admin := h.Orgs[0].Admin
	m := admin.Sign(h.ChainID, addAuditor(h.Orgs[0], s.DID))
	h.App.Precheck(m)
	if got := sigChecks(t, reg); got != [3]int{2, 1, 1} {
		t.Fatalf("after Precheck of an unresolved signer: %v, want [2 1 1] (only the block's cached check)", got)
	}
}

// CheckTx's key resolutions outlive a Commit for every DID the block did
// not touch, and are dropped for its signers.
func TestKeyMemoKeptForUntouchedSigners(t *testing.T) {
	h, _ := sigHarness(t, 1)
	admin := h.Orgs[0].Admin
	mustCheck(t, h, admin.Sign(h.ChainID, addAuditor(h.Orgs[0], admin.DID)))
	admin.Seq--
	if !h.App.KeyMemoized(admin.KeyID) {
		t.Fatal("CheckTx did not memoize the admin's key")
	}
	other := mtest.NewSigner("memo/other")
	h.MustBlock(other.Sign(h.ChainID, other.Register()))
	if !h.App.KeyMemoized(admin.KeyID) {
		t.Fatal("a block the admin took no part in dropped the admin's key")
	}
	h.MustBlock(admin.Sign(h.ChainID, addAuditor(h.Orgs[0], other.DID)))
	if h.App.KeyMemoized(admin.KeyID) {
		t.Fatal("a block with the admin's transaction kept the admin's key")
	}
}
