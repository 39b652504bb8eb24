package app

import (
	"strconv"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/medchain/medchain/module"
)

// Metrics are the application's Prometheus metrics (namespace "medchain").
// They are observational only and never feed back into state.
type Metrics struct {
	checkTotal   *prometheus.CounterVec
	checkSeconds prometheus.Histogram
	txTotal      *prometheus.CounterVec
	blockSeconds prometheus.Histogram
	height       prometheus.Gauge
	// Ed25519 verifications by outcome: answered from the verified-signature
	// cache, verified now, or invalid.
	sigCached, sigVerified, sigInvalid prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg (nil: none).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		checkTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "medchain", Name: "checktx_total",
			Help: "CheckTx calls by result codespace and code (0 = accepted)."}, []string{"codespace", "code"}),
		checkSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "medchain", Name: "checktx_seconds",
			Help: "CheckTx latency.", Buckets: prometheus.ExponentialBuckets(10e-6, 2, 14)}),
		txTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "medchain", Name: "block_txs_total",
			Help: "Transactions executed in blocks by result codespace and code."}, []string{"codespace", "code"}),
		blockSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "medchain", Name: "finalize_block_seconds",
			Help: "FinalizeBlock latency.", Buckets: prometheus.ExponentialBuckets(100e-6, 2, 16)}),
		height: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "medchain", Name: "committed_height",
			Help: "Last height committed by the application."}),
	}
	sigs := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "medchain", Name: "signature_checks_total",
		Help: "Ed25519 signature checks by result: cached (verified before by this node), verified, invalid."}, []string{"result"})
	m.sigCached, m.sigVerified, m.sigInvalid = sigs.WithLabelValues("cached"), sigs.WithLabelValues("verified"), sigs.WithLabelValues("invalid")
	if reg != nil {
		reg.MustRegister(m.checkTotal, m.checkSeconds, m.txTotal, m.blockSeconds, m.height, sigs)
	}
	return m
}

func (m *Metrics) observeCheck(err error, d time.Duration) {
	space, code := "", uint32(0)
	if err != nil {
		space, code, _ = module.CodeOf(err)
	}
	m.checkTotal.WithLabelValues(space, strconv.FormatUint(uint64(code), 10)).Inc()
	m.checkSeconds.Observe(d.Seconds())
}

func (m *Metrics) observeBlock(results []*abci.ExecTxResult, d time.Duration) {
	for _, r := range results {
		m.txTotal.WithLabelValues(r.Codespace, strconv.FormatUint(uint64(r.Code), 10)).Inc()
	}
	m.blockSeconds.Observe(d.Seconds())
}
