//go:build unix

package app_test

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/sha256"
	"flag"
	"fmt"
	"syscall"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
)

// pipeKey is a fast deterministic key: Ed25519 plus an X25519 encryption
// key (KEM 0x0020), as the bench load uses.
func pipeKey(seed string) (testutil.Key, []byte) {
	s := sha256.Sum256([]byte("pipe/sign\x00" + seed))
	e := sha256.Sum256([]byte("pipe/enc\x00" + seed))
	ek, err := ecdh.X25519().NewPrivateKey(e[:])
	if err != nil {
		panic(err)
	}
	return testutil.Key{Signing: ed25519.NewKeyFromSeed(s[:])}, ek.PublicKey().Bytes()
}

type pipeIdent struct {
	s   *testutil.Signer
	gen int
}

func pipeRegister(chainID, seed string) (*testutil.Signer, []byte) {
	k, enc := pipeKey(seed + "/1")
	k.EncPub = enc
	did := identity.DIDFromKey(k.Pub())
	s := &testutil.Signer{Key: k, DID: did, KeyID: identity.SigningKeyID(did, 1), Gen: 1}
	return s, s.Sign(chainID, &identity.MsgRegister{SigningKey: k.Pub(), EncryptionKey: enc, KEM: uint64(identity.KEMX25519)})
}

// BenchmarkPipeline measures the application's share of a node's work per
// transaction under the bench load's mix (half registrations, a quarter
// member changes by an organization admin, a quarter key rotations), block
// by block as CometBFT drives it: CheckTx of the next block's transactions
// while they wait in the mempool, FinalizeBlock and Commit of this block,
// then the recheck of the waiting ones. New transactions are prepared
// (decoded, signatures verified) as -pipeline.prepare says.
func BenchmarkPipeline(b *testing.B) {
	const perBlock = 1000
	idents := *pipeIdents
	h := pipeHarness(b)
	chainID := h.ChainID
	admin := h.Orgs[0].Admin
	ids := make([]*pipeIdent, idents)
	var setup [][]byte
	for i := range ids {
		s, bz := pipeRegister(chainID, fmt.Sprint("id/", i))
		ids[i] = &pipeIdent{s: s, gen: 1}
		setup = append(setup, bz)
		if len(setup) == 2000 || i == len(ids)-1 {
			h.MustBlock(setup...)
			setup = nil
		}
	}
	nReg, nOp, nRot := 0, 0, 0
	gen := func() [][]byte {
		var txs [][]byte
		for i := 0; i < perBlock; i++ {
			switch i % 4 {
			case 0, 2:
				_, bz := pipeRegister(chainID, fmt.Sprint("reg/", nReg))
				nReg++
				txs = append(txs, bz)
			case 1:
				j := nOp
				nOp++
				var m module.Msg
				if j == 0 || j%2 == 1 {
					m = &org.MsgAddMember{Org: h.Orgs[0].ID, Member: ids[((j+1)/2)%idents].s.DID, Roles: []string{org.RoleNurse}}
				} else {
					m = &org.MsgRemoveMember{Org: h.Orgs[0].ID, Member: ids[(j/2-1)%idents].s.DID}
				}
				txs = append(txs, admin.Sign(chainID, m))
			case 3:
				id := ids[nRot%idents]
				nRot++
				next, enc := pipeKey(fmt.Sprint("id/", nRot%idents, "/", id.gen+1))
				next.EncPub = enc
				m := id.s.RotateMsg(chainID, next)
				m.KEM = uint64(identity.KEMX25519)
				m.Proof = ed25519.Sign(next.Signing, identity.RotationProofBytes(chainID, id.s.DID, next.Pub(), enc))
				txs = append(txs, id.s.Sign(chainID, m))
				id.s.UseKey(next)
				id.gen++
			}
		}
		return txs
	}
	ctx := context.Background()
	check := func(txs [][]byte, typ abci.CheckTxType) {
		if typ == abci.CheckTxType_New {
			switch *pipePrepare {
			case "single":
				for _, bz := range txs {
					h.App.Precheck(bz)
				}
			case "batch":
				for i := 0; i < len(txs); i += 64 {
					app.Prepare(h.App, txs[i:min(i+64, len(txs))])
				}
			}
		}
		for _, bz := range txs {
			r, err := h.App.CheckTx(ctx, &abci.RequestCheckTx{Tx: bz, Type: typ})
			if err != nil || r.Code != 0 {
				b.Fatalf("CheckTx: %v %v", err, r.Log)
			}
		}
	}
	var tCheck, tFinal, tCommit, tRecheck time.Duration
	next := gen()
	check(next, abci.CheckTxType_New)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		cur := next
		next = gen()
		b.StartTimer()
		t0 := cpuNow()
		check(next, abci.CheckTxType_New)
		t1 := cpuNow()
		height := h.Height + 1
		resp, err := h.App.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Txs: cur, Height: height, Time: testutil.BlockTime(height)})
		if err != nil {
			b.Fatal(err)
		}
		for i, r := range resp.TxResults {
			if r.Code != 0 {
				b.Fatalf("block %d tx %d: %s", height, i, r.Log)
			}
		}
		t2 := cpuNow()
		if _, err := h.App.Commit(ctx, &abci.RequestCommit{}); err != nil {
			b.Fatal(err)
		}
		h.Height = height
		t3 := cpuNow()
		check(next, abci.CheckTxType_Recheck)
		t4 := cpuNow()
		tCheck += t1.Sub(t0)
		tFinal += t2.Sub(t1)
		tCommit += t3.Sub(t2)
		tRecheck += t4.Sub(t3)
	}
	n := float64(b.N * perBlock)
	b.ReportMetric(float64((tCheck+tFinal+tCommit+tRecheck).Microseconds())/n, "app-cpu-us/tx")
	b.ReportMetric(float64(tCheck.Microseconds())/n, "check-us/tx")
	b.ReportMetric(float64(tFinal.Microseconds())/n, "finalize-us/tx")
	b.ReportMetric(float64(tCommit.Microseconds())/n, "commit-us/tx")
	b.ReportMetric(float64(tRecheck.Microseconds())/n, "recheck-us/tx")
	b.ReportMetric(0, "ns/op")
}

var pipePrepare = flag.String("pipeline.prepare", "batch", "how new transactions are prepared before CheckTx: batch (64 at a time, as the mempool's pipeline does), single (Precheck each) or none")

var pipeIdents = flag.Int("pipeline.idents", 2000, "identities registered before BenchmarkPipeline measures")

// pipeHarness is a testutil harness on a goleveldb database opened as a
// node opens it.
func pipeHarness(b *testing.B) *testutil.Harness {
	db, err := node.OpenApplicationDB(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	a, err := app.New(db, app.Options{})
	if err != nil {
		b.Fatal(err)
	}
	state, orgs := testutil.Genesis(testutil.Config{})
	h := &testutil.Harness{T: b, App: a, ChainID: testutil.ChainID, Orgs: orgs}
	if _, err := a.InitChain(context.Background(), &abci.RequestInitChain{
		Time: testutil.GenesisTime, ChainId: testutil.ChainID, AppStateBytes: state, InitialHeight: 1,
	}); err != nil {
		b.Fatal(err)
	}
	return h
}

// cpuNow is the CPU time this process has used (user + system), which the
// noise of other processes on a shared machine does not inflate.
func cpuNow() time.Time {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Unix(0, ru.Utime.Nano()+ru.Stime.Nano())
}
