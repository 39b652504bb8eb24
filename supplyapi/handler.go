package supplyapi

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cometbft/cometbft/libs/log"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"

	apitypes "github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/auth"
	"github.com/medchain/medchain/epcis"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/supply"
)

// Chain reads committed state.
type Chain interface {
	// Reader returns a reader of one module store at the latest committed
	// height, and that height. The handler also reads the supply module's
	// index store (supply.IndexStoreName) through it, as store.MultiStore
	// serves index stores: the latest content, at any height.
	Reader(name string) (store.Reader, int64, error)
	// Prove returns the value of key in store name at exactly height and
	// the ProofOps chaining it (or its absence) to the app hash committed
	// for that height (package store/proof, ADR 0002).
	Prove(name string, key []byte, height int64) ([]byte, *cmtcrypto.ProofOps, int64, error)
	// BlockTime returns the time in the header of block height: the block
	// time the state at height was computed with (the genesis time for
	// height 0). GET /verify judges expiry and custody gaps with it, so
	// that its answer is a function of the state and the height read.
	BlockTime(height int64) (time.Time, error)
}

// Submitter signs and submits msgs (the node's service identity acting for
// an authenticated member), waits for the commit and returns the result.
// A refused transaction returns its result with a non-zero code.
type Submitter func(ctx context.Context, msgs ...module.Msg) (*apitypes.TxResult, error)

// Config configures the Handler.
type Config struct {
	Chain   Chain
	ChainID string
	Keeper  supply.Keeper
	// Submit submits captures; nil makes POST /epcis/capture validate only
	// (answering 202 with the hashes and nothing written).
	Submit Submitter
	// Signer is the DID that signs submitted captures (shown in answers).
	Signer string
	// Trades keeps the trade details of the captures this node submits
	// (sealed: the chain gets only their salted commitment) and serves them
	// to trading partners and regulators. Required to submit a capture
	// with trade details; nil discloses nothing.
	Trades *TradeStore
	// MaxBody bounds a capture document (default 16 MiB); larger answers 413.
	MaxBody int64
	// Now is the wall clock, used only for tokens and document creation
	// dates, never to judge state.
	Now    func() time.Time
	Logger log.Logger

	// Recall notice streams (GET /supply/recalls/stream). StreamPoll is how
	// often a stream checks the latest committed height (default
	// DefaultStreamPoll); StreamHeartbeat the interval of keep-alive
	// comments on an idle stream (DefaultStreamHeartbeat); a client that
	// does not take a write within StreamWriteTimeout is dropped
	// (DefaultStreamWriteTimeout); at most MaxStreams are open at once
	// (DefaultMaxStreams), more are answered 503.
	StreamPoll         time.Duration
	StreamHeartbeat    time.Duration
	StreamWriteTimeout time.Duration
	MaxStreams         int
}

