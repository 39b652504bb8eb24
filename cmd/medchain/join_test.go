package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	cmttypes "github.com/cometbft/cometbft/types"
)

// TestJoinCLI onboards an organization with the CLI alone: "medchain join"
// creates a home from a running development chain's genesis, the new node
// block-syncs to the same app hash, its admin registers through it, the
// development chain's organizations admit it with its validator key, and
// the joined node then signs blocks. join refuses an initialised home, a
// missing or malformed peer and a genesis this medchain cannot start
// from, and writes nothing then.
func TestJoinCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two nodes")
	}
	d := newDevNode(t)
	d.startForTest("/v1/status", "node API")
	var st struct {
		NodeID  string `json:"node_id"`
		Height  int64  `json:"height"`
		AppHash string `json:"app_hash"`
	}
	d.json(&st, "status", "--node", d.url, "-o", "json")
	genesis := filepath.Join(d.home, "config", "genesis.json")
	peer := st.NodeID + "@" + d.p2p

	j := &devNode{cli: d.cli, dir: t.TempDir()}
	j.home = filepath.Join(j.dir, "home")
	j.api, j.rpc, j.p2p = devNodePorts(t)
	j.url = "http://" + j.api
	j.at = []string{"--home", j.home, "--node", j.url}

	// Refusals first: each leaves no home behind.
	badGenesis := filepath.Join(j.dir, "bad-genesis.json")
	var doc map[string]any
	bz, _ := os.ReadFile(genesis)
	if err := json.Unmarshal(bz, &doc); err != nil {
		t.Fatal(err)
	}
	doc["app_state"] = map[string]any{"modules": map[string]any{"no-such-module": map[string]any{}}}
	bz, _ = json.Marshal(doc)
	if err := os.WriteFile(badGenesis, bz, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--genesis", genesis}, "no peer"},
		{[]string{"--genesis", genesis, "--peer", "127.0.0.1:26656"}, "id@host:port"},
		{[]string{"--genesis", badGenesis, "--peer", peer}, "genesis app_state"},
		{[]string{"--genesis", filepath.Join(j.dir, "missing.json"), "--peer", peer}, "--genesis"},
		{[]string{"--genesis", genesis, "--peer", peer, "--org-peer", "dev-hospital=ftp://x"}, "ORG=http(s)://"},
	} {
		_, err := j.run(append(append([]string{"join", "--home", j.home}, tc.args...), "--p2p-addr", j.p2p)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("join %v: %v, want an error with %q", tc.args, err, tc.want)
		}
		if _, serr := os.Stat(filepath.Join(j.home, "config")); serr == nil {
			t.Fatalf("join %v failed but wrote %s/config", tc.args, j.home)
		}
	}
	if _, err := d.run("join", "--home", d.home, "--genesis", genesis, "--peer", peer); err == nil || !strings.Contains(err.Error(), "already initialised") {
		t.Errorf("join into the running node's home: %v, want a refusal", err)
	}

	var joined struct {
		ChainID          string `json:"chain_id"`
		ValidatorPubKey  string `json:"validator_pubkey"`
		ValidatorAddress string `json:"validator_address"`
		AdminKey         string `json:"admin_key"`
		AdminDID         string `json:"admin_did"`
		APIURL           string `json:"api_url"`
	}
	j.json(&joined, "join", "--home", j.home, "--genesis", genesis, "--peer", peer,
		"--api-addr", j.api, "--rpc-addr", j.rpc, "--p2p-addr", j.p2p, "--org-peer", "dev-hospital="+d.url, "-o", "json")
	if joined.ChainID != "medchain-dev" || joined.AdminKey != "admin" || joined.APIURL != j.url || !strings.HasPrefix(joined.AdminDID, "did:medchain:") || len(joined.ValidatorPubKey) != 64 {
		t.Fatalf("join: %+v", joined)
	}
	j.startForTest("/v1/status", "joined node API")

	// It block-syncs: the same app hash at the height the dev node reported.
	waitFor(t, 60*time.Second, "the joined node to reach the dev node's height", func() bool {
		var js struct{ Height int64 }
		d.json(&js, "status", "--node", j.url, "-o", "json")
		return js.Height > st.Height
	})
	if got := blockAppHash(t, j.rpc, st.Height+1); got != blockAppHash(t, d.rpc, st.Height+1) {
		t.Fatalf("app hash in header %d differs between the nodes", st.Height+1)
	}

	// Admission: its admin registers through the joined node; the dev
	// chain's five organizations approve (more than 2/3: four votes).
	var tx struct {
		Code   uint32 `json:"code"`
		Log    string `json:"log"`
		Height int64  `json:"height"`
	}
	j.jsonAt(&tx, "tx", "identity", "register", "--from", "admin")
	if tx.Code != 0 {
		t.Fatalf("register the joiner's admin: %+v", tx)
	}
	d.jsonAt(&tx, "tx", "org", "propose", "admit_org", "--org", "clinic-b", "--name", "Clinic B", "--type", "clinic",
		"--admin", joined.AdminDID, "--validator-key", joined.ValidatorPubKey, "--power", "10", "--from", "admin")
	if tx.Code != 0 {
		t.Fatalf("propose admit_org: %+v", tx)
	}
	for _, k := range []string{"manufacturer", "distributor", "pharmacy"} {
		d.jsonAt(&tx, "tx", "org", "vote", "1", "--from", k)
		if tx.Code != 0 {
			t.Fatalf("vote by %s: %+v", k, tx)
		}
	}
	// From then on the joined node's validator signs.
	waitFor(t, 60*time.Second, "a block signed by the joined node's validator", func() bool {
		return commitSignedBy(t, d.rpc, joined.ValidatorAddress)
	})
	out, err := d.run("query", "org", "show", "clinic-b", "--node", d.url, "-o", "json")
	if err != nil || !strings.Contains(out, joined.AdminDID) {
		t.Errorf("query org show clinic-b: %v\n%s\nwant its admin %s", err, out, joined.AdminDID)
	}
}

// waitFor polls cond every 200 ms until it holds, failing the test after
// timeout with what it was waiting for.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rpcClient is a CometBFT RPC client of the node at rpcAddr (host:port).
func rpcClient(t *testing.T, rpcAddr string) *rpchttp.HTTP {
	t.Helper()
	c, err := rpchttp.New("tcp://"+rpcAddr, "/websocket")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// blockAppHash is the app hash in the header of height, read from the node
// at rpcAddr.
func blockAppHash(t *testing.T, rpcAddr string, height int64) string {
	t.Helper()
	b, err := rpcClient(t, rpcAddr).Block(context.Background(), &height)
	if err != nil {
		t.Fatalf("block %d from %s: %v", height, rpcAddr, err)
	}
	return b.Block.AppHash.String()
}

// commitSignedBy reports whether the latest commit of the node at rpcAddr
// has a signature for the block by the validator at address.
func commitSignedBy(t *testing.T, rpcAddr, address string) bool {
	t.Helper()
	c, err := rpcClient(t, rpcAddr).Commit(context.Background(), nil)
	if err != nil {
		t.Fatalf("commit from %s: %v", rpcAddr, err)
	}
	for _, s := range c.Commit.Signatures {
		if s.ValidatorAddress.String() == address && s.BlockIDFlag == cmttypes.BlockIDFlagCommit {
			return true
		}
	}
	return false
}
