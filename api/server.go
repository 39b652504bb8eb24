// Package api is the node's REST API (default 127.0.0.1:8080): chain status,
// transaction submission that answers once the transaction is committed,
// look-ups of transactions, blocks, identities, organizations and
// proposals, raw state reads with Merkle proofs, an OpenAPI 3 document of
// every route, Prometheus metrics, and a read-only pass-through to the
// CometBFT RPC methods a light client needs.
//
// Every read says the height it was served at. Errors are JSON
// {"error":{"code":"...","message":"..."}} with a stable code; internal
// details are logged, never returned.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/cometbft/cometbft/libs/log"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/medchain/medchain/app"
)

// Config wires a Server.
type Config struct {
	App           *app.App
	RPC           rpcclient.Client // the node's CometBFT RPC (in-process client)
	RPCAddr       string           // CometBFT RPC listen address, for /rpc
	MaxBodyBytes  int64
	CommitTimeout time.Duration
	Gatherer      prometheus.Gatherer
	Logger        log.Logger
}

// Server is the REST API handler.
type Server struct {
	cfg    Config
	rpc    *http.Client // to the CometBFT RPC listener; owned, so its connections die with the Server
	mux    *http.ServeMux
	routes []Route
}

// Route is one API route; the OpenAPI document is generated from them.
type Route struct {
	Method, Pattern, Summary string
	Query                    []Param // query parameters
	Response                 string  // component schema name of the 200 body
	Body                     string  // component schema name of the request body
	handler                  http.HandlerFunc
}

// Param is a documented query parameter.
type Param struct {
	Name, Type, Desc string
}

// New returns the API handler.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = log.NewNopLogger()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = 30 * time.Second
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), rpc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}}
	height := Param{"height", "integer", "Serve the state committed at this height (default: latest)."}
	prove := Param{"prove", "boolean", "Include a Merkle proof of the raw state value against the app hash at that height."}
	s.routes = []Route{
		{Method: "GET", Pattern: "/v1/status", Summary: "Chain id, latest committed height and app hash.", Response: "Status", handler: s.status},
		{Method: "POST", Pattern: "/v1/txs", Summary: "Submit a signed transaction and wait until it is committed in a block (or rejected).", Body: "SubmitTx", Response: "TxResult", handler: s.submitTx},
		{Method: "GET", Pattern: "/v1/txs/{hash}", Summary: "A committed transaction by hash (hex).", Response: "TxResult", handler: s.getTx},
		{Method: "GET", Pattern: "/v1/blocks/latest", Summary: "The latest block.", Response: "Block", handler: s.getBlock},
		{Method: "GET", Pattern: "/v1/blocks/{height}", Summary: "A block by height.", Response: "Block", handler: s.getBlock},
		{Method: "GET", Pattern: "/v1/identities/{did}", Summary: "Resolve a DID to its W3C DID document.", Query: []Param{height, prove}, Response: "Identity", handler: s.getIdentity},
		{Method: "GET", Pattern: "/v1/identities/{did}/sequence", Summary: "The next transaction sequence number of a DID.", Response: "Sequence", handler: s.getSequence},
		{Method: "GET", Pattern: "/v1/identities/{did}/memberships", Summary: "The organizations a DID belongs to, with roles.", Query: []Param{height}, Response: "Memberships", handler: s.getMemberships},
		{Method: "GET", Pattern: "/v1/orgs", Summary: "Every organization with its members and roles.", Query: []Param{height}, Response: "OrgList", handler: s.listOrgs},
		{Method: "GET", Pattern: "/v1/orgs/{id}", Summary: "One organization with its members and roles.", Query: []Param{height, prove}, Response: "OrgDetail", handler: s.getOrg},
		{Method: "GET", Pattern: "/v1/proposals", Summary: "Governance proposals, newest first.", Query: []Param{height}, Response: "ProposalList", handler: s.listProposals},
		{Method: "GET", Pattern: "/v1/proposals/{id}", Summary: "One governance proposal.", Query: []Param{height, prove}, Response: "ProposalDetail", handler: s.getProposal},
		{Method: "GET", Pattern: "/v1/patients/{did}/consents", Summary: "A patient's consents of every status, oldest first, each with its state (active, revoked, expired, pending) at the time of the block at the height read, and the patient's guardians.", Query: []Param{height}, Response: "ConsentList", handler: s.listConsents},
		{Method: "GET", Pattern: "/v1/consents/{id}", Summary: "One consent with its state.", Query: []Param{height, prove}, Response: "ConsentDetail", handler: s.getConsent},
		{Method: "GET", Pattern: "/v1/patients/{did}/access-log", Summary: "The access events (permitted and denied, break-glass flagged) on a patient's records, oldest first, one page at a time; each event names the height that decided it.", Query: []Param{height, {"after", "integer", "Start after this event id (default 0: from the first); pass the previous page's next."}, {"limit", "integer", "Events per page, 1 to 1000 (default 100)."}}, Response: "AccessLog", handler: s.getAccessLog},
		{Method: "GET", Pattern: "/v1/access-events/{id}", Summary: "One access event.", Query: []Param{height, prove}, Response: "AccessEventDetail", handler: s.getAccessEvent},
		{Method: "GET", Pattern: "/v1/patients/{did}/records", Summary: "A patient's record anchors (ids, types, categories, holding organizations, versions, hashes; never content), in record id order.", Query: []Param{height}, Response: "RecordList", handler: s.listRecords},
		{Method: "GET", Pattern: "/v1/records/{id}", Summary: "One record anchor.", Query: []Param{height, prove}, Response: "RecordDetail", handler: s.getRecord},
		{Method: "GET", Pattern: "/v1/patients/{did}/erasure", Summary: "A patient's erasure request and each holding organization's confirmation (null when none was requested).", Query: []Param{height}, Response: "ErasureStatus", handler: s.getErasure},
		{Method: "GET", Pattern: "/v1/store/{store}/{key}", Summary: "Raw state value at a hex key of a store, optionally with a Merkle proof.", Query: []Param{height, prove}, Response: "StoreValue", handler: s.getStore},
		{Method: "GET", Pattern: "/v1/openapi.json", Summary: "This OpenAPI 3 document.", Response: "OpenAPI", handler: s.openapi},
		{Method: "GET", Pattern: "/metrics", Summary: "Prometheus metrics of the application and CometBFT.", Response: "Metrics", handler: s.metrics},
		{Method: "POST", Pattern: "/rpc", Summary: "Read-only CometBFT JSON-RPC (status, genesis, commit, validators, header, block, abci_query, ...) for light clients.", Body: "JSONRPC", Response: "JSONRPC", handler: s.rpcProxy},
	}
	for _, r := range s.routes {
		s.mux.HandleFunc(r.Method+" "+r.Pattern, r.handler)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no route %s %s; see /v1/openapi.json", r.Method, r.URL.Path))
	})
	return s
}

