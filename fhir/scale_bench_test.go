package fhir_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net/http"
	_ "net/http/pprof" // MEDCHAIN_BENCH_PPROF
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/mempool"

	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/x/org"
)

// BenchmarkFHIRScale is issue 4's performance run at a chosen size: on one
// in-process dev node it registers P patients, each of whom grants one
// consent (to a billing clerk of the holding organization), writes 10
// records per patient through the FHIR API (transaction Bundles of 100
// Observations for 10 patients, 16 clients), and then reads random records
// as the clerk (32 clients), every read an access request decided through
// x/consent on chain. It reports the write rate over the whole write phase
// and over its last tenth, and read p50/p99.
//
// The size is MEDCHAIN_BENCH_PATIENTS (default 2,000; the size is
// 100000: 10^5 patients, 10^5 consents, 10^6 records, which takes about
// half an hour and ~4 GB of disk). Run it once:
//
//	MEDCHAIN_BENCH_PATIENTS=100000 go test ./fhir -run '^$' -bench FHIRScale -benchtime 1x -timeout 3h
func BenchmarkFHIRScale(b *testing.B) {
	patients := 2000
	if s := os.Getenv("MEDCHAIN_BENCH_PATIENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 || n%10 != 0 {
			b.Fatalf("MEDCHAIN_BENCH_PATIENTS=%q: want a multiple of 10, at least 100", s)
		}
		patients = n
	}
	const perPatient, perBundle, writers, readers = 10, 100, 16, 32
	// progress lines go to stderr as they happen (b.Logf prints at the end).
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "scale: "+format+"\n", args...)
		b.Logf(format, args...)
	}
	if addr := os.Getenv("MEDCHAIN_BENCH_PPROF"); addr != "" { // e.g. 127.0.0.1:6061, to profile a long run midway
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
	e := newEnv(b)
	doc := e.register("doc", org.RolePractitioner)
	clerk := e.register("clerk", org.RoleBilling)
	ctx := context.Background()
	mp := e.run.Node.Comet.Mempool()

	// submit puts signed transactions into the node's mempool directly
	// (CheckTx, as the RPC would), keeping it below 4,000 pending, and
	// waits until all are committed.
	submit := func(what string, n int, build func(i int) []byte) {
		b.Helper()
		t0 := time.Now()
		var rejected atomic.Int64
		for i := 0; i < n; i++ {
			for mp.Size() > 4000 {
				time.Sleep(5 * time.Millisecond)
			}
			err := mp.CheckTx(build(i), func(r *abci.ResponseCheckTx) {
				if r.Code != 0 {
					rejected.Add(1)
				}
			}, mempool.TxInfo{})
			if err != nil {
				b.Fatalf("%s %d: %v", what, i, err)
			}
		}
		for mp.Size() > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Second) // the last block's commit
		if r := rejected.Load(); r > 0 {
			b.Fatalf("%s: %d of %d rejected by CheckTx", what, r, n)
		}
		logf("%s: %d txs in %.1fs (%.0f/s)", what, n, time.Since(t0).Seconds(), float64(n)/time.Since(t0).Seconds())
	}

	// Patients: keys derived in memory (no keyring), registered, then each
	// grants the clerk a consent.
	keys := make([]*keyring.Key, patients)
	parallel(patients, 2, func(i int) {
		seed := make([]byte, keyring.SeedSize)
		rand.Read(seed)
		g, err := keyring.DeriveGeneration(1, seed)
		if err != nil {
			b.Error(err)
			return
		}
		k := &keyring.Key{Name: fmt.Sprintf("p%d", i), Generation: 1, Seed: seed, SigningKey: g.SigningKey, EncryptionKey: g.EncryptionKey}
		k.DID = client.KeySigner{Key: k}.DID()
		keys[i] = k
	})
	if b.Failed() {
		b.FailNow()
	}
	tx := func(k *keyring.Key, seq uint64, m module.Msg) []byte {
		bz, err := client.BuildTx(client.KeySigner{Key: k}, e.chainID, seq, m)
		if err != nil {
			b.Fatal(err)
		}
		return bz
	}
	submit("registrations", patients, func(i int) []byte { return tx(keys[i], 0, client.RegisterMsg(keys[i])) })
	submit("consents", patients, func(i int) []byte { return tx(keys[i], 1, grantMsg(keys[i].DID, clerk.DID)) })

	// Writes: bundle j holds 10 records for each of 10 patients.
	bundles := patients * perPatient / perBundle
	body := func(j int) []byte {
		out := []byte(`{"resourceType":"Bundle","type":"transaction","entry":[`)
		for i := 0; i < perBundle; i++ {
			if i > 0 {
				out = append(out, ',')
			}
			p := keys[(j*10+i/perPatient)%patients]
			out = append(out, `{"resource":`...)
			out = append(out, benchObservation(pid(p.DID), i)...)
			out = append(out, `,"request":{"method":"POST","url":"Observation"}}`...)
		}
		return append(out, "]}"...)
	}
	ids := make([][]string, bundles)
	done := make([]time.Time, bundles)
	var mu sync.Mutex
	var tok string
	var tokAt time.Time
	token := func() string { // re-issued every minute: the write phase outlasts a token
		mu.Lock()
		defer mu.Unlock()
		if time.Since(tokAt) > time.Minute {
			tok, tokAt = e.token(doc), time.Now()
		}
		return tok
	}
	b.ResetTimer()
	t0, cpu0 := time.Now(), processCPU()
	var progress atomic.Int64
	parallel(bundles, writers, func(j int) {
		r := e.do("POST", "/fhir", token(), body(j))
		if r.status != http.StatusOK {
			b.Errorf("bundle %d: %s", j, r)
			return
		}
		entries, _ := r.res["entry"].([]any)
		for _, en := range entries {
			loc, _ := en.(map[string]any)["response"].(map[string]any)["location"].(string)
			ids[j] = append(ids[j], loc)
		}
		mu.Lock()
		done[j] = time.Now()
		mu.Unlock()
		if n := progress.Add(1); n%(int64(bundles)/10+1) == 0 {
			el := time.Since(t0).Seconds()
			logf("written %d records in %.0fs (%.0f/s)", n*perBundle, el, float64(n*perBundle)/el)
		}
	})
	writeTime, writeCPU := time.Since(t0), processCPU()-cpu0
	b.StopTimer()
	if b.Failed() {
		b.FailNow()
	}
	records := bundles * perBundle
	sort.Slice(done, func(i, j int) bool { return done[i].Before(done[j]) })
	last := done[len(done)*9/10:]
	lastRate := float64(len(last)*perBundle) / last[len(last)-1].Sub(done[len(done)*9/10-1]).Seconds()
	b.ReportMetric(float64(records)/writeTime.Seconds(), "records/s")
	if bundles >= 1000 { // fewer bundles finish too close together to time a tenth
		b.ReportMetric(lastRate, "records/s-last-tenth")
	}
	b.ReportMetric(float64(writeCPU.Microseconds())/1000/float64(records), "cpu-ms/record")

	// Reads as the clerk, through each record's patient's consent.
	const reads = 3000
	readTok := e.token(clerk)
	lat := make([]time.Duration, reads)
	parallel(reads, readers, func(i int) {
		j := mrand.IntN(bundles)
		loc := ids[j][mrand.IntN(len(ids[j]))]
		t := time.Now()
		if r := e.do("GET", "/fhir/"+trimHistory(loc), readTok, nil); r.status != http.StatusOK {
			b.Errorf("read %s: %s", loc, r)
		}
		lat[i] = time.Since(t)
	})
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[reads/2].Microseconds())/1000, "read-p50-ms")
	b.ReportMetric(float64(lat[int(math.Ceil(reads*0.99))-1].Microseconds())/1000, "read-p99-ms")
	logf("%d patients, %d consents, %d records; writes %.0f/s overall, %.0f/s in the last tenth, %.2f cpu-ms/record; reads p50 %v p99 %v",
		patients, patients, records, float64(records)/writeTime.Seconds(), lastRate, float64(writeCPU.Microseconds())/1000/float64(records), lat[reads/2], lat[int(math.Ceil(reads*0.99))-1])
	_ = ctx
}

// trimHistory turns a Bundle response location "Observation/id/_history/1"
// into "Observation/id".
func trimHistory(loc string) string {
	for i := 0; i+9 <= len(loc); i++ {
		if loc[i:i+9] == "/_history" {
			return loc[:i]
		}
	}
	return loc
}
