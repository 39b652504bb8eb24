package api

import (
	"bytes"
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
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/mempool"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/tx"
	"github.com/medchain/medchain/x/identity"
)

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.cfg.RPC.Status(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	height, appHash := s.cfg.App.LastCommit()
	out := types.Status{
		ChainID: st.NodeInfo.Network, Height: height, AppHash: strings.ToUpper(hex.EncodeToString(appHash)),
		NodeID: string(st.NodeInfo.DefaultNodeID), Moniker: st.NodeInfo.Moniker, CatchingUp: st.SyncInfo.CatchingUp,
		Validator: st.ValidatorInfo.Address.String(), Version: st.NodeInfo.Version,
	}
	if st.SyncInfo.LatestBlockHeight == height && height > 0 {
		out.BlockHash, out.BlockTime = st.SyncInfo.LatestBlockHash.String(), st.SyncInfo.LatestBlockTime
	}
	writeJSON(w, http.StatusOK, out)
}

// readTx reads a transaction from a JSON {"tx": base64} body or a raw
// application/octet-stream body.
func readTx(r *http.Request) ([]byte, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	if ct == "application/octet-stream" {
		if len(body) == 0 {
			return nil, badRequest("empty body")
		}
		return body, nil
	}
	var st types.SubmitTx
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, badRequest("body must be JSON {\"tx\": \"<base64>\"} or application/octet-stream: %v", err)
	}
	if len(st.Tx) == 0 {
		return nil, badRequest("field \"tx\" is empty")
	}
	return st.Tx, nil
}

