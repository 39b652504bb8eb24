package records_test

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/records"
)

// BenchmarkConsentCheck shows that deciding an access request costs the
// same whatever the number of consents on chain (issue 4, Performance).
// For each size it builds, on an in-memory app, a chain of N patients
// (registered in genesis), each with one record anchored by a practitioner
// of org-01 and one consent granted to some other identity: N records and
// N consents in all (multi-message transactions, 2,000 per block). One
// more patient, the target, has one record and three consents, the third
// covering the reader (a DID consent, TREAT). The reader is a member of
// org-01 without a care role, so every decision goes through x/consent.
//
// Sub-benchmarks, at each size:
//   - find: consent.Keeper.Find on committed state (the consent check
//     alone), ns/op;
//   - decide: blocks of 500 MsgRequestAccess transactions by the reader
//     (admission with its signature check, the decision, the access event),
//     ns/op per transaction, and the p50/p99 of per-block cost per tx.
//
// Sizes: MEDCHAIN_BENCH_CONSENTS (comma-separated, default
// "10000,100000").
//
//	go test ./x/records -run '^$' -bench ConsentCheck -benchtime 2000x
func BenchmarkConsentCheck(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if s := os.Getenv("MEDCHAIN_BENCH_CONSENTS"); s != "" {
		sizes = nil
		for _, f := range splitComma(s) {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				b.Fatalf("MEDCHAIN_BENCH_CONSENTS=%q", s)
			}
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("consents=%d", n), func(b *testing.B) { benchConsentCheck(b, n) })
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

func benchConsentCheck(b *testing.B, n int) {
	t0 := time.Now()
	patients := make([]*testutil.Signer, n)
	for i := range patients {
		patients[i] = testutil.NewSigner(fmt.Sprintf("bench/patient/%d", i))
	}
	target := testutil.NewSigner("bench/target")
	doc := testutil.NewSigner("bench/doc")
	reader := testutil.NewSigner("bench/reader")
	other := testutil.NewSigner("bench/other")
	ids := append([]*testutil.Signer{target, doc, reader, other}, patients...)
	h := testutil.New(b, testutil.Config{Identities: ids})
	o := h.Orgs[0]
	h.AddMember(o, doc, org.RolePractitioner)
	h.AddMember(o, reader, org.RoleBilling)
	// Anchors: 32 per transaction, by the practitioner.
	var txs [][]byte
	flush := func(force bool) {
		if len(txs) >= 2000 || (force && len(txs) > 0) {
			h.MustBlock(txs...)
			txs = txs[:0]
		}
	}
	var msgs []*records.MsgAnchor
	anchor := func(id, patient string) {
		msgs = append(msgs, testutil.AnchorMsg(id, patient, o.ID, "Observation", "laboratory", 1))
		if len(msgs) == 32 {
			txs = append(txs, doc.Sign(h.ChainID, anyMsgs(msgs)...))
			msgs = msgs[:0]
			flush(false)
		}
	}
	anchor("target-rec", target.DID)
	for i, p := range patients {
		anchor("rec-"+strconv.Itoa(i), p.DID)
	}
	if len(msgs) > 0 {
		txs = append(txs, doc.Sign(h.ChainID, anyMsgs(msgs)...))
		msgs = msgs[:0]
	}
	flush(true)
	// One consent per patient (to another identity), three for the target.
	grant := func(p *testutil.Signer, grantee, purpose string) []byte {
		return p.Sign(h.ChainID, &consent.MsgGrant{Patient: p.DID, Grantee: consent.Grantee{Kind: consent.GranteeDID, DID: grantee}, Purposes: []string{purpose}})
	}
	for _, p := range patients {
		txs = append(txs, grant(p, other.DID, consent.PurposeTreatment))
		flush(false)
	}
	txs = append(txs, grant(target, other.DID, consent.PurposeTreatment), grant(target, reader.DID, consent.PurposeResearch))
	flush(true)
	h.MustBlock(grant(target, reader.DID, consent.PurposeTreatment))
	runtime.GC()
	b.Logf("built %d patients, %d records, %d consents in %s (height %d)", n+1, n+1, n+3, time.Since(t0).Round(time.Millisecond), h.Height)

	b.Run("find", func(b *testing.B) {
		r := h.Reader(consent.StoreName)
		req := consent.Requester{DID: reader.DID, Org: o.ID, Memberships: []consent.Membership{{Org: o.ID, Roles: []string{org.RoleBilling}}}}
		rec := consent.Record{ID: "target-rec", Type: "Observation", Category: "laboratory", HolderOrg: o.ID}
		at := testutil.BlockTime(h.Height + 1)
		b.ResetTimer()
		for b.Loop() {
			if c := (consent.Keeper{}).Find(r, target.DID, req, consent.PurposeTreatment, rec, at); c == nil || c.ID != uint64(n+3) {
				b.Fatalf("Find: %+v", c)
			}
		}
	})
	b.Run("decide", func(b *testing.B) {
		const perBlock = 500
		var perTx []time.Duration
		done := 0
		b.ResetTimer()
		for done < b.N {
			k := min(perBlock, b.N-done)
			b.StopTimer()
			batch := make([][]byte, k)
			for i := range batch {
				batch[i] = reader.Sign(h.ChainID, &records.MsgRequestAccess{Org: o.ID, Patient: target.DID, Records: []string{"target-rec"}, Purpose: consent.PurposeTreatment})
			}
			b.StartTimer()
			t := time.Now()
			res := h.Block(batch...)
			perTx = append(perTx, time.Since(t)/time.Duration(k))
			b.StopTimer()
			for _, r := range res {
				if r.Code != 0 {
					b.Fatalf("access: %s/%d %s", r.Codespace, r.Code, r.Log)
				}
			}
			if ev := testutil.Events(res[0], "records.access"); len(ev) != 1 || ev[0]["decision"] != records.Permit {
				b.Fatalf("decision: %v", ev)
			}
			b.StartTimer()
			done += k
		}
		b.StopTimer()
		sort.Slice(perTx, func(i, j int) bool { return perTx[i] < perTx[j] })
		b.ReportMetric(float64(perTx[len(perTx)/2].Microseconds()), "p50-µs/tx")
		b.ReportMetric(float64(perTx[len(perTx)*99/100].Microseconds()), "p99-µs/tx")
	})
}

func anyMsgs(ms []*records.MsgAnchor) []module.Msg {
	out := make([]module.Msg, len(ms))
	for i, m := range ms {
		out[i] = m
	}
	return out
}
