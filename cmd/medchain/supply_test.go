package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/medchain/medchain/x/org"
)

// TestSupplyChainCLI is issue 5's acceptance check against the real binary
// on a fresh development chain: every EPCIS document of the GS1 and
// openepcis test resources posted to POST /epcis/capture gets 2xx or a 4xx
// with a reason, never a 5xx; then the scenario through the CLI:
// register a product with a lot, commission serials, pack them into a case,
// ship to the distributor, receive, ship to the pharmacy, receive, dispense
// one, with /verify after each step; the regulator recalls the lot; each
// holder's recall list equals the set computed from the scenario; the
// dispensing of a recalled unit is refused; the provenance of a unit
// verifies against light-client-checked headers.
func TestSupplyChainCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a node")
	}
	d := newDevNode(t)
	d.startForTest("/verify?gtin=04012345555011&serial=1", "the node's supply API")
	dir, rpc, nodeURL := d.dir, d.rpc, d.url
	c, at, js := d.cli, d.at, d.jsonAt

	// The demo organizations and their GLNs, as a newcomer finds them.
	var orgs struct {
		Orgs []struct {
			ID           string   `json:"id"`
			Type         string   `json:"type"`
			PartyGLN     string   `json:"party_gln"`
			LocationGLNs []string `json:"location_glns"`
			GS1Prefixes  []string `json:"gs1_prefixes"`
		} `json:"orgs"`
	}
	js(&orgs, "query", "org", "list")
	type party struct{ id, party, loc string }
	byType := map[string]party{}
	for _, o := range orgs.Orgs {
		if o.PartyGLN != "" && len(o.LocationGLNs) > 0 {
			byType[o.Type] = party{o.ID, o.PartyGLN, o.LocationGLNs[0]}
		}
	}
	mfr, dist, pharm, reg := byType["manufacturer"], byType["distributor"], byType["pharmacy"], byType["regulator"]
	if mfr.id == "" || dist.id == "" || pharm.id == "" || reg.id == "" {
		t.Fatalf("the dev chain lacks a supply-chain organization with GLNs: %+v", byType)
	}
	token := func(key string) string {
		var tok struct {
			Token string `json:"token"`
		}
		js(&tok, "auth", "token", "--from", key, "--ttl", "15m")
		if tok.Token == "" {
			t.Fatalf("auth token --from %s: no token", key)
		}
		return tok.Token
	}
	mfrToken := token("manufacturer")

	t.Run("corpus", func(t *testing.T) { postCorpus(t, nodeURL, mfrToken) })

	// The scenario.
	const lot, expiry = "ACC-7", "2028-06-30"
	gtin := "0401234577701"
	gtin += string(org.GS1CheckDigit(gtin))
	sgtin := func(serial string) string { return "urn:epc:id:sgtin:4012345.0" + gtin[8:13] + "." + serial }
	units := []string{sgtin("A1"), sgtin("A2"), sgtin("A3")}
	caseEPC := "urn:epc:id:sscc:4012345.0000077701"
	var reg1 struct {
		Code uint32 `json:"code"`
		Log  string `json:"log"`
	}
	js(&reg1, "tx", "supply", "register-product", "--from", "manufacturer", "--gtin", gtin, "--ndc", "12345-6789-01",
		"--lot", lot, "--expiry", expiry, "--temp-min", "2", "--temp-max", "8")
	if reg1.Code != 0 {
		t.Fatalf("register-product: code %d %s", reg1.Code, reg1.Log)
	}
	type verifyOut struct {
		Verified  bool   `json:"verified"`
		Reason    string `json:"reason"`
		Status    string `json:"status"`
		Custodian string `json:"custodian"`
		Height    int64  `json:"height"`
	}
	verify := func(step, serial string, wantOK bool, wantReason, wantCustodian string) {
		t.Helper()
		var v verifyOut
		js(&v, "query", "supply", "verify", "--gtin", gtin, "--serial", serial, "--lot", lot, "--expiry", expiry)
		if v.Verified != wantOK || v.Reason != wantReason || (wantCustodian != "" && v.Custodian != wantCustodian) || v.Height == 0 {
			t.Fatalf("after %s: verify %s = %+v, want verified=%v reason=%q custodian=%q", step, serial, v, wantOK, wantReason, wantCustodian)
		}
		// The same answer over HTTP for the pack's GS1 Digital Link.
		link := fmt.Sprintf("https://id.gs1.org/01/%s/21/%s?10=%s&17=%s", gtin, serial, lot, strings.ReplaceAll(expiry[2:], "-", ""))
		resp, err := http.Get(nodeURL + "/verify?link=" + url.QueryEscape(link))
		if err != nil {
			t.Fatal(err)
		}
		var v2 verifyOut
		_ = json.NewDecoder(resp.Body).Decode(&v2)
		resp.Body.Close()
		if resp.StatusCode != 200 || v2.Verified != wantOK || v2.Reason != wantReason {
			t.Fatalf("after %s: GET /verify?link=%s: %d %+v", step, link, resp.StatusCode, v2)
		}
	}
	verify("register-product", "A1", false, "unknown_serial", "")

	docs := filepath.Join(dir, "docs")
	if err := os.MkdirAll(docs, 0o755); err != nil {
		t.Fatal(err)
	}
	n := 0
	type captured struct {
		Status string `json:"status"`
		Org    string `json:"org"`
		Height int64  `json:"height"`
		Events []struct {
			Hash       string `json:"hash"`
			Outcome    string `json:"outcome"`
			StoredID   uint64 `json:"stored_id"`
			Commitment string `json:"trade_commitment"`
		} `json:"events"`
	}
	capture := func(key string, ev map[string]any) captured {
		t.Helper()
		n++
		f := filepath.Join(docs, fmt.Sprintf("%d.jsonld", n))
		writeEPCIS(t, f, ev)
		var res captured
		js(&res, "epcis", "capture", f, "--from", key)
		if res.Status != "committed" || len(res.Events) != 1 || res.Events[0].Outcome != "applied" || !strings.HasPrefix(res.Events[0].Hash, "ni:///sha-256;") {
			t.Fatalf("capture %s by %s: %+v", f, key, res)
		}
		return res
	}
	capture("manufacturer", event("ObjectEvent", "ADD", "commissioning", "active", mfr.loc, map[string]any{
		"epcList": units, "ilmd": map[string]any{"cbvmda:lotNumber": lot, "cbvmda:itemExpirationDate": expiry}}))
	verify("commissioning", "A2", true, "", mfr.id)
	capture("manufacturer", event("AggregationEvent", "ADD", "packing", "in_progress", mfr.loc, map[string]any{
		"parentID": caseEPC, "childEPCs": units}))
	verify("packing", "A2", true, "", mfr.id)
	// Each shipment carries a purchase order number and a quantity that
	// must stay between the two trading partners and regulators.
	canaryPO := func(to party) string { return "PO-CANARY-" + to.party }
	const canaryQty = "47113"
	ship := func(from, to party) map[string]any {
		return event("ObjectEvent", "OBSERVE", "shipping", "in_transit", from.loc, map[string]any{
			"epcList":            []string{caseEPC},
			"bizTransactionList": []any{map[string]any{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:" + to.party + ":" + canaryPO(to)}},
			"quantityList":       []any{map[string]any{"epcClass": "urn:epc:class:lgtin:4012345.0" + gtin[8:13] + "." + lot, "quantity": json.Number(canaryQty)}},
			"sourceList":         []any{map[string]any{"type": "owning_party", "source": pgln(from.party)}},
			"destinationList": []any{map[string]any{"type": "owning_party", "destination": pgln(to.party)},
				map[string]any{"type": "location", "destination": sgln(to.loc)}},
		})
	}
	receive := func(at party) map[string]any {
		return event("ObjectEvent", "OBSERVE", "receiving", "in_progress", at.loc, map[string]any{
			"epcList": []string{caseEPC},
			"sensorElementList": []any{map[string]any{"sensorMetadata": map[string]any{"time": "2026-01-01T00:00:00Z"},
				"sensorReport": []any{map[string]any{"type": "Temperature", "value": 4.5, "uom": "CEL"}}}},
		})
	}
	shipped := capture("manufacturer", ship(mfr, dist))
	verify("shipping to the distributor", "A2", true, "", mfr.id)
	if len(shipped.Events[0].Commitment) != 64 {
		t.Fatalf("the shipment was not sealed: %+v", shipped)
	}
	// The trade details are not in the block: every transaction of the
	// shipment's block, as CometBFT's RPC serves it, lacks them.
	blockTxs(t, "http://"+rpc, shipped.Height, func(i int, tx []byte) {
		if bytes.Contains(tx, []byte(canaryPO(dist))) || bytes.Contains(tx, []byte(canaryQty)) {
			t.Fatalf("block %d transaction %d carries the trade details in clear", shipped.Height, i)
		}
	})
	capture("distributor", receive(dist))
	verify("receiving at the distributor", "A2", true, "", dist.id)
	shipped2 := capture("distributor", ship(dist, pharm))
	verify("shipping to the pharmacy", "A2", true, "", dist.id)
	capture("pharmacy", receive(pharm))
	verify("receiving at the pharmacy", "A2", true, "", pharm.id)
	dispense := func(serial string) map[string]any {
		return event("ObjectEvent", "OBSERVE", "dispensing", "dispensed", pharm.loc, map[string]any{"epcList": []string{sgtin(serial)}})
	}
	capture("pharmacy", dispense("A1"))
	verify("dispensing", "A1", false, "dispensed", "")
	verify("dispensing", "A2", true, "", pharm.id)

	// The pharmacy watches its recall notices (one JSON update per line).
	watch := startWatch(t, c, append([]string{"query", "supply", "recalls", "--from", "pharmacy", "--watch", "-o", "json"}, at...)...)
	if u := watch.next(t); !u.Initial || u.Count != 0 || u.Org != pharm.id {
		t.Fatalf("recalls --watch: first line %+v", u)
	}

	// The regulator recalls the lot.
	var rc struct {
		Code   uint32 `json:"code"`
		Log    string `json:"log"`
		Height int64  `json:"height"`
	}
	js(&rc, "tx", "supply", "recall", "--from", "regulator", "--gtin", gtin, "--lot", lot, "--reason", "sterility not assured")
	if rc.Code != 0 {
		t.Fatalf("recall: code %d %s", rc.Code, rc.Log)
	}
	// The watch prints the two units the pharmacy holds (A1 was dispensed),
	// at the recall's height.
	if u := watch.next(t); u.Height != rc.Height || u.Count != 2 || len(u.Added) != 2 ||
		!slices.Equal([]string{u.Added[0].EPC, u.Added[1].EPC}, []string{units[1], units[2]}) {
		t.Fatalf("recalls --watch after the recall at height %d: %+v", rc.Height, u)
	}
	watch.stop(t)
	verify("recall", "A2", false, "recalled", "")
	verify("recall", "A1", false, "recalled", "") // recalled outranks dispensed

	// Each holder's recall list equals what the scenario says it holds:
	// the pharmacy holds A2 and A3 (A1 was dispensed), nobody else any.
	want := map[string][]string{"manufacturer": nil, "distributor": nil, "pharmacy": {units[1], units[2]}, "regulator": nil}
	for key, epcs := range want {
		var rl struct {
			Org     string `json:"org"`
			Notices []struct {
				EPC    string `json:"epc"`
				Lot    string `json:"lot"`
				Status string `json:"status"`
			} `json:"notices"`
		}
		js(&rl, "query", "supply", "recalls", "--from", key)
		var got []string
		for _, nt := range rl.Notices {
			got = append(got, nt.EPC)
			if nt.Lot != lot || nt.Status != "active" {
				t.Errorf("%s's recall notice %+v", key, nt)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, epcs) {
			t.Errorf("%s (%s) recall list %v, want %v", key, rl.Org, got, epcs)
		}
	}

	// Dispensing a recalled unit is refused, with the code and the reason.
	n++
	f := filepath.Join(docs, fmt.Sprintf("%d.jsonld", n))
	writeEPCIS(t, f, dispense("A2"))
	out, err := c.run(append([]string{"epcis", "capture", f, "--from", "pharmacy"}, at...)...)
	if err == nil || !strings.Contains(err.Error(), "422 supply/15") || !strings.Contains(err.Error(), "recalled") {
		t.Fatalf("dispensing a recalled unit: %v\n%s", err, out)
	}
	// The same with the capture signed by the pharmacy's own key.
	out, err = c.run(append([]string{"epcis", "capture", f, "--from", "pharmacy", "--sign"}, at...)...)
	if err == nil || !strings.Contains(err.Error(), "code 15 (supply)") {
		t.Fatalf("dispensing a recalled unit, signed by the member: %v\n%s", err, out)
	}
	verify("refused dispense", "A2", false, "recalled", pharm.id)

	// The unit's provenance, every event proven against a verified header.
	var prov struct {
		Unit struct {
			Custodian string `json:"custodian"`
			Status    string `json:"status"`
		} `json:"unit"`
		Events []struct {
			ID    uint64 `json:"id"`
			Org   string `json:"org"`
			Event struct {
				BizStep string `json:"biz_step"`
			} `json:"event"`
		} `json:"events"`
		Verified *struct {
			AppHash   string `json:"app_hash"`
			TrustRoot string `json:"trust_root"`
		} `json:"verified"`
	}
	js(&prov, "query", "supply", "provenance", units[1], "--verify")
	var steps []string
	for _, e := range prov.Events {
		steps = append(steps, e.Event.BizStep)
	}
	wantSteps := []string{"commissioning", "packing", "shipping", "receiving", "shipping", "receiving"}
	if !slices.Equal(steps, wantSteps) || prov.Verified == nil || prov.Verified.AppHash == "" || prov.Unit.Custodian != pharm.id {
		t.Fatalf("provenance of %s: steps %v (want %v), unit %+v, verified %+v", units[1], steps, wantSteps, prov.Unit, prov.Verified)
	}
	// The unit record alone, proven: by its URI and by the GS1 Digital
	// Link on the pack, the proof is of the unit's number key and the
	// proven unit is the one asked.
	for _, asked := range []string{units[1], "https://id.gs1.org/01/" + gtin + "/21/A2"} {
		var ua struct {
			Unit struct {
				EPC       string `json:"epc"`
				Number    uint64 `json:"number"`
				Custodian string `json:"custodian"`
			} `json:"unit"`
			Proof *struct {
				Key string `json:"key"`
			} `json:"proof"`
			Verified *struct {
				AppHash string `json:"app_hash"`
			} `json:"verified"`
		}
		js(&ua, "query", "supply", "unit", asked, "--verify")
		if ua.Unit.EPC != units[1] || ua.Unit.Number == 0 || ua.Unit.Custodian != pharm.id || ua.Proof == nil || ua.Verified == nil || ua.Verified.AppHash == "" {
			t.Fatalf("unit %s --verify: %+v", asked, ua)
		}
	}
	// Trade details: each trading partner and the regulator read those of
	// their shipments, checked against the proven commitments; the
	// pharmacy does not read the manufacturer's shipment to the
	// distributor, and anonymous readers read none.
	first, second := shipped.Events[0].StoredID, shipped2.Events[0].StoredID
	want2 := map[string]map[uint64]string{
		"manufacturer": {first: "disclosed", second: "withheld"},
		"distributor":  {first: "disclosed", second: "disclosed"},
		"pharmacy":     {first: "withheld", second: "disclosed"},
		"regulator":    {first: "disclosed", second: "disclosed"},
		"":             {first: "withheld", second: "withheld"},
	}
	for key, want := range want2 {
		args := []string{"query", "supply", "provenance", units[1], "--verify"}
		if key != "" {
			args = append(args, "--from", key)
		}
		out, err := c.run(append(append(args, at...), "-o", "json")...)
		if err != nil {
			t.Fatalf("provenance as %q: %v\n%s", key, err, out)
		}
		var tp struct {
			Events []struct {
				ID    uint64 `json:"id"`
				Event struct {
					BizTransactions []struct {
						ID string `json:"id"`
					} `json:"biz_transactions"`
					Quantities []struct {
						Amount string `json:"amount"`
					} `json:"quantities"`
				} `json:"event"`
			} `json:"events"`
			Trade    map[uint64]string `json:"trade"`
			Verified *struct{}         `json:"verified"`
		}
		if err := json.Unmarshal([]byte(out), &tp); err != nil || tp.Verified == nil {
			t.Fatalf("provenance as %q: %v\n%s", key, err, out)
		}
		for id, st := range want {
			if tp.Trade[id] != st {
				t.Errorf("provenance as %q: event %d trade %q, want %q", key, id, tp.Trade[id], st)
			}
		}
		for _, e := range tp.Events {
			disclosed := len(e.Event.BizTransactions) == 1 && strings.Contains(e.Event.BizTransactions[0].ID, "PO-CANARY-") &&
				len(e.Event.Quantities) == 1 && e.Event.Quantities[0].Amount == canaryQty
			if (want[e.ID] == "disclosed") != disclosed {
				t.Errorf("provenance as %q: event %d details %+v, want %s", key, e.ID, e.Event, want[e.ID])
			}
		}
		if key == "" && strings.Contains(out, "PO-CANARY-") {
			t.Errorf("an anonymous provenance answer carries a purchase order:\n%s", out)
		}
	}

	// tx org set-glns: the pharmacy adds a second location GLN (its party
	// GLN kept); a GLN under the manufacturer's prefix is refused.
	newLoc := "501234500003"
	newLoc += string(org.GS1CheckDigit(newLoc))
	var sg struct {
		Code      uint32 `json:"code"`
		Codespace string `json:"codespace"`
		Log       string `json:"log"`
	}
	js(&sg, "tx", "org", "set-glns", "--from", "pharmacy", "--location-gln", pharm.loc, "--location-gln", newLoc)
	if sg.Code != 0 {
		t.Fatalf("set-glns: %+v", sg)
	}
	js(&orgs, "query", "org", "list")
	for _, o := range orgs.Orgs {
		if o.ID == pharm.id && (o.PartyGLN != pharm.party || !slices.Equal(o.LocationGLNs, []string{pharm.loc, newLoc})) {
			t.Fatalf("after set-glns: %s party %s locations %v", o.ID, o.PartyGLN, o.LocationGLNs)
		}
	}
	taken := "061414100099"
	taken += string(org.GS1CheckDigit(taken))
	js(&sg, "tx", "org", "set-glns", "--from", "pharmacy", "--party-gln", taken)
	if sg.Code != org.ErrGS1Taken.Code || sg.Codespace != org.StoreName {
		t.Fatalf("set-glns under another's prefix: %+v", sg)
	}
	t.Logf("scenario done: %d documents captured, provenance of %s verified (trust root %s)", n-1, units[1], prov.Verified.TrustRoot)
}

// watchProc is a running "medchain query supply recalls --watch -o json".
type watchProc struct {
	cmd     *exec.Cmd
	lines   chan string
	done    chan error
	stopped bool
}

// startWatch starts the CLI with args and reads its standard output, one
// JSON update per line.
func startWatch(t *testing.T, c *cli, args ...string) *watchProc {
	t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.env
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &watchProc{cmd: cmd, lines: make(chan string, 64), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			select {
			case w.lines <- sc.Text():
			default: // the test reads every line it expects; drop the rest
			}
		}
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("%v: %s", err, errb.String())
		}
		w.done <- err
	}()
	t.Cleanup(func() { w.stop(t) })
	return w
}

