package harness

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/x/org"
)

// AnyUp returns a random node that is up, failing the test if none is.
func (tn *Testnet) AnyUp() int {
	tn.T.Helper()
	up := tn.Up()
	if len(up) == 0 {
		tn.T.Fatalf("harness: no node is up")
	}
	return up[tn.Rand(len(up))]
}

// LookupTx looks a transaction up by hash on node i (bounded by 3 s).
func (tn *Testnet) LookupTx(i int, hash string) (*types.TxResult, error) {
	h, err := hex.DecodeString(hash)
	if err != nil {
		return nil, err
	}
	ctx, cancel := ctxFor(3 * time.Second)
	defer cancel()
	return tn.Node(i).Client.Tx(ctx, h)
}

// FindTx looks a transaction up on the up nodes, waiting up to wait for it
// to appear; it returns nil if no node has it.
func (tn *Testnet) FindTx(hash string, wait time.Duration) *types.TxResult {
	deadline := time.Now().Add(wait)
	for {
		for _, i := range tn.Up() {
			if res, err := tn.LookupTx(i, hash); err == nil {
				return res
			}
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// SendUntilCommitted sends the same transaction bytes to random up nodes
// until one reports it committed (at most attempts tries). Resending the
// same bytes is safe: they execute at most once.
func (tn *Testnet) SendUntilCommitted(kind string, txBytes []byte, timeout time.Duration, attempts int) error {
	var last Op
	for range attempts {
		up := tn.Up()
		if len(up) == 0 {
			return errors.New("no node is up")
		}
		last = tn.Send(up[tn.Rand(len(up))], kind, txBytes, timeout)
		switch {
		case last.Outcome == Committed:
			return nil
		case last.Is(app.ErrSequenceReused):
			// An earlier attempt may have committed these very bytes.
			if res := tn.FindTx(last.TxHash, 2*time.Second); res != nil && res.Code == 0 {
				return nil
			}
			return fmt.Errorf("rejected: %s/%d %s", last.Codespace, last.Code, last.Log)
		case last.Outcome == Rejected && last.Codespace != "net" && last.Codespace != "http":
			return fmt.Errorf("rejected: %s/%d %s", last.Codespace, last.Code, last.Log)
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("not committed after %d attempts (last: %s %s)", attempts, last.Outcome, last.Error)
}

// SubmitMsgs signs msgs with signer at its next sequence (read from the
// chain) and sends them to a random up node, retrying (up to 5 times) when
// the outcome is unknown or the sequence was stale. It returns the final
// operation: committed, or definitely rejected (check or deliver stage).
// An op whose outcome was unknown but that the harness then found
// committed is returned as committed (the history keeps it as unknown).
func (tn *Testnet) SubmitMsgs(signer client.Signer, kind string, msgs ...module.Msg) (Op, error) {
	var last Op
	for range 5 {
		up := tn.Up()
		if len(up) == 0 {
			return last, errors.New("no node is up")
		}
		i := up[tn.Rand(len(up))]
		ctx, cancel := ctxFor(3 * time.Second)
		seq, err := tn.Node(i).Client.NextSequence(ctx, signer.DID())
		cancel()
		if err != nil {
			time.Sleep(500 * time.Millisecond)
			continue
		}
		bz, err := client.BuildTx(signer, tn.ChainID, seq, msgs...)
		if err != nil {
			return last, err
		}
		last = tn.Send(i, kind, bz, 15*time.Second)
		switch {
		case last.Outcome == Committed:
			return last, nil
		case last.Outcome == Unknown:
			if res := tn.FindTx(last.TxHash, 5*time.Second); res != nil {
				last.Height, last.Code, last.Codespace, last.Stage, last.Log = res.Height, res.Code, res.Codespace, res.Stage, res.Log
				if res.Code == 0 {
					last.Outcome = Committed
				} else {
					last.Outcome = Rejected
				}
				return last, nil
			}
		case last.Is(app.ErrSequenceReused), last.Is(app.ErrSequenceFuture), last.Codespace == "net", last.Codespace == "http":
		default:
			return last, nil // a definite rejection
		}
		time.Sleep(500 * time.Millisecond)
	}
	return last, fmt.Errorf("%s: no definite outcome after 5 attempts (last: %s %s)", kind, last.Outcome, last.Error)
}

// Voter is an organization admin that votes on proposals.
type Voter struct {
	Signer client.Signer // an admin of Org
	Org    string        // the organization it votes for
}

// Propose submits proposal p signed by signer (an admin of p.ProposerOrg)
// and returns the operation and, if it committed, the new proposal's id.
func (tn *Testnet) Propose(signer client.Signer, p *org.MsgSubmitProposal) (Op, uint64, error) {
	op, err := tn.SubmitMsgs(signer, "gov.propose."+p.Kind, p)
	if err != nil || op.Outcome != Committed {
		return op, 0, err
	}
	res := tn.FindTx(op.TxHash, 5*time.Second)
	if res == nil {
		return op, 0, fmt.Errorf("proposal tx %s committed but not found", op.TxHash)
	}
	v := res.Attr("org.proposal_submitted", "id")
	if v == "" {
		return op, 0, fmt.Errorf("proposal tx %s has no org.proposal_submitted event", op.TxHash)
	}
	id, err := strconv.ParseUint(v, 10, 64)
	return op, id, err
}

// Vote casts v's vote on proposal id.
func (tn *Testnet) Vote(v Voter, id uint64, approve bool) (Op, error) {
	return tn.SubmitMsgs(v.Signer, "gov.vote", &org.MsgVote{ProposalID: id, Org: v.Org, Approve: approve})
}

// Proposal reads proposal id from an up node whose state is at least at
// height minHeight (waiting up to 10 s for one), so that a read after a
// committed vote sees the vote.
func (tn *Testnet) Proposal(id uint64, minHeight int64) (*org.Proposal, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := ctxFor(3 * time.Second)
		res, err := tn.Node(tn.AnyUp()).Client.Proposal(ctx, id, false)
		cancel()
		switch {
		case err == nil && res.Height >= minHeight:
			return res.Proposal, nil
		case time.Now().After(deadline):
			if err == nil {
				err = fmt.Errorf("no node has state at height %d yet (read %d)", minHeight, res.Height)
			}
			return nil, fmt.Errorf("proposal %d: %w", id, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// FounderVoter is founding organization i's admin as a Voter.
func (tn *Testnet) FounderVoter(i int) Voter {
	return Voter{Signer: tn.Admin(i), Org: tn.Manifest().Nodes[i].OrgID}
}

// Govern submits p with proposer's signature, then has voters approve in
// turn (skipping the proposer's organization, whose submission is its
// approval) until the proposal is decided. It returns the decided proposal
// and the number of approvals it took, proposer included.
func (tn *Testnet) Govern(proposer Voter, p *org.MsgSubmitProposal, voters []Voter) (*org.Proposal, int, error) {
	p.ProposerOrg = proposer.Org
	op, id, err := tn.Propose(proposer.Signer, p)
	if err != nil {
		return nil, 0, err
	}
	if op.Outcome != Committed {
		return nil, 0, fmt.Errorf("proposal rejected: %s/%d %s", op.Codespace, op.Code, op.Log)
	}
	last := op.Height
	yes := 1
	for _, v := range voters {
		if v.Org == proposer.Org {
			continue
		}
		op, err := tn.Vote(v, id, true)
		if err != nil {
			return nil, yes, err
		}
		if op.Outcome != Committed {
			return nil, yes, fmt.Errorf("vote of %s rejected: %s/%d %s", v.Org, op.Codespace, op.Code, op.Log)
		}
		last = op.Height
		yes++
		pr, err := tn.Proposal(id, op.Height)
		if err != nil {
			return nil, yes, err
		}
		if pr.Status != org.ProposalVoting {
			return pr, yes, nil
		}
	}
	pr, err := tn.Proposal(id, last)
	return pr, yes, err
}

// RPC calls a CometBFT JSON-RPC method through node i's API pass-through
// (POST /rpc) and decodes the result into out.
func (tn *Testnet) RPC(i int, method string, params map[string]any, out any) error {
	return jsonRPC(tn.Node(i).Info.APIURL+"/rpc", method, params, out)
}

// CometRPC calls a CometBFT JSON-RPC method on node i's own RPC listener
// (for methods the API does not pass through, such as consensus_state).
func (tn *Testnet) CometRPC(i int, method string, params map[string]any, out any) error {
	return jsonRPC("http://"+tn.Node(i).Info.RPCAddr, method, params, out)
}

func jsonRPC(url, method string, params map[string]any, out any) error {
	if params == nil {
		params = map[string]any{}
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	bz, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Message string `json:"message"`
			Data    string `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(bz, &env); err != nil {
		return fmt.Errorf("%s: %d %s", method, resp.StatusCode, bytes.TrimSpace(bz))
	}
	if env.Error != nil {
		return fmt.Errorf("%s: %s %s", method, env.Error.Message, env.Error.Data)
	}
	return json.Unmarshal(env.Result, out)
}

// CommitSigners returns the validator addresses (upper-case hex) that
// signed the commit of height h, read from node i.
func (tn *Testnet) CommitSigners(i int, h int64) ([]string, error) {
	var res struct {
		SignedHeader struct {
			Commit struct {
				Signatures []struct {
					Flag    int    `json:"block_id_flag"`
					Address string `json:"validator_address"`
				} `json:"signatures"`
			} `json:"commit"`
		} `json:"signed_header"`
	}
	if err := tn.RPC(i, "commit", map[string]any{"height": strconv.FormatInt(h, 10)}, &res); err != nil {
		return nil, err
	}
	var out []string
	for _, s := range res.SignedHeader.Commit.Signatures {
		if s.Flag == 2 { // BlockIDFlagCommit
			out = append(out, s.Address)
		}
	}
	return out, nil
}

// Proposer returns the index of the node proposing in the current round
// (from an up node's consensus state; if that is unavailable, the proposer
// of the latest block), matched against each node's validator address as
// its /v1/status reports it (testnet.json for nodes that are down).
func (tn *Testnet) Proposer() (int, error) {
	up := tn.Up()
	if len(up) == 0 {
		return -1, errors.New("no node is up")
	}
	var cs struct {
		RoundState struct {
			Proposer struct {
				Address string `json:"address"`
			} `json:"proposer"`
		} `json:"round_state"`
	}
	addr := ""
	if err := tn.CometRPC(up[0], "consensus_state", nil, &cs); err == nil {
		addr = cs.RoundState.Proposer.Address
	}
	if addr == "" {
		ctx, cancel := ctxFor(3 * time.Second)
		defer cancel()
		b, err := tn.Node(up[0]).Client.Block(ctx, 0)
		if err != nil {
			return -1, err
		}
		addr = b.Proposer
	}
	for _, n := range tn.Nodes() {
		va := n.Info.ValidatorAddress
		ctx, cancel := ctxFor(3 * time.Second)
		if st, err := n.Client.Status(ctx); err == nil {
			va = st.Validator
		}
		cancel()
		if strings.EqualFold(va, addr) {
			return n.Index, nil
		}
	}
	return -1, fmt.Errorf("proposer %s is no node of the testnet", addr)
}
