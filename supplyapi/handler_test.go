package supplyapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"

	apitypes "github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/auth"
	"github.com/medchain/medchain/epcis"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/store/proof"
	"github.com/medchain/medchain/supplyapi"
	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/supply"
)

// The test chain: org-01 a manufacturer owning the GS1 company prefix
// 4012345, org-02 a distributor, org-03 a regulator, each with a party and
// a location GLN. Captures are executed in blocks of a real App signed by
// the capturing organization's admin (standing in for the node's vault
// key, which needs a running node).
const (
	mfr, dist, reg, pharm = "org-01", "org-02", "org-03", "org-04"
	gtin                  = "04012345555011"
)

func gln(body string) string { return body + string(org.GS1CheckDigit(body)) }

var (
	partyGLN = map[string]string{mfr: gln("401234500001"), dist: gln("001234500001"), reg: gln("952123400001"), pharm: gln("501234500001")}
	locGLN   = map[string]string{mfr: gln("401234500002"), dist: gln("001234500002"), reg: gln("952123400002"), pharm: gln("501234500002")}
)

func unit(serial string) string { return "urn:epc:id:sgtin:4012345.055501." + serial }

type harnessChain struct{ h *testutil.Harness }

func (c harnessChain) Reader(name string) (store.Reader, int64, error) {
	return c.h.App.Store().Reader(name, 0)
}

func (c harnessChain) Prove(name string, key []byte, height int64) ([]byte, *cmtcrypto.ProofOps, int64, error) {
	return c.h.App.Store().Prove(name, key, height)
}

// ReaderAt reads a past height (supplyapi.HistoryReader).
func (c harnessChain) ReaderAt(name string, height int64) (store.Reader, error) {
	r, _, err := c.h.App.Store().Reader(name, height)
	return r, err
}

// BlockTime is the harness's block time (block h at genesis + h seconds).
func (c harnessChain) BlockTime(height int64) (time.Time, error) {
	return testutil.BlockTime(height), nil
}

// readers reads the supply store and the unit index as last committed.
func (f *fixture) readers() supply.Readers {
	st, _, err := f.h.App.Store().Reader(supply.StoreName, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	idx, _, err := f.h.App.Store().Reader(supply.IndexStoreName, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	return supply.Readers{State: st, Index: idx}
}

type fixture struct {
	t      *testing.T
	h      *testutil.Harness
	srv    *httptest.Server
	hd     *supplyapi.Handler
	admin  map[string]*testutil.Signer
	trades *supplyapi.TradeStore
	// txMsgs holds the wire encoding of every message submitted, the bytes
	// a transaction carries into a block.
	txMsgs [][]byte
}

func newFixture(t *testing.T, submit bool) *fixture { return newFixtureWith(t, submit, nil) }

// newFixtureWith is newFixture with the handler's configuration adjusted
// by tune (when not nil).
func newFixtureWith(t *testing.T, submit bool, tune func(*supplyapi.Config)) *fixture {
	h := testutil.New(t, testutil.Config{Orgs: 4, OrgTypes: []string{"manufacturer", "distributor", "regulator", "pharmacy"},
		OrgGenesis: func(g *org.Genesis) {
			for i := range g.Orgs {
				o := &g.Orgs[i]
				if o.ID == mfr {
					o.GS1Prefixes = []string{"4012345"}
				}
				o.PartyGLN, o.LocationGLNs = partyGLN[o.ID], []string{locGLN[o.ID]}
			}
		}})
	h.MustBlock()
	f := &fixture{t: t, h: h, admin: map[string]*testutil.Signer{}}
	for _, o := range h.Orgs {
		f.admin[o.ID] = o.Admin
	}
	trades, err := supplyapi.OpenTradeStore(filepath.Join(t.TempDir(), "trade"))
	if err != nil {
		t.Fatal(err)
	}
	f.trades = trades
	cfg := supplyapi.Config{Chain: harnessChain{h}, ChainID: h.ChainID, Keeper: h.App.Supply.Keeper, Trades: trades}
	if submit {
		cfg.Submit = func(_ context.Context, msgs ...module.Msg) (*apitypes.TxResult, error) {
			m := msgs[0].(*supply.MsgCapture)
			f.txMsgs = append(f.txMsgs, m.MarshalWire())
			r := h.Exec(f.admin[m.Org], msgs...)
			out := &apitypes.TxResult{Height: h.Height, Code: r.Code, Codespace: r.Codespace, Log: r.Log, Stage: "deliver", Hash: "00"}
			for _, ev := range r.Events {
				e := apitypes.Event{Type: ev.Type}
				for _, a := range ev.Attributes {
					e.Attrs = append(e.Attrs, apitypes.EventAttr{Key: a.Key, Value: a.Value})
				}
				out.Events = append(out.Events, e)
			}
			return out, nil
		}
	}
	if tune != nil {
		tune(&cfg)
	}
	hd := supplyapi.New(cfg)
	f.hd = hd
	mux := http.NewServeMux()
	for _, rt := range hd.Routes() {
		mux.Handle(rt.Method+" "+rt.Pattern, rt.Handler)
	}
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	t.Cleanup(hd.Close) // runs first: open recall streams end, so Close does not wait for them
	return f
}

func (f *fixture) token(orgID string) string {
	s := f.admin[orgID]
	iss, err := auth.Issue(s.Key.Signing, s.DID, s.KeyID, f.h.ChainID, time.Minute)
	if err != nil {
		f.t.Fatal(err)
	}
	return iss.Token
}

func (f *fixture) do(method, path, token, ctype string, body []byte, out any) int {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			f.t.Fatalf("%s %s: %d, undecodable answer: %v", method, path, resp.StatusCode, err)
		}
	}
	return resp.StatusCode
}