// Mount serves h at pattern (a net/http ServeMux pattern) beside the API's
// own routes, with the same panic recovery and body limits; other node
// services (the vault's node-to-node route, the FHIR API) plug in here. The
// route is listed in the OpenAPI document with the given summary.
func (s *Server) Mount(method, pattern, summary string, h http.Handler) {
	s.routes = append(s.routes, Route{Method: method, Pattern: pattern, Summary: summary, Response: "External", handler: h.ServeHTTP})
	mp := pattern
	if method != "" {
		mp = method + " " + pattern
	}
	s.mux.Handle(mp, h)
}

// Routes returns the route table.
func (s *Server) Routes() []Route { return s.routes }

// ServeHTTP implements http.Handler with panic recovery, body limits and
// JSON errors.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if rec := recover(); rec != nil {
			s.cfg.Logger.Error("API handler panic", "path", r.URL.Path, "panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
			writeError(w, http.StatusInternalServerError, "internal", "internal error; see the node log")
		}
	}()
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	// A pattern matched by path with the wrong method gets a JSON 405.
	if _, pattern := s.mux.Handler(r); pattern == "" || pattern == "/" {
		for _, m := range []string{"GET", "POST"} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, p := s.mux.Handler(probe); p != "" && p != "/" {
				w.Header().Set("Allow", m)
				writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, m))
				return
			}
		}
	}
	s.mux.ServeHTTP(w, r)
}

// Close releases the Server's connections to the CometBFT RPC.
func (s *Server) Close() { s.rpc.CloseIdleConnections() }

// Listen opens the API's TCP listener.
func Listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is a stable machine-readable code and a message for people.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, ErrorBody{ErrorDetail{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// fail maps an error to a response: the one error mapper of the API.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		writeError(w, he.status, he.code, he.msg)
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, "payload_too_large", fmt.Sprintf("request body exceeds %d bytes", mbe.Limit))
	default:
		s.cfg.Logger.Error("API error", "path", r.URL.Path, "err", err.Error())
		writeError(w, http.StatusInternalServerError, "internal", "internal error; see the node log")
	}
}

type httpError struct {
	status    int
	code, msg string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &httpError{http.StatusNotFound, "not_found", fmt.Sprintf(format, args...)}
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	g := s.cfg.Gatherer
	if g == nil {
		g = prometheus.DefaultGatherer
	}
	promhttp.HandlerFor(g, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}
