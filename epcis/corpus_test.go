package epcis

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func walkFiles(t *testing.T, dir string, exts ...string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		for _, e := range exts {
			if strings.HasSuffix(p, e) {
				out = append(out, p)
			}
		}
		return nil
	})
	return out
}

// isEventDocument reports whether a test file is an EPCIS event document
// (not a schema, context, query definition, capture job or master data).
func isEventDocument(b []byte) bool {
	s := string(b)
	return strings.Contains(s, "EPCISDocument") || strings.Contains(s, "EPCISQueryDocument")
}

// TestOpenEPCISCorpus: every document under openepcis-test-resources that
// is not in an Invalid folder parses; every Invalid capture document is
// rejected with at least one reason naming an event or field.
func TestOpenEPCISCorpus(t *testing.T) {
	dir := sharedTestdata(t, "openepcis-test-resources")
	valid, invalid, skipped := 0, 0, 0
	for _, f := range walkFiles(t, dir, ".json", ".jsonld", ".xml") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, f)
		if !isEventDocument(b) || strings.Contains(rel, "Queries") {
			skipped++ // bare events and query definitions are not documents
			continue
		}
		doc, err := Parse(b, Detect)
		if strings.Contains(rel, "Invalid") {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Errors) == 0 {
				t.Errorf("%s: accepted, want rejection", rel)
				continue
			}
			invalid++
			t.Logf("%s rejected: %v", rel, err)
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if len(doc.Events) == 0 {
			t.Errorf("%s: no events", rel)
		}
		valid++
	}
	t.Logf("openepcis: %d valid documents parsed, %d invalid rejected, %d other files skipped", valid, invalid, skipped)
}

// TestGS1Examples: every EPCIS document among the GS1 standard examples parses.
func TestGS1Examples(t *testing.T) {
	dir := sharedTestdata(t, "gs1-epcis")
	ok, skipped := 0, 0
	for _, f := range walkFiles(t, dir, ".jsonld", ".json", ".xml") {
		rel, _ := filepath.Rel(dir, f)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !isEventDocument(b) || strings.Contains(rel, "Schema") || strings.Contains(rel, "Context") || strings.Contains(rel, "context") ||
			strings.Contains(rel, "CaptureJob") || strings.Contains(rel, "masterdata") || strings.Contains(rel, "CBV") || strings.Contains(rel, "REST") {
			skipped++
			continue
		}
		if _, err := Parse(b, Detect); err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		ok++
	}
	t.Logf("gs1-epcis: %d example documents parsed, %d other files skipped", ok, skipped)
}

// TestGS1IdenticalHashIDs: the XML/WithEventHashID examples are different
// representations of one event; all must hash alike.
func TestGS1IdenticalHashIDs(t *testing.T) {
	dir := filepath.Join(sharedTestdata(t, "gs1-epcis"), "XML", "WithEventHashID")
	var first, firstPre string
	n := 0
	for _, f := range walkFiles(t, dir, ".xml") {
		if strings.HasSuffix(f, "_2.xml") {
			// Its event has another eventTimeZoneOffset (-05:00): the
			// published CBV 2.0 algorithm hashes the offset, so it differs.
			continue
		}
		b, _ := os.ReadFile(f)
		_, nodes, err := parseXMLOpts(b, false)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		for i, ev := range nodes {
			n++
			h := Hash(ev)
			if first == "" {
				first, firstPre = h, PreHash(ev)
				continue
			}
			if h != first {
				t.Errorf("%s event %d: hash differs\n  %s\n  %s", filepath.Base(f), i, firstPre, PreHash(ev))
			}
		}
	}
	t.Logf("WithEventHashID: %d events, one hash", n)
}