func (s *Server) submitTx(w http.ResponseWriter, r *http.Request) {
	bz, err := readTx(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.Submit(r.Context(), bz)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// Submit sends a transaction to the mempool and waits until it is committed
// or rejected. A transaction already committed (a replay of the same bytes)
// is re-checked against current state, which rejects it; that holds even
// while this node's tx index still lags behind its latest block.
//
// A transaction that can no longer commit because another one of the same
// signer and sequence committed first (for example sent to another node at
// the same time) is reported as rejected with tx/9 as soon as this node's
// blocks show it, rather than after the commit timeout.
func (s *Server) Submit(ctx context.Context, bz []byte) (*types.TxResult, error) {
	from := s.cfg.App.Store().LastCommit().Version
	res, seenAt, err := s.broadcast(ctx, bz)
	if err != nil || res.Code != abci.CodeTypeOK || res.Height > 0 {
		return res, err
	}
	committed, err := s.waitTx(ctx, tx.Hash(bz), &supersession{bz: bz, from: from})
	if err != nil || seenAt == 0 || committed.Height > seenAt {
		return committed, err
	}
	// The node had these bytes in its cache and they were committed at or
	// before the height it was at when we asked: a replay, not this
	// submission's commit.
	return s.recheck(ctx, bz)
}

// Broadcast sends a transaction to the mempool without waiting for a block.
// It returns the CheckTx outcome (Stage "check"): code 0 means accepted into
// the mempool, or already pending there. A replay of committed bytes comes
// back with the code CheckTx gives it now.
func (s *Server) Broadcast(ctx context.Context, bz []byte) (*types.TxResult, error) {
	res, _, err := s.broadcast(ctx, bz)
	return res, err
}

// broadcast is Broadcast that also reports, for bytes the node had already
// seen but not (yet) indexed as committed, the latest block height at the
// time of the request (0 otherwise).
func (s *Server) broadcast(ctx context.Context, bz []byte) (*types.TxResult, int64, error) {
	hash := tx.Hash(bz)
	hashHex := strings.ToUpper(hex.EncodeToString(hash))
	bres, err := s.cfg.RPC.BroadcastTxSync(ctx, bz)
	switch {
	case errors.Is(err, mempool.ErrTxInCache):
		// Already seen: either pending (wait for it) or committed (a replay).
		st, serr := s.cfg.RPC.Status(ctx)
		if serr != nil {
			return nil, 0, serr
		}
		if committed, _ := s.cfg.RPC.Tx(ctx, hash, false); committed != nil {
			res, err := s.recheck(ctx, bz)
			return res, 0, err
		}
		return &types.TxResult{Hash: hashHex, Stage: "check", Tx: decodeBody(bz)}, st.SyncInfo.LatestBlockHeight, nil
	case err != nil:
		if strings.Contains(err.Error(), "too large") {
			return nil, 0, &httpError{http.StatusRequestEntityTooLarge, "payload_too_large", err.Error()}
		}
		if strings.Contains(err.Error(), "mempool is full") {
			return nil, 0, &httpError{http.StatusServiceUnavailable, "mempool_full", "the mempool is full; retry later"}
		}
		return nil, 0, err
	}
	return &types.TxResult{Hash: hashHex, Code: bres.Code, Codespace: bres.Codespace, Log: bres.Log, Stage: "check", Tx: decodeBody(bz)}, 0, nil
}

// recheck runs CheckTx on bytes without adding them to the mempool and
// returns its outcome (Stage "check").
func (s *Server) recheck(ctx context.Context, bz []byte) (*types.TxResult, error) {
	cres, err := s.cfg.RPC.CheckTx(ctx, bz)
	if err != nil {
		return nil, err
	}
	return &types.TxResult{Hash: strings.ToUpper(hex.EncodeToString(tx.Hash(bz))), Code: cres.Code, Codespace: cres.Codespace, Log: cres.Log, Stage: "check"}, nil
}

// WaitCommitted waits (up to the commit timeout) until the transaction with
// hash is committed and returns its result.
func (s *Server) WaitCommitted(ctx context.Context, hash []byte) (*types.TxResult, error) {
	return s.waitTx(ctx, hash, nil)
}

// supersession is what waitTx needs to notice that a transaction was
// superseded: its bytes and the last committed height before it was sent.
type supersession struct {
	bz   []byte
	from int64
}

// superseded reports whether the transaction can no longer commit: its
// signer's committed next sequence has passed it, and no block after
// sup.from up to that committed height contains it. It answers from the
// node's own state and block store, not from the (asynchronous) tx index.
func (s *Server) superseded(ctx context.Context, hash []byte, sup *supersession) (*types.TxResult, bool) {
	t, err := tx.Decode(sup.bz)
	if err != nil {
		return nil, false
	}
	did, _, err := identity.SplitKeyID(t.Body.Signer)
	if err != nil {
		return nil, false
	}
	rd, h, err := s.cfg.App.Store().Reader(app.AuthStore, 0)
	if err != nil {
		return nil, false
	}
	ids, _, err := s.cfg.App.Store().Reader(identity.StoreName, h)
	if err != nil || app.NextSequence(rd, ids, did) <= t.Body.Sequence {
		return nil, false
	}
	for k := h; k > sup.from; k-- {
		b, err := s.cfg.RPC.Block(ctx, &k)
		if err != nil {
			return nil, false
		}
		for _, btx := range b.Block.Txs {
			if bytes.Equal(tx.Hash(btx), hash) {
				return nil, false // committed: the index will show it
			}
		}
	}
	return &types.TxResult{
		Hash: strings.ToUpper(hex.EncodeToString(hash)), Stage: "check",
		Codespace: app.ErrSequenceReused.Codespace, Code: app.ErrSequenceReused.Code,
		Log: fmt.Sprintf("%s: %s committed another transaction with sequence %d by height %d; this one can no longer commit", app.ErrSequenceReused.Desc, did, t.Body.Sequence, h),
	}, true
}

// waitTx polls the tx index until the transaction is committed. With sup
// set it also stops, with a rejection, once the transaction is superseded.
func (s *Server) waitTx(ctx context.Context, hash []byte, sup *supersession) (*types.TxResult, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CommitTimeout)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for n := 1; ; n++ {
		if res, err := s.cfg.RPC.Tx(ctx, hash, false); err == nil {
			return txResult(res.Hash, res.Height, res.Index, &res.TxResult, res.Tx), nil
		}
		if sup != nil && n%20 == 0 {
			if res, ok := s.superseded(ctx, hash, sup); ok {
				return res, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, &httpError{http.StatusGatewayTimeout, "commit_timeout",
				fmt.Sprintf("transaction %X is in the mempool but was not committed within %s; its outcome is unknown, look it up with GET /v1/txs/%X", hash, s.cfg.CommitTimeout, hash)}
		case <-tick.C:
		}
	}
}

func decodeBody(bz []byte) *types.TxBody {
	t, err := tx.Decode(bz)
	if err != nil {
		return nil
	}
	b := &types.TxBody{ChainID: t.Body.ChainID, Signer: t.Body.Signer, Sequence: t.Body.Sequence}
	for _, m := range t.Body.Msgs {
		b.Msgs = append(b.Msgs, m.TypeURL)
	}
	return b
}

func txResult(hash []byte, height int64, index uint32, r *abci.ExecTxResult, bz []byte) *types.TxResult {
	out := &types.TxResult{Hash: strings.ToUpper(hex.EncodeToString(hash)), Height: height, Index: index,
		Code: r.Code, Codespace: r.Codespace, Log: r.Log, Stage: "deliver", Tx: decodeBody(bz)}
	for _, ev := range r.Events {
		e := types.Event{Type: ev.Type}
		for _, a := range ev.Attributes {
			e.Attrs = append(e.Attrs, types.EventAttr{Key: a.Key, Value: a.Value})
		}
		out.Events = append(out.Events, e)
	}
	return out
}

func (s *Server) getTx(w http.ResponseWriter, r *http.Request) {
	hash, err := hex.DecodeString(r.PathValue("hash"))
	if err != nil || len(hash) != 32 {
		s.fail(w, r, badRequest("tx hash must be 64 hex characters"))
		return
	}
	res, err := s.cfg.RPC.Tx(r.Context(), hash, false)
	if err != nil {
		s.fail(w, r, notFound("transaction %X is not committed (or not yet indexed)", hash))
		return
	}
	writeJSON(w, http.StatusOK, txResult(res.Hash, res.Height, res.Index, &res.TxResult, res.Tx))
}

func (s *Server) getBlock(w http.ResponseWriter, r *http.Request) {
	var hp *int64
	if hs := r.PathValue("height"); hs != "" {
		h, err := strconv.ParseInt(hs, 10, 64)
		if err != nil || h < 1 {
			s.fail(w, r, badRequest("height must be a positive integer"))
			return
		}
		hp = &h
	}
	res, err := s.cfg.RPC.Block(r.Context(), hp)
	if err != nil || res.Block == nil {
		s.fail(w, r, notFound("block not available: %v", errText(err)))
		return
	}
	b := res.Block
	out := types.Block{Height: b.Height, Hash: res.BlockID.Hash.String(), Time: b.Time, ChainID: b.ChainID,
		Proposer: b.ProposerAddress.String(), AppHash: b.AppHash.String(), LastHash: b.LastBlockID.Hash.String(), TxHashes: []string{}}
	for _, t := range b.Txs {
		out.TxHashes = append(out.TxHashes, strings.ToUpper(hex.EncodeToString(cmttypes.Tx(t).Hash())))
	}
	writeJSON(w, http.StatusOK, out)
}

func errText(err error) string {
	if err == nil {
		return "not found"
	}
	return err.Error()
}
