package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/x/identity"
)

// Report is the result of Check: the invariants' figures for one testnet.
type Report struct {
	Test string `json:"test"` // test name
	Seed int64  `json:"seed"` // the testnet's seed
	// Nodes is the number of nodes compared; Heights the top height
	// compared on all of them; HeightsChecked the (height, node) pairs.
	Nodes          int   `json:"nodes"`           // running nodes compared
	Heights        int64 `json:"heights"`         // heights 1..Heights compared on every node
	HeightsChecked int   `json:"heights_checked"` // (height, node) pairs compared
	// Forks counts heights with more than one block hash (INV-AGREE) or a
	// broken hash chain; AppHashMismatches heights with more than one app
	// hash, plus nodes whose own app hash differs from the next header's
	// (INV-APPHASH).
	Forks             int `json:"forks"`               // INV-AGREE violations
	AppHashMismatches int `json:"app_hash_mismatches"` // INV-APPHASH violations
	// Operations by outcome; Lost counts committed operations missing
	// from some node's chain (INV-NOLOSS); IndexGaps committed transactions
	// that are in a node's block but not in its tx index.
	Ops              int `json:"ops"`               // operations recorded
	Acked            int `json:"acknowledged"`      // ... committed
	Rejected         int `json:"rejected"`          // ... definitely rejected
	Unknown          int `json:"unknown"`           // ... with an unknown outcome
	UnknownCommitted int `json:"unknown_committed"` // unknown ones found in the chain
	Lost             int `json:"acknowledged_lost"` // INV-NOLOSS violations
	IndexGaps        int `json:"index_gaps"`        // in the block but not in that node's tx index
	// TxsInChain is the number of transactions in blocks; Duplicate
	// executions counts (signer, sequence) pairs executed more than once
	// (INV-ONCE).
	TxsInChain          int      `json:"txs_in_chain"`         // transactions in blocks 1..Heights
	DuplicateExecutions int      `json:"duplicate_executions"` // INV-ONCE violations
	CrashCycles         int64    `json:"crash_cycles"`         // Kill calls
	Partitions          int64    `json:"partitions"`           // Partition and Cut calls
	Problems            []string `json:"problems,omitempty"`   // every violation found (first 30)
}

// OK reports whether every invariant held.
func (r Report) OK() bool {
	return r.Forks == 0 && r.AppHashMismatches == 0 && r.Lost == 0 && r.DuplicateExecutions == 0 && len(r.Problems) == 0
}

// Line is the one-line summary of the report.
func (r Report) Line() string {
	return fmt.Sprintf("medchain e2e %s: heights checked %d × %d nodes, forks %d, app-hash mismatches %d, "+
		"acknowledged txs %d, lost %d, duplicate executions %d, unknown %d (%d committed), crash cycles %d, partitions %d, seed %d",
		r.Test, r.Heights, r.Nodes, r.Forks, r.AppHashMismatches, r.Acked, r.Lost, r.DuplicateExecutions,
		r.Unknown, r.UnknownCommitted, r.CrashCycles, r.Partitions, r.Seed)
}

var (
	summaryMu sync.Mutex
	summary   []Report
)

// Summary aggregates every Report of this test process into one line (for
// TestMain to print), or "" if there was none.
func Summary() string {
	summaryMu.Lock()
	defer summaryMu.Unlock()
	if len(summary) == 0 {
		return ""
	}
	var t Report
	var seeds []string
	for _, r := range summary {
		t.HeightsChecked += r.HeightsChecked
		t.Forks += r.Forks
		t.AppHashMismatches += r.AppHashMismatches
		t.Acked += r.Acked
		t.Lost += r.Lost
		t.DuplicateExecutions += r.DuplicateExecutions
		t.Unknown += r.Unknown
		t.UnknownCommitted += r.UnknownCommitted
		t.CrashCycles += r.CrashCycles
		t.Partitions += r.Partitions
		s := fmt.Sprint(r.Seed)
		if !slices.Contains(seeds, s) {
			seeds = append(seeds, s)
		}
	}
	return fmt.Sprintf("medchain e2e summary (%d checks): heights×nodes checked %d, forks %d, app-hash mismatches %d, "+
		"acknowledged txs %d, lost %d, duplicate executions %d, unknown %d (%d committed), crash cycles %d, partitions %d, seed %s",
		len(summary), t.HeightsChecked, t.Forks, t.AppHashMismatches, t.Acked, t.Lost, t.DuplicateExecutions,
		t.Unknown, t.UnknownCommitted, t.CrashCycles, t.Partitions, strings.Join(seeds, ","))
}

