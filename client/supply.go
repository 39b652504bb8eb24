package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/epcis"
	"github.com/medchain/medchain/supplyapi"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/supply"
)

// Content types of EPCIS documents for Capture.
const (
	ContentJSON   = "application/json"
	ContentJSONLD = "application/ld+json"
	ContentXML    = "application/xml"
)

// ContentTypeFor returns the content type of an EPCIS document file from
// its name: .json → application/json, .jsonld → application/ld+json,
// .xml → application/xml; ok is false for any other extension.
func ContentTypeFor(name string) (string, bool) {
	switch n := strings.ToLower(name); {
	case strings.HasSuffix(n, ".jsonld"):
		return ContentJSONLD, true
	case strings.HasSuffix(n, ".json"):
		return ContentJSON, true
	case strings.HasSuffix(n, ".xml"):
		return ContentXML, true
	}
	return "", false
}

// SupplyError is a non-2xx answer of the supply-chain API: an APIError
// plus, for captures, the reason for each refused event or field.
type SupplyError struct {
	APIError
	Events []epcis.FieldError
}

func (e *SupplyError) Error() string {
	if len(e.Events) == 0 {
		return e.APIError.Error()
	}
	var b strings.Builder
	b.WriteString(e.APIError.Error())
	n := 0
	for _, fe := range e.Events {
		line := fe.String()
		if strings.Contains(e.Message, line) || strings.Contains(e.Message, fe.Reason) {
			continue // already in the message
		}
		if n == 10 {
			b.WriteString("\n  … and more (-o json lists them all)")
			break
		}
		b.WriteString("\n  ")
		b.WriteString(line)
		n++
	}
	return b.String()
}

// Unwrap lets errors.As find the *APIError.
func (e *SupplyError) Unwrap() error { return &e.APIError }

// supplyDo sends a request to a supply-chain route and decodes a 2xx JSON
// answer into out (raw, when out is *[]byte).
func (c *Client) supplyDo(ctx context.Context, method, path, token, contentType string, body []byte, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v (is the node running? start it with \"medchain start\")", ErrUnreachable, c.base, err)
	}
	defer resp.Body.Close()
	bz, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		var eb supplyapi.ErrorBody
		if json.Unmarshal(bz, &eb) == nil && eb.Error.Code != "" {
			return resp.StatusCode, &SupplyError{APIError: APIError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}, Events: eb.Events}
		}
		return resp.StatusCode, &SupplyError{APIError: APIError{Status: resp.StatusCode, Code: "http_error", Message: strings.TrimSpace(string(bz))}}
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = bz
		return resp.StatusCode, nil
	}
	if out != nil {
		if err := json.Unmarshal(bz, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s answer: %w", path, err)
		}
	}
	return resp.StatusCode, nil
}

