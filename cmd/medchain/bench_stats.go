package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// benchResult is the report of one "medchain bench" run.
type benchResult struct {
	App        string `json:"app"`
	Validators int    `json:"validators"`
	// StateBackend is the medchain nodes' state backend ("" = default).
	StateBackend string `json:"state_backend,omitempty"`
	// IndexEvents is the medchain nodes' --index-events ("" = default).
	IndexEvents string  `json:"index_events,omitempty"`
	Duration    string  `json:"duration"`
	WindowS     float64 `json:"window_s"`
	Rate        float64 `json:"rate"` // offered tx/s, 0 = as fast as possible

	TPS        float64 `json:"tps"`
	P50ms      float64 `json:"p50_ms"`
	P90ms      float64 `json:"p90_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	CPUusPerTx float64 `json:"cpu_us_per_tx"`
	PeakRSSMB  float64 `json:"peak_rss_mb"`

	Committed int     `json:"committed"`
	Submitted int     `json:"submitted"`
	Rejected  int     `json:"rejected"`
	TxBytes   float64 `json:"tx_bytes"`

	// NodeCPUCores is the node processes' CPU time over the window divided
	// by its length; LoadgenCPUusPerTx is this process's CPU time per
	// committed tx (the load generator and block watcher).
	NodeCPUCores float64 `json:"node_cpu_cores"`
	// MachineBusyCores is every process's CPU time over the window (from
	// /proc/stat) divided by its length: with nproc cores, what the nodes
	// and the load generator did not use went to other processes or idle.
	MachineBusyCores  float64        `json:"machine_busy_cores"`
	LoadgenCPUusPerTx float64        `json:"loadgen_cpu_us_per_tx"`
	Blocks            int            `json:"blocks"`
	TxsPerBlock       float64        `json:"txs_per_block"`
	BlockIntervalMs   float64        `json:"block_interval_ms"`
	Mix               map[string]int `json:"mix,omitempty"` // committed txs by kind
	RejectedBy        map[string]int `json:"rejected_by,omitempty"`
	Lost              int            `json:"lost"`
	Exhausted         bool           `json:"presigned_exhausted,omitempty"`
	Inflight          int            `json:"inflight"`
	Workers           int            `json:"workers_per_node"`
	Warmup            string         `json:"warmup"`

	Machine   benchMachine `json:"machine"`
	GoVersion string       `json:"go"`
	Commit    string       `json:"commit"`
	Dir       string       `json:"dir,omitempty"`
}

type benchMachine struct {
	NProc      int    `json:"nproc"`
	CPUModel   string `json:"cpu_model"`
	MemTotalMB int64  `json:"mem_total_mb"`
	Kernel     string `json:"kernel,omitempty"`
}

func (r *benchResult) writeText(w io.Writer) {
	fmt.Fprintf(w, "app %s, %d validator(s), window %.1fs, rate %s\n", r.App, r.Validators, r.WindowS, rateText(r.Rate))
	fmt.Fprintf(w, "  tps            %.0f (committed %d, submitted %d, rejected %d, lost %d)\n", r.TPS, r.Committed, r.Submitted, r.Rejected, r.Lost)
	fmt.Fprintf(w, "  latency        p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms\n", r.P50ms, r.P90ms, r.P99ms, r.MaxMs)
	fmt.Fprintf(w, "  node cpu       %.0f us/tx (%.2f cores); load generator %.0f us/tx; machine busy %.2f of %d cores\n", r.CPUusPerTx, r.NodeCPUCores, r.LoadgenCPUusPerTx, r.MachineBusyCores, r.Machine.NProc)
	fmt.Fprintf(w, "  peak rss       %.0f MB\n", r.PeakRSSMB)
	fmt.Fprintf(w, "  blocks         %d, %.0f txs/block, every %.0f ms; tx size %.0f bytes\n", r.Blocks, r.TxsPerBlock, r.BlockIntervalMs, r.TxBytes)
	if len(r.Mix) > 0 {
		fmt.Fprintf(w, "  mix            %v\n", r.Mix)
	}
	if len(r.RejectedBy) > 0 {
		fmt.Fprintf(w, "  rejected by    %v\n", r.RejectedBy)
	}
	fmt.Fprintf(w, "  machine        %d x %s, %d MB; %s; commit %s\n", r.Machine.NProc, r.Machine.CPUModel, r.Machine.MemTotalMB, r.GoVersion, r.Commit)
}

func rateText(r float64) string {
	if r == 0 {
		return "max"
	}
	return strconv.FormatFloat(r, 'f', -1, 64) + " tx/s"
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method, or 0 for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// latencySummary sorts lat in place and returns p50, p90, p99 and max in ms.
func latencySummary(lat []time.Duration) (p50, p90, p99, mx float64) {
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }
	if len(lat) == 0 {
		return 0, 0, 0, 0
	}
	return ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99)), ms(lat[len(lat)-1])
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// parseProcStatCPU returns utime+stime from the contents of /proc/<pid>/stat.
// The command name (field 2) is in parentheses and may itself contain
// spaces and parentheses, so fields are counted after the last ')'.
func parseProcStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc stat: utime %q stime %q", f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// parseProcStatusKB returns the value in kB of field (e.g. "VmHWM") from the
// contents of /proc/<pid>/status.
func parseProcStatusKB(status, field string) (int64, error) {
	for line := range strings.Lines(status) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != field {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			break
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc status %s: %w", field, err)
		}
		if len(f) > 1 && f[1] != "kB" {
			return 0, fmt.Errorf("/proc status %s: unit %q", field, f[1])
		}
		return n, nil
	}
	return 0, fmt.Errorf("/proc status: no %s", field)
}

// procCPU returns the CPU time (user+system) process pid has used.
func procCPU(pid int) (time.Duration, error) {
	bz, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseProcStatCPU(string(bz))
}

// procHWM returns process pid's peak resident set size in kB.
func procHWM(pid int) (int64, error) {
	bz, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	return parseProcStatusKB(string(bz), "VmHWM")
}

// parseProcStatBusy returns the CPU time all CPUs spent not idle (user,
// nice, system, irq, softirq, steal) from the contents of /proc/stat.
func parseProcStatBusy(stat string) (time.Duration, error) {
	for line := range strings.Lines(stat) {
		f := strings.Fields(line)
		if len(f) < 5 || f[0] != "cpu" {
			continue
		}
		var busy uint64
		for i, v := range f[1:] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat: %q", v)
			}
			// idle (3), iowait (4); guest and guest_nice (8, 9) are
			// already counted in user and nice.
			if i == 3 || i == 4 || i >= 8 {
				continue
			}
			busy += n
		}
		return time.Duration(busy) * time.Second / clockTicks, nil
	}
	return 0, fmt.Errorf("/proc/stat: no cpu line")
}

// machineBusy returns the CPU time all CPUs have spent busy since boot.
func machineBusy() (time.Duration, error) {
	bz, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseProcStatBusy(string(bz))
}

// parseCPUModel returns the first "model name" of /proc/cpuinfo.
func parseCPUModel(cpuinfo string) string {
	for line := range strings.Lines(cpuinfo) {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func benchMachineInfo() benchMachine {
	m := benchMachine{NProc: runtime.NumCPU()}
	if bz, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = parseCPUModel(string(bz))
	}
	if bz, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb, err := parseProcStatusKB(string(bz), "MemTotal"); err == nil {
			m.MemTotalMB = kb / 1024
		}
	}
	if f, err := os.Open("/proc/sys/kernel/osrelease"); err == nil {
		s := bufio.NewScanner(f)
		if s.Scan() {
			m.Kernel = strings.TrimSpace(s.Text())
		}
		f.Close()
	}
	return m
}
