package supply_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/testutil/nodetest"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/supply"
)

// freeBasePort finds a testnet base port whose port blocks for n nodes are
// all free just now.
func freeBasePort(t *testing.T, n int) int {
	t.Helper()
	for base := 31000 + int(time.Now().UnixNano()%2000)*10; base < 60000; base += 97 {
		ok := true
		for i := 0; i < n && ok; i++ {
			a, b, c, d := node.TestnetPorts(base, i)
			for _, p := range []int{a, b, c, d} {
				l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
				if err != nil {
					ok = false
					break
				}
				l.Close()
			}
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

// TestConcurrentDispenseTwoValidators: two validators, each a pharmacy's
// dispensing terminal connected to a different node, dispense the same
// serial at the same moment, and a second pharmacy that does not hold the
// pack tries too. Exactly one dispense succeeds, and every node agrees on
// which (same results, same unit state, same app hash).
func TestConcurrentDispenseTwoValidators(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two in-process validators; skipped with -short")
	}
	t.Setenv("MEDCHAIN_PASSPHRASE", "supply-two-nodes")
	pass := func(bool) ([]byte, error) { return []byte("supply-two-nodes"), nil }
	dir := t.TempDir()
	tn, err := node.InitTestnet(dir, node.TestnetOptions{Validators: 2, BasePort: freeBasePort(t, 2), Passphrase: pass})
	if err != nil {
		t.Fatal(err)
	}
	// Start both at once: a node is ready once it has caught up, which
	// needs the other validator.
	running := make([]*nodetest.Running, len(tn.Nodes))
	var start sync.WaitGroup
	for i, nd := range tn.Nodes {
		start.Add(1)
		go func() { defer start.Done(); running[i] = nodetest.Start(t, nd.Home) }()
	}
	start.Wait()
	for _, r := range running {
		if r == nil {
			t.FailNow()
		}
		defer r.Stop()
	}
	var clients []*client.Client
	for _, nd := range tn.Nodes {
		c, err := client.New(nd.APIURL)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	key := func(i int, name string) client.Signer {
		kr, err := keyring.Open(filepath.Join(tn.Nodes[i].Home, "keyring"), pass)
		if err != nil {
			t.Fatal(err)
		}
		k, err := kr.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		return client.KeySigner{Key: k}
	}
	mfrAdmin, phAdmin, phVault := key(0, node.TestnetAdminKey), key(1, node.TestnetAdminKey), key(1, node.VaultKey)
	mfrOrg, phOrg := tn.Nodes[0].OrgID, tn.Nodes[1].OrgID
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	submit := func(c *client.Client, s client.Signer, msgs ...module.Msg) *types.TxResult {
		t.Helper()
		res, err := c.Submit(ctx, s, msgs...)
		if err != nil {
			t.Fatalf("submit %s: %v", msgs[0].TypeURL(), err)
		}
		return res
	}
	must := func(c *client.Client, s client.Signer, msgs ...module.Msg) {
		t.Helper()
		if res := submit(c, s, msgs...); res.Code != 0 {
			t.Fatalf("%s: %s/%d %s", msgs[0].TypeURL(), res.Codespace, res.Code, res.Log)
		}
	}
	nodetest.WaitHeight(t, clients[0], 1)
	nodetest.WaitHeight(t, clients[1], 1)
	// Governance gives the manufacturer its prefix; the pharmacy sets its GLN.
	must(clients[0], mfrAdmin, &org.MsgSubmitProposal{ProposerOrg: mfrOrg, Kind: org.KindSetPrefixes, Org: mfrOrg, Prefixes: []string{"0614141"}})
	must(clients[1], phAdmin, &org.MsgVote{ProposalID: 1, Org: phOrg, Approve: true})
	phGLN := gln("501234500001")
	must(clients[1], phAdmin, &org.MsgSetGLNs{Org: phOrg, PartyGLN: phGLN})
	unit := sgtin("RACE-1")
	must(clients[0], mfrAdmin, &supply.MsgRegisterProduct{Org: mfrOrg, GTIN: gtin, Lot: "L1", Expiry: "2030-01-31"})
	shipEv := supply.Event{Kind: supply.KindObject, Action: supply.ActionObserve, BizStep: "shipping", EPCs: []string{unit},
		Destinations: []supply.PartyRef{{Type: supply.PartyOwning, ID: pglnURN(phGLN)}}}
	must(clients[0], mfrAdmin, &supply.MsgCapture{Org: mfrOrg, Events: []supply.Event{commission("L1", "", unit), shipEv}})
	rec := submit(clients[1], phAdmin, &supply.MsgCapture{Org: phOrg, Events: []supply.Event{receive(unit)}})
	if rec.Code != 0 {
		t.Fatalf("receive: %s", rec.Log)
	}
	for _, c := range clients { // both nodes know the signers' next sequences
		nodetest.WaitHeight(t, c, rec.Height+1)
	}

	// The race: prepare all three first, then broadcast at once.
	type attempt struct {
		c  *client.Client
		s  client.Signer
		as string
	}
	attempts := []attempt{{clients[0], phAdmin, phOrg}, {clients[1], phVault, phOrg}, {clients[1], mfrAdmin, mfrOrg}}
	txs := make([][]byte, len(attempts))
	for i, a := range attempts {
		bz, err := a.c.Prepare(ctx, a.s, &supply.MsgCapture{Org: a.as, Events: []supply.Event{dispense(unit)}})
		if err != nil {
			t.Fatal(err)
		}
		txs[i] = bz
	}
	results := make([]*types.TxResult, len(attempts))
	errs := make([]error, len(attempts))
	var wg sync.WaitGroup
	for i, a := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = a.c.Broadcast(ctx, txs[i])
		}()
	}
	wg.Wait()
	wins := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("attempt %d: %v", i, errs[i])
		}
		if r.Code == 0 {
			wins++
			continue
		}
		if r.Codespace != supply.StoreName || (r.Code != supply.ErrDispensed.Code && r.Code != supply.ErrNotCustodian.Code && r.Code != supply.ErrBadStatus.Code) {
			t.Fatalf("attempt %d: %s/%d %s", i, r.Codespace, r.Code, r.Log)
		}
	}
	if wins != 1 {
		t.Fatalf("%d dispenses succeeded, want exactly 1: %+v", wins, results)
	}
	// Every node saw the same results and holds the same unit at the same height.
	var maxH int64
	for _, r := range results {
		maxH = max(maxH, r.Height)
	}
	for _, c := range clients {
		nodetest.WaitHeight(t, c, maxH+1)
	}
	var values []string
	for i, c := range clients {
		for j, r := range results {
			got, err := c.Tx(ctx, hexHash(r.Hash))
			if err != nil || got.Code != r.Code || got.Height != r.Height {
				t.Fatalf("node %d, attempt %d: %+v %v, want code %d at %d", i, j, got, err, r.Code, r.Height)
			}
		}
		// Each node finds the unit through its own unit index; its
		// record is then read at the race's height.
		ua, err := c.Unit(ctx, unit, false)
		if err != nil {
			t.Fatalf("node %d: unit: %v", i, err)
		}
		sv, err := c.StoreValue(ctx, supply.StoreName, supply.UnitKey(ua.Unit.Number), maxH, false)
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, fmt.Sprintf("%x", sv.Value))
	}
	if values[0] != values[1] || values[0] == "" {
		t.Fatalf("nodes disagree on the unit: %v", values)
	}
}

