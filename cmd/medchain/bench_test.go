package main

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, c := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 of 1..100", hundred, 100, 100 * time.Millisecond},
		{"p50 of four (nearest rank)", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of four", ms(1, 2, 3, 4), 99, 4 * time.Millisecond},
		{"tiny p", ms(1, 2, 3, 4), 0.0001, 1 * time.Millisecond},
	} {
		if got := percentile(c.sorted, c.p); got != c.want {
			t.Errorf("%s: percentile(%v) = %v, want %v", c.name, c.p, got, c.want)
		}
	}
}

func TestLatencySummarySorts(t *testing.T) {
	lat := []time.Duration{300 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 1500 * time.Microsecond}
	p50, p90, p99, mx := latencySummary(lat)
	if p50 != 100 || p90 != 300 || p99 != 300 || mx != 300 {
		t.Errorf("latencySummary = %v %v %v %v, want 100 300 300 300", p50, p90, p99, mx)
	}
	if lat[0] != 1500*time.Microsecond {
		t.Errorf("latencySummary did not sort its input: %v", lat)
	}
}

// A /proc/<pid>/stat line whose command name has spaces and parentheses.
const procStatFixture = "12345 (medchain (node) x) S 1 12345 12345 0 -1 4194560 51234 0 12 0 " +
	"4321 1234 0 0 20 0 17 0 98765 2466123776 45678 18446744073709551615 1 1 0 0 0 0 0 0 1107420415 0 0 0 17 1 0 0 0 0 0\n"

func TestParseProcStatCPU(t *testing.T) {
	got, err := parseProcStatCPU(procStatFixture)
	if err != nil {
		t.Fatal(err)
	}
	// utime 4321 + stime 1234 ticks of 10 ms.
	if want := 55550 * time.Millisecond; got != want {
		t.Errorf("cpu = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "12345 medchain S 1", "12345 (medchain) S 1 2 3", strings.Replace(procStatFixture, " 4321 ", " x ", 1)} {
		if _, err := parseProcStatCPU(bad); err == nil {
			t.Errorf("parseProcStatCPU(%q): no error", bad)
		}
	}
}

const procStatusFixture = `Name:	medchain
Umask:	0022
State:	S (sleeping)
Pid:	12345
VmPeak:	 2466124 kB
VmSize:	 2466124 kB
VmHWM:	  512000 kB
VmRSS:	  498000 kB
Threads:	17
`

func TestParseProcStatusKB(t *testing.T) {
	got, err := parseProcStatusKB(procStatusFixture, "VmHWM")
	if err != nil || got != 512000 {
		t.Errorf("VmHWM = %d, %v; want 512000", got, err)
	}
	if got, err := parseProcStatusKB("MemTotal:       24683520 kB\nMemFree: 1 kB\n", "MemTotal"); err != nil || got != 24683520 {
		t.Errorf("MemTotal = %d, %v", got, err)
	}
	if _, err := parseProcStatusKB(procStatusFixture, "VmSwap"); err == nil {
		t.Error("missing field: no error")
	}
	if _, err := parseProcStatusKB("VmHWM: 12 MB\n", "VmHWM"); err == nil {
		t.Error("unit MB: no error")
	}
}

func TestParseProcStatBusy(t *testing.T) {
	stat := "cpu  100 5 50 1000 20 3 2 1 7 0\ncpu0 50 2 25 500 10 1 1 0 3 0\nintr 1 2 3\n"
	got, err := parseProcStatBusy(stat)
	if err != nil {
		t.Fatal(err)
	}
	// user+nice+system+irq+softirq+steal = 100+5+50+3+2+1 ticks.
	if want := 1610 * time.Millisecond; got != want {
		t.Errorf("busy = %v, want %v", got, want)
	}
	if _, err := parseProcStatBusy("intr 1\n"); err == nil {
		t.Error("no cpu line: no error")
	}
}

func TestParseCPUModel(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: other\n"
	if got := parseCPUModel(info); got != "Intel(R) Xeon(R) Processor" {
		t.Errorf("model = %q", got)
	}
	if got := parseCPUModel("processor: 0\n"); got != "" {
		t.Errorf("no model: %q", got)
	}
}

func TestParseBlockTxs(t *testing.T) {
	a, b := []byte("k1=v1"), []byte{0, 1, 2, 0xff}
	resp := `{"jsonrpc":"2.0","id":-1,"result":{"block_id":{"hash":"AB"},"block":{"header":{"height":"7"},"data":{"txs":["` +
		base64.StdEncoding.EncodeToString(a) + `","` + base64.StdEncoding.EncodeToString(b) + `"]},"evidence":{"evidence":[]}}}}`
	txs, err := parseBlockTxs([]byte(resp))
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != 2 || string(txs[0]) != string(a) || string(txs[1]) != string(b) {
		t.Errorf("txs = %q", txs)
	}
	empty := `{"jsonrpc":"2.0","id":-1,"result":{"block":{"data":{"txs":[]}}}}`
	if txs, err := parseBlockTxs([]byte(empty)); err != nil || len(txs) != 0 {
		t.Errorf("empty block: %q, %v", txs, err)
	}
	notYet := `{"jsonrpc":"2.0","id":-1,"error":{"code":-32603,"message":"Internal error","data":"height 9 must be less than or equal to the current blockchain height 8"}}`
	if _, err := parseBlockTxs([]byte(notYet)); !errors.Is(err, errNoBlock) {
		t.Errorf("future height: %v, want errNoBlock", err)
	}
	if _, err := parseBlockTxs([]byte(`{"result":{"block":{"data":{"txs":["AAA`)); err == nil {
		t.Error("truncated: no error")
	}
}

// The org lane's operations only ever remove members it added before and
// add members it removed (or never added).
func TestOrgOpSequenceIsValid(t *testing.T) {
	members := []string{"did:medchain:aaaaaaaaaaaaaaaaaaaaaaaaaa", "did:medchain:bbbbbbbbbbbbbbbbbbbbbbbbbb", "did:medchain:cccccccccccccccccccccccccc"}
	in := map[string]bool{}
	for j := range 50 {
		kind, m := orgOp(j, "org0", members)
		if err := m.ValidateBasic(); err != nil {
			t.Fatalf("op %d: %v", j, err)
		}
		switch kind {
		case kindAddMember:
			in[members[(j+1)/2%len(members)]] = true
		case kindRemoveMember:
			did := members[(j/2-1)%len(members)]
			if !in[did] {
				t.Fatalf("op %d removes %s, which is not a member", j, did)
			}
			delete(in, did)
		}
	}
}
