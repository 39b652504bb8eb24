package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// benchEngine drives the load of a plan against the nodes and watches
// node0's blocks for commits.
type benchEngine struct {
	o     benchOptions
	nodes []*benchNode
	logf  func(string, ...any)
}

func newBenchEngine(o benchOptions, nodes []*benchNode, logf func(string, ...any)) *benchEngine {
	return &benchEngine{o: o, nodes: nodes, logf: logf}
}

// benchBlock is one block seen by the watcher and the load transactions it
// carried (index in the block, latency, kind).
type benchBlock struct {
	height int64
	seen   time.Time
	txs    []benchCommitted
}

type benchCommitted struct {
	idx  int
	lat  time.Duration
	kind benchKind
	size int
}

// benchPhase is one run of lanes: the setup or the measured load.
type benchPhase struct {
	e        *benchEngine
	ctx      context.Context
	cancel   context.CancelFunc
	measured bool
	t0, t1   time.Time // measured window

	mu         sync.Mutex
	cond       *sync.Cond
	ready      [][numClasses][]*benchLane // per node, per class
	patPos     []int
	pending    map[[32]byte]*benchTx
	waitHeight map[int64][]*benchLane
	stopped    bool

	tokens  chan struct{}
	permits chan struct{}
	wg      sync.WaitGroup

	// Counters, under mu.
	height      int64 // last height seen
	committed   int   // all phases, whole run
	submitted   int   // in the window
	rejected    int   // at CheckTx, in the window
	rejectedBy  map[string]int
	lost        int
	dropped     int // rate permits not taken (all workers busy)
	exhausted   bool
	blocks      []*benchBlock // seen in the window
	firstErr    string
	rejectedAll int
	totalSubmit int
}

func (e *benchEngine) newPhase(ctx context.Context, lanes []*benchLane, measured bool) *benchPhase {
	p := &benchPhase{e: e, measured: measured, pending: map[[32]byte]*benchTx{}, waitHeight: map[int64][]*benchLane{},
		rejectedBy: map[string]int{}, tokens: make(chan struct{}, e.o.inflight)}
	p.ctx, p.cancel = context.WithCancel(ctx)
	p.cond = sync.NewCond(&p.mu)
	p.ready = make([][numClasses][]*benchLane, len(e.nodes))
	p.patPos = make([]int, len(e.nodes))
	for _, l := range lanes {
		if len(l.txs) > 0 {
			p.ready[l.node][l.class] = append(p.ready[l.node][l.class], l)
		}
	}
	return p
}

// inWindow reports whether t is in the measured window.
func (p *benchPhase) inWindow(t time.Time) bool {
	return p.measured && !t.Before(p.t0) && t.Before(p.t1)
}

// pop hands out the next ready transactions of node k, or nil once
// stopped: one, or for a laneSeq lane up to 1+extra() consecutive ones
// (extra is asked once per additional transaction and reports whether the
// caller may send one more).
func (p *benchPhase) pop(k int, extra func() bool) []*benchTx {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if p.stopped {
			return nil
		}
		for step := range benchPattern {
			c := benchPattern[(p.patPos[k]+step)%len(benchPattern)]
			q := p.ready[k][c]
			if len(q) == 0 {
				continue
			}
			l := q[0]
			p.ready[k][c] = q[1:]
			p.patPos[k] = (p.patPos[k] + step + 1) % len(benchPattern)
			txs := []*benchTx{l.txs[l.next]}
			l.next++
			switch l.mode {
			case laneFree:
				if l.next < len(l.txs) {
					p.ready[k][c] = append(p.ready[k][c], l)
				} else if p.inWindow(time.Now()) || time.Now().Before(p.t0) {
					p.exhausted = true
				}
			case laneSeq:
				for len(txs) < benchBatch && l.next < len(l.txs) && extra() {
					txs = append(txs, l.txs[l.next])
					l.next++
				}
			}
			return txs
		}
		p.cond.Wait()
	}
}

// push makes lane l's next transaction ready (caller holds mu).
func (p *benchPhase) pushLocked(l *benchLane) {
	if l.dead || l.next >= len(l.txs) {
		return
	}
	p.ready[l.node][l.class] = append(p.ready[l.node][l.class], l)
	p.cond.Signal()
}

func (p *benchPhase) release() {
	select {
	case <-p.tokens:
	default:
	}
}

