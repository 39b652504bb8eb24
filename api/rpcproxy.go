package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// rpcMethods are the CometBFT JSON-RPC methods /rpc passes through: what a
// light client and a verifying SDK need, and nothing that writes.
var rpcMethods = []string{"abci_info", "abci_query", "block", "block_by_hash", "block_results", "blockchain",
	"commit", "consensus_params", "genesis", "header", "header_by_hash", "health", "status", "tx", "validators"}

type rpcReq struct {
	Method string `json:"method"`
}

// rpcProxy forwards allow-listed JSON-RPC requests (single or batch) to the
// node's CometBFT RPC listener.
func (s *Server) rpcProxy(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var reqs []rpcReq
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		err = json.Unmarshal(trimmed, &reqs)
	} else {
		var one rpcReq
		err = json.Unmarshal(trimmed, &one)
		reqs = []rpcReq{one}
	}
	if err != nil {
		s.fail(w, r, badRequest("body is not a JSON-RPC request: %v", err))
		return
	}
	for _, q := range reqs {
		if !slices.Contains(rpcMethods, q.Method) {
			s.fail(w, r, &httpError{http.StatusForbidden, "forbidden", fmt.Sprintf("JSON-RPC method %q is not served here (allowed: %s)", q.Method, strings.Join(rpcMethods, ", "))})
			return
		}
	}
	target := "http://" + strings.TrimPrefix(s.cfg.RPCAddr, "tcp://")
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.rpc.Do(req)
	if err != nil {
		s.fail(w, r, &httpError{http.StatusBadGateway, "rpc_unavailable", "the node's CometBFT RPC did not answer"})
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, 64<<20))
}
