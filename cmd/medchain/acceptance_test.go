package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAcceptance runs the ledger-core acceptance sequence against the real
// binary: start, status, keys, self-registration, verified resolution,
// membership, generate-only and replayed broadcast, restart.
func TestAcceptance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a node")
	}
	d := newDevNode(t)
	dir, home, node, c := d.dir, d.home, d.url, d.cli

	start := func() *nodeProc {
		return d.start(filepath.Join(dir, fmt.Sprintf("node-%d.log", time.Now().UnixNano())), "/v1/status", "node API")
	}
	stop := func(p *nodeProc) {
		switch err := p.stop(); {
		case errors.Is(err, errStopTimeout):
			t.Fatal(err)
		case err != nil:
			t.Errorf("node exited with %v after SIGINT, want a clean stop", err)
		}
	}
	proc := start()
	defer func() {
		proc.kill()
	}()

	var status struct {
		ChainID string `json:"chain_id"`
		Height  int64  `json:"height"`
		AppHash string `json:"app_hash"`
	}
	c.json(&status, "status", "--node", node, "-o", "json")
	if status.ChainID == "" || status.AppHash == "" {
		t.Fatalf("status %+v, want chain_id and app_hash", status)
	}
	var key struct{ DID string }
	c.json(&key, "keys", "add", "alice", "--home", home, "-o", "json")

	type txOut struct {
		DID    string `json:"did"`
		TxHash string `json:"tx_hash"`
		Height int64  `json:"height"`
		Code   uint32 `json:"code"`
	}
	var reg txOut
	c.json(&reg, "tx", "identity", "register", "--from", "alice", "--home", home, "--node", node, "-o", "json")
	if reg.Code != 0 || reg.DID != key.DID || reg.TxHash == "" || reg.Height < 1 {
		t.Fatalf("register alice: %+v, want code 0 and did %s", reg, key.DID)
	}
	var resolved struct {
		DID      string `json:"did"`
		Verified bool   `json:"verified"`
		Document struct {
			ID string `json:"id"`
		} `json:"did_document"`
	}
	c.json(&resolved, "query", "identity", reg.DID, "--verify", "--node", node, "-o", "json")
	if !resolved.Verified || resolved.Document.ID != reg.DID {
		t.Fatalf("query identity --verify: %+v", resolved)
	}

	c.json(&key, "keys", "add", "carol", "--home", home, "-o", "json")
	var carol txOut
	c.json(&carol, "tx", "identity", "register", "--from", "carol", "--home", home, "--node", node, "-o", "json")
	var add txOut
	c.json(&add, "tx", "org", "add-member", "--from", "admin", "--member", carol.DID, "--role", "practitioner", "--home", home, "--node", node, "-o", "json")
	if add.Code != 0 {
		t.Fatalf("add-member: %+v", add)
	}
	var orgs struct {
		Orgs []struct {
			ID      string `json:"id"`
			Members []struct {
				DID   string   `json:"did"`
				Roles []string `json:"roles"`
			} `json:"members"`
		} `json:"orgs"`
	}
	c.json(&orgs, "query", "org", "list", "--node", node, "-o", "json")
	found := false
	for _, o := range orgs.Orgs {
		for _, m := range o.Members {
			if m.DID == carol.DID && len(m.Roles) == 1 && m.Roles[0] == "practitioner" {
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("carol is not a practitioner in %+v", orgs)
	}

	c.json(&key, "keys", "add", "bob", "--home", home, "-o", "json")
	gen, err := c.run("tx", "identity", "register", "--from", "bob", "--home", home, "--generate-only", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	txFile := filepath.Join(dir, "tx.json")
	if err := os.WriteFile(txFile, []byte(gen), 0o600); err != nil {
		t.Fatal(err)
	}
	var first, second txOut
	c.json(&first, "tx", "broadcast", txFile, "--node", node, "-o", "json")
	c.json(&second, "tx", "broadcast", txFile, "--node", node, "-o", "json")
	if first.Code != 0 || second.Code == 0 {
		t.Fatalf("broadcast twice: codes %d then %d, want 0 then non-zero", first.Code, second.Code)
	}

	// Rotate alice's key, then deactivate her with the new key.
	var rot txOut
	c.json(&rot, "tx", "identity", "rotate-key", "--from", "alice", "--home", home, "--node", node, "-o", "json")
	if rot.Code != 0 {
		t.Fatalf("rotate-key: %+v", rot)
	}
	var doc struct {
		Document struct {
			Authentication []string `json:"authentication"`
		} `json:"did_document"`
	}
	c.json(&doc, "query", "identity", reg.DID, "--node", node, "-o", "json")
	if len(doc.Document.Authentication) != 1 || doc.Document.Authentication[0] != reg.DID+"#key-2" {
		t.Fatalf("after rotation authentication is %v, want key-2", doc.Document.Authentication)
	}
	// Governance: the development chain has five member organizations (the
	// hospital and issue 5's supply-chain demo organizations), so admitting
	// carol's clinic passes once four approve (more than two thirds): the
	// proposer's own approval and three demo organizations' votes.
	var prop txOut
	c.json(&prop, "tx", "org", "propose", "admit_org", "--org", "carol-clinic", "--name", "Carol's Clinic", "--type", "clinic",
		"--admin", carol.DID, "--from", "admin", "--home", home, "--node", node, "-o", "json")
	if prop.Code != 0 {
		t.Fatalf("propose: %+v", prop)
	}
	for _, voter := range []string{"manufacturer", "distributor", "pharmacy"} {
		var vote txOut
		c.json(&vote, "tx", "org", "vote", "1", "--from", voter, "--home", home, "--node", node, "-o", "json")
		if vote.Code != 0 {
			t.Fatalf("vote by %s: %+v", voter, vote)
		}
	}
	var org struct {
		Org struct {
			Status string `json:"status"`
		} `json:"org"`
	}
	c.json(&org, "query", "org", "show", "carol-clinic", "--node", node, "-o", "json")
	if org.Org.Status != "active" {
		t.Fatalf("carol-clinic status %q, want active", org.Org.Status)
	}
	var deact, after txOut
	c.json(&deact, "tx", "identity", "deactivate", "--from", "alice", "--home", home, "--node", node, "-o", "json")
	if deact.Code != 0 {
		t.Fatalf("deactivate: %+v", deact)
	}
	c.json(&after, "tx", "identity", "deactivate", "--from", "alice", "--home", home, "--node", node, "-o", "json")
	if after.Code != 8 {
		t.Fatalf("tx from a deactivated DID: code %d, want 8 (signer deactivated)", after.Code)
	}

	// Stop, start again: the height continues and alice still resolves.
	c.json(&status, "status", "--node", node, "-o", "json")
	before := status.Height
	stop(proc)
	proc = start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.json(&status, "status", "--node", node, "-o", "json")
		if status.Height > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("height stuck at %d after restart (was %d)", status.Height, before)
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.json(&resolved, "query", "identity", reg.DID, "--verify", "--node", node, "-o", "json")
	if !resolved.Verified || resolved.Document.ID != reg.DID {
		t.Fatalf("after restart: %+v", resolved)
	}
	// A person gets an actionable error, not a stack trace.
	if _, err := c.run("query", "identity", "not-a-did", "--node", node); err == nil || !strings.Contains(err.Error(), "not a medchain DID") {
		t.Errorf("bad DID: got %v, want a clear error", err)
	}
	stop(proc)
}
