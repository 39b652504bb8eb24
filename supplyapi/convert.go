// Package supplyapi is the supply-chain HTTP layer of a node: EPCIS 2.0
// capture (POST /epcis/capture), event queries (GET /epcis/events),
// provenance (GET /epcis/provenance) and public verification (GET /verify).
// It converts package epcis's events into the chain-side supply.Event; the
// epcis package itself stays free of chain imports.
package supplyapi

import (
	"fmt"
	"strings"

	"github.com/medchain/medchain/epcis"
	"github.com/medchain/medchain/x/supply"
)

// ToSupplyEvent converts a parsed EPCIS event into the chain-side form:
// CBV short names, pure-identity EPC URNs (GS1 Digital Links are converted
// with resolve; one whose company prefix is unknown is kept as a Digital
// Link, which the chain then rejects with a coded reason), integer times
// and thousandths for sensor values (temperatures in milli-°C). index is the
// event's position, used in errors.
func ToSupplyEvent(ev *epcis.Event, index int, resolve epcis.PrefixResolver) (supply.Event, []epcis.FieldError) {
	var problems []epcis.FieldError
	bad := func(field, format string, args ...any) {
		problems = append(problems, epcis.FieldError{Event: index, Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	id := func(s string) string {
		if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
			if urn, ok := epcis.ToURN(s, resolve); ok {
				return urn
			}
			if dl, ok := epcis.CanonicalDL(s); ok {
				return dl
			}
		}
		return s
	}
	ids := func(list []string) []string {
		if len(list) == 0 {
			return nil
		}
		out := make([]string, len(list))
		for i, s := range list {
			out[i] = id(s)
		}
		return out
	}
	out := supply.Event{
		Kind:        ev.Type,
		Action:      ev.Action,
		EventID:     ev.EventID,
		EventTimeMs: ev.EventTime.UnixMilli(),
		TimeZone:    ev.EventTimeZoneOffset,
		BizStep:     ev.BizStep,
		Disposition: ev.Disposition,
		EPCs:        ids(ev.EPCList),
		ParentID:    id(ev.ParentID),
		ChildEPCs:   ids(ev.ChildEPCs),
		InputEPCs:   ids(ev.InputEPCList),
		OutputEPCs:  ids(ev.OutputEPCList),
		ReadPoint:   id(ev.ReadPoint),
		BizLocation: id(ev.BizLocation),
		Lot:         ev.Lot(),
		ExpiryDate:  ev.ExpiryDate(),
		Hash:        ev.Hash,
	}
	for _, q := range []struct {
		role string
		list []epcis.Quantity
	}{{"", ev.QuantityList}, {"child", ev.ChildQuantityList}, {"input", ev.InputQuantityList}, {"output", ev.OutputQuantityList}} {
		for _, e := range q.list {
			out.Quantities = append(out.Quantities, supply.Quantity{Role: q.role, EPCClass: id(e.EPCClass), Amount: e.Quantity, UOM: e.UOM})
		}
	}
	for _, t := range ev.BizTransactions {
		out.BizTransactions = append(out.BizTransactions, supply.BizTransaction{Type: t.Type, ID: t.ID})
	}
	for _, t := range ev.Sources {
		out.Sources = append(out.Sources, supply.PartyRef{Type: t.Type, ID: id(t.ID)})
	}
	for _, t := range ev.Destinations {
		out.Destinations = append(out.Destinations, supply.PartyRef{Type: t.Type, ID: id(t.ID)})
	}
	for i, se := range ev.SensorElements {
		for j, r := range se.Reports {
			field := fmt.Sprintf("sensorElementList/%d/sensorReport/%d", i, j)
			rd := supply.SensorReading{Type: r.Type, UOM: r.UOM}
			conv := func(name, v string) (int64, bool) {
				if v == "" {
					return 0, false
				}
				m, err := epcis.ParseMilli(v)
				if err != nil {
					bad(field+"/"+name, "%v", err)
					return 0, false
				}
				if r.Type == "Temperature" {
					c, err := epcis.ToCelsiusMilli(m, r.UOM)
					if err != nil {
						bad(field+"/uom", "%v", err)
						return 0, false
					}
					m = c
				}
				return m, true
			}
			rd.ValueMilli, rd.HasValue = conv("value", r.Value)
			rd.MinMilli, rd.HasMin = conv("minValue", r.Min)
			rd.MaxMilli, rd.HasMax = conv("maxValue", r.Max)
			if r.Type == "Temperature" {
				rd.UOM = "CEL"
			}
			t := r.Time
			if t == "" {
				t = se.Metadata["time"]
			}
			if t != "" {
				if tt, err := epcis.ParseTime(t); err == nil {
					rd.TimeMs = tt.UnixMilli()
				}
			}
			out.Sensors = append(out.Sensors, rd)
		}
	}
	return out, problems
}
