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
	"time"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/testutil/nodetest"
	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/records"
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
		{name: "consents", method: "GET", path: "/v1/patients/" + admin.DID + "/consents", status: 200, contains: `"consents": []`},
		{name: "consents bad did", method: "GET", path: "/v1/patients/bob/consents", status: 400, code: "bad_request"},
		{name: "unknown consent", method: "GET", path: "/v1/consents/99", status: 404, code: "not_found"},
		{name: "consent id 0", method: "GET", path: "/v1/consents/0", status: 400, code: "bad_request"},
		{name: "access log", method: "GET", path: "/v1/patients/" + admin.DID + "/access-log", status: 200, contains: `"events": []`},
		{name: "access log bad after", method: "GET", path: "/v1/patients/" + admin.DID + "/access-log?after=-1", status: 400, code: "bad_request"},
		{name: "access log bad limit", method: "GET", path: "/v1/patients/" + admin.DID + "/access-log?limit=1001", status: 400, code: "bad_request"},
		{name: "access log after the last id", method: "GET", path: "/v1/patients/" + admin.DID + "/access-log?after=18446744073709551615", status: 200, contains: `"events": []`},
		{name: "unknown access event", method: "GET", path: "/v1/access-events/99", status: 404, code: "not_found"},
		{name: "records", method: "GET", path: "/v1/patients/" + admin.DID + "/records", status: 200, contains: `"records": []`},
		{name: "bad record id", method: "GET", path: "/v1/records/a%2Fb", status: 400, code: "bad_request"},
		{name: "unknown record", method: "GET", path: "/v1/records/nope", status: 404, code: "not_found"},
		{name: "no erasure", method: "GET", path: "/v1/patients/" + admin.DID + "/erasure", status: 200, contains: `"requested": false`},
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

	t.Run("consents, access log, records and erasure", func(t *testing.T) { testConsentReads(t, c, dev) })

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

// testConsentReads walks a consent, an access, a record and an erasure
// through the SDK and checks what the REST reads say, at which height.
func testConsentReads(t *testing.T, c *client.Client, dev *nodetest.Dev) {
	ctx := context.Background()
	adminKey, err := dev.Keyring.Get("admin")
	if err != nil {
		t.Fatal(err)
	}
	vaultKey, err := dev.Keyring.Get("vault")
	if err != nil {
		t.Fatal(err)
	}
	patient, vault := client.KeySigner{Key: adminKey}, client.KeySigner{Key: vaultKey}
	p := patient.DID()
	submit := func(s client.Signer, msgs ...module.Msg) *types.TxResult {
		t.Helper()
		res, err := c.Submit(ctx, s, msgs...)
		if err != nil || res.Code != 0 {
			t.Fatalf("submit %T: %+v, %v", msgs[0], res, err)
		}
		return res
	}
	g := submit(patient, &consent.MsgGrant{Patient: p, Grantee: consent.Grantee{Kind: consent.GranteeDID, DID: vault.DID()},
		Purposes: []string{"TREAT"}, NotAfter: uint64(time.Now().Add(time.Hour).Unix())})
	list, err := c.PatientConsents(ctx, p, 0)
	if err != nil || list.Height < g.Height || len(list.Consents) != 1 || list.Consents[0].State != types.ConsentActive || list.BlockTime.IsZero() {
		t.Fatalf("consents after the grant: %+v, %v", list, err)
	}
	id := list.Consents[0].ID
	one, err := c.Consent(ctx, id, 0, true)
	if err != nil || one.Consent.ID != id || one.Proof == nil || one.Proof.Value == nil || one.Proof.Height != one.Height {
		t.Fatalf("consent %d with proof: %+v, %v", id, one, err)
	}
	// Anchor a record of the patient's own, then read it.
	m := &records.MsgAnchor{ID: "api-rec-1", Patient: p, Org: "dev-hospital", ResourceType: "Observation", Category: "laboratory", Version: 1,
		CiphertextHash: bytes.Repeat([]byte{1}, 32), Commitment: bytes.Repeat([]byte{2}, 32)}
	submit(patient, m)
	recs, err := c.PatientRecords(ctx, p, 0)
	if err != nil || len(recs.Records) != 1 || recs.Records[0].ID != "api-rec-1" {
		t.Fatalf("records: %+v, %v", recs, err)
	}
	rec, err := c.Record(ctx, "api-rec-1", 0, true)
	if err != nil || rec.Record.HolderOrg != "dev-hospital" || rec.Proof == nil {
		t.Fatalf("record with proof: %+v, %v", rec, err)
	}
	// Two accesses: the patient's own, and a stranger's denied one via the vault.
	a1 := submit(patient, &records.MsgRequestAccess{Patient: p, Records: []string{"api-rec-1"}, Purpose: "TREAT"})
	a2 := submit(vault, &records.MsgRequestAccess{Patient: p, Records: []string{"api-rec-1"}, Purpose: "HPAYMT", Requester: vault.DID()})
	page, err := c.AccessLog(ctx, p, 0, 1)
	if err != nil || len(page.Events) != 1 || page.Next == 0 || page.Events[0].Height != a1.Height || page.Events[0].Decision != records.Permit {
		t.Fatalf("access log page 1: %+v, %v", page, err)
	}
	page2, err := c.AccessLog(ctx, p, page.Next, 1)
	if err != nil || len(page2.Events) != 1 || page2.Next != 0 || page2.Events[0].Height != a2.Height || page2.Events[0].Decision != records.Deny {
		t.Fatalf("access log page 2: %+v, %v", page2, err)
	}
	full, err := c.FullAccessLog(ctx, p)
	if err != nil || len(full.Events) != 2 || full.Events[0].ID >= full.Events[1].ID {
		t.Fatalf("full access log: %+v, %v", full, err)
	}
	ev, err := c.AccessEvent(ctx, page2.Events[0].ID, 0, true)
	if err != nil || ev.Event.Requester != vault.DID() || ev.Proof == nil {
		t.Fatalf("access event with proof: %+v, %v", ev, err)
	}
	// Revocation shows in the state.
	rv := submit(patient, &consent.MsgRevoke{ConsentID: id})
	one, err = c.Consent(ctx, id, 0, false)
	if err != nil || one.Height < rv.Height || one.Consent.State != types.ConsentRevoked {
		t.Fatalf("consent after revocation: %+v, %v", one, err)
	}
	if old, err := c.Consent(ctx, id, g.Height, false); err != nil || old.Height != g.Height || old.Consent.State != types.ConsentActive {
		t.Fatalf("consent at the grant's height: %+v, %v", old, err)
	}
	// Erasure, then the vault's receipt.
	submit(patient, &records.MsgRequestErasure{Patient: p})
	er, err := c.Erasure(ctx, p, 0)
	if err != nil || !er.Requested || er.Complete || len(er.Erasure.Orgs) != 1 || er.Erasure.Orgs[0].Org != "dev-hospital" {
		t.Fatalf("erasure: %+v, %v", er, err)
	}
	submit(vault, &records.MsgErasureReceipt{Patient: p, Org: "dev-hospital"})
	if er, err = c.Erasure(ctx, p, 0); err != nil || !er.Complete {
		t.Fatalf("erasure after the receipt: %+v, %v", er, err)
	}
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