func (p *benchPhase) worker(k int) {
	defer p.wg.Done()
	n := p.e.nodes[k]
	extra := func() bool {
		if p.permits != nil {
			select {
			case <-p.permits:
			default:
				return false
			}
		}
		select {
		case p.tokens <- struct{}{}:
			return true
		default:
			return false
		}
	}
	for {
		if p.permits != nil {
			select {
			case <-p.permits:
			case <-p.ctx.Done():
				return
			}
		}
		select {
		case p.tokens <- struct{}{}:
		case <-p.ctx.Done():
			return
		}
		txs := p.pop(k, extra)
		if txs == nil {
			p.release()
			return
		}
		now := time.Now()
		p.mu.Lock()
		for _, tx := range txs {
			tx.submitted = now
			p.pending[tx.hash] = tx
			p.totalSubmit++
			if p.inWindow(now) {
				p.submitted++
			}
		}
		p.mu.Unlock()
		var results []checkResult
		if len(txs) == 1 {
			code, codespace, log, err := n.load.broadcastTxSync(p.ctx, txs[0].bz)
			results = []checkResult{{code: code, codespace: codespace, log: log, err: err}}
		} else {
			var err error
			if results, err = n.load.broadcastBatch(p.ctx, benchBytes(txs)); err != nil {
				results = make([]checkResult, len(txs))
				for i := range results {
					results[i].err = err
				}
			}
		}
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			return
		}
		for i, tx := range txs {
			p.result(tx, results[i], now)
		}
		if l := txs[0].lane; l.mode == laneSeq {
			p.pushLocked(l)
		}
		p.mu.Unlock()
	}
}

func benchBytes(txs []*benchTx) [][]byte {
	out := make([][]byte, len(txs))
	for i, t := range txs {
		out[i] = t.bz
	}
	return out
}

// result records the CheckTx answer for tx, submitted at now (holding mu).
func (p *benchPhase) result(tx *benchTx, r checkResult, now time.Time) {
	if r.err == nil && r.code == 0 {
		return
	}
	var reason string
	if r.err != nil {
		reason = "rpc: " + r.err.Error()
		if len(reason) > 400 {
			reason = reason[:400]
		}
	} else {
		reason = r.codespace + "/" + strconv.FormatUint(uint64(r.code), 10)
		if p.firstErr == "" {
			p.firstErr = r.log
		}
	}
	if p.firstErr == "" {
		p.firstErr = reason
	}
	if _, ok := p.pending[tx.hash]; ok {
		delete(p.pending, tx.hash)
		p.release()
	}
	if p.inWindow(now) || !p.measured {
		p.rejected++
		p.rejectedBy[reason]++
	}
	if p.rejectedAll++; p.rejectedAll <= 3 {
		p.e.logf("rejected %s tx (lane mode %d): %s %s", benchKindNames[tx.kind], tx.lane.mode, reason, r.log)
	}
	if tx.lane.mode != laneFree {
		tx.lane.dead = true
	}
}

// watch follows node0's blocks from height from, matching transactions to
// pending ones.
func (p *benchPhase) watch(from int64) {
	defer p.wg.Done()
	rpc := p.e.nodes[0].load
	h := from
	for p.ctx.Err() == nil {
		txs, err := rpc.blockTxs(p.ctx, h)
		if err != nil {
			if !errors.Is(err, errNoBlock) && p.ctx.Err() == nil {
				p.e.logf("watch height %d: %v", h, err)
			}
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		seen := time.Now()
		bb := &benchBlock{height: h, seen: seen}
		hashes := make([][32]byte, len(txs))
		for i, t := range txs {
			hashes[i] = sha256.Sum256(t)
		}
		p.mu.Lock()
		for i, hh := range hashes {
			tx, ok := p.pending[hh]
			if !ok {
				continue
			}
			delete(p.pending, hh)
			p.release()
			p.committed++
			bb.txs = append(bb.txs, benchCommitted{idx: i, lat: seen.Sub(tx.submitted), kind: tx.kind, size: len(tx.bz)})
			if tx.lane.mode == laneCommit {
				p.waitHeight[h+1] = append(p.waitHeight[h+1], tx.lane)
			}
		}
		for _, l := range p.waitHeight[h] {
			p.pushLocked(l)
		}
		delete(p.waitHeight, h)
		p.height = h
		if p.inWindow(seen) {
			p.blocks = append(p.blocks, bb)
		}
		p.mu.Unlock()
		h++
	}
}

// rateGen offers o.rate permits per second to the workers; permits nobody
// takes within about 50 ms are dropped (the offered load is not met).
func (p *benchPhase) rateGen() {
	defer p.wg.Done()
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	acc := 0.0
	for {
		select {
		case <-p.ctx.Done():
			return
		case now := <-t.C:
			acc += p.e.o.rate * now.Sub(last).Seconds()
			last = now
			for acc >= 1 {
				acc--
				select {
				case p.permits <- struct{}{}:
				default:
					p.mu.Lock()
					p.dropped++
					p.mu.Unlock()
				}
			}
		}
	}
}

// start launches the watcher (from height from), the workers and, with a
// rate, the permit generator.
func (p *benchPhase) start(from int64, rate float64) {
	if rate > 0 {
		p.permits = make(chan struct{}, max(1, int(rate/20)))
		p.wg.Add(1)
		go p.rateGen()
	}
	p.wg.Add(1)
	go p.watch(from)
	for k := range p.e.nodes {
		for range p.e.o.workers {
			p.wg.Add(1)
			go p.worker(k)
		}
	}
}

// stop ends the phase and waits for its goroutines (bounded by the RPC
// client timeout, as every request is cancelled).
func (p *benchPhase) stop() {
	p.mu.Lock()
	p.stopped = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.cancel()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(70 * time.Second):
		p.e.logf("warning: load goroutines did not stop within 70s")
	}
}