// Handler serves the supply-chain routes.
type Handler struct {
	cfg      Config
	verifier *auth.Verifier

	streams   atomic.Int64  // open recall streams
	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

// New returns the handler.
func New(cfg Config) *Handler {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 16 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewNopLogger()
	}
	if cfg.StreamPoll <= 0 {
		cfg.StreamPoll = DefaultStreamPoll
	}
	if cfg.StreamHeartbeat <= 0 {
		cfg.StreamHeartbeat = DefaultStreamHeartbeat
	}
	if cfg.StreamWriteTimeout <= 0 {
		cfg.StreamWriteTimeout = DefaultStreamWriteTimeout
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	h := &Handler{cfg: cfg, done: make(chan struct{})}
	h.verifier = &auth.Verifier{ChainID: cfg.ChainID, Now: cfg.Now, Identities: func() (store.Reader, error) {
		r, _, err := cfg.Chain.Reader(identity.StoreName)
		return r, err
	}}
	return h
}

// Route is one route to mount on the node's API.
type Route struct {
	Method, Pattern, Summary string
	Handler                  http.Handler
}

// Routes returns the supply-chain routes.
func (h *Handler) Routes() []Route {
	return []Route{
		{"POST", "/epcis/capture", "EPCIS 2.0 capture (JSON/JSON-LD, 2.0 XML, 1.2 XML; bearer token; ?org= when the caller captures for several organizations): validated, converted and submitted as one MsgCapture; 201 with per-event hashes, 4xx with a reason per event.", http.HandlerFunc(h.capture)},
		{"GET", "/epcis/events", "EPCIS 2.0 query: MATCH_epc, MATCH_anyEPC, EQ_bizStep, EQ_disposition, GE_/LT_eventTime, GE_/LT_recordTime, perPage, nextPageToken; answers an EPCISQueryDocument. Trade details (bizTransactionList, quantity, source and destination lists) are held off chain: with a bearer token of a member of a trading partner or of a regulator, they are included with the salt opening medchain:tradeCommitment.", http.HandlerFunc(h.events)},
		{"GET", "/epcis/provenance", "Provenance of one unit (?epc=EPC URI or Digital Link): the unit and every stored event on it, oldest first, each with a Merkle proof against the app hash of the height read (prove=false omits them). With a bearer token of a member of a trading partner or a regulator, events carry their trade details and salt.", http.HandlerFunc(h.provenance)},
		{"GET", "/verify", "Public verification (no token): ?gtin=&serial=[&lot=&expiry=] or ?link=<GS1 Digital Link>; answers verified, reason and height.", http.HandlerFunc(h.verify)},
		{"GET", "/supply/unit", "One unit (?epc=EPC URI or Digital Link) with its product, lot and a Merkle proof of the unit record.", http.HandlerFunc(h.unit)},
		{"GET", "/supply/product", "One product (?gtin=) with its lots and recalls, and a Merkle proof of the product record.", http.HandlerFunc(h.product)},
		{"GET", "/supply/recalls", "Recall notices (bearer token; ?org= when the caller belongs to several organizations): exactly the recalled units the organization holds, and every recall.", http.HandlerFunc(h.recalls)},
		{"GET", "/supply/recalls/stream", "Recall notice subscription (Server-Sent Events; bearer token; ?org=): a \"notices\" event with the organization's recall notices at connect, as /supply/recalls, then one each time a committed block changes them (added, removed, changed units and the whole list, with the height); \"end\" when the node closes the stream (token expired, membership ended, node stopping).", http.HandlerFunc(h.recallStream)},
		{"GET", "/supply/alerts", "Counterfeit and diversion alerts the caller's organization may see (bearer token; ?org=): every alert for a regulator.", http.HandlerFunc(h.alerts)},
	}
}

// ErrorBody is the JSON body of every error answer: the node API's error
// shape ({"error": {"code", "message"}}) plus, for captures, one reason per
// event or field.
type ErrorBody struct {
	Error  ErrorDetail        `json:"error"`
	Events []epcis.FieldError `json:"errors,omitempty"`
}

// ErrorDetail is a stable machine-readable code and a message for people.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func apiError(code, msg string, events []epcis.FieldError) ErrorBody {
	return ErrorBody{Error: ErrorDetail{Code: code, Message: msg}, Events: events}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, code, format string, args ...any) {
	writeJSON(w, status, apiError(code, fmt.Sprintf(format, args...), nil))
}