// recallLine is one line of "recalls --watch -o json".
type recallLine struct {
	Org     string `json:"org"`
	Height  int64  `json:"height"`
	Initial bool   `json:"initial"`
	Count   int    `json:"count"`
	Added   []struct {
		EPC string `json:"epc"`
	} `json:"added"`
}

// next returns the next update line, failing if none comes within 30 s.
func (w *watchProc) next(t *testing.T) recallLine {
	t.Helper()
	select {
	case l := <-w.lines:
		var u recallLine
		if err := json.Unmarshal([]byte(l), &u); err != nil {
			t.Fatalf("recalls --watch printed a line that is not JSON: %v\n%s", err, l)
		}
		return u
	case err := <-w.done:
		w.done <- err
		t.Fatalf("recalls --watch ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("recalls --watch printed nothing within 30s")
	}
	return recallLine{}
}

// stop interrupts the watch (Ctrl-C) and checks that it exits cleanly
// (killing it after 10 s).
func (w *watchProc) stop(t *testing.T) {
	if w.stopped {
		return
	}
	w.stopped = true
	_ = w.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-w.done:
		w.done <- err
		if err != nil {
			t.Errorf("recalls --watch after Ctrl-C: %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		t.Error("recalls --watch did not stop within 10s of Ctrl-C")
	}
}

// blockTxs calls f with every transaction of the block at height, as
// CometBFT's RPC /block serves it.
func blockTxs(t *testing.T, rpcURL string, height int64, f func(int, []byte)) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/block?height=%d", rpcURL, height))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b struct {
		Result struct {
			Block struct {
				Data struct {
					Txs [][]byte `json:"txs"`
				} `json:"data"`
			} `json:"block"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil || len(b.Result.Block.Data.Txs) == 0 {
		t.Fatalf("RPC block %d: %v (%d txs)", height, err, len(b.Result.Block.Data.Txs))
	}
	for i, tx := range b.Result.Block.Data.Txs {
		f(i, tx)
	}
}

// postCorpus posts every EPCIS document file of the shared GS1 and
// openepcis test resources to POST /epcis/capture: each answer must be 2xx,
// or 4xx with an error code and message; never 5xx.
func postCorpus(t *testing.T, nodeURL, token string) {
	root := filepath.Join("..", "..", "..", "shared", "testdata")
	var files []string
	for _, sub := range []string{"gs1-epcis", "openepcis-test-resources"} {
		dir := filepath.Join(root, sub)
		if _, err := os.Stat(dir); err != nil {
			t.Skipf("shared test data %s not present (%v); it lives beside the repository in ../shared/testdata", sub, err)
		}
		_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				if _, ok := contentTypeOf(p); ok {
					files = append(files, p)
				}
			}
			return nil
		})
	}
	type result struct {
		file   string
		status int
		body   string
	}
	results := make([]result, len(files))
	var wg sync.WaitGroup
	next := make(chan int)
	hc := &http.Client{Timeout: 60 * time.Second}
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				b, err := os.ReadFile(files[i])
				if err != nil {
					results[i] = result{files[i], -1, err.Error()}
					continue
				}
				ct, _ := contentTypeOf(files[i])
				req, _ := http.NewRequest(http.MethodPost, nodeURL+"/epcis/capture", bytes.NewReader(b))
				req.Header.Set("Content-Type", ct)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := hc.Do(req)
				if err != nil {
					results[i] = result{files[i], -1, err.Error()}
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				results[i] = result{files[i], resp.StatusCode, string(body)}
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	counts := map[int]int{}
	for _, r := range results {
		counts[r.status]++
		switch {
		case r.status >= 200 && r.status < 300:
		case r.status >= 400 && r.status < 500:
			var eb struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if json.Unmarshal([]byte(r.body), &eb) != nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Errorf("%s: %d without a reason: %.300s", r.file, r.status, r.body)
			}
		default:
			t.Errorf("%s: answered %d, want 2xx or 4xx: %.300s", r.file, r.status, r.body)
		}
	}
	t.Logf("%d documents posted: answers by status %v", len(files), counts)
	if counts[201] == 0 {
		t.Errorf("no document was captured (201): %v", counts)
	}
}

func contentTypeOf(name string) (string, bool) {
	switch {
	case strings.HasSuffix(name, ".jsonld"):
		return "application/ld+json", true
	case strings.HasSuffix(name, ".json"):
		return "application/json", true
	case strings.HasSuffix(name, ".xml"):
		return "application/xml", true
	}
	return "", false
}

// event returns an EPCIS 2.0 JSON-LD event (action "" for none) read and
// located at the GLN loc, with extra fields.
func event(kind, action, step, disp, loc string, extra map[string]any) map[string]any {
	ev := map[string]any{"type": kind, "eventTime": time.Now().UTC().Format(time.RFC3339), "eventTimeZoneOffset": "+00:00",
		"bizStep": step, "disposition": disp, "readPoint": map[string]any{"id": sgln(loc)}, "bizLocation": map[string]any{"id": sgln(loc)}}
	if action != "" {
		ev["action"] = action
	}
	for k, v := range extra {
		ev[k] = v
	}
	return ev
}

// sgln and pgln write a GLN as an EPC URN; the split of the 12 digits
// between company prefix and reference does not change the GLN.
func sgln(gln string) string { return "urn:epc:id:sgln:" + gln[:7] + "." + gln[7:12] + ".0" }
func pgln(gln string) string { return "urn:epc:id:pgln:" + gln[:7] + "." + gln[7:12] }

func writeEPCIS(t *testing.T, path string, events ...map[string]any) {
	t.Helper()
	doc := map[string]any{
		"@context": []string{"https://ref.gs1.org/standards/epcis/epcis-context.jsonld"}, "type": "EPCISDocument",
		"schemaVersion": "2.0", "creationDate": time.Now().UTC().Format(time.RFC3339), "epcisBody": map[string]any{"eventList": events},
	}
	bz, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bz, 0o644); err != nil {
		t.Fatal(err)
	}
}