// sweep counts transactions pending for more than timeout as lost.
func (p *benchPhase) sweep(timeout time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for h, tx := range p.pending {
		if now.Sub(tx.submitted) > timeout {
			delete(p.pending, h)
			p.release()
			p.lost++
			if tx.lane.mode != laneFree {
				tx.lane.dead = true
			}
		}
	}
}

func (e *benchEngine) height(ctx context.Context) (int64, error) {
	st, err := e.nodes[0].rpc.Status(ctx)
	if err != nil {
		return 0, err
	}
	return st.SyncInfo.LatestBlockHeight, nil
}

// runSetup sends the setup lanes and waits until all of them committed.
func (e *benchEngine) runSetup(ctx context.Context, plan *benchPlan, timeout time.Duration) error {
	h, err := e.height(ctx)
	if err != nil {
		return err
	}
	p := e.newPhase(ctx, plan.setup, false)
	p.start(h+1, 0)
	defer p.stop()
	want := plan.setupCount()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		p.mu.Lock()
		done, rej, first := p.committed, p.rejected, p.firstErr
		p.mu.Unlock()
		if rej > 0 {
			return fmt.Errorf("setup: %d transaction(s) rejected, first: %s", rej, first)
		}
		if done >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("setup: only %d of %d transactions committed within %s", done, want, timeout)
		}
	}
}

// cpuSnapshot is the CPU time of every node process and of this process.
type cpuSnapshot struct {
	nodes   time.Duration
	self    time.Duration
	machine time.Duration
	at      time.Time
}

func (e *benchEngine) cpu() (cpuSnapshot, error) {
	s := cpuSnapshot{at: time.Now()}
	for _, n := range e.nodes {
		c, err := procCPU(n.pid())
		if err != nil {
			return s, fmt.Errorf("%s: %w", n.tn.Name, err)
		}
		s.nodes += c
	}
	c, err := procCPU(os.Getpid())
	if err != nil {
		return s, err
	}
	s.self = c
	if s.machine, err = machineBusy(); err != nil {
		return s, err
	}
	return s, nil
}