// CaptureEvent is one event of a capture answer. Once committed, Outcome
// says what the chain did with it: "applied" (stored as event StoredID,
// custody updated) or "alert" (not applied: it raised counterfeit or
// diversion alert AlertID of kind Alert, for the Reason given; ADR 0004).
type CaptureEvent struct {
	Index    int    `json:"index"`
	Type     string `json:"type"`
	Hash     string `json:"hash"`
	EventID  string `json:"eventID,omitempty"`
	Outcome  string `json:"outcome,omitempty"`
	StoredID uint64 `json:"stored_id,omitempty"`
	AlertID  uint64 `json:"alert_id,omitempty"`
	Alert    string `json:"alert,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// TradeCommitment (hex) is set when the event's trade details were
	// sealed: the chain holds this commitment, the node the details.
	TradeCommitment string `json:"trade_commitment,omitempty"`
}

// SetOutcomes fills each event's outcome from the committed transaction's
// "supply.event" events.
func (res *CaptureResult) SetOutcomes(tx *apitypes.TxResult) {
	for _, ev := range tx.Events {
		if ev.Type != "supply.event" {
			continue
		}
		a := map[string]string{}
		for _, at := range ev.Attrs {
			a[at.Key] = at.Value
		}
		i, err := strconv.Atoi(a["index"])
		if err != nil || i < 0 || i >= len(res.Events) {
			continue
		}
		ce := &res.Events[i]
		ce.Outcome, ce.Alert, ce.Reason = a["outcome"], a["alert"], a["reason"]
		ce.StoredID, _ = strconv.ParseUint(a["event_id"], 10, 64)
		ce.AlertID, _ = strconv.ParseUint(a["alert_id"], 10, 64)
	}
}

// CaptureResult answers a capture.
type CaptureResult struct {
	Org    string `json:"org"`
	Status string `json:"status"` // "committed" or "validated"
	// Signer is the DID that signed the capture (the node's service
	// identity), "" when validated only.
	Signer string         `json:"signer,omitempty"`
	Height int64          `json:"height,omitempty"`
	TxHash string         `json:"tx_hash,omitempty"`
	Events []CaptureEvent `json:"events"`
}

func (h *Handler) capture(w http.ResponseWriter, r *http.Request) {
	cl, ok := h.claims(w, r)
	if !ok {
		return
	}
	format := epcis.Detect
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		switch {
		case mt == "application/json" || mt == "application/ld+json" || strings.HasSuffix(mt, "+json"):
			format = epcis.JSON
		case mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml"):
			format = epcis.XML
		default:
			fail(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "content type %q: use application/json, application/ld+json, application/xml or text/xml", clip(mt))
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.cfg.MaxBody+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(w, http.StatusRequestEntityTooLarge, "too_large", "the document exceeds the node's request limit of %d bytes", mbe.Limit)
			return
		}
		fail(w, http.StatusBadRequest, "bad_request", "cannot read the body")
		return
	}
	if int64(len(body)) > h.cfg.MaxBody {
		fail(w, http.StatusRequestEntityTooLarge, "too_large", "the document exceeds %d bytes", h.cfg.MaxBody)
		return
	}
	doc, err := epcis.Parse(body, format)
	if err != nil {
		var ve *epcis.ValidationError
		if errors.As(err, &ve) {
			writeJSON(w, http.StatusBadRequest, apiError("invalid_epcis", ve.Error(), ve.Errors))
			return
		}
		fail(w, http.StatusBadRequest, "invalid_epcis", "%v", err)
		return
	}
	orgs, _, ok := h.state(w, org.StoreName)
	if !ok {
		return
	}
	orgID, status, msg := h.captureOrg(orgs, cl.DID, r.URL.Query().Get("org"))
	if status != 0 {
		fail(w, status, "forbidden", "%s", msg)
		return
	}
	resolve := func(digits string) int {
		_, p := (org.Keeper{}).PrefixOwner(orgs, digits)
		return len(p)
	}
	res := CaptureResult{Org: orgID, Status: "validated"}
	m := &supply.MsgCapture{Org: orgID}
	var problems []epcis.FieldError
	for i := range doc.Events {
		ev, p := ToSupplyEvent(&doc.Events[i], i, resolve)
		problems = append(problems, p...)
		m.Events = append(m.Events, ev)
		res.Events = append(res.Events, CaptureEvent{Index: i, Type: doc.Events[i].Type, Hash: doc.Events[i].Hash, EventID: doc.Events[i].EventID})
	}
	if len(problems) > 0 {
		writeJSON(w, http.StatusBadRequest, apiError("invalid_epcis", "events cannot be converted", problems))
		return
	}
	// The chain's stateless checks (module limits, duplicate EPCs, sensor
	// reports the chain cannot store): the document's fault, not the node's.
	if err := m.ValidateBasic(); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError("invalid_capture", err.Error(), eventErrors(err.Error())))
		return
	}
	if h.cfg.Submit == nil {
		writeJSON(w, http.StatusAccepted, res)
		return
	}
	// Seal: each event's trade details leave the message for this node's
	// trade-details store, the chain gets their salted commitment. The
	// records are written before submitting; a refused capture leaves
	// orphans that no stored event names.
	var recs []*TradeRecord
	for i := range m.Events {
		sealed, rec, err := Seal(m.Events[i], orgID, orgs)
		if err != nil {
			h.cfg.Logger.Error("sealing a capture failed", "org", orgID, "err", err.Error())
			fail(w, http.StatusServiceUnavailable, "unavailable", "the capture could not be sealed; retry later")
			return
		}
		if rec == nil {
			continue
		}
		if h.cfg.Trades == nil {
			fail(w, http.StatusServiceUnavailable, "unavailable", "this node keeps no trade-details store, so it cannot capture events with trade details (event %d)", i)
			return
		}
		m.Events[i] = sealed
		recs = append(recs, rec)
		res.Events[i].TradeCommitment = hex.EncodeToString(rec.Commitment)
	}
	if len(recs) > 0 {
		if err := m.ValidateBasic(); err != nil {
			writeJSON(w, http.StatusBadRequest, apiError("invalid_capture", err.Error(), eventErrors(err.Error())))
			return
		}
		for _, rec := range recs {
			if err := h.cfg.Trades.Put(rec); err != nil {
				h.cfg.Logger.Error("keeping trade details failed", "org", orgID, "err", err.Error())
				fail(w, http.StatusServiceUnavailable, "unavailable", "the capture's trade details could not be kept; retry later")
				return
			}
		}
	}
	tx, err := h.cfg.Submit(r.Context(), m)
	if err != nil && (tx == nil || tx.Code == 0) {
		h.cfg.Logger.Error("capture submission failed", "org", orgID, "err", err.Error())
		fail(w, http.StatusServiceUnavailable, "unavailable", "the capture could not be submitted; retry later")
		return
	}
	if tx.Code != 0 {
		writeJSON(w, http.StatusUnprocessableEntity, apiError(tx.Codespace+"/"+strconv.FormatUint(uint64(tx.Code), 10),
			"rejected by the chain: "+tx.Log, eventErrors(tx.Log)))
		return
	}
	res.Status, res.Height, res.TxHash, res.Signer = "committed", tx.Height, tx.Hash, h.cfg.Signer
	res.SetOutcomes(tx)
	writeJSON(w, http.StatusCreated, res)
}

// eventErrors extracts "event N" from a module log, when it names one.
func eventErrors(logLine string) []epcis.FieldError {
	i := strings.Index(logLine, "event ")
	if i < 0 {
		return nil
	}
	n := 0
	j := i + len("event ")
	for j < len(logLine) && logLine[j] >= '0' && logLine[j] <= '9' {
		n = n*10 + int(logLine[j]-'0')
		j++
	}
	if j == i+len("event ") {
		return nil
	}
	return []epcis.FieldError{{Event: n, Reason: strings.TrimSpace(logLine)}}
}

// captureOrg picks the organization the caller captures for: the one named
// (the caller must hold a capture role there) or the only one where the
// caller holds a capture role.
func (h *Handler) captureOrg(orgs store.Reader, did, want string) (string, int, string) {
	var candidates []string
	for _, m := range (org.Keeper{}).Memberships(orgs, did) {
		for _, role := range supply.CaptureRoles {
			if m.HasRole(role) {
				candidates = append(candidates, m.Org)
				break
			}
		}
	}
	if want != "" {
		for _, c := range candidates {
			if c == want {
				return c, 0, ""
			}
		}
		return "", http.StatusForbidden, "the caller may not capture events for organization " + clip(want)
	}
	switch len(candidates) {
	case 0:
		return "", http.StatusForbidden, "the caller holds no capture role in any organization"
	case 1:
		return candidates[0], 0, ""
	}
	return "", http.StatusBadRequest, "the caller captures for several organizations; name one with ?org="
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// VerifyAnswer answers GET /verify.
type VerifyAnswer struct {
	supply.VerifyResult
	Height int64 `json:"height"`
	// BlockTime is the time of block Height, the "now" expiry and custody
	// gaps were judged at.
	BlockTime time.Time `json:"block_time,omitzero"`
}

func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	gtin, serial, lot, expiry := q.Get("gtin"), q.Get("serial"), q.Get("lot"), q.Get("expiry")
	if link := q.Get("link"); link != "" {
		dl, err := epcis.ParseDigitalLink(link)
		if err != nil || dl.Key != "01" || dl.Qualifiers["21"] == "" {
			fail(w, http.StatusBadRequest, "bad_request", "link must be a GS1 Digital Link with a GTIN (01) and a serial (21)")
			return
		}
		gtin, serial = dl.Value, dl.Qualifiers["21"]
		if l := dl.Qualifiers["10"]; l != "" {
			lot = l
		} else if l := dl.Attributes["10"]; l != "" {
			lot = l
		}
		if e := dl.Attributes["17"]; e != "" {
			expiry = yymmdd(e)
		}
	}
	if gtin == "" || serial == "" {
		fail(w, http.StatusBadRequest, "bad_request", "give gtin and serial, or link")
		return
	}
	rs, height, ok := h.supplyState(w)
	if !ok {
		return
	}
	// Judged at the block time of the height read, not by this node's
	// clock: the answer is a function of (state, height).
	bt, err := h.cfg.Chain.BlockTime(height)
	if err != nil {
		h.cfg.Logger.Error("block time unavailable", "height", height, "err", err.Error())
		fail(w, http.StatusServiceUnavailable, "unavailable", "the time of block %d is not readable yet; retry", height)
		return
	}
	res := h.cfg.Keeper.Verify(rs, gtin, serial, lot, expiry, bt)
	writeJSON(w, http.StatusOK, VerifyAnswer{VerifyResult: res, Height: height, BlockTime: bt.UTC()})
}

// yymmdd turns a GS1 AI 17 date (YYMMDD) into YYYY-MM-DD (years 2000-2099;
// day 00 means the month's last day).
func yymmdd(s string) string {
	if len(s) != 6 {
		return s
	}
	y, m, d := "20"+s[:2], s[2:4], s[4:6]
	if d == "00" {
		yy, _ := strconv.Atoi(y)
		mm, _ := strconv.Atoi(m)
		if mm >= 1 && mm <= 12 {
			last := time.Date(yy, time.Month(mm)+1, 0, 0, 0, 0, 0, time.UTC).Day()
			d = fmt.Sprintf("%02d", last)
		}
	}
	return y + "-" + m + "-" + d
}

func (h *Handler) toURN(s string) string {
	if !strings.HasPrefix(s, "http") {
		return s
	}
	orgs, _, err := h.cfg.Chain.Reader(org.StoreName)
	if err != nil {
		return s
	}
	if urn, ok := epcis.ToURN(s, func(d string) int { _, p := (org.Keeper{}).PrefixOwner(orgs, d); return len(p) }); ok {
		return urn
	}
	return s
}

// queryParams lists the EPCIS query parameters GET /epcis/events accepts.
var queryParams = map[string]bool{"MATCH_epc": true, "MATCH_anyEPC": true, "EQ_bizStep": true, "EQ_disposition": true,
	"GE_eventTime": true, "LT_eventTime": true, "GE_recordTime": true, "LT_recordTime": true, "perPage": true, "nextPageToken": true}

func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if !queryParams[k] {
			fail(w, http.StatusBadRequest, "query_parameter", "unknown or unsupported query parameter %q", clip(k))
			return
		}
	}
	v, ok := h.viewerOf(w, r)
	if !ok {
		return
	}
	var f supply.EventFilter
	if e := q.Get("MATCH_epc"); e != "" {
		f.EPC = h.toURN(e)
	} else if e := q.Get("MATCH_anyEPC"); e != "" {
		f.EPC = h.toURN(e)
	}
	if b := q.Get("EQ_bizStep"); b != "" {
		s, ok := epcis.ShortBizStep(b)
		if !ok {
			fail(w, http.StatusBadRequest, "query_parameter", "EQ_bizStep %q is not a CBV business step or a URI", clip(b))
			return
		}
		f.BizStep = s
	}
	if d := q.Get("EQ_disposition"); d != "" {
		s, ok := epcis.ShortDisposition(d)
		if !ok {
			fail(w, http.StatusBadRequest, "query_parameter", "EQ_disposition %q is not a CBV disposition or a URI", clip(d))
			return
		}
		f.Disposition = s
	}
	parseT := func(name string) (time.Time, bool) {
		v := q.Get(name)
		if v == "" {
			return time.Time{}, true
		}
		t, err := epcis.ParseTime(v)
		if err != nil {
			fail(w, http.StatusBadRequest, "query_parameter", "%s: %v", name, err)
			return time.Time{}, false
		}
		return t, true
	}
	geE, ok1 := parseT("GE_eventTime")
	ltE, ok2 := parseT("LT_eventTime")
	geR, ok3 := parseT("GE_recordTime")
	ltR, ok4 := parseT("LT_recordTime")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return
	}
	f.From, f.To = geR, ltR
	perPage := 100
	if p := q.Get("perPage"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > supply.DefaultEventLimit {
			fail(w, http.StatusBadRequest, "query_parameter", "perPage must be 1 to %d", supply.DefaultEventLimit)
			return
		}
		perPage = n
	}
	if t := q.Get("nextPageToken"); t != "" {
		n, err := strconv.ParseUint(t, 10, 64)
		if err != nil {
			fail(w, http.StatusBadRequest, "query_parameter", "bad nextPageToken")
			return
		}
		f.After = n
	}
	rs, height, ok := h.supplyState(w)
	if !ok {
		return
	}
	var list []any
	var last uint64
	more := false
	// Scan in bounded pages until perPage events pass the event-time filter.
	for round := 0; round < 50 && len(list) < perPage; round++ {
		f.Limit = perPage + 1
		page := h.cfg.Keeper.Events(rs, f)
		for _, se := range page {
			if len(list) == perPage {
				more = true
				break
			}
			last = se.ID
			t := time.UnixMilli(se.Event.EventTimeMs)
			if (!geE.IsZero() && t.Before(geE)) || (!ltE.IsZero() && !t.Before(ltE)) {
				continue
			}
			e := EPCISJSON(se)
			d, status := h.disclose(v, se)
			addTrade(e, se, d, status)
			list = append(list, e)
		}
		if len(page) < f.Limit || more {
			if len(page) == f.Limit {
				more = true
			}
			break
		}
		f.After = last
	}
	doc := map[string]any{
		"@context":      []any{"https://ref.gs1.org/standards/epcis/epcis-context.jsonld"},
		"type":          "EPCISQueryDocument",
		"schemaVersion": "2.0",
		"creationDate":  h.cfg.Now().UTC().Format(time.RFC3339),
		"epcisBody": map[string]any{"queryResults": map[string]any{
			"queryName":   "SimpleEventQuery",
			"resultsBody": map[string]any{"eventList": list},
		}},
		"medchain:height": height,
	}
	if more && last > 0 {
		doc["nextPageToken"] = strconv.FormatUint(last, 10)
		w.Header().Set("Link", fmt.Sprintf("</epcis/events?nextPageToken=%d>; rel=\"next\"", last))
	}
	w.Header().Set("Content-Type", "application/ld+json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(doc)
}

// EPCISJSON renders a stored event as an EPCIS 2.0 JSON-LD event in its
// public form: trade details are off chain (ADR 0005); GET /epcis/events
// adds them, with the salt that opens "medchain:tradeCommitment", for
// trading partners and regulators (supplyapi/README.md).
func EPCISJSON(se *supply.StoredEvent) map[string]any {
	ev := se.Event
	out := map[string]any{
		"type":                ev.Kind,
		"eventTime":           time.UnixMilli(ev.EventTimeMs).UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		"eventTimeZoneOffset": ev.TimeZone,
		"recordTime":          se.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		"eventID":             ev.Hash,
	}
	if ev.TimeZone == "" {
		out["eventTimeZoneOffset"] = "+00:00"
	}
	set := func(k string, v string) {
		if v != "" {
			out[k] = v
		}
	}
	list := func(k string, v []string) {
		if len(v) > 0 {
			out[k] = v
		}
	}
	set("action", ev.Action)
	set("bizStep", ev.BizStep)
	set("disposition", ev.Disposition)
	list("epcList", ev.EPCs)
	set("parentID", ev.ParentID)
	list("childEPCs", ev.ChildEPCs)
	list("inputEPCList", ev.InputEPCs)
	list("outputEPCList", ev.OutputEPCs)
	if ev.ReadPoint != "" {
		out["readPoint"] = map[string]any{"id": ev.ReadPoint}
	}
	if ev.BizLocation != "" {
		out["bizLocation"] = map[string]any{"id": ev.BizLocation}
	}
	if ev.Kind == supply.KindTransaction && len(ev.BizTransactions) == 0 {
		out["bizTransactionList"] = []any{}
	}
	out["medchain:eventId"] = se.ID
	out["medchain:org"] = se.Org
	out["medchain:height"] = se.Height
	return out
}
