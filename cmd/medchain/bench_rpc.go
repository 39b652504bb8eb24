package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
)

// benchRPC is what the load generator asks of a node's CometBFT RPC.
// Two implementations submit the same JSON-RPC requests over HTTP:
// CometBFT's own client (rpc/client/http), and a lean one that writes and
// reads only the fields it needs with encoding/json and a scan of the
// block's "txs" array, which costs the bench process (sharing the machine
// with the nodes) a fraction of the CPU time per transaction.
type benchRPC interface {
	// broadcastTxSync returns CheckTx's code, codespace and log.
	broadcastTxSync(ctx context.Context, tx []byte) (code uint32, codespace, log string, err error)
	// broadcastBatch sends txs as one JSON-RPC batch of broadcast_tx_sync
	// requests, which the node runs in order.
	broadcastBatch(ctx context.Context, txs [][]byte) ([]checkResult, error)
	// blockTxs returns the transactions of the block at height, or
	// errNoBlock if it is not committed yet.
	blockTxs(ctx context.Context, height int64) ([][]byte, error)
}

var errNoBlock = errors.New("no block at that height yet")

// checkResult is one broadcast_tx_sync answer of a batch.
type checkResult struct {
	code           uint32
	codespace, log string
	err            error
}

type cometRPC struct{ c *rpchttp.HTTP }

func (r cometRPC) broadcastTxSync(ctx context.Context, tx []byte) (uint32, string, string, error) {
	res, err := r.c.BroadcastTxSync(ctx, tx)
	if err != nil {
		return 0, "", "", err
	}
	return res.Code, res.Codespace, res.Log, nil
}

func (r cometRPC) broadcastBatch(ctx context.Context, txs [][]byte) ([]checkResult, error) {
	b := r.c.NewBatch()
	for _, t := range txs {
		if _, err := b.BroadcastTxSync(ctx, t); err != nil {
			return nil, err
		}
	}
	rs, err := b.Send(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]checkResult, len(txs))
	for i := range out {
		if i >= len(rs) {
			out[i].err = errors.New("batch: missing result")
			continue
		}
		res, ok := rs[i].(*ctypes.ResultBroadcastTx)
		if !ok {
			out[i].err = fmt.Errorf("batch: result %T", rs[i])
			continue
		}
		out[i] = checkResult{code: res.Code, codespace: res.Codespace, log: res.Log}
	}
	return out, nil
}

func (r cometRPC) blockTxs(ctx context.Context, height int64) ([][]byte, error) {
	b, err := r.c.Block(ctx, &height)
	if err != nil {
		return nil, errNoBlock
	}
	out := make([][]byte, len(b.Block.Txs))
	for i, t := range b.Block.Txs {
		out[i] = t
	}
	return out, nil
}

// leanRPC speaks CometBFT's JSON-RPC over HTTP (POST for broadcast_tx_sync,
// as rpc/client/http does; GET /block?height=H).
type leanRPC struct {
	url string // http://host:port
	hc  *http.Client
}

var broadcastPrefix = []byte(`{"jsonrpc":"2.0","id":1,"method":"broadcast_tx_sync","params":{"tx":"`)

type leanResponse struct {
	Result *struct {
		Code      uint32 `json:"code"`
		Codespace string `json:"codespace"`
		Log       string `json:"log"`
	} `json:"result"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    string `json:"data"`
	} `json:"error"`
}

func (r *leanRPC) do(req *http.Request) ([]byte, error) {
	resp, err := r.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func (r *leanRPC) broadcastTxSync(ctx context.Context, tx []byte) (uint32, string, string, error) {
	body := make([]byte, 0, len(broadcastPrefix)+base64.StdEncoding.EncodedLen(len(tx))+3)
	body = append(body, broadcastPrefix...)
	body = base64.StdEncoding.AppendEncode(body, tx)
	body = append(body, `"}}`...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return 0, "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	bz, err := r.do(req)
	if err != nil {
		return 0, "", "", err
	}
	var res leanResponse
	if err := json.Unmarshal(bz, &res); err != nil {
		return 0, "", "", fmt.Errorf("broadcast_tx_sync response: %w", err)
	}
	if res.Error != nil {
		return 0, "", "", fmt.Errorf("broadcast_tx_sync: %s %s", res.Error.Message, res.Error.Data)
	}
	if res.Result == nil {
		return 0, "", "", errors.New("broadcast_tx_sync: empty response")
	}
	return res.Result.Code, res.Result.Codespace, res.Result.Log, nil
}