// runMain runs the load: warmup, then the measured window.
func (e *benchEngine) runMain(ctx context.Context, plan *benchPlan) (*benchResult, error) {
	o := e.o
	h, err := e.height(ctx)
	if err != nil {
		return nil, err
	}
	p := e.newPhase(ctx, plan.lanes, true)
	start := time.Now()
	p.t0 = start.Add(o.warmup)
	p.t1 = p.t0.Add(o.duration)
	p.start(h+1, o.rate)
	stopped := false
	defer func() {
		if !stopped {
			p.stop()
		}
	}()

	var profErr chan error
	tick := time.NewTicker(o.progress)
	defer tick.Stop()
	var c0, c1 cpuSnapshot
	lastCommitted, lastAt := 0, start
	phase := "warmup"
	if o.warmup == 0 {
		phase = "start"
	}
	for phase != "done" {
		var wake <-chan time.Time
		switch phase {
		case "warmup", "start":
			wake = time.After(time.Until(p.t0))
		case "measure":
			wake = time.After(time.Until(p.t1))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
			p.sweep(60 * time.Second)
			p.mu.Lock()
			now := time.Now()
			rate := float64(p.committed-lastCommitted) / now.Sub(lastAt).Seconds()
			lastCommitted, lastAt = p.committed, now
			e.logf("%-7s t=%4.0fs height=%d committed=%d (%.0f tx/s) inflight=%d rejected=%d lost=%d",
				phase, now.Sub(start).Seconds(), p.height, p.committed, rate, len(p.tokens), p.rejected, p.lost)
			p.mu.Unlock()
		case <-wake:
			switch phase {
			case "warmup", "start":
				if c0, err = e.cpu(); err != nil {
					return nil, err
				}
				if o.cpuProfile != "" {
					profErr = make(chan error, 1)
					go func() { profErr <- e.fetchProfile(o.cpuProfile, o.duration) }()
				}
				phase = "measure"
			case "measure":
				if c1, err = e.cpu(); err != nil {
					return nil, err
				}
				phase = "done"
			}
		}
	}
	var hwm int64
	for _, n := range e.nodes {
		kb, err := procHWM(n.pid())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.tn.Name, err)
		}
		hwm = max(hwm, kb)
	}
	p.stop()
	stopped = true
	if profErr != nil {
		select {
		case err := <-profErr:
			if err != nil {
				e.logf("cpu profile: %v", err)
			} else {
				e.logf("wrote CPU profile of node0 to %s", o.cpuProfile)
			}
		case <-time.After(30 * time.Second):
			e.logf("cpu profile: no answer from node0")
		}
	}

	// Results of the window's blocks: a transaction that failed in
	// FinalizeBlock is rejected, not committed.
	res := &benchResult{Duration: o.duration.String(), Warmup: o.warmup.String(), Rate: o.rate, Inflight: o.inflight, Workers: o.workers,
		Mix: map[string]int{}, RejectedBy: p.rejectedBy, Submitted: p.submitted, Rejected: p.rejected, Lost: p.lost, Exhausted: p.exhausted}
	var lat []time.Duration
	var bytes int
	for _, b := range p.blocks {
		failed := map[int]bool{}
		if o.app == benchAppMedchain && len(b.txs) > 0 {
			br, err := e.nodes[0].rpc.BlockResults(ctx, &b.height)
			if err != nil {
				return nil, fmt.Errorf("block results %d: %w", b.height, err)
			}
			for i, r := range br.TxsResults {
				if r.Code != 0 {
					failed[i] = true
					res.RejectedBy[r.Codespace+"/"+strconv.FormatUint(uint64(r.Code), 10)+" (deliver)"]++
				}
			}
		}
		for _, t := range b.txs {
			if failed[t.idx] {
				res.Rejected++
				continue
			}
			res.Committed++
			res.Mix[benchKindNames[t.kind]]++
			lat = append(lat, t.lat)
			bytes += t.size
		}
	}
	window := c1.at.Sub(c0.at)
	res.WindowS = round2(window.Seconds())
	res.TPS = round2(float64(res.Committed) / window.Seconds())
	res.P50ms, res.P90ms, res.P99ms, res.MaxMs = latencySummary(lat)
	if res.Committed > 0 {
		res.CPUusPerTx = round2(float64((c1.nodes - c0.nodes).Microseconds()) / float64(res.Committed))
		res.LoadgenCPUusPerTx = round2(float64((c1.self - c0.self).Microseconds()) / float64(res.Committed))
		res.TxBytes = round2(float64(bytes) / float64(res.Committed))
	}
	res.NodeCPUCores = round2((c1.nodes - c0.nodes).Seconds() / window.Seconds())
	res.MachineBusyCores = round2((c1.machine - c0.machine).Seconds() / window.Seconds())
	res.PeakRSSMB = round2(float64(hwm) / 1024)
	if nb := len(p.blocks); nb > 0 {
		res.Blocks = nb
		res.TxsPerBlock = round2(float64(res.Committed+res.Rejected-p.rejected) / float64(nb))
		if nb > 1 {
			res.BlockIntervalMs = round2(float64(p.blocks[nb-1].seen.Sub(p.blocks[0].seen).Milliseconds()) / float64(nb-1))
		}
	}
	if p.exhausted {
		e.logf("warning: the pre-signed transactions ran out during the run; raise --presign")
	}
	if p.dropped > 0 {
		e.logf("warning: %d rate permits were not taken (every worker busy): the offered rate was not met", p.dropped)
	}
	return res, nil
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

// fetchProfile writes a CPU profile of node0 over d to path.
func (e *benchEngine) fetchProfile(path string, d time.Duration) error {
	addr := e.nodes[0].pprofAddr
	if addr == "" {
		return fmt.Errorf("node0 serves no pprof")
	}
	secs := max(1, int(d.Seconds()))
	resp, err := (&http.Client{Timeout: d + 30*time.Second}).Get("http://" + addr + "/debug/pprof/profile?seconds=" + strconv.Itoa(secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
