package supplyapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/medchain/medchain/auth"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/supplyapi"
	"github.com/medchain/medchain/testutil/nodetest"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/supply"
)

// TestRecallStreamOnNode runs GET /supply/recalls/stream on a real
// in-process development node (CometBFT, the app, the API): the pharmacy
// and the distributor subscribe through the SDK; the regulator recalls a
// lot of which the pharmacy holds two units and the distributor none (it
// holds units of another lot). The pharmacy's stream gets exactly those two
// units at the recall's height; the distributor's gets nothing. Ending a
// subscription frees it (the node's stream count drops), and stopping the
// node ends the remaining stream with an "end" event. (It also checks, on
// the same node, that a capture signed by a member's own key is sealed so
// that the chain resolves its receiver.)
func TestRecallStreamOnNode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an in-process node; skipped with -short")
	}
	d := nodetest.NewDev(t)
	run := nodetest.Start(t, d.Home)
	stopped := false
	defer func() {
		if !stopped {
			run.Stop()
		}
	}()
	c := d.Client(t)
	nodetest.WaitHeight(t, c, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	orgOf, glnOf, locOf := map[string]string{}, map[string]string{}, map[string]string{}
	for _, o := range node.DevSupplyOrgs {
		orgOf[o.Key], glnOf[o.Key], locOf[o.Key] = o.OrgID, o.PartyGLN, o.LocationGLN
	}
	signer := func(key string) client.KeySigner {
		k, err := d.Keyring.Get(key)
		if err != nil {
			t.Fatal(err)
		}
		return client.KeySigner{Key: k}
	}
	token := func(key string) string {
		s := signer(key)
		iss, err := auth.Issue(s.Key.SigningKey, s.DID(), s.KeyID(), st.ChainID, auth.MaxTTL)
		if err != nil {
			t.Fatal(err)
		}
		return iss.Token
	}
	submit := func(key string, msgs ...module.Msg) int64 {
		t.Helper()
		res, err := c.Submit(ctx, signer(key), msgs...)
		if err != nil || res.Code != 0 {
			t.Fatalf("%s by %s: %v %+v", msgs[0].TypeURL(), key, err, res)
		}
		return res.Height
	}
	capture := func(key string, events ...map[string]any) {
		t.Helper()
		res, err := c.Capture(ctx, doc(events...), client.ContentJSON, token(key), "")
		if err != nil || res.Status != "committed" {
			t.Fatalf("capture by %s: %v %+v", key, err, res)
		}
	}

	g := "0401234566601"
	g += string(org.GS1CheckDigit(g))
	sg := func(serial string) string { return "urn:epc:id:sgtin:4012345.0" + g[8:13] + "." + serial }
	lotA, lotB := []string{sg("A1"), sg("A2"), sg("A3")}, []string{sg("B1"), sg("B2")}
	mfr := orgOf["manufacturer"]
	submit("manufacturer",
		&supply.MsgRegisterProduct{Org: mfr, GTIN: g, Name: "Stream test tablets", Lot: "LA", Expiry: "2030-01-31"},
		&supply.MsgRegisterProduct{Org: mfr, GTIN: g, Lot: "LB", Expiry: "2030-01-31"})
	commission := func(lot string, units []string) map[string]any {
		return ev("commissioning", "ADD", map[string]any{"epcList": units,
			"ilmd": map[string]any{"cbvmda:lotNumber": lot, "cbvmda:itemExpirationDate": "2030-01-31"}})
	}
	ship := func(to string, units ...string) map[string]any {
		return ev("shipping", "OBSERVE", map[string]any{"epcList": units, "disposition": "in_transit",
			"destinationList": []any{map[string]any{"type": "owning_party", "destination": pgln(glnOf[to])}}})
	}
	capture("manufacturer", commission("LA", lotA), commission("LB", append(lotB, sg("C1"))))
	capture("manufacturer", ship("pharmacy", lotA[:2]...), ship("distributor", lotB...))
	capture("pharmacy", receiveAll(lotA[:2]...))
	capture("distributor", receiveAll(lotB...))

	// Also on this node: a shipment signed with the member's own key
	// (Client.CaptureSigned, "epcis capture --sign", sealed without chain
	// state) whose first owning party is a GLN no organization holds and
	// whose receiver only its location names is accepted, in transit to
	// the distributor (SealTrade keeps every destination the chain may
	// resolve; it used to keep the first owning party, refused supply/11).
	trades, err := supplyapi.OpenTradeStore(node.TradeDir(d.Home))
	if err != nil {
		t.Fatal(err)
	}
	signed := ev("shipping", "OBSERVE", map[string]any{"epcList": []string{sg("C1")}, "disposition": "in_transit",
		"bizTransactionList": []any{map[string]any{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:" + glnOf["distributor"] + ":PO-SIGNED-1"}},
		"destinationList": []any{map[string]any{"type": "owning_party", "destination": pgln(gln("777777700001"))},
			map[string]any{"type": "location", "destination": sgln(locOf["distributor"])}}})
	res, tx, err := c.CaptureSigned(ctx, signer("manufacturer"), doc(signed), client.ContentJSON, mfr, trades)
	if err != nil || tx == nil || tx.Code != 0 || res.Status != "committed" {
		t.Fatalf("signed capture: %v %+v %+v", err, tx, res)
	}
	if ua, err := c.Unit(ctx, sg("C1"), false); err != nil || ua.Unit.PendingTo != orgOf["distributor"] {
		t.Fatalf("unit %s after the signed shipment: %+v %v", sg("C1"), ua, err)
	}

	// The route is in the node's OpenAPI document.
	resp, err := http.Get(c.URL() + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(spec, []byte(`"/supply/recalls/stream"`)) {
		t.Fatal("GET /supply/recalls/stream is not in /v1/openapi.json")
	}

	wp, wd := watch(t, c, token("pharmacy"), ""), watch(t, c, token("distributor"), "")
	for name, w := range map[string]*watcher{"pharmacy": wp, "distributor": wd} {
		if u := w.next(t, 30*time.Second, name+"'s initial update"); !u.Initial || u.Org != orgOf[name] || u.Count != 0 {
			t.Fatalf("%s's initial update: %+v", name, u)
		}
	}
	if n := run.Node.Supply.Streams(); n != 2 {
		t.Fatalf("open streams: %d, want 2", n)
	}

	h := submit("regulator", &supply.MsgRecall{Org: orgOf["regulator"], GTIN: g, Lots: []string{"LA"}, Reason: "stream test"})
	u := wp.next(t, 30*time.Second, "the pharmacy's recall notice")
	if got := epcs(u.Added); u.Height != h || u.FromHeight != h || u.Count != 2 || !slices.Equal(got, lotA[:2]) || len(u.Removed)+len(u.Changed) != 0 {
		t.Fatalf("the pharmacy's update: height %d (recall at %d), from %d, added %v, want %v", u.Height, h, u.FromHeight, got, lotA[:2])
	}
	for _, n := range u.Added {
		if n.Lot != "LA" || n.Status != supply.StatusActive || n.Recall.By != orgOf["regulator"] || n.Recall.Reason != "stream test" {
			t.Fatalf("notice %+v", n)
		}
	}
	nodetest.WaitHeight(t, c, h+2)
	wd.none(t, 2*time.Second, "the distributor holds none of the recalled lot")

	wp.stop(t)
	waitStreams(t, run.Node.Supply.Streams, 1)

	// Stopping the node ends the distributor's stream, saying so.
	run.Stop()
	stopped = true
	var ended *client.StreamEndedError
	if err := wd.ended(t, 10*time.Second); !errors.As(err, &ended) || ended.Reason != supplyapi.EndNodeStopping {
		t.Fatalf("the stream when the node stopped: %v, want %s", err, supplyapi.EndNodeStopping)
	}
	if n := run.Node.Supply.Streams(); n != 0 {
		t.Fatalf("open streams after the node stopped: %d", n)
	}
}
