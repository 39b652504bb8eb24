// Package client is the medchain Go SDK: it builds and signs transactions,
// submits them and waits until they are committed, reads state over the
// node's REST API, and verifies reads against headers checked by CometBFT's
// light client (Verifier), so that a user who trusts no single node can
// still trust a read.
//
// The medchain CLI does everything through this package.
package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/tx"
)

// DefaultNode is the API address the CLI talks to by default.
const DefaultNode = "http://127.0.0.1:8080"

// Client talks to one node's REST API. It is safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client
}

// New returns a client for the API at nodeURL (e.g. http://127.0.0.1:8080).
func New(nodeURL string) (*Client, error) {
	u, err := url.Parse(nodeURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--node %q is not an http(s) URL like %s", nodeURL, DefaultNode)
	}
	return &Client{base: strings.TrimRight(nodeURL, "/"), hc: &http.Client{Timeout: 60 * time.Second}}, nil
}

// URL returns the node URL.
func (c *Client) URL() string { return c.base }

// APIError is an error response from the node.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("node answered %d %s: %s", e.Status, e.Code, e.Message)
}

// ErrUnreachable wraps failures to reach the node at all.
var ErrUnreachable = errors.New("node unreachable")

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		bz, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(bz)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %v (is the node running? start it with \"medchain start\")", ErrUnreachable, c.base, err)
	}
	defer resp.Body.Close()
	bz, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(bz, &eb) == nil && eb.Error.Code != "" {
			return &APIError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
		}
		return &APIError{Status: resp.StatusCode, Code: "http_error", Message: strings.TrimSpace(string(bz))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(bz, out); err != nil {
		return fmt.Errorf("decode %s response: %w", path, err)
	}
	return nil
}

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (*types.Status, error) {
	var s types.Status
	return &s, c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
}

// NextSequence returns the next sequence did must use, per committed state.
func (c *Client) NextSequence(ctx context.Context, did string) (uint64, error) {
	var s types.Sequence
	err := c.do(ctx, http.MethodGet, "/v1/identities/"+url.PathEscape(did)+"/sequence", nil, &s)
	return s.Sequence, err
}

// Broadcast submits an encoded transaction and waits until it is committed
// or rejected. A rejection is a result with a non-zero Code, not an error.
func (c *Client) Broadcast(ctx context.Context, txBytes []byte) (*types.TxResult, error) {
	var res types.TxResult
	return &res, c.do(ctx, http.MethodPost, "/v1/txs", types.SubmitTx{Tx: txBytes}, &res)
}

// Tx looks up a committed transaction by its hash.
func (c *Client) Tx(ctx context.Context, hash []byte) (*types.TxResult, error) {
	var res types.TxResult
	return &res, c.do(ctx, http.MethodGet, "/v1/txs/"+hex.EncodeToString(hash), nil, &res)
}

// Block returns the block at height (0: latest).
func (c *Client) Block(ctx context.Context, height int64) (*types.Block, error) {
	p := "/v1/blocks/latest"
	if height > 0 {
		p = fmt.Sprintf("/v1/blocks/%d", height)
	}
	var b types.Block
	return &b, c.do(ctx, http.MethodGet, p, nil, &b)
}

