package vault

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestPayloadKeepsResourceBytes: what a read decrypts must be the exact
// bytes the commitment was computed over, narratives (<, >, &) and
// whitespace included.
func TestPayloadKeepsResourceBytes(t *testing.T) {
	for _, res := range []string{
		`{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">A &amp; B</div>"}}`,
		"{\n  \"resourceType\": \"Observation\",\n  \"valueQuantity\": {\"value\": 1.50}\n}",
		`{"resourceType":"Basic","code":{"text":"\u00e9t\u00e9 \u2028"}}`,
		"\n  {\"resourceType\": \"Basic\"}\n",
	} {
		plain, err := sealPayload(make([]byte, 16), bytes.TrimSpace([]byte(res)))
		if err != nil {
			t.Fatal(err)
		}
		var p payload
		if err := json.Unmarshal(plain, &p); err != nil {
			t.Fatal(err)
		}
		if string(p.Resource) != strings.TrimSpace(res) {
			t.Errorf("resource changed in the payload:\n%s\n%s", res, p.Resource)
		}
	}
	if _, err := sealPayload(nil, []byte(`{"a":`)); err == nil {
		t.Error("invalid JSON sealed")
	}
}