// Capture posts an EPCIS document (EPCIS 2.0 JSON/JSON-LD or XML, or EPCIS
// 1.2 XML; contentType from ContentTypeFor, "" lets the node detect it) to
// POST /epcis/capture, authenticated with a bearer token (package auth;
// "medchain auth token"). org names the capturing organization when the
// token's DID captures for several ("" otherwise). The answer's Status is
// "committed" (201: the node signed and the chain applied every event) or
// "validated" (202: the node has no service key and wrote nothing). A
// refused document or capture is a *SupplyError with one reason per event.
func (c *Client) Capture(ctx context.Context, doc []byte, contentType, token, org string) (*supplyapi.CaptureResult, error) {
	p := "/epcis/capture"
	if org != "" {
		p += "?org=" + url.QueryEscape(org)
	}
	var out supplyapi.CaptureResult
	if _, err := c.supplyDo(ctx, http.MethodPost, p, token, contentType, doc, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CaptureSigned captures an EPCIS document without the node's service
// key: it parses and converts the document here (GS1 Digital Links
// resolved with the company prefixes organizations registered), and submits
// it as a MsgCapture signed by s for orgID ("" picks the only organization
// where s holds a capture role, supply.CaptureRoles), waiting for the
// commit. A document that is not valid EPCIS is an *epcis.ValidationError;
// a capture the chain refuses is a result with a non-zero Code.
//
// Events with trade details are sealed as the node seals them
// (supplyapi.Seal, ADR 0005): the transaction carries a salted commitment,
// and the details and salt are written to trades before submitting. A node
// serves them to trading partners and regulators only from its own store,
// so give the store of the node members query (node.TradeDir of its home);
// trades may be nil only for documents without trade details.
func (c *Client) CaptureSigned(ctx context.Context, s Signer, doc []byte, contentType, orgID string, trades *supplyapi.TradeStore) (*supplyapi.CaptureResult, *types.TxResult, error) {
	format := epcis.Detect
	switch contentType {
	case ContentJSON, ContentJSONLD:
		format = epcis.JSON
	case ContentXML:
		format = epcis.XML
	}
	d, err := epcis.Parse(doc, format)
	if err != nil {
		return nil, nil, err
	}
	if orgID, err = c.SupplyOrg(ctx, s.DID(), orgID, supply.CaptureRoles); err != nil {
		return nil, nil, err
	}
	orgs, err := c.Orgs(ctx, 0)
	if err != nil {
		return nil, nil, err
	}
	var prefixes []string
	for _, o := range orgs.Orgs {
		prefixes = append(prefixes, o.GS1Prefixes...)
	}
	resolve := epcis.PrefixList(prefixes...)
	m := &supply.MsgCapture{Org: orgID}
	res := &supplyapi.CaptureResult{Org: orgID, Status: "validated", Signer: s.DID()}
	var problems []epcis.FieldError
	for i := range d.Events {
		ev, p := supplyapi.ToSupplyEvent(&d.Events[i], i, resolve)
		problems = append(problems, p...)
		m.Events = append(m.Events, ev)
		res.Events = append(res.Events, supplyapi.CaptureEvent{Index: i, Type: d.Events[i].Type, Hash: d.Events[i].Hash, EventID: d.Events[i].EventID})
	}
	if len(problems) > 0 {
		return nil, nil, &epcis.ValidationError{Errors: problems}
	}
	// Sealed details never reach the chain's checks: check them here.
	if slices.ContainsFunc(m.Events, func(ev supply.Event) bool { return ev.Details().HasDetails() }) {
		if err := m.ValidateBasic(); err != nil {
			return nil, nil, err
		}
	}
	var recs []*supplyapi.TradeRecord
	for i := range m.Events {
		if !m.Events[i].Details().HasDetails() {
			continue
		}
		if trades == nil {
			return nil, nil, fmt.Errorf("event %d has trade details (bizTransactionList, quantities, sources or destinations): a trade-details store is needed to seal them", i)
		}
		sealed, rec, err := supplyapi.Seal(m.Events[i], orgID, nil)
		if err != nil {
			return nil, nil, err
		}
		m.Events[i] = sealed
		recs = append(recs, rec)
		res.Events[i].TradeCommitment = hex.EncodeToString(rec.Commitment)
	}
	for _, rec := range recs {
		if err := trades.Put(rec); err != nil {
			return nil, nil, err
		}
	}
	tx, err := c.Submit(ctx, s, m)
	if err != nil || tx.Code != 0 {
		return nil, tx, err
	}
	res.Status, res.Height, res.TxHash = "committed", tx.Height, tx.Hash
	res.SetOutcomes(tx)
	return res, tx, nil
}

// EventsPage is one page of GET /epcis/events: EPCIS 2.0 JSON-LD events
// (public form: trade details are off chain), the height read and the
// token of the next page ("" on the last).
type EventsPage struct {
	Height        int64            `json:"height"`
	Events        []map[string]any `json:"events"`
	NextPageToken string           `json:"next_page_token,omitempty"`
}

// Events runs an EPCIS 2.0 query (GET /epcis/events) with the standard
// parameters: MATCH_epc, MATCH_anyEPC, EQ_bizStep, EQ_disposition,
// GE_/LT_eventTime, GE_/LT_recordTime, perPage, nextPageToken. Events show
// their trade commitment only; EventsAs reads the trade details too.
func (c *Client) Events(ctx context.Context, query url.Values) (*EventsPage, error) {
	return c.EventsAs(ctx, query, "")
}

// EventsAs is Events with a bearer token: events whose trading partner
// (or a regulator) the token's DID is a member of carry their trade
// details (bizTransactionList, quantity, source and destination lists)
// and "medchain:tradeSalt", which opens "medchain:tradeCommitment".
func (c *Client) EventsAs(ctx context.Context, query url.Values, token string) (*EventsPage, error) {
	p := "/epcis/events"
	if len(query) > 0 {
		p += "?" + query.Encode()
	}
	var doc struct {
		Height    int64  `json:"medchain:height"`
		Next      string `json:"nextPageToken"`
		EPCISBody struct {
			QueryResults struct {
				ResultsBody struct {
					EventList []map[string]any `json:"eventList"`
				} `json:"resultsBody"`
			} `json:"queryResults"`
		} `json:"epcisBody"`
	}
	if _, err := c.supplyDo(ctx, http.MethodGet, p, token, "", nil, &doc); err != nil {
		return nil, err
	}
	page := &EventsPage{Height: doc.Height, Events: doc.EPCISBody.QueryResults.ResultsBody.EventList, NextPageToken: doc.Next}
	if page.Events == nil {
		page.Events = []map[string]any{}
	}
	return page, nil
}

// VerifyRequest is a verification request: GTIN and Serial (with the Lot
// and Expiry, YYYY-MM-DD, printed on the pack, when known), or Link, a GS1
// Digital Link URI carrying them.
type VerifyRequest struct {
	GTIN, Serial, Lot, Expiry string
	Link                      string
}

// Verify asks GET /verify (public, no token) whether a pack is genuine and
// saleable; the answer says verified or the reason, and the height read.
func (c *Client) Verify(ctx context.Context, r VerifyRequest) (*supplyapi.VerifyAnswer, error) {
	q := url.Values{}
	if r.Link != "" {
		q.Set("link", r.Link)
	} else {
		for k, v := range map[string]string{"gtin": r.GTIN, "serial": r.Serial, "lot": r.Lot, "expiry": r.Expiry} {
			if v != "" {
				q.Set(k, v)
			}
		}
	}
	var out supplyapi.VerifyAnswer
	if _, err := c.supplyDo(ctx, http.MethodGet, "/verify?"+q.Encode(), "", "", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Unit returns one unit (epc: an EPC URI or a GS1 Digital Link) with its
// product and lot; with prove, the answer carries the proof of the unit
// record (Verifier.Unit checks it).
func (c *Client) Unit(ctx context.Context, epc string, prove bool) (*supplyapi.UnitAnswer, error) {
	var out supplyapi.UnitAnswer
	p := "/supply/unit?epc=" + url.QueryEscape(epc) + "&prove=" + fmt.Sprint(prove)
	if _, err := c.supplyDo(ctx, http.MethodGet, p, "", "", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Product returns a registered product with its lots and recalls.
func (c *Client) Product(ctx context.Context, gtin string, prove bool) (*supplyapi.ProductAnswer, error) {
	var out supplyapi.ProductAnswer
	p := "/supply/product?gtin=" + url.QueryEscape(gtin) + "&prove=" + fmt.Sprint(prove)
	if _, err := c.supplyDo(ctx, http.MethodGet, p, "", "", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Recalls returns the recall notices of the token's organization (org
// names it when the token's DID belongs to several): exactly the recalled
// units it holds, and every recall.
func (c *Client) Recalls(ctx context.Context, token, org string) (*supplyapi.RecallsAnswer, error) {
	var out supplyapi.RecallsAnswer
	if _, err := c.supplyDo(ctx, http.MethodGet, "/supply/recalls"+orgQuery(org), token, "", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Alerts returns the counterfeit and diversion alerts the token's
// organization may see.
func (c *Client) Alerts(ctx context.Context, token, org string) (*supplyapi.AlertsAnswer, error) {
	var out supplyapi.AlertsAnswer
	if _, err := c.supplyDo(ctx, http.MethodGet, "/supply/alerts"+orgQuery(org), token, "", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func orgQuery(org string) string {
	if org == "" {
		return ""
	}
	return "?org=" + url.QueryEscape(org)
}

// SupplyOrg returns the organization did acts for with one of roles: want
// if did holds such a role there, else the only organization where it
// does. The error says what to do when there is none or several.
func (c *Client) SupplyOrg(ctx context.Context, did, want string, roles []string) (string, error) {
	ms, err := c.Memberships(ctx, did)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, m := range ms.Members {
		if slices.ContainsFunc(roles, m.HasRole) {
			ids = append(ids, m.Org)
		}
	}
	switch {
	case want != "":
		if slices.Contains(ids, want) {
			return want, nil
		}
		return "", fmt.Errorf("%s holds none of the roles %v in organization %q", did, roles, want)
	case len(ids) == 1:
		return ids[0], nil
	case len(ids) == 0:
		return "", fmt.Errorf("%s holds none of the roles %v in any organization; an admin adds them with \"medchain tx org add-member\"", did, roles)
	}
	return "", fmt.Errorf("%s acts for several organizations %v; name one with --org", did, ids)
}

// RegisterProduct signs and submits m (Org filled in by the caller, see
// SupplyOrg and supply.RegisterRoles) and waits for the commit. A refusal
// is a result with a non-zero Code.
func (c *Client) RegisterProduct(ctx context.Context, s Signer, m *supply.MsgRegisterProduct) (*types.TxResult, error) {
	return c.Submit(ctx, s, m)
}

// Recall signs and submits a recall (supply.RecallRoles in the product's
// owner or in a regulator) and waits for the commit.
func (c *Client) Recall(ctx context.Context, s Signer, m *supply.MsgRecall) (*types.TxResult, error) {
	return c.Submit(ctx, s, m)
}

// Provenance returns the provenance of one unit (epc: an EPC URI or a GS1
// Digital Link): the unit and every event on it, oldest first. With
// verify, every record is checked against a header verified by CometBFT's
// light client, trusting the node's genesis on first use (use
// Verifier.Provenance for another trust root), and Verified says what was
// checked; without it the node's answer is returned as is.
func (c *Client) Provenance(ctx context.Context, epc string, verify bool) (*Provenance, error) {
	return c.ProvenanceAs(ctx, epc, verify, "")
}

// ProvenanceAs is Provenance with a bearer token ("" for none): the events
// of which the token's DID may read the trade details (a member of a
// trading partner or of a regulator) carry them, each checked against the
// event's trade commitment (see Provenance.Trade).
func (c *Client) ProvenanceAs(ctx context.Context, epc string, verify bool, token string) (*Provenance, error) {
	if verify {
		v, err := NewVerifier(ctx, c, VerifierOptions{})
		if err != nil {
			return nil, err
		}
		return v.ProvenanceAs(ctx, epc, token)
	}
	var ans supplyapi.ProvenanceAnswer
	p := "/epcis/provenance?prove=false&epc=" + url.QueryEscape(epc)
	if _, err := c.supplyDo(ctx, http.MethodGet, p, token, "", nil, &ans); err != nil {
		return nil, err
	}
	out := &Provenance{EPC: ans.EPC, Height: ans.Height, Unit: ans.Unit, Events: make([]*supply.StoredEvent, len(ans.Events))}
	for i := range ans.Events {
		out.Events[i] = ans.Events[i].StoredEvent
		if err := out.open(out.Events[i], &ans.Events[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Provenance is a unit's provenance. When Verified is set, Unit and every
// event were decoded from bytes proven against the app hash of a header
// the light client verified at Height+1. Unit nil means the node reported
// no unit record for EPC; that is not proven (ADR 0010).
//
// Trade maps the id of each event with trade details to what the node
// disclosed (supplyapi.TradeDisclosed, TradeWithheld, TradeUnavailable).
// A disclosed event's Event carries its BizTransactions, Quantities,
// Sources and Destinations, and TradeSalt: they were checked to open the
// event's TradeCommitment (supply.TradeCommit), which, when Verified is
// set, is itself proven.
type Provenance struct {
	EPC      string                `json:"epc"`
	Height   int64                 `json:"height"`
	Unit     *supply.Unit          `json:"unit,omitempty"`
	Events   []*supply.StoredEvent `json:"events"`
	Trade    map[uint64]string     `json:"trade,omitempty"`
	Verified *VerifiedRead         `json:"verified,omitempty"`
}

// open records pe's trade status and, when the node disclosed the trade
// details, checks that they open se's commitment and puts them into se.
func (p *Provenance) open(se *supply.StoredEvent, pe *supplyapi.ProvenEvent) error {
	if pe.TradeStatus == "" && pe.Trade == nil {
		return nil
	}
	if p.Trade == nil {
		p.Trade = map[uint64]string{}
	}
	p.Trade[se.ID] = pe.TradeStatus
	if pe.Trade == nil {
		return nil
	}
	if !pe.Trade.Check(se.Event.TradeCommitment) {
		return fmt.Errorf("%w: the trade details of event %d do not open its commitment", ErrVerification, se.ID)
	}
	d := pe.Trade.Details
	se.Event.BizTransactions, se.Event.Quantities, se.Event.Sources, se.Event.Destinations = d.BizTransactions, d.Quantities, d.Sources, d.Destinations
	se.Event.TradeSalt = bytes.Clone(pe.Trade.Salt)
	return nil
}

// SetGLNs sets orgID's party GLN and location GLNs (replacing the previous
// ones; org.MsgSetGLNs), signed by s, an admin of orgID, and waits for the
// commit. The location GLNs are sorted and deduplicated here. A refusal is
// a result with a non-zero Code.
func (c *Client) SetGLNs(ctx context.Context, s Signer, orgID, partyGLN string, locationGLNs []string) (*types.TxResult, error) {
	return c.Submit(ctx, s, NewMsgSetGLNs(orgID, partyGLN, locationGLNs))
}

// NewMsgSetGLNs builds the message SetGLNs submits: location GLNs sorted,
// without duplicates.
func NewMsgSetGLNs(orgID, partyGLN string, locationGLNs []string) *org.MsgSetGLNs {
	locs := slices.Clone(locationGLNs)
	slices.Sort(locs)
	return &org.MsgSetGLNs{Org: orgID, PartyGLN: partyGLN, LocationGLNs: slices.Compact(locs)}
}

// Provenance reads a unit's provenance with proofs and verifies each: the
// unit record and every event record, all at one height, against the app
// hash of the verified header; the records are decoded from the proven
// bytes, and the proven unit must be the one of the EPC asked
// (CheckUnitProof). It also checks that the unit's last event is in the
// list (a truncated history fails); a node leaving out an event from the
// middle of the history is not detected (see supplyapi.ProvenanceAnswer).
// An answer without a unit (an EPC that only appears in events) is not a
// proof that there is none: units are found through an unauthenticated
// index, so their absence cannot be proven (ADR 0010).
func (v *Verifier) Provenance(ctx context.Context, epc string) (*Provenance, error) {
	return v.ProvenanceAs(ctx, epc, "")
}

// ProvenanceAs is Provenance with a bearer token ("" for none): disclosed
// trade details are checked to open the proven commitment of their event
// (TradeCommit(salt, details) == commitment) and put into the events.
func (v *Verifier) ProvenanceAs(ctx context.Context, epc, token string) (*Provenance, error) {
	var ans supplyapi.ProvenanceAnswer
	p := "/epcis/provenance?prove=true&epc=" + url.QueryEscape(epc)
	if _, err := v.c.supplyDo(ctx, http.MethodGet, p, token, "", nil, &ans); err != nil {
		return nil, err
	}
	if !SameEPC(epc, ans.EPC) {
		return nil, fmt.Errorf("%w: the node answered for %s, not for the EPC asked", ErrVerification, ans.EPC)
	}
	out := &Provenance{EPC: ans.EPC, Height: ans.Height, Events: make([]*supply.StoredEvent, 0, len(ans.Events))}
	var vr *VerifiedRead
	verify := func(pr *types.Proof, what string) error {
		r, err := v.VerifyProof(ctx, pr)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		vr = r
		return nil
	}
	check := func(pr *types.Proof, key []byte, what string) error {
		if pr == nil {
			return fmt.Errorf("%w: the node sent no proof of %s", ErrVerification, what)
		}
		if pr.Store != supply.StoreName || !bytes.Equal(pr.Key, key) || pr.Height != ans.Height {
			return fmt.Errorf("%w: the node's proof is not of %s at height %d", ErrVerification, what, ans.Height)
		}
		return verify(pr, what)
	}
	if ans.Unit != nil || ans.UnitProof != nil {
		u, err := CheckUnitProof(ans.UnitProof, ans.EPC, ans.Height)
		if err != nil {
			return nil, err
		}
		if err := verify(ans.UnitProof, "unit "+ans.EPC); err != nil {
			return nil, err
		}
		out.Unit = u
	}
	ids := make([]uint64, 0, len(ans.Events))
	for _, pe := range ans.Events {
		if pe.StoredEvent == nil {
			return nil, fmt.Errorf("%w: empty event in the node's answer", ErrVerification)
		}
		what := fmt.Sprintf("event %d", pe.ID)
		if err := check(pe.Proof, supply.EventKey(pe.ID), what); err != nil {
			return nil, err
		}
		se := &supply.StoredEvent{}
		if pe.Proof.Value == nil || json.Unmarshal(pe.Proof.Value, se) != nil || se.ID != pe.ID {
			return nil, fmt.Errorf("%w: the proven value is not %s", ErrVerification, what)
		}
		if len(ids) > 0 && se.ID <= ids[len(ids)-1] {
			return nil, fmt.Errorf("%w: events out of order", ErrVerification)
		}
		if err := out.open(se, &pe); err != nil {
			return nil, err
		}
		ids = append(ids, se.ID)
		out.Events = append(out.Events, se)
	}
	if out.Unit != nil && out.Unit.LastEvent != 0 && !slices.Contains(ids, out.Unit.LastEvent) {
		return nil, fmt.Errorf("%w: the unit's last event %d is missing from the history", ErrVerification, out.Unit.LastEvent)
	}
	if out.Unit == nil && len(out.Events) == 0 {
		return nil, fmt.Errorf("%w: the node reports no unit %s and no event on it at height %d (not proven)", ErrNotFound, ans.EPC, ans.Height)
	}
	out.Verified = vr
	return out, nil
}

// Unit reads one unit (epc: an EPC URI or a GS1 Digital Link) with the
// proof of its record and verifies it against the app hash of the
// verified header: the proof must be of a unit record (supply.UnitKey of
// the proven unit's number) at the answer's height, and the proven unit
// must be the one of the EPC asked (CheckUnitProof). The answer's Unit is
// replaced by the proven one. A node's "no such unit" (a *SupplyError,
// 404) is not proven (ADR 0010).
func (v *Verifier) Unit(ctx context.Context, epc string) (*supplyapi.UnitAnswer, *VerifiedRead, error) {
	ans, err := v.c.Unit(ctx, epc, true)
	if err != nil {
		return nil, nil, err
	}
	if ans.Unit == nil || !SameEPC(epc, ans.Unit.EPC) {
		return nil, nil, fmt.Errorf("%w: the node answered for another unit than the EPC asked", ErrVerification)
	}
	u, err := CheckUnitProof(ans.Proof, ans.Unit.EPC, ans.Height)
	if err != nil {
		return nil, nil, err
	}
	vr, err := v.VerifyProof(ctx, ans.Proof)
	if err != nil {
		return nil, nil, err
	}
	ans.Unit = u
	return ans, vr, nil
}

// CheckUnitProof checks what a proof of a unit record must say, before
// its Merkle proof is checked (Verifier.VerifyProof): that pr is of store
// "supply" at height, that its value is a unit whose EPC is epc (the EPC
// URI asked for), and that its key is the record key of that unit's
// number (supply.UnitKey(Number)). Units are keyed by number, found
// through an unauthenticated index, so a node could otherwise prove some
// other unit's record. It returns the unit decoded from the proven bytes.
func CheckUnitProof(pr *types.Proof, epc string, height int64) (*supply.Unit, error) {
	if pr == nil {
		return nil, fmt.Errorf("%w: the node sent no proof of unit %s", ErrVerification, epc)
	}
	if pr.Store != supply.StoreName || pr.Height != height {
		return nil, fmt.Errorf("%w: the node's proof is not of unit %s at height %d", ErrVerification, epc, height)
	}
	u := &supply.Unit{}
	if pr.Value == nil || json.Unmarshal(pr.Value, u) != nil || u.EPC != epc {
		return nil, fmt.Errorf("%w: the proven value is not the unit %s", ErrVerification, epc)
	}
	if u.Number == 0 || !bytes.Equal(pr.Key, supply.UnitKey(u.Number)) {
		return nil, fmt.Errorf("%w: the node's proof of unit %s is not of its record key", ErrVerification, epc)
	}
	return u, nil
}

// SameEPC reports whether urn, the EPC URI a node answered for, is the EPC
// asked: asked itself when asked is an EPC URI; when asked is a GS1 Digital
// Link, its rendering as a URI with urn's company-prefix length (the node
// picks that length from the chain's GS1 prefixes, which the caller does
// not hold; every length gives the same GTIN or SSCC and serial).
func SameEPC(asked, urn string) bool {
	if asked == urn {
		return true
	}
	if !strings.HasPrefix(asked, "http") {
		return false
	}
	n := urnPrefixLen(urn)
	got, ok := epcis.ToURN(asked, func(string) int { return n })
	return ok && got == urn
}

// urnPrefixLen returns the length of the GS1 company prefix of an EPC
// pure-identity URI (urn:epc:id:<scheme>:<prefix>.…), or 0.
func urnPrefixLen(urn string) int {
	rest, ok := strings.CutPrefix(urn, "urn:epc:id:")
	if !ok {
		return 0
	}
	if _, rest, ok = strings.Cut(rest, ":"); !ok {
		return 0
	}
	cp, _, ok := strings.Cut(rest, ".")
	if !ok {
		return 0
	}
	return len(cp)
}

// ErrNotFound reports that the node found no such record.
var ErrNotFound = errors.New("not found")

// StreamEndedError is returned by WatchRecalls when the node closed the
// stream and said why (supplyapi.EndTokenExpired, EndNotMember,
// EndNodeStopping, EndStateUnreadable).
type StreamEndedError struct{ supplyapi.StreamEnd }

func (e *StreamEndedError) Error() string {
	return fmt.Sprintf("the node ended the recall stream (%s): %s", e.Reason, e.Message)
}

// ErrStreamBroken reports a stream that stopped without an "end" event: the
// connection closed, or nothing (not even a keep-alive) arrived for three
// heartbeat intervals.
var ErrStreamBroken = errors.New("recall stream broken")

// WatchRecalls subscribes to the recall notices of the token's organization
// (org names it when the token's DID belongs to several) through GET
// /supply/recalls/stream and calls fn with each update: first the notices
// at connect (Initial, with every recall), then one each time a committed
// block changes them, in height order. It returns when ctx is done
// (ctx.Err()), when fn returns an error (that error), when the node ends
// the stream (a *StreamEndedError; for supplyapi.EndTokenExpired reconnect
// with a fresh token), or when the connection breaks (ErrStreamBroken).
// A refused subscription is a *SupplyError (401, 403, 503 …).
func (c *Client) WatchRecalls(ctx context.Context, token, org string, fn func(*supplyapi.RecallUpdate) error) error {
	return c.WatchRecallsSince(ctx, token, org, 0, fn)
}

// WatchRecallsSince is WatchRecalls for a client that already has the
// notices at height since (the Height of the last update it applied; 0:
// none): the node sends only the changes after since, the first with
// FromHeight since+1 (or more than one block folded into one update), and
// nothing until something changes. A node that no longer keeps that
// height, or has not reached it, starts with the whole list (Initial)
// instead, which replaces what the client has.
func (c *Client) WatchRecallsSince(ctx context.Context, token, org string, since int64, fn func(*supplyapi.RecallUpdate) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/supply/recalls/stream"+orgQuery(org), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if since > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(since, 10))
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// The SDK client's overall timeout would cut the stream: use the same
	// transport without one, and a watchdog on silence instead.
	hc := &http.Client{Transport: c.hc.Transport}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("%w: %s: %v (is the node running? start it with \"medchain start\")", ErrUnreachable, c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		bz, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var eb supplyapi.ErrorBody
		if json.Unmarshal(bz, &eb) == nil && eb.Error.Code != "" {
			return &SupplyError{APIError: APIError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}}
		}
		return &SupplyError{APIError: APIError{Status: resp.StatusCode, Code: "http_error", Message: strings.TrimSpace(string(bz))}}
	}
	silence := 3 * supplyapi.DefaultStreamHeartbeat
	watchdog := time.AfterFunc(silence, func() { cancel(ErrStreamBroken) })
	defer watchdog.Stop()
	err = readSSE(resp.Body, func(name string, data []byte) error {
		watchdog.Reset(silence)
		switch name {
		case supplyapi.EventNotices:
			var u supplyapi.RecallUpdate
			if err := json.Unmarshal(data, &u); err != nil {
				return fmt.Errorf("%w: undecodable update: %v", ErrStreamBroken, err)
			}
			return fn(&u)
		case supplyapi.EventEnd:
			var e StreamEndedError
			if err := json.Unmarshal(data, &e.StreamEnd); err != nil {
				return fmt.Errorf("%w: undecodable end event: %v", ErrStreamBroken, err)
			}
			return &e
		}
		return nil // keep-alives and unknown events
	})
	if c := context.Cause(ctx); c != nil {
		return c
	}
	if err == nil || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the node closed the connection", ErrStreamBroken)
	}
	return err
}

// readSSE reads Server-Sent Events from r (text/event-stream: "event:" and
// "data:" fields, a blank line ends an event, ":" lines are comments) and
// calls fn with each event's name ("message" when none) and data, until r
// ends (nil) or fn returns an error; fn is also called with name "" for
// each comment line (keep-alives), so that the caller sees the stream is
// alive. One event's data is at most 16 MiB.
func readSSE(r io.Reader, fn func(name string, data []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var name string
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			if data != nil || name != "" {
				if name == "" {
					name = "message"
				}
				if err := fn(name, bytes.TrimSuffix(data, []byte("\n"))); err != nil {
					return err
				}
			}
			name, data = "", nil
		case line[0] == ':':
			if err := fn("", nil); err != nil {
				return err
			}
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "event":
				name = string(value)
			case "data":
				data = append(append(data, value...), '\n')
			}
		}
	}
	return sc.Err()
}
