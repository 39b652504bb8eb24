package app_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	dbm "github.com/cosmos/cosmos-db"

	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/x/org"
)

// harnessWith is testutil.New with app options.
func harnessWith(t *testing.T, opts app.Options) *testutil.Harness {
	t.Helper()
	a, err := app.New(dbm.NewMemDB(), opts)
	if err != nil {
		t.Fatal(err)
	}
	state, orgs := testutil.Genesis(testutil.Config{})
	h := &testutil.Harness{T: t, App: a, ChainID: testutil.ChainID, Orgs: orgs}
	resp, err := a.InitChain(context.Background(), &abci.RequestInitChain{
		Time: testutil.GenesisTime, ChainId: testutil.ChainID, AppStateBytes: state, InitialHeight: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.AppHashes = [][]byte{resp.AppHash}
	return h
}

// indexedAttrs lists a result's attributes marked for the indexer, as
// "type.key", and counts all attributes.
func indexedAttrs(r *abci.ExecTxResult) (indexed []string, all int) {
	for _, e := range r.Events {
		for _, a := range e.Attributes {
			all++
			if a.Index {
				indexed = append(indexed, e.Type+"."+a.Key)
			}
		}
	}
	return indexed, all
}

// TestIndexEvents: Options.IndexEvents decides which event attributes are
// marked for CometBFT's indexer, and nothing else: every attribute is in
// every result whatever it says, and the app hashes and the results hash
// CometBFT puts in the next header are the same under every setting.
func TestIndexEvents(t *testing.T) {
	cases := []struct {
		name string
		list []string
		want string // indexed attributes of block 1's two results, ";" between results
	}{
		{"default", nil, "tx.signer;tx.signer"},
		{"none", []string{}, ";"},
		{"all", []string{"*"}, "tx.signer tx.sequence tx.msgs identity.registered.did identity.registered.key;" +
			"tx.signer tx.sequence tx.msgs org.member_set.org org.member_set.member org.member_set.roles"},
		{"one type", []string{"identity.registered.*"}, "identity.registered.did identity.registered.key;"},
		{"exact", []string{"tx.sequence", "org.member_set.member", "identity.key_rotated.did"}, "tx.sequence;tx.sequence org.member_set.member"},
	}
	var hashes, resultsHashes [][]byte
	var attrCounts []int
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := harnessWith(t, app.Options{IndexEvents: tc.list})
			alice := testutil.NewSigner("alice")
			admin := h.Orgs[0].Admin
			res := h.MustBlock(
				alice.Sign(h.ChainID, alice.Register()),
				admin.Sign(h.ChainID, &org.MsgAddMember{Org: h.Orgs[0].ID, Member: alice.DID, Roles: []string{org.RoleNurse}}),
			)
			var got []string
			n := 0
			for _, r := range res {
				idx, all := indexedAttrs(r)
				got = append(got, strings.Join(idx, " "))
				n += all
			}
			if g := strings.Join(got, ";"); g != tc.want {
				t.Errorf("indexed %q, want %q", g, tc.want)
			}
			hashes = append(hashes, h.AppHashes[1])
			rh, err := abci.MarshalTxResults(res)
			if err != nil {
				t.Fatal(err)
			}
			resultsHashes = append(resultsHashes, bytes.Join(rh, nil))
			attrCounts = append(attrCounts, n)
		})
	}
	for i := 1; i < len(hashes); i++ {
		if !bytes.Equal(hashes[i], hashes[0]) || !bytes.Equal(resultsHashes[i], resultsHashes[0]) || attrCounts[i] != attrCounts[0] {
			t.Errorf("%s: app hash %X, results %X, %d attributes; %s: %X, %X, %d",
				cases[i].name, hashes[i], resultsHashes[i], attrCounts[i], cases[0].name, hashes[0], resultsHashes[0], attrCounts[0])
		}
	}
}

// TestIndexEventsRefused: malformed entries are refused naming the entry.
func TestIndexEventsRefused(t *testing.T) {
	for _, e := range []string{"tx", "tx.", ".did", "a b.c", "*.did", "tx.si*", "tx*.signer", "tx.signer='x'", ""} {
		err := app.ValidateIndexEvents([]string{"tx.signer", e})
		if err == nil || !strings.Contains(err.Error(), "index_events") {
			t.Errorf("%q: %v, want an index_events error", e, err)
		}
		if _, err := app.New(dbm.NewMemDB(), app.Options{IndexEvents: []string{e}}); err == nil {
			t.Errorf("app.New with %q: no error", e)
		}
	}
	for _, ok := range [][]string{nil, {}, {"*"}, {"tx.*", "identity.registered.did", "supply.recall-issued.gtin_14"}} {
		if err := app.ValidateIndexEvents(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}
