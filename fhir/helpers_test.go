package fhir_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	rpclocal "github.com/cometbft/cometbft/rpc/client/local"

	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/records"
)

func grantMsg(patient, grantee string) *consent.MsgGrant {
	return &consent.MsgGrant{Patient: patient, Grantee: consent.Grantee{Kind: consent.GranteeDID, DID: grantee}, Purposes: []string{consent.PurposeTreatment}}
}

func erasure(patient string) *records.MsgRequestErasure {
	return &records.MsgRequestErasure{Patient: patient}
}

// syntheaCanaries returns names, birth dates and identifiers of the first
// three Synthea patients.
func syntheaCanaries(t *testing.T) []string {
	var files []string
	for _, root := range []string{"../../shared/testdata", "../shared/testdata"} {
		if fs, _ := filepath.Glob(filepath.Join(root, "synthea-fhir-r4-bundles", "*.json")); len(fs) > 0 {
			files = fs
			break
		}
	}
	if len(files) == 0 {
		return nil // no Synthea data: the other canaries still run
	}
	if len(files) > 3 {
		files = files[:3]
	}
	var out []string
	for _, f := range files {
		b := decode(t, must(os.ReadFile(f)))
		for _, en := range asSlice(b["entry"]) {
			res := en.(map[string]any)["resource"].(map[string]any)
			if res["resourceType"] != "Patient" {
				continue
			}
			for _, n := range asSlice(res["name"]) {
				nm := n.(map[string]any)
				if fam, ok := nm["family"].(string); ok {
					out = append(out, fam)
				}
				for _, g := range asSlice(nm["given"]) {
					out = append(out, g.(string))
				}
			}
			if bd, ok := res["birthDate"].(string); ok {
				out = append(out, bd)
			}
			for _, id := range asSlice(res["identifier"]) {
				if v, ok := id.(map[string]any)["value"].(string); ok && len(v) >= 9 {
					out = append(out, v)
				}
			}
		}
	}
	if len(out) < 9 {
		t.Fatalf("too few Synthea canaries: %v", out)
	}
	return out
}

// grepTree reports every file under root (or root itself) that contains
// a canary, skipping paths skip accepts.
func grepTree(t testing.TB, root string, canaries []string, skip func(string) bool) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // files can vanish under a running node
		}
		if skip != nil && skip(p) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		bz, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		for _, c := range canaries {
			if bytes.Contains(bz, []byte(c)) {
				found = append(found, fmt.Sprintf("%s contains %q", p, c))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// scanChain looks for canaries in every committed transaction, every
// block's results (events, logs) and every key and value of the app state.
func scanChain(t testing.TB, e *env, canaries []string) []string {
	t.Helper()
	var found []string
	check := func(where string, bz []byte) {
		for _, c := range canaries {
			if bytes.Contains(bz, []byte(c)) {
				found = append(found, fmt.Sprintf("%s contains %q", where, c))
			}
		}
	}
	cn := e.run.Node.Comet
	bs := cn.BlockStore()
	rpc := rpclocal.New(cn)
	ctx := context.Background()
	blocks, txs := 0, 0
	for h := bs.Base(); h <= bs.Height(); h++ {
		b := bs.LoadBlock(h)
		if b == nil {
			continue
		}
		blocks++
		for i, tx := range b.Data.Txs {
			check(fmt.Sprintf("tx %d of block %d", i, h), tx)
			txs++
		}
		hh := h
		res, err := rpc.BlockResults(ctx, &hh)
		if err != nil {
			t.Fatalf("block results %d: %v", h, err)
		}
		check(fmt.Sprintf("results of block %d", h), []byte(fmt.Sprintf("%v", res)))
	}
	ms := e.run.Node.App.Store()
	keys := 0
	for _, name := range ms.Names() {
		r, _, err := ms.Reader(name, 0)
		if err != nil {
			t.Fatal(err)
		}
		it := r.Iterator(nil, nil)
		for ; it.Valid(); it.Next() {
			check("state "+name, it.Key())
			check("state "+name, it.Value())
			keys++
		}
		it.Close()
	}
	t.Logf("scanned %d blocks, %d transactions, %d state entries", blocks, txs, keys)
	return found
}
