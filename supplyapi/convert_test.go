package supplyapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medchain/medchain/epcis"
	"github.com/medchain/medchain/x/supply"
)

// TestConvertPharmaExample converts the GS1 US healthcare (DSCSA) EPCIS 1.2
// example: commissioning events carry lot and expiry from the ILMD, EPCs
// stay pure-identity URNs, and every event keeps its CBV 2.0 hash.
func TestConvertPharmaExample(t *testing.T) {
	p := filepath.Join("..", "..", "shared", "testdata", "openepcis-test-resources", "1.2", "EPCIS", "XML", "Capture", "Documents", "GS1_US_Pharma_Example_2_2_1_1.xml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Skipf("shared test data not present: %v", err)
	}
	doc, err := epcis.Parse(b, epcis.Detect)
	if err != nil {
		t.Fatal(err)
	}
	commissioned := 0
	for i := range doc.Events {
		ev, problems := ToSupplyEvent(&doc.Events[i], i, nil)
		if len(problems) > 0 {
			t.Fatalf("event %d: %v", i, problems)
		}
		if !strings.HasPrefix(ev.Hash, "ni:///sha-256;") || ev.Kind == "" || ev.EventTimeMs == 0 {
			t.Fatalf("event %d converted badly: %+v", i, ev)
		}
		for _, e := range append(append([]string{}, ev.EPCs...), ev.ChildEPCs...) {
			if !strings.HasPrefix(e, "urn:epc:") {
				t.Errorf("event %d: EPC %s is not a URN", i, e)
			}
		}
		if ev.BizStep == "commissioning" && len(doc.Events[i].ILMD) > 0 {
			commissioned++
			if ev.Lot != "A123" || ev.ExpiryDate != "2025-03-27" {
				t.Errorf("event %d: lot %q expiry %q", i, ev.Lot, ev.ExpiryDate)
			}
		}
	}
	if commissioned != 2 {
		t.Fatalf("%d commissioning events with ILMD, want 2", commissioned)
	}
}

// TestConvertDigitalLinkAndTemperature: Digital Links become URNs when the
// company prefix is known; a Fahrenheit reading becomes milli-°C.
func TestConvertDigitalLinkAndTemperature(t *testing.T) {
	doc := `{"@context":["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],"type":"EPCISDocument","schemaVersion":"2.0",
	"creationDate":"2024-01-01T00:00:00Z","epcisBody":{"eventList":[{"type":"ObjectEvent","eventTime":"2024-01-01T10:00:00+01:00",
	"eventTimeZoneOffset":"+01:00","action":"OBSERVE","bizStep":"shipping","disposition":"in_transit",
	"epcList":["https://id.gs1.org/01/09521141012345/21/2017","https://id.gs1.org/01/05412345000013/21/9"],
	"readPoint":{"id":"https://id.gs1.org/414/9521141000008"},
	"destinationList":[{"type":"owning_party","destination":"https://id.gs1.org/417/9521141000008"}],
	"sensorElementList":[{"sensorReport":[{"type":"Temperature","value":46.4,"uom":"FAH"}]}]}]}}`
	d, err := epcis.Parse([]byte(doc), epcis.JSON)
	if err != nil {
		t.Fatal(err)
	}
	ev, problems := ToSupplyEvent(&d.Events[0], 0, epcis.PrefixList("9521141"))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	want := []string{"urn:epc:id:sgtin:9521141.001234.2017", "https://id.gs1.org/01/05412345000013/21/9"}
	if len(ev.EPCs) != 2 || ev.EPCs[0] != want[0] || ev.EPCs[1] != want[1] {
		t.Errorf("EPCs %v, want %v", ev.EPCs, want)
	}
	if ev.ReadPoint != "urn:epc:id:sgln:9521141.00000.0" || ev.Destinations[0] != (supply.PartyRef{Type: "owning_party", ID: "urn:epc:id:pgln:9521141.00000"}) {
		t.Errorf("read point %s, destinations %v", ev.ReadPoint, ev.Destinations)
	}
	if len(ev.Sensors) != 1 || ev.Sensors[0].ValueMilli != 8000 || !ev.Sensors[0].HasValue || ev.Sensors[0].UOM != "CEL" {
		t.Errorf("sensors %+v, want 8000 milli-°C", ev.Sensors)
	}
	if ev.BizStep != "shipping" || ev.Disposition != "in_transit" || ev.EventTimeMs != 1704099600000 {
		t.Errorf("event %+v", ev)
	}
}