func heightQuery(height int64, prove bool) string {
	q := url.Values{}
	if height > 0 {
		q.Set("height", fmt.Sprint(height))
	}
	if prove {
		q.Set("prove", "true")
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// Identity resolves did at height (0: latest). With prove, the response
// carries a Merkle proof; use Verifier.Identity to check it.
func (c *Client) Identity(ctx context.Context, did string, height int64, prove bool) (*types.Identity, error) {
	var out types.Identity
	return &out, c.do(ctx, http.MethodGet, "/v1/identities/"+url.PathEscape(did)+heightQuery(height, prove), nil, &out)
}

// Memberships lists the organizations did belongs to.
func (c *Client) Memberships(ctx context.Context, did string) (*types.Memberships, error) {
	var out types.Memberships
	return &out, c.do(ctx, http.MethodGet, "/v1/identities/"+url.PathEscape(did)+"/memberships", nil, &out)
}

// Orgs lists every organization with its members.
func (c *Client) Orgs(ctx context.Context, height int64) (*types.OrgList, error) {
	var out types.OrgList
	return &out, c.do(ctx, http.MethodGet, "/v1/orgs"+heightQuery(height, false), nil, &out)
}

// Org returns one organization.
func (c *Client) Org(ctx context.Context, id string, height int64, prove bool) (*types.OrgResponse, error) {
	var out types.OrgResponse
	return &out, c.do(ctx, http.MethodGet, "/v1/orgs/"+url.PathEscape(id)+heightQuery(height, prove), nil, &out)
}

// Proposals lists governance proposals, newest first.
func (c *Client) Proposals(ctx context.Context) (*types.ProposalList, error) {
	var out types.ProposalList
	return &out, c.do(ctx, http.MethodGet, "/v1/proposals", nil, &out)
}

// Proposal returns one proposal.
func (c *Client) Proposal(ctx context.Context, id uint64, prove bool) (*types.ProposalResponse, error) {
	var out types.ProposalResponse
	return &out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/proposals/%d%s", id, heightQuery(0, prove)), nil, &out)
}

// StoreValue reads a raw state value, optionally with its proof.
func (c *Client) StoreValue(ctx context.Context, store string, key []byte, height int64, prove bool) (*types.StoreValue, error) {
	var out types.StoreValue
	return &out, c.do(ctx, http.MethodGet, "/v1/store/"+url.PathEscape(store)+"/"+hex.EncodeToString(key)+heightQuery(height, prove), nil, &out)
}

// BuildTx encodes and signs a transaction.
func BuildTx(s Signer, chainID string, seq uint64, msgs ...module.Msg) ([]byte, error) {
	if len(msgs) == 0 {
		return nil, errors.New("a transaction needs at least one message")
	}
	for _, m := range msgs {
		if err := m.ValidateBasic(); err != nil {
			return nil, err
		}
	}
	body := tx.Body{ChainID: chainID, Signer: s.KeyID(), Sequence: seq}
	for _, m := range msgs {
		body.Msgs = append(body.Msgs, tx.Any{TypeURL: m.TypeURL(), Value: m.MarshalWire()})
	}
	sig, err := s.Sign(body.SignBytes())
	if err != nil {
		return nil, err
	}
	return tx.Tx{Body: body, Signature: sig}.MarshalWire(), nil
}

// Prepare builds a signed transaction with the chain id and the signer's
// next sequence fetched from the node.
func (c *Client) Prepare(ctx context.Context, s Signer, msgs ...module.Msg) ([]byte, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return nil, err
	}
	seq, err := c.NextSequence(ctx, s.DID())
	if err != nil {
		return nil, err
	}
	return BuildTx(s, st.ChainID, seq, msgs...)
}

// Submit builds, signs and broadcasts msgs, waiting for the commit.
func (c *Client) Submit(ctx context.Context, s Signer, msgs ...module.Msg) (*types.TxResult, error) {
	bz, err := c.Prepare(ctx, s, msgs...)
	if err != nil {
		return nil, err
	}
	return c.Broadcast(ctx, bz)
}

// PatientConsents lists a patient's consents (every status) with their
// state at height (0: latest) and the patient's guardians.
func (c *Client) PatientConsents(ctx context.Context, did string, height int64) (*types.ConsentList, error) {
	var out types.ConsentList
	return &out, c.do(ctx, http.MethodGet, "/v1/patients/"+url.PathEscape(did)+"/consents"+heightQuery(height, false), nil, &out)
}

// Consent returns one consent, with a Merkle proof when prove is set.
func (c *Client) Consent(ctx context.Context, id uint64, height int64, prove bool) (*types.ConsentResponse, error) {
	var out types.ConsentResponse
	return &out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/consents/%d%s", id, heightQuery(height, prove)), nil, &out)
}

// AccessLog returns one page of the access events on a patient's records,
// oldest first: at most limit (0: the node's default) after event id after.
// Pass the page's Next as after to read the following page.
func (c *Client) AccessLog(ctx context.Context, did string, after uint64, limit int) (*types.AccessLog, error) {
	q := url.Values{}
	if after > 0 {
		q.Set("after", fmt.Sprint(after))
	}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	p := "/v1/patients/" + url.PathEscape(did) + "/access-log"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var out types.AccessLog
	return &out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// FullAccessLog reads every page of a patient's access log at one height:
// the first page's height pins the others.
func (c *Client) FullAccessLog(ctx context.Context, did string) (*types.AccessLog, error) {
	first, err := c.AccessLog(ctx, did, 0, 1000)
	if err != nil {
		return nil, err
	}
	for next := first.Next; next != 0; {
		q := url.Values{"after": {fmt.Sprint(next)}, "limit": {"1000"}, "height": {fmt.Sprint(first.Height)}}
		var page types.AccessLog
		if err := c.do(ctx, http.MethodGet, "/v1/patients/"+url.PathEscape(did)+"/access-log?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		first.Events = append(first.Events, page.Events...)
		next = page.Next
	}
	first.Next, first.Limit = 0, len(first.Events)
	return first, nil
}

// AccessEvent returns one access event, with a Merkle proof when prove is set.
func (c *Client) AccessEvent(ctx context.Context, id uint64, height int64, prove bool) (*types.AccessEventResponse, error) {
	var out types.AccessEventResponse
	return &out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/access-events/%d%s", id, heightQuery(height, prove)), nil, &out)
}

// PatientRecords lists a patient's record anchors.
func (c *Client) PatientRecords(ctx context.Context, did string, height int64) (*types.RecordList, error) {
	var out types.RecordList
	return &out, c.do(ctx, http.MethodGet, "/v1/patients/"+url.PathEscape(did)+"/records"+heightQuery(height, false), nil, &out)
}

// Record returns one record anchor, with a Merkle proof when prove is set.
func (c *Client) Record(ctx context.Context, id string, height int64, prove bool) (*types.RecordResponse, error) {
	var out types.RecordResponse
	return &out, c.do(ctx, http.MethodGet, "/v1/records/"+url.PathEscape(id)+heightQuery(height, prove), nil, &out)
}

// Erasure returns a patient's erasure request and per-organization progress.
func (c *Client) Erasure(ctx context.Context, did string, height int64) (*types.ErasureStatus, error) {
	var out types.ErasureStatus
	return &out, c.do(ctx, http.MethodGet, "/v1/patients/"+url.PathEscape(did)+"/erasure"+heightQuery(height, false), nil, &out)
}