func doc(events ...map[string]any) []byte {
	bz, _ := json.Marshal(map[string]any{"@context": []string{"https://ref.gs1.org/standards/epcis/epcis-context.jsonld"},
		"type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-01-01T00:00:00Z",
		"epcisBody": map[string]any{"eventList": events}})
	return bz
}

func sgln(g string) string { return "urn:epc:id:sgln:" + g[:7] + "." + g[7:12] + ".0" }

func ev(step, action string, extra map[string]any) map[string]any {
	e := map[string]any{"type": "ObjectEvent", "action": action, "eventTime": "2026-01-01T10:00:00Z", "eventTimeZoneOffset": "+00:00", "bizStep": step}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

func (f *fixture) register() {
	f.t.Helper()
	r := f.h.Exec(f.admin[mfr], &supply.MsgRegisterProduct{Org: mfr, GTIN: gtin, Lot: "L1", Expiry: "2030-01-31", HasTempRange: true, TempMinMilli: 2000, TempMaxMilli: 8000})
	testutil.WantCode(f.t, "register", r, "", 0)
}

// TestProvenanceProofs: captures through POST /epcis/capture; the
// provenance answer proves the unit and every event against the committed
// app hash of the height read, and a changed byte fails the proof.
func TestProvenanceProofs(t *testing.T) {
	f := newFixture(t, true)
	f.register()
	var cr supplyapi.CaptureResult
	commission := doc(ev("commissioning", "ADD", map[string]any{"epcList": []string{unit("1"), unit("2")},
		"ilmd": map[string]any{"cbvmda:lotNumber": "L1", "cbvmda:itemExpirationDate": "2030-01-31"}}))
	if st := f.do("POST", "/epcis/capture", f.token(mfr), "application/ld+json", commission, &cr); st != http.StatusCreated {
		t.Fatalf("commission: %d %+v", st, cr)
	}
	if cr.Status != "committed" || len(cr.Events) != 1 || cr.Events[0].Outcome != supply.OutcomeApplied || cr.Events[0].StoredID == 0 {
		t.Fatalf("commission answer %+v", cr)
	}
	ship := doc(ev("shipping", "OBSERVE", map[string]any{"epcList": []string{unit("1")}, "disposition": "in_transit",
		"destinationList": []any{map[string]any{"type": "location", "destination": sgln(locGLN[dist])}}}))
	if st := f.do("POST", "/epcis/capture", f.token(mfr), "application/json", ship, &cr); st != http.StatusCreated {
		t.Fatalf("ship: %d %+v", st, cr)
	}

	var pa supplyapi.ProvenanceAnswer
	if st := f.do("GET", "/epcis/provenance?epc="+url.QueryEscape(unit("1")), "", "", nil, &pa); st != 200 {
		t.Fatalf("provenance: %d", st)
	}
	appHash := f.h.AppHashes[pa.Height]
	if pa.Unit == nil || pa.Unit.Status != supply.StatusInTransit || len(pa.Events) != 2 || pa.UnitProof == nil {
		t.Fatalf("provenance %+v", pa)
	}
	check := func(p *apitypes.Proof, key []byte) {
		t.Helper()
		if p == nil || p.Height != pa.Height || !bytes.Equal(p.Key, key) {
			t.Fatalf("proof %+v, want key %X at %d", p, key, pa.Height)
		}
		if err := proof.Verify(p.ProofOps, appHash, supply.StoreName, p.Key, p.Value); err != nil {
			t.Fatalf("proof of %X: %v", key, err)
		}
		bad := bytes.Clone(p.Value)
		bad[len(bad)/2] ^= 1
		if err := proof.Verify(p.ProofOps, appHash, supply.StoreName, p.Key, bad); !errors.Is(err, proof.ErrValueMismatch) && !errors.Is(err, proof.ErrRootMismatch) {
			t.Fatalf("a changed value verified: %v", err)
		}
	}
	// The unit's record is at its number's key, and the proven value is
	// that unit.
	check(pa.UnitProof, supply.UnitKey(pa.Unit.Number))
	var u supply.Unit
	if err := json.Unmarshal(pa.UnitProof.Value, &u); err != nil || u.EPC != unit("1") || u.Number != 1 || u.Custodian != mfr || u.PendingTo != dist {
		t.Fatalf("proven unit %+v (%v)", u, err)
	}
	for _, e := range pa.Events {
		check(e.Proof, supply.EventKey(e.ID))
		var se supply.StoredEvent
		if err := json.Unmarshal(e.Proof.Value, &se); err != nil || se.ID != e.ID || se.Event.Hash != e.Event.Hash {
			t.Fatalf("proven event %d: %+v (%v)", e.ID, se, err)
		}
	}
	// prove=false omits the proofs; an unknown EPC is 404.
	var plain supplyapi.ProvenanceAnswer
	if st := f.do("GET", "/epcis/provenance?prove=false&epc="+url.QueryEscape(unit("2")), "", "", nil, &plain); st != 200 || plain.UnitProof != nil || plain.Events[0].Proof != nil {
		t.Fatalf("prove=false: %d %+v", st, plain)
	}
	var eb supplyapi.ErrorBody
	if st := f.do("GET", "/epcis/provenance?epc="+url.QueryEscape(unit("9")), "", "", nil, &eb); st != 404 || eb.Error.Code != "not_found" {
		t.Fatalf("unknown unit: %d %+v", st, eb)
	}
	// An EPC that only appears in events (a returnable asset) has no unit
	// record: its events are proven, and no unit proof is sent (absence
	// cannot be proven through the unauthenticated unit index).
	const asset = "urn:epc:id:grai:4012345.00001.7"
	inspect := doc(ev("inspecting", "OBSERVE", map[string]any{"epcList": []string{asset}}))
	if st := f.do("POST", "/epcis/capture", f.token(mfr), "application/json", inspect, &cr); st != http.StatusCreated {
		t.Fatalf("inspect: %d %+v", st, cr)
	}
	var ap supplyapi.ProvenanceAnswer
	if st := f.do("GET", "/epcis/provenance?epc="+url.QueryEscape(asset), "", "", nil, &ap); st != 200 || ap.Unit != nil || ap.UnitProof != nil || len(ap.Events) != 1 {
		t.Fatalf("provenance of %s: %d %+v", asset, st, ap)
	}
	if p := ap.Events[0].Proof; p == nil || !bytes.Equal(p.Key, supply.EventKey(ap.Events[0].ID)) ||
		proof.Verify(p.ProofOps, f.h.AppHashes[ap.Height], supply.StoreName, p.Key, p.Value) != nil {
		t.Fatalf("event proof of %s: %+v", asset, p)
	}
	// /supply/unit proves the unit record too.
	var ua supplyapi.UnitAnswer
	if st := f.do("GET", "/supply/unit?epc="+url.QueryEscape("https://id.gs1.org/01/"+gtin+"/21/2"), "", "", nil, &ua); st != 200 || ua.Unit.EPC != unit("2") || ua.Lot == nil || !ua.Lot.HasTempRange {
		t.Fatalf("unit by Digital Link: %d %+v", st, ua)
	}
	if !bytes.Equal(ua.Proof.Key, supply.UnitKey(ua.Unit.Number)) || ua.Unit.Number != 2 {
		t.Fatalf("unit proof of key %X for unit number %d", ua.Proof.Key, ua.Unit.Number)
	}
	if err := proof.Verify(ua.Proof.ProofOps, f.h.AppHashes[ua.Height], supply.StoreName, ua.Proof.Key, ua.Proof.Value); err != nil {
		t.Fatal(err)
	}
}

// TestCaptureRefusals: every refusal is a 4xx with a machine code and a
// reason, and changes nothing.
func TestCaptureRefusals(t *testing.T) {
	f := newFixture(t, true)
	tok := f.token(mfr)
	commission := doc(ev("commissioning", "ADD", map[string]any{"epcList": []string{unit("1")}}))
	cases := []struct {
		name, token, ctype string
		body               []byte
		status             int
		code               string
	}{
		{"no token", "", "application/json", commission, 401, "unauthorized"},
		{"bad token", "x.y.z", "application/json", commission, 401, "unauthorized"},
		{"content type", tok, "text/plain", commission, 415, "unsupported_media_type"},
		{"not EPCIS", tok, "application/json", []byte(`{"hello": 1}`), 400, "invalid_epcis"},
		{"duplicate EPC", tok, "application/json", doc(ev("commissioning", "ADD", map[string]any{"epcList": []string{unit("1"), unit("1")}})), 400, "invalid_capture"},
		{"unregistered product", tok, "application/json", commission, 422, "supply/7"},
		{"distributor commissions", f.token(dist), "application/json", commission, 422, "supply/7"},
	}
	for _, c := range cases {
		var eb supplyapi.ErrorBody
		if st := f.do("POST", "/epcis/capture", c.token, c.ctype, c.body, &eb); st != c.status || eb.Error.Code != c.code || eb.Error.Message == "" {
			t.Errorf("%s: %d %+v, want %d %s", c.name, st, eb, c.status, c.code)
		}
	}
	f.register()
	var eb supplyapi.ErrorBody
	if st := f.do("POST", "/epcis/capture", f.token(dist), "application/json", commission, &eb); st != 422 || eb.Error.Code != "supply/5" || len(eb.Events) != 1 || eb.Events[0].Event != 0 {
		t.Errorf("commission by a non-owner: %d %+v", st, eb)
	}
	if u := f.h.App.Supply.Keeper.Unit(f.readers(), unit("1")); u != nil {
		t.Fatalf("a refused capture changed state: %+v", u)
	}
}

// TestValidateOnly: without a submitter, a valid capture answers 202 and
// writes nothing.
func TestValidateOnly(t *testing.T) {
	f := newFixture(t, false)
	var cr supplyapi.CaptureResult
	commission := doc(ev("commissioning", "ADD", map[string]any{"epcList": []string{unit("1")}}))
	if st := f.do("POST", "/epcis/capture", f.token(mfr), "application/json", commission, &cr); st != http.StatusAccepted || cr.Status != "validated" || cr.Org != mfr || !strings.HasPrefix(cr.Events[0].Hash, "ni:///sha-256;") {
		t.Fatalf("validate only: %d %+v", st, cr)
	}
}

// TestRecallsAndAlertsNeedMembership: the recall notice list and the alert
// feed answer for the caller's organization only.
func TestRecallsAndAlertsNeedMembership(t *testing.T) {
	f := newFixture(t, true)
	f.register()
	for _, path := range []string{"/supply/recalls", "/supply/alerts"} {
		var eb supplyapi.ErrorBody
		if st := f.do("GET", path, "", "", nil, &eb); st != 401 {
			t.Errorf("%s without a token: %d", path, st)
		}
		if st := f.do("GET", path+"?org="+dist, f.token(mfr), "", nil, &eb); st != 403 || eb.Error.Code != "forbidden" {
			t.Errorf("%s for another organization: %d %+v", path, st, eb)
		}
	}
	commission := doc(ev("commissioning", "ADD", map[string]any{"epcList": []string{unit("1"), unit("2")},
		"ilmd": map[string]any{"cbvmda:lotNumber": "L1"}}))
	if st := f.do("POST", "/epcis/capture", f.token(mfr), "application/json", commission, nil); st != 201 {
		t.Fatalf("commission: %d", st)
	}
	testutil.WantCode(t, "recall", f.h.Exec(f.admin[reg], &supply.MsgRecall{Org: reg, GTIN: gtin, Lots: []string{"L1"}, Reason: "test"}), "", 0)
	var ra supplyapi.RecallsAnswer
	if st := f.do("GET", "/supply/recalls", f.token(mfr), "", nil, &ra); st != 200 || ra.Org != mfr || len(ra.Notices) != 2 || len(ra.Recalls) != 1 {
		t.Fatalf("manufacturer's recalls: %d %+v", st, ra)
	}
	if st := f.do("GET", "/supply/recalls", f.token(dist), "", nil, &ra); st != 200 || ra.Org != dist || len(ra.Notices) != 0 {
		t.Fatalf("distributor's recalls: %d %+v", st, ra)
	}
	var v supplyapi.VerifyAnswer
	if st := f.do("GET", fmt.Sprintf("/verify?gtin=%s&serial=1", gtin), "", "", nil, &v); st != 200 || v.Verified || v.Reason != supply.ReasonRecalled {
		t.Fatalf("verify a recalled unit: %d %+v", st, v)
	}
}

// TestExampleDocuments: the walkthrough's documents (docs/examples/supply)
// are valid EPCIS 2.0 that convert into a capture the chain's stateless
// checks accept.
func TestExampleDocuments(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "docs", "examples", "supply", "*.jsonld"))
	if err != nil || len(files) < 8 {
		t.Fatalf("example documents: %v %v", files, err)
	}
	resolve := epcis.PrefixList("0614141", "4012345")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := epcis.Parse(b, epcis.JSON)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		m := &supply.MsgCapture{Org: "dev-manufacturer"}
		for i := range d.Events {
			ev, problems := supplyapi.ToSupplyEvent(&d.Events[i], i, resolve)
			if len(problems) > 0 {
				t.Fatalf("%s: %v", f, problems)
			}
			m.Events = append(m.Events, ev)
		}
		if err := m.ValidateBasic(); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
}
