package harness

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/tx"
	"github.com/medchain/medchain/x/identity"
)

// Outcome is what the client learned about an operation.
type Outcome string

// Outcomes. Committed and Rejected are definite; Unknown (a timeout or a
// broken connection) means the transaction may or may not commit later.
const (
	Committed Outcome = "committed"
	Rejected  Outcome = "rejected"
	Unknown   Outcome = "unknown"
)

// Op is one recorded operation: a signed transaction sent to one node.
type Op struct {
	ID       int       `json:"id"`       // 1-based, in invocation order
	Kind     string    `json:"kind"`     // what the operation does, e.g. load.add-member
	Signer   string    `json:"signer"`   // DID
	Sequence uint64    `json:"sequence"` // the signer's sequence in the transaction
	Node     int       `json:"node"`     // index of the node it was sent to
	TxHash   string    `json:"tx_hash"`  // upper-case hex
	Invoke   time.Time `json:"invoke"`   // when it was sent
	Complete time.Time `json:"complete"` // when the outcome arrived
	Outcome  Outcome   `json:"outcome"`  // committed, rejected or unknown
	// Codespace and Code of a rejection ("net"/0 when the node refused the
	// connection, "http"/status for a definite HTTP refusal).
	Codespace string `json:"codespace,omitempty"`
	Code      uint32 `json:"code,omitempty"`   // ABCI code (0 when committed)
	Stage     string `json:"stage,omitempty"`  // check or deliver
	Height    int64  `json:"height,omitempty"` // block of a committed or deliver-rejected transaction
	Log       string `json:"log,omitempty"`    // the node's log of a rejection
	Error     string `json:"error,omitempty"`  // the client error of an unknown outcome
}

// Is reports whether the op was rejected with e's codespace and code.
func (o Op) Is(e *module.Error) bool {
	return o.Outcome == Rejected && o.Codespace == e.Codespace && o.Code == e.Code
}

// History is the list of operations of a test, in invocation order.
type History struct {
	mu  sync.Mutex
	ops []*Op
}

func (h *History) begin(op *Op) *Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.ID = len(h.ops) + 1
	h.ops = append(h.ops, op)
	return op
}

func (h *History) finish(op *Op, f func(*Op)) Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(op)
	return *op
}

// Ops returns a copy of every operation.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Op, len(h.ops))
	for i, o := range h.ops {
		out[i] = *o
	}
	return out
}

// Count returns how many operations ended with outcome o.
func (h *History) Count(o Outcome) int {
	n := 0
	for _, op := range h.Ops() {
		if op.Outcome == o {
			n++
		}
	}
	return n
}

// WriteJSONL writes one JSON object per operation to path.
func (h *History) WriteJSONL(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, op := range h.Ops() {
		_ = enc.Encode(op)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Send broadcasts a signed transaction to node i, waits for its outcome
// (bounded by timeout) and records it in the history as kind.
func (tn *Testnet) Send(i int, kind string, txBytes []byte, timeout time.Duration) Op {
	op := &Op{Kind: kind, Node: i, TxHash: strings.ToUpper(hex.EncodeToString(tx.Hash(txBytes))), Invoke: time.Now()}
	if t, err := tx.Decode(txBytes); err == nil {
		op.Sequence = t.Body.Sequence
		if did, _, err := identity.SplitKeyID(t.Body.Signer); err == nil {
			op.Signer = did
		}
	}
	tn.history.begin(op)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := tn.Node(i).Client.Broadcast(ctx, txBytes)
	return tn.history.finish(op, func(op *Op) {
		op.Complete = time.Now()
		classify(op, res, err)
	})
}

// classify sets an op's outcome from the API's answer.
func classify(op *Op, res *types.TxResult, err error) {
	if err == nil {
		op.Code, op.Codespace, op.Stage, op.Height, op.Log = res.Code, res.Codespace, res.Stage, res.Height, res.Log
		switch {
		case res.Code == 0 && res.Height > 0:
			op.Outcome = Committed
		case res.Code != 0:
			op.Outcome = Rejected
		default:
			op.Outcome, op.Error = Unknown, "code 0 without a height"
		}
		return
	}
	op.Error = err.Error()
	var ae *client.APIError
	switch {
	case errors.As(err, &ae):
		switch ae.Status {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable, http.StatusForbidden:
			// Refused before reaching the mempool (503: mempool full).
			op.Outcome, op.Codespace, op.Code = Rejected, "http", uint32(ae.Status)
		default: // 504 commit_timeout, 500, 502: the transaction may still commit
			op.Outcome = Unknown
		}
	case errors.Is(err, client.ErrUnreachable) && strings.Contains(err.Error(), "connection refused"):
		// Nothing listened: the node never saw the transaction.
		op.Outcome, op.Codespace = Rejected, "net"
	default:
		op.Outcome = Unknown
	}
}
