package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/testutil/nodetest"
	"github.com/medchain/medchain/x/identity"
)

// txSearch counts what CometBFT's tx_search finds for query, and returns
// the first hit's event attributes as "type.key".
func txSearch(t *testing.T, rpc *rpchttp.HTTP, query string) (int, map[string]bool) {
	t.Helper()
	res, err := rpc.TxSearch(context.Background(), query, false, nil, nil, "asc")
	if err != nil {
		t.Fatalf("tx_search %s: %v", query, err)
	}
	attrs := map[string]bool{}
	if len(res.Txs) > 0 {
		for _, e := range res.Txs[0].TxResult.Events {
			for _, a := range e.Attributes {
				attrs[e.Type+"."+a.Key] = true
			}
		}
	}
	return len(res.Txs), attrs
}

// waitFound polls tx_search until query finds n transactions (the indexer
// runs behind the block).
func waitFound(t *testing.T, rpc *rpchttp.HTTP, query string, n int) map[string]bool {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, attrs := txSearch(t, rpc, query)
		if got == n {
			return attrs
		}
		if time.Now().After(deadline) {
			t.Fatalf("tx_search %s: %d transactions, want %d", query, got, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestIndexEventsOnNode runs a real node: with the default index_events
// a registration is found by tx.signer and not by its identity event's
// attributes, though the transaction found carries them all; after a
// restart with index_events ["*"], a new registration is found by those
// too, while what was indexed before stays as it was.
func TestIndexEventsOnNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	dev, r, alice := startAndRegister(t, func(*node.Settings) {})
	rpc, err := rpchttp.New("tcp://"+dev.Addrs.RPC, "/websocket")
	if err != nil {
		t.Fatal(err)
	}
	attrs := waitFound(t, rpc, fmt.Sprintf("tx.signer='%s'", alice), 1)
	for _, want := range []string{"tx.signer", "tx.sequence", "tx.msgs", "identity.registered.did", "identity.registered.key"} {
		if !attrs[want] {
			t.Errorf("the transaction found lacks %s (has %v)", want, attrs)
		}
	}
	for _, q := range []string{"identity.registered.did='%s'", "tx.sequence=0 AND tx.signer='%s'"} {
		if n, _ := txSearch(t, rpc, fmt.Sprintf(q, alice)); n != 0 {
			t.Errorf("%s found %d transactions under the default index_events, want 0", fmt.Sprintf(q, alice), n)
		}
	}
	r.Stop()

	s, err := node.LoadSettings(dev.Home)
	if err != nil {
		t.Fatal(err)
	}
	s.IndexEvents = []string{"*"}
	if err := node.SaveSettings(dev.Home, s); err != nil {
		t.Fatal(err)
	}
	r = nodetest.Start(t, dev.Home)
	defer r.Stop()
	// A new client: CometBFT's RPC server, stopped in this process, leaves
	// the old one's kept-alive connection to the stopped node.
	if rpc, err = rpchttp.New("tcp://"+dev.Addrs.RPC, "/websocket"); err != nil {
		t.Fatal(err)
	}
	c := dev.Client(t)
	bob, err := dev.Keyring.Add("bob")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Submit(context.Background(), client.KeySigner{Key: bob}, client.RegisterMsg(bob)); err != nil || res.Code != 0 {
		t.Fatalf("register bob: %+v, %v", res, err)
	}
	bobDID := identity.DIDFromKey(bob.SigningPublic())
	waitFound(t, rpc, fmt.Sprintf("identity.registered.did='%s'", bobDID), 1)
	waitFound(t, rpc, fmt.Sprintf("tx.sequence=0 AND tx.signer='%s'", bobDID), 1)
	if n, _ := txSearch(t, rpc, fmt.Sprintf("identity.registered.did='%s'", alice)); n != 0 {
		t.Errorf("alice's registration, indexed under the default, found by identity.registered.did: %d", n)
	}
}
