package supply_test

import (
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/x/supply"
)

// Benchmarks of the supply module through the whole block path (admission,
// FinalizeBlock, Commit) of an in-memory app (testutil: memdb, not
// goleveldb). Results: bench/RESULTS.md, "Supply chain".

const batch = 10_000

func benchWorld(b *testing.B) *world {
	w := newWorldParams(b, app.Params{MaxTxBytes: 1 << 20, MaxMsgs: 64})
	w.register("L1", "2030-01-31", 2000, 8000)
	return w
}

func batchEPCs(start, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = sgtin(fmt.Sprintf("%012d", start+i))
	}
	return out
}

// commissionBatches commissions n serials in events of batch serials, one
// capture per block, and returns the serials per second of wall time and
// per second of process CPU time (both cores; 0 off Linux).
func commissionBatches(b *testing.B, w *world, start, n int) (wall, cpu float64) {
	var elapsed, cpuUsed time.Duration
	for done := 0; done < n; done += batch {
		tx := w.admin[mfr].Sign(w.h.ChainID, &supply.MsgCapture{Org: mfr, Events: []supply.Event{commission("L1", "", batchEPCs(start+done, batch)...)}})
		t0, c0 := time.Now(), cpuTime()
		r := w.h.Block(tx)
		elapsed += time.Since(t0)
		cpuUsed += cpuTime() - c0
		if r[0].Code != 0 {
			b.Fatalf("commission: %s", r[0].Log)
		}
	}
	if cpuUsed > 0 {
		cpu = float64(n) / cpuUsed.Seconds()
	}
	return float64(n) / elapsed.Seconds(), cpu
}

// BenchmarkCommission10k: one EPCIS ObjectEvent commissioning 10,000
// serials per transaction, one transaction per block.
func BenchmarkCommission10k(b *testing.B) {
	w := benchWorld(b)
	b.ResetTimer()
	rate, cpu := commissionBatches(b, w, 0, b.N*batch)
	b.ReportMetric(rate, "serials/s")
	b.ReportMetric(cpu, "serials/cpu-s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkAggregate10k: one AggregationEvent packing 10,000 commissioned
// units into a pallet (SSCC).
func BenchmarkAggregate10k(b *testing.B) {
	w := benchWorld(b)
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		epcs := batchEPCs(i*batch, batch)
		b.StopTimer()
		commissionBatches(b, w, i*batch, batch)
		tx := w.admin[mfr].Sign(w.h.ChainID, &supply.MsgCapture{Org: mfr, Events: []supply.Event{pack(sscc(i+1), epcs...)}})
		b.StartTimer()
		t0 := time.Now()
		r := w.h.Block(tx)
		elapsed += time.Since(t0)
		if r[0].Code != 0 {
			b.Fatalf("pack: %s", r[0].Log)
		}
	}
	b.ReportMetric(float64(elapsed.Milliseconds())/float64(b.N), "ms/pallet")
}

var verifyState struct {
	w         *world
	units     int
	rate, cpu float64
}

// BenchmarkVerify measures verification latency at a large unit count:
// MEDCHAIN_SUPPLY_BENCH_UNITS units (default 1,000,000) are commissioned in
// 10,000-serial events first (that rate is reported too), then b.N
// verifications of random serials (one in ten unknown) run against the
// committed state; p50 and p99 are reported.
func BenchmarkVerify(b *testing.B) {
	units := 1_000_000
	if s := os.Getenv("MEDCHAIN_SUPPLY_BENCH_UNITS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= batch {
			units = n / batch * batch
		}
	}
	// The testing package calls the benchmark more than once (b.N = 1
	// first); the chain is built once.
	if verifyState.w == nil || verifyState.units != units {
		w := benchWorld(b)
		rate, cpu := commissionBatches(b, w, 0, units)
		verifyState = struct {
			w         *world
			units     int
			rate, cpu float64
		}{w, units, rate, cpu}
	}
	w, rate, cpu := verifyState.w, verifyState.rate, verifyState.cpu
	w.h.T = b
	r := w.readers()
	now := testutil.BlockTime(w.h.Height)
	rng := rand.New(rand.NewSource(1))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := rng.Intn(units + units/10)
		t0 := time.Now()
		v := w.keeper().Verify(r, gtin, fmt.Sprintf("%012d", n), "L1", "2030-01-31", now)
		lat = append(lat, time.Since(t0))
		if v.Verified != (n < units) {
			b.Fatalf("verify %d: %+v", n, v)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(rate, "commission-serials/s")
	b.ReportMetric(cpu, "commission-serials/cpu-s")
	b.ReportMetric(float64(units), "units")
}
