package epcis

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestURNToDL(t *testing.T) {
	cases := map[string]string{
		"urn:epc:id:sgtin:0614141.107346.2017":                         "https://id.gs1.org/01/10614141073464/21/2017",
		"urn:epc:id:sgtin:9521141.001234.2017":                         "https://id.gs1.org/01/09521141012345/21/2017",
		"urn:epc:id:sscc:4012345.0000000111":                           "https://id.gs1.org/00/040123450000001112",
		"urn:epc:id:sgln:4012345.00011.987":                            "https://id.gs1.org/414/4012345000115/254/987",
		"urn:epc:id:sgln:0012345.11111.0":                              "https://id.gs1.org/414/0012345111112",
		"urn:epc:id:pgln:4012345.00000":                                "https://id.gs1.org/417/4012345000009",
		"urn:epc:class:lgtin:4023333.002000.2019-10-07":                "https://id.gs1.org/01/04023333020008/10/2019-10-07",
		"urn:epc:idpat:sgtin:4012345.066666.*":                         "https://id.gs1.org/01/04012345666663",
		"urn:epc:id:giai:4012345.ABC":                                  "https://id.gs1.org/8004/4012345ABC",
		"urn:epc:id:grai:4012345.55555.1234":                           "https://id.gs1.org/8003/040123455555541234",
		"urn:epc:id:sgtin:0614141.107346.A%2FB":                        "https://id.gs1.org/01/10614141073464/21/A%2FB",
		"https://id.gs1.de/01/04012345999990/21/XYZ-1234":              "https://id.gs1.org/01/04012345999990/21/XYZ-1234",
		"https://example.com/a/01/9521141012345/10/L1/21/S1?17=261231": "https://id.gs1.org/01/09521141012345/21/S1",
	}
	for in, want := range cases {
		got, ok := CanonicalDL(in)
		if !ok || got != want {
			t.Errorf("CanonicalDL(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"urn:epc:id:sgtin:0614141.10734.2017", "urn:epc:id:sscc:1.2", "geo:1,2", "https://example.org/rail/x", "urn:epc:id:sgtin:12345.1234567.1"} {
		if got, ok := CanonicalDL(bad); ok {
			t.Errorf("CanonicalDL(%q) = %q, want not a GS1 identifier", bad, got)
		}
	}
}

func TestToURN(t *testing.T) {
	res := PrefixList("0614141", "4012345", "9521141")
	cases := map[string]string{
		"https://id.gs1.org/01/09521141012345/21/2017":  "urn:epc:id:sgtin:9521141.001234.2017",
		"https://id.gs1.org/01/10614141073464/21/A%2FB": "urn:epc:id:sgtin:0614141.107346.A%2FB",
		"https://id.gs1.org/00/040123450000001112":      "urn:epc:id:sscc:4012345.0000000111",
		"https://id.gs1.org/414/4012345000115/254/987":  "urn:epc:id:sgln:4012345.00011.987",
		"https://id.gs1.org/414/4012345000115":          "urn:epc:id:sgln:4012345.00011.0",
		"https://id.gs1.org/417/4012345000009":          "urn:epc:id:pgln:4012345.00000",
		"https://id.gs1.org/01/04012345666663/10/LOT-1": "urn:epc:class:lgtin:4012345.066666.LOT-1",
		"https://id.gs1.org/01/04012345666663":          "urn:epc:idpat:sgtin:4012345.066666.*",
	}
	for in, want := range cases {
		got, ok := ToURN(in, res)
		if !ok || got != want {
			t.Errorf("ToURN(%q) = %q, %v; want %q", in, got, ok, want)
		}
		// and back
		if back, ok := CanonicalDL(got); !ok || back != in {
			t.Errorf("CanonicalDL(%q) = %q, want %q", got, back, in)
		}
	}
	if _, ok := ToURN("https://id.gs1.org/01/05412345000013/21/1", res); ok {
		t.Error("unknown company prefix converted")
	}
}

// TestBarcodeVectors checks GS1 check digits and Digital Link parsing
// against gs1-barcode-syntax-vectors.
func TestBarcodeVectors(t *testing.T) {
	dir := sharedTestdata(t, "gs1-barcode-syntax-vectors")
	b, err := os.ReadFile(filepath.Join(dir, "gs1-syntax-engine-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		DL []struct {
			OK   bool   `json:"should_succeed"`
			URI  string `json:"digital_link_uri"`
			Want string `json:"expected_unbracketed_ai_data"`
		} `json:"dl_uri_to_element_string"`
		Check []struct {
			Input string `json:"input"`
			Valid bool   `json:"valid"`
		} `json:"gs1_check_digit_mod10"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	for _, c := range v.Check {
		if got := ValidCheckDigit(c.Input); got != c.Valid {
			t.Errorf("ValidCheckDigit(%q) = %v, want %v", c.Input, got, c.Valid)
		}
	}
	// Every vector that must succeed and carries a GTIN (with serial or lot)
	// yields the same GTIN, serial and lot; no input panics.
	checked := 0
	for _, c := range v.DL {
		dl, err := ParseDigitalLink(c.URI)
		if !c.OK || !strings.HasPrefix(c.Want, "^01") || err != nil {
			continue
		}
		want := c.Want[3:17]
		if dl.Key != "01" || dl.Value != want {
			t.Errorf("%s: GTIN %s, want %s", c.URI, dl.Value, want)
		}
		if s := dl.Qualifiers["21"]; s != "" && !strings.Contains(c.Want, "21"+s) {
			t.Errorf("%s: serial %q not in %s", c.URI, s, c.Want)
		}
		checked++
	}
	t.Logf("barcode vectors: %d check digits, %d Digital Links with a GTIN checked", len(v.Check), checked)
}

func TestParseMilliAndTemperature(t *testing.T) {
	cases := map[string]int64{"4": 4000, "-18.5": -18500, "2.0125": 2013, "-2.0125": -2013, "0.0004": 0, "1E2": 100000,
		"+7.25": 7250, "26.0": 26000, ".5": 500, "12.3456": 12346}
	for in, want := range cases {
		got, err := ParseMilli(in)
		if err != nil || got != want {
			t.Errorf("ParseMilli(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "twenty", "1.2.3", "1e99", "99999999999999999999"} {
		if _, err := ParseMilli(bad); err == nil {
			t.Errorf("ParseMilli(%q) accepted", bad)
		}
	}
	f, _ := ToCelsiusMilli(46400, "FAH") // 46.4 °F = 8 °C
	k, _ := ToCelsiusMilli(275150, "KEL")
	if f != 8000 || k != 2000 {
		t.Errorf("FAH→%d KEL→%d, want 8000 and 2000", f, k)
	}
}

func TestShortVocabulary(t *testing.T) {
	for in, want := range map[string]string{
		"urn:epcglobal:cbv:bizstep:shipping":       "shipping",
		"https://ref.gs1.org/cbv/BizStep-shipping": "shipping",
		"shipping":                               "shipping",
		"https://example.com/bizStep/inspecting": "https://example.com/bizStep/inspecting",
	} {
		got, ok := ShortBizStep(in)
		if !ok || got != want {
			t.Errorf("ShortBizStep(%q) = %q, %v", in, got, ok)
		}
	}
	for _, bad := range []string{"transforming", "urn:epcglobal:cbv:bizstep:transforming"} {
		if _, ok := ShortBizStep(bad); ok {
			t.Errorf("ShortBizStep(%q) accepted", bad)
		}
	}
}

// FuzzParse: no input makes Parse panic; a parsed document's events all
// carry a hash.
func FuzzParse(f *testing.F) {
	for _, sub := range []string{"openepcis-test-resources", "gs1-epcis", "epcis-event-hash-vectors"} {
		dir := filepath.Join("..", "..", "shared", "testdata", sub)
		_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() && info.Size() < 64<<10 && (strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".jsonld") || strings.HasSuffix(p, ".xml")) {
				if b, err := os.ReadFile(p); err == nil {
					f.Add(b)
				}
			}
			return nil
		})
	}
	f.Add([]byte(`{"@context":"x","type":"EPCISDocument","schemaVersion":"2.0","epcisBody":{"eventList":[{"type":"ObjectEvent"}]}}`))
	f.Add([]byte(`<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0"><EPCISBody><EventList/></EPCISBody></epcis:EPCISDocument>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data, Detect)
		if err != nil {
			return
		}
		for _, ev := range doc.Events {
			if !strings.HasPrefix(ev.Hash, "ni:///sha-256;") {
				t.Fatalf("event without hash")
			}
		}
	})
}