func hexHash(h string) []byte {
	var b []byte
	for i := 0; i+1 < len(h); i += 2 {
		v, _ := strconv.ParseUint(h[i:i+2], 16, 8)
		b = append(b, byte(v))
	}
	return b
}

// TestDevChainSupplyOrgs: a new development chain has the manufacturer
// (owning 0614141 and 4012345), distributor, pharmacy and regulator, with
// their keys in the keyring and valid GLNs, and a genesis the app accepts
// with a 1 MiB transaction limit.
func TestDevChainSupplyOrgs(t *testing.T) {
	t.Setenv("MEDCHAIN_PASSPHRASE", "supply-dev")
	home := t.TempDir()
	kr, err := keyring.Open(node.KeyringDir(home), keyring.EnvOrPrompt())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := node.InitDev(home, node.InitOptions{Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	a := testutil.NewApp(t)
	if _, err := a.InitChain(context.Background(), &abci.RequestInitChain{Time: doc.GenesisTime, ChainId: doc.ChainID,
		AppStateBytes: doc.AppState, InitialHeight: 1, Validators: nil}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.FinalizeBlock(context.Background(), &abci.RequestFinalizeBlock{Height: 1, Time: doc.GenesisTime.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(context.Background(), &abci.RequestCommit{}); err != nil {
		t.Fatal(err)
	}
	if a.Params().MaxTxBytes != node.DevMaxTxBytes {
		t.Fatalf("max_tx_bytes %d", a.Params().MaxTxBytes)
	}
	r, _, err := a.Store().Reader(org.StoreName, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range node.DevSupplyOrgs {
		o, err := a.Org.Keeper.Org(r, d.OrgID)
		if err != nil || o.Type != d.Type || o.PartyGLN != d.PartyGLN || len(o.LocationGLNs) != 1 || len(o.Validators) != 0 {
			t.Fatalf("%s: %+v %v", d.OrgID, o, err)
		}
		if !org.ValidGLN(o.PartyGLN) || !org.ValidGLN(o.LocationGLNs[0]) {
			t.Fatalf("%s: invalid GLNs", d.OrgID)
		}
		k, err := kr.Get(d.Key)
		if err != nil || !a.Org.Keeper.HasRole(r, k.DID, d.OrgID, org.RoleAdmin) {
			t.Fatalf("key %s: %v", d.Key, err)
		}
		if a.Org.Keeper.OrgByGLN(r, d.LocationGLN) != d.OrgID {
			t.Fatalf("GLN %s does not map to %s", d.LocationGLN, d.OrgID)
		}
	}
	if owner, _ := a.Org.Keeper.PrefixOwner(r, "4012345000001"); owner != "dev-manufacturer" {
		t.Fatalf("prefix 4012345 owned by %q", owner)
	}
}
