package epcis

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedTestdata returns ../shared/testdata/<sub> or skips the test.
func sharedTestdata(t testing.TB, sub string) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "testdata", sub)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared test data %s not present (%v); it lives beside the repository in ../shared/testdata", sub, err)
	}
	return dir
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// parseForHash reads a document without failing on validation problems
// that do not affect the hash (the vectors include non-standard events).
func parseForHash(t *testing.T, path string) ([]*Node, []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*Node
	var doc *Document
	if strings.HasSuffix(path, ".xml") {
		doc, nodes, err = parseXMLOpts(b, false)
	} else {
		doc, nodes, err = parseJSON(b)
	}
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	return nodes, doc.IgnoreFields
}

// TestEventHashVectors checks every example of epcis-event-hash-vectors:
// each .jsonld/.xml input against its .prehashes and .hashes files.
func TestEventHashVectors(t *testing.T) {
	dir := filepath.Join(sharedTestdata(t, "epcis-event-hash-vectors"), "examples")
	hashFiles, _ := filepath.Glob(filepath.Join(dir, "*.hashes"))
	if len(hashFiles) == 0 {
		t.Skip("no .hashes files")
	}
	events, pass := 0, 0
	for _, hf := range hashFiles {
		base := strings.TrimSuffix(hf, ".hashes")
		want := readLines(t, hf)
		var pre []string
		if _, err := os.Stat(base + ".prehashes"); err == nil {
			pre = readLines(t, base+".prehashes")
		}
		for _, ext := range []string{".jsonld", ".xml", ".json"} {
			in := base + ext
			if _, err := os.Stat(in); err != nil {
				continue
			}
			nodes, ignore := parseForHash(t, in)
			if len(nodes) != len(want) {
				t.Errorf("%s: %d events, want %d hashes", filepath.Base(in), len(nodes), len(want))
				continue
			}
			for i, n := range nodes {
				events++
				got := Hash(n, ignore...)
				if got == want[i] {
					pass++
					continue
				}
				t.Errorf("%s event %d: hash %s, want %s", filepath.Base(in), i, got, want[i])
				if i < len(pre) {
					t.Logf("  got  %s\n  want %s", PreHash(n, ignore...), pre[i])
				}
			}
		}
	}
	t.Logf("event-hash vectors: %d of %d events match", pass, events)
}

// TestEventHashExpectedEqual checks that every event of each
// expected_equal document hashes to the same value.
func TestEventHashExpectedEqual(t *testing.T) {
	dir := filepath.Join(sharedTestdata(t, "epcis-event-hash-vectors"), "expected_equal")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		nodes, _ := parseForHash(t, f)
		if len(nodes) < 2 {
			t.Errorf("%s: %d events", filepath.Base(f), len(nodes))
			continue
		}
		first := Hash(nodes[0])
		for i, n := range nodes[1:] {
			if h := Hash(n); h != first {
				t.Errorf("%s: event %d hash differs\n  %s\n  %s", filepath.Base(f), i+1, PreHash(nodes[0]), PreHash(n))
			}
		}
	}
	t.Logf("expected_equal: %d documents", len(files))
}