// Check ends a test the way Jepsen does: the load must be stopped; the
// network is healed and paused nodes resumed; every running node must
// reach the highest height; then the invariants are checked over the
// public APIs of every running node, the summary line is printed, the
// report is written to report.json, and the test fails on any violation.
func (tn *Testnet) Check() Report {
	tn.T.Helper()
	if l := tn.currentLoad(); l != nil {
		l.Stop()
	}
	tn.Heal()
	for _, n := range tn.Nodes() {
		if n.Running() && !n.Up() {
			_ = n.Resume()
		}
	}
	r := Report{Test: tn.T.Name(), Seed: tn.Seed, CrashCycles: tn.CrashCycles(), Partitions: tn.Partitions()}
	problem := func(format string, args ...any) {
		if len(r.Problems) < 30 {
			r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
		}
	}
	var running []int
	for _, n := range tn.Nodes() {
		if n.Running() {
			running = append(running, n.Index)
		}
	}
	r.Nodes = len(running)
	if len(running) == 0 {
		problem("no node is running")
		return tn.finishReport(r)
	}
	// Settle: every running node reaches the highest height seen now.
	target := tn.MaxHeight(running...)
	if err := tn.WaitHeight(target, 90*time.Second, running...); err != nil {
		problem("settle: %v", err)
		hs := tn.Heights(running...)
		for _, i := range running {
			target = min(target, hs[i])
		}
	}
	r.Heights = target

	// INV-AGREE and INV-APPHASH at every height.
	blocks := make(map[int][]*types.Block, len(running))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, i := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bs := make([]*types.Block, target+1)
			c := tn.Node(i).Client
			for h := int64(1); h <= target; h++ {
				ctx, cancel := ctxFor(5 * time.Second)
				b, err := c.Block(ctx, h)
				cancel()
				if err != nil {
					mu.Lock()
					problem("%s: block %d: %v", tn.Node(i).Info.Name, h, err)
					mu.Unlock()
					continue
				}
				bs[h] = b
			}
			mu.Lock()
			blocks[i] = bs
			mu.Unlock()
		}()
	}
	wg.Wait()
	for h := int64(1); h <= target; h++ {
		hashes, apps := map[string]bool{}, map[string]bool{}
		for _, i := range running {
			b := blocks[i][h]
			if b == nil {
				continue
			}
			r.HeightsChecked++
			hashes[b.Hash] = true
			apps[b.AppHash] = true
			if h > 1 && blocks[i][h-1] != nil && b.LastHash != blocks[i][h-1].Hash {
				r.Forks++
				problem("%s: block %d does not link to its block %d", tn.Node(i).Info.Name, h, h-1)
			}
		}
		if len(hashes) > 1 {
			r.Forks++
			problem("fork at height %d: %d different block hashes", h, len(hashes))
		}
		if len(apps) > 1 {
			r.AppHashMismatches++
			problem("app hash mismatch in header %d (state after %d): %d different app hashes", h, h-1, len(apps))
		}
	}
	// Each node's own state root must be the one the next header commits.
	for _, i := range running {
		n := tn.Node(i)
		ctx, cancel := ctxFor(3 * time.Second)
		st, err := n.Client.Status(ctx)
		cancel()
		if err != nil {
			problem("%s: status: %v", n.Info.Name, err)
			continue
		}
		var next *types.Block
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			ctx, cancel := ctxFor(3 * time.Second)
			b, err := n.Client.Block(ctx, st.Height+1)
			cancel()
			if err == nil {
				next = b
				break
			}
		}
		if next == nil {
			problem("%s: no header %d to check its app hash at %d against", n.Info.Name, st.Height+1, st.Height)
			continue
		}
		if !strings.EqualFold(next.AppHash, st.AppHash) {
			r.AppHashMismatches++
			problem("%s: app hash at %d is %s but header %d commits %s", n.Info.Name, st.Height, st.AppHash, st.Height+1, next.AppHash)
		}
	}

	// INV-ONCE over every transaction in the chain (of the first node).
	ref := running[0]
	inChain := map[string]bool{}
	var chainTxs []string
	for h := int64(1); h <= target; h++ {
		if b := blocks[ref][h]; b != nil {
			for _, t := range b.TxHashes {
				inChain[t] = true
				chainTxs = append(chainTxs, t)
			}
		}
	}
	r.TxsInChain = len(chainTxs)
	results := make([]*types.TxResult, len(chainTxs))
	parallelFor(len(chainTxs), 8, func(k int) {
		for _, i := range append([]int{ref}, running...) {
			if res, err := tn.LookupTx(i, chainTxs[k]); err == nil {
				results[k] = res
				return
			}
		}
	})
	executed := map[string]int{}
	for k, res := range results {
		if res == nil {
			problem("transaction %s of the chain is in no node's tx index", chainTxs[k])
			continue
		}
		if res.Tx == nil {
			continue // undecodable: never executed
		}
		if res.Code != 0 && res.Codespace == app.Codespace {
			continue // refused by admission: no sequence used
		}
		did, _, err := identity.SplitKeyID(res.Tx.Signer)
		if err != nil {
			continue
		}
		key := fmt.Sprintf("%s/%d", did, res.Tx.Sequence)
		executed[key]++
		if executed[key] == 2 {
			r.DuplicateExecutions++
			problem("(signer, sequence) %s executed more than once", key)
		}
	}

	// INV-NOLOSS: every acknowledged transaction is in its block on every node.
	ops := tn.history.Ops()
	r.Ops = len(ops)
	var acked []Op
	for _, op := range ops {
		switch op.Outcome {
		case Committed:
			r.Acked++
			acked = append(acked, op)
		case Rejected:
			r.Rejected++
		case Unknown:
			r.Unknown++
			if inChain[op.TxHash] {
				r.UnknownCommitted++
			}
		}
	}
	type pair struct {
		op   Op
		node int
	}
	var pairs []pair
	for _, op := range acked {
		for _, i := range running {
			pairs = append(pairs, pair{op, i})
		}
	}
	lost := make([]bool, len(pairs))
	gaps := make([]bool, len(pairs))
	parallelFor(len(pairs), 8, func(k int) {
		p := pairs[k]
		if res, err := tn.LookupTx(p.node, p.op.TxHash); err == nil && res.Height == p.op.Height && res.Code == 0 {
			return
		}
		gaps[k] = true
		var b *types.Block
		if p.op.Height <= target {
			b = blocks[p.node][p.op.Height]
		} else {
			ctx, cancel := ctxFor(5 * time.Second)
			b, _ = tn.Node(p.node).Client.Block(ctx, p.op.Height)
			cancel()
		}
		if b == nil || !slices.Contains(b.TxHashes, p.op.TxHash) {
			lost[k] = true
		}
	})
	lostOps := map[int]bool{}
	for k, p := range pairs {
		if lost[k] {
			if !lostOps[p.op.ID] {
				r.Lost++
				lostOps[p.op.ID] = true
			}
			problem("acknowledged tx %s (op %d, height %d) missing on %s", p.op.TxHash, p.op.ID, p.op.Height, tn.Node(p.node).Info.Name)
		} else if gaps[k] {
			r.IndexGaps++
		}
	}
	return tn.finishReport(r)
}

func (tn *Testnet) finishReport(r Report) Report {
	tn.T.Helper()
	summaryMu.Lock()
	summary = append(summary, r)
	tn.reports = append(tn.reports, r)
	summaryMu.Unlock()
	if bz, err := json.MarshalIndent(r, "", "  "); err == nil {
		_ = os.WriteFile(filepath.Join(tn.Dir, "report.json"), append(bz, '\n'), 0o644)
	}
	fmt.Println(r.Line())
	tn.T.Log(r.Line())
	if r.IndexGaps > 0 {
		tn.T.Logf("harness: %d committed transactions are in their block but missing from a node's tx index (a node crashed before indexing)", r.IndexGaps)
	}
	if !r.OK() {
		tn.T.Errorf("harness: invariants violated:\n  %s", strings.Join(r.Problems, "\n  "))
	}
	return r
}

// parallelFor runs f(0..n-1) on up to workers goroutines.
func parallelFor(n, workers int, f func(int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				f(k)
			}
		}()
	}
	for k := range n {
		next <- k
	}
	close(next)
	wg.Wait()
}