func (r *leanRPC) broadcastBatch(ctx context.Context, txs [][]byte) ([]checkResult, error) {
	var body []byte
	body = append(body, '[')
	for i, t := range txs {
		if i > 0 {
			body = append(body, ',')
		}
		body = fmt.Appendf(body, `{"jsonrpc":"2.0","id":%d,"method":"broadcast_tx_sync","params":{"tx":"`, i)
		body = base64.StdEncoding.AppendEncode(body, t)
		body = append(body, `"}}`...)
	}
	body = append(body, ']')
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	bz, err := r.do(req)
	if err != nil {
		return nil, err
	}
	var rs []struct {
		ID int `json:"id"`
		leanResponse
	}
	if err := json.Unmarshal(bz, &rs); err != nil {
		return nil, fmt.Errorf("broadcast_tx_sync batch response: %w (%.200s)", err, bz)
	}
	out := make([]checkResult, len(txs))
	seen := make([]bool, len(txs))
	for _, r := range rs {
		if r.ID < 0 || r.ID >= len(txs) {
			continue
		}
		seen[r.ID] = true
		switch {
		case r.Error != nil:
			out[r.ID].err = fmt.Errorf("broadcast_tx_sync: %s %s", r.Error.Message, r.Error.Data)
		case r.Result == nil:
			out[r.ID].err = errors.New("broadcast_tx_sync: empty response")
		default:
			out[r.ID] = checkResult{code: r.Result.Code, codespace: r.Result.Codespace, log: r.Result.Log}
		}
	}
	for i, ok := range seen {
		if !ok {
			out[i].err = errors.New("broadcast_tx_sync batch: missing response")
		}
	}
	return out, nil
}

func (r *leanRPC) blockTxs(ctx context.Context, height int64) ([][]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url+"/block?height="+strconv.FormatInt(height, 10), nil)
	if err != nil {
		return nil, err
	}
	bz, err := r.do(req)
	if err != nil {
		return nil, err
	}
	return parseBlockTxs(bz)
}

// parseBlockTxs extracts result.block.data.txs from a /block response
// without decoding the rest. Transactions are base64 strings, which JSON
// never escapes, so the array is a run of "..." separated by commas.
func parseBlockTxs(bz []byte) ([][]byte, error) {
	const key = `"data":{"txs":[`
	i := bytes.Index(bz, []byte(key))
	if i < 0 {
		if bytes.Contains(bz, []byte(`"error"`)) {
			return nil, errNoBlock
		}
		return nil, fmt.Errorf("/block response without data.txs: %.200s", bz)
	}
	rest := bz[i+len(key):]
	var txs [][]byte
	for {
		if len(rest) == 0 {
			return nil, errors.New("/block response: unterminated txs")
		}
		switch rest[0] {
		case ']':
			return txs, nil
		case ',':
			rest = rest[1:]
			continue
		case '"':
			end := bytes.IndexByte(rest[1:], '"')
			if end < 0 {
				return nil, errors.New("/block response: unterminated tx")
			}
			tx, err := base64.StdEncoding.AppendDecode(nil, rest[1:1+end])
			if err != nil {
				return nil, fmt.Errorf("/block response: tx: %w", err)
			}
			txs = append(txs, tx)
			rest = rest[end+2:]
		default:
			return nil, fmt.Errorf("/block response: unexpected %q in txs", rest[0])
		}
	}
}
