package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/testutil/nodetest"
)

type apiCase struct {
	name, method, path, body, ctype string
	status                          int
	code                            string // error code, for non-200
	contains                        string // substring of a 200 body
}

// TestAPI runs the REST API of a real node: status, reads with heights,
// JSON errors with stable codes (never stack traces), limits, the RPC
// pass-through allow-list and metrics.
func TestAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	dev := nodetest.NewDev(t)
	r := nodetest.Start(t, dev.Home)
	defer r.Stop()
	c := dev.Client(t)
	nodetest.WaitHeight(t, c, 2)
	base := "http://" + dev.Addrs.API
	admin, err := dev.Keyring.Info("admin")
	if err != nil {
		t.Fatal(err)
	}
	big := `{"tx":"` + strings.Repeat("A", 2<<20) + `"}`
	garbage := `{"tx":"` + base64.StdEncoding.EncodeToString([]byte("not a transaction")) + `"}`
	cases := []apiCase{
		{name: "status", method: "GET", path: "/v1/status", status: 200, contains: `"app_hash"`},
		{name: "identity", method: "GET", path: "/v1/identities/" + admin.DID, status: 200, contains: `"height"`},
		{name: "identity at height 1", method: "GET", path: "/v1/identities/" + admin.DID + "?height=1", status: 200, contains: `"height": 1`},
		{name: "identity with proof", method: "GET", path: "/v1/identities/" + admin.DID + "?prove=true", status: 200, contains: `"proof_ops"`},
		{name: "bad did", method: "GET", path: "/v1/identities/did:example:1", status: 400, code: "bad_request"},
		{name: "unknown did", method: "GET", path: "/v1/identities/did:medchain:aaaaaaaaaaaaaaaaaaaaaaaaaa", status: 404, code: "not_found"},
		{name: "bad height", method: "GET", path: "/v1/identities/" + admin.DID + "?height=abc", status: 400, code: "bad_request"},
		{name: "future height", method: "GET", path: "/v1/orgs?height=999999", status: 404, code: "not_found"},
		{name: "bad prove", method: "GET", path: "/v1/orgs/dev-hospital?prove=maybe", status: 400, code: "bad_request"},
		{name: "orgs", method: "GET", path: "/v1/orgs", status: 200, contains: `"members"`},
		{name: "org", method: "GET", path: "/v1/orgs/dev-hospital", status: 200, contains: `"admin"`},
		{name: "unknown org", method: "GET", path: "/v1/orgs/no-such-org", status: 404, code: "not_found"},
		{name: "proposals", method: "GET", path: "/v1/proposals", status: 200, contains: `"proposals": []`},
		{name: "unknown proposal", method: "GET", path: "/v1/proposals/7", status: 404, code: "not_found"},
		{name: "sequence", method: "GET", path: "/v1/identities/" + admin.DID + "/sequence", status: 200, contains: `"sequence": 0`},
		{name: "memberships", method: "GET", path: "/v1/identities/" + admin.DID + "/memberships", status: 200, contains: `"dev-hospital"`},
		{name: "block", method: "GET", path: "/v1/blocks/1", status: 200, contains: `"height": 1`},
		{name: "latest block", method: "GET", path: "/v1/blocks/latest", status: 200, contains: `"tx_hashes"`},
		{name: "bad block height", method: "GET", path: "/v1/blocks/0", status: 400, code: "bad_request"},
		{name: "missing tx", method: "GET", path: "/v1/txs/" + strings.Repeat("ab", 32), status: 404, code: "not_found"},
		{name: "bad tx hash", method: "GET", path: "/v1/txs/xyz", status: 400, code: "bad_request"},
		{name: "store value", method: "GET", path: "/v1/store/org/01646576", status: 200, contains: `"store": "org"`},
		{name: "unknown store", method: "GET", path: "/v1/store/nope/01", status: 404, code: "not_found"},
		{name: "no route", method: "GET", path: "/v2/nothing", status: 404, code: "not_found"},
		{name: "wrong method", method: "DELETE", path: "/v1/status", status: 405, code: "method_not_allowed"},
		{name: "submit bad json", method: "POST", path: "/v1/txs", body: `{"tx":`, status: 400, code: "bad_request"},
		{name: "submit unknown field", method: "POST", path: "/v1/txs", body: `{"tx":"AA==","x":1}`, status: 400, code: "bad_request"},
		{name: "submit too large", method: "POST", path: "/v1/txs", body: big, status: 413, code: "payload_too_large"},
		{name: "submit garbage", method: "POST", path: "/v1/txs", body: garbage, status: 200, contains: `"code": 2`},
		{name: "submit raw garbage", method: "POST", path: "/v1/txs", body: "xx", ctype: "application/octet-stream", status: 200, contains: `"stage": "check"`},
		{name: "rpc allowed", method: "POST", path: "/rpc", body: `{"jsonrpc":"2.0","id":1,"method":"status"}`, status: 200, contains: `"node_info"`},
		{name: "rpc forbidden", method: "POST", path: "/rpc", body: `{"jsonrpc":"2.0","id":1,"method":"broadcast_tx_sync","params":{"tx":"AA=="}}`, status: 403, code: "forbidden"},
		{name: "rpc forbidden in batch", method: "POST", path: "/rpc", body: `[{"jsonrpc":"2.0","id":1,"method":"status"},{"jsonrpc":"2.0","id":2,"method":"unsafe_flush_mempool"}]`, status: 403, code: "forbidden"},
		{name: "metrics", method: "GET", path: "/metrics", status: 200, contains: "medchain_checktx_total"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
			if tc.body != "" {
				ct := tc.ctype
				if ct == "" {
					ct = "application/json"
				}
				req.Header.Set("Content-Type", ct)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("got status %d (%s), want %d", resp.StatusCode, truncate(body), tc.status)
			}
			if bytes.Contains(body, []byte("goroutine ")) || bytes.Contains(body, []byte(".go:")) {
				t.Errorf("response leaks internals: %s", truncate(body))
			}
			if tc.code != "" {
				var eb struct {
					Error struct{ Code, Message string } `json:"error"`
				}
				if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code != tc.code || eb.Error.Message == "" {
					t.Errorf("got error body %s, want code %q with a message", truncate(body), tc.code)
				}
			}
			if tc.contains != "" && !bytes.Contains(body, []byte(tc.contains)) {
				t.Errorf("body %s does not contain %q", truncate(body), tc.contains)
			}
		})
	}

	t.Run("openapi covers every route", func(t *testing.T) {
		var doc struct {
			OpenAPI string                               `json:"openapi"`
			Paths   map[string]map[string]map[string]any `json:"paths"`
		}
		getJSON(t, base+"/v1/openapi.json", &doc)
		if !strings.HasPrefix(doc.OpenAPI, "3.") {
			t.Fatalf("openapi version %q, want 3.x", doc.OpenAPI)
		}
		for _, rt := range r.Node.API.Routes() {
			op, ok := doc.Paths[rt.Pattern][strings.ToLower(rt.Method)]
			if !ok {
				t.Errorf("route %s %s missing from the OpenAPI document", rt.Method, rt.Pattern)
				continue
			}
			if op["summary"] == "" || op["responses"] == nil {
				t.Errorf("route %s %s has no summary or responses", rt.Method, rt.Pattern)
			}
		}
		if len(doc.Paths) < 10 {
			t.Errorf("only %d paths documented", len(doc.Paths))
		}
	})

	t.Run("reads say their height", func(t *testing.T) {
		var st types.Status
		getJSON(t, base+"/v1/status", &st)
		var orgs types.OrgList
		getJSON(t, base+"/v1/orgs", &orgs)
		if orgs.Height < 1 || orgs.Height < st.Height {
			t.Errorf("orgs served at height %d, status was at %d", orgs.Height, st.Height)
		}
		if st.ChainID != "medchain-dev" || len(st.AppHash) != 64 {
			t.Errorf("status %+v", st)
		}
	})

	t.Run("submit waits for commit", func(t *testing.T) {
		k, err := dev.Keyring.Add("apitest")
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Submit(context.Background(), client.KeySigner{Key: k}, client.RegisterMsg(k))
		if err != nil || res.Code != 0 || res.Height < 1 || res.Stage != "deliver" {
			t.Fatalf("got %+v, %v; want committed", res, err)
		}
		// Immediately readable at the committed height.
		var id types.Identity
		getJSON(t, base+"/v1/identities/"+client.KeySigner{Key: k}.DID(), &id)
		if id.Height < res.Height {
			t.Errorf("identity read at height %d before its commit height %d", id.Height, res.Height)
		}
		var tx types.TxResult
		getJSON(t, base+"/v1/txs/"+res.Hash, &tx)
		if tx.Height != res.Height || tx.Tx == nil || tx.Tx.Sequence != 0 {
			t.Errorf("tx lookup %+v, want height %d", tx, res.Height)
		}
	})
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
