package supply

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/medchain/medchain/x/org"
)

// Stateless limits.
const (
	maxEPCLen    = 256
	maxTextLen   = 256
	maxNameLen   = 200
	maxLotLen    = 20 // GS1 AI (10)
	maxListItems = 100_000
)

// tempBound bounds temperatures (±1000 °C in milli-degrees), so that no
// arithmetic on them can overflow.
const tempBound = 1_000_000

func printable(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// text is like printable but allows spaces and any UTF-8.
func text(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// ValidLot reports whether s is a GS1 lot number: 1 to 20 printable ASCII
// characters.
func ValidLot(s string) bool { return printable(s, maxLotLen) }

func validNDC(s string) bool {
	digits := strings.ReplaceAll(s, "-", "")
	return (len(digits) == 10 || len(digits) == 11) && allDigits(digits) && len(s) <= 13
}

func validTempRange(has bool, lo, hi int64) error {
	if !has {
		if lo != 0 || hi != 0 {
			return ErrInvalidMsg.Wrapf("a temperature range needs has_temp_range")
		}
		return nil
	}
	if lo < -tempBound || hi > tempBound || lo > hi {
		return ErrInvalidMsg.Wrapf("temperature range [%d, %d] m°C: min above max or beyond ±1000 °C", lo, hi)
	}
	return nil
}

// ValidateBasic implements module.Msg.
func (m *MsgRegisterProduct) ValidateBasic() error {
	if !org.ValidOrgID(m.Org) {
		return ErrInvalidMsg.Wrapf("%q is not an organization id", m.Org)
	}
	gtin := m.GTIN
	if gtin == "" {
		gtin = m.UDIDI
	}
	g, ok := NormalizeGTIN(gtin)
	if !ok {
		return ErrInvalidMsg.Wrapf("GTIN %q: 8, 12, 13 or 14 digits with a valid check digit (or a GS1 UDI-DI)", gtin)
	}
	if m.GTIN != "" && m.UDIDI != "" {
		if u, ok := NormalizeGTIN(m.UDIDI); !ok || u != g {
			return ErrInvalidMsg.Wrapf("UDI-DI %q: a GS1 UDI-DI is the product's GTIN", m.UDIDI)
		}
	}
	switch {
	case m.NDC != "" && !validNDC(m.NDC):
		return ErrInvalidMsg.Wrapf("NDC %q: 10 or 11 digits, optionally hyphenated", m.NDC)
	case !text(m.Name, maxNameLen):
		return ErrInvalidMsg.Wrapf("name: at most %d bytes of text", maxNameLen)
	case m.Kind != "" && m.Kind != ProductDrug && m.Kind != ProductDevice:
		return ErrInvalidMsg.Wrapf("kind %q: drug or device", m.Kind)
	case m.Kind == ProductDevice && m.NDC != "":
		return ErrInvalidMsg.Wrapf("a device has no NDC")
	case m.Lot == "" && (m.Expiry != "" || m.HasTempRange):
		return ErrInvalidMsg.Wrapf("expiry and temperature range belong to a lot; give --lot")
	case m.Lot != "" && !ValidLot(m.Lot):
		return ErrInvalidMsg.Wrapf("lot %q: 1 to %d printable characters", m.Lot, maxLotLen)
	case m.Expiry != "" && !validDate(m.Expiry):
		return ErrInvalidMsg.Wrapf("expiry %q: YYYY-MM-DD", m.Expiry)
	}
	return validTempRange(m.HasTempRange, m.TempMinMilli, m.TempMaxMilli)
}

// ValidateBasic implements module.Msg.
func (m *MsgRegisterLot) ValidateBasic() error {
	switch {
	case !org.ValidOrgID(m.Org):
		return ErrInvalidMsg.Wrapf("%q is not an organization id", m.Org)
	case !validGTIN(m.GTIN):
		return ErrInvalidMsg.Wrapf("GTIN %q: 8, 12, 13 or 14 digits with a valid check digit", m.GTIN)
	case !ValidLot(m.Lot):
		return ErrInvalidMsg.Wrapf("lot %q: 1 to %d printable characters", m.Lot, maxLotLen)
	case m.Expiry != "" && !validDate(m.Expiry):
		return ErrInvalidMsg.Wrapf("expiry %q: YYYY-MM-DD", m.Expiry)
	}
	return validTempRange(m.HasTempRange, m.TempMinMilli, m.TempMaxMilli)
}

func validGTIN(s string) bool { _, ok := NormalizeGTIN(s); return ok }

// ValidateBasic implements module.Msg.
func (m *MsgRecall) ValidateBasic() error {
	switch {
	case !org.ValidOrgID(m.Org):
		return ErrInvalidMsg.Wrapf("%q is not an organization id", m.Org)
	case !validGTIN(m.GTIN):
		return ErrInvalidMsg.Wrapf("GTIN %q: 8, 12, 13 or 14 digits with a valid check digit", m.GTIN)
	case len(m.Lots) > 1000:
		return ErrInvalidMsg.Wrapf("at most 1000 lots per recall")
	case !text(m.Reason, maxNameLen):
		return ErrInvalidMsg.Wrapf("reason: at most %d bytes of text", maxNameLen)
	}
	for i, l := range m.Lots {
		if !ValidLot(l) {
			return ErrInvalidMsg.Wrapf("lot %q: 1 to %d printable characters", l, maxLotLen)
		}
		if i > 0 && m.Lots[i-1] >= l {
			return ErrInvalidMsg.Wrapf("lots must be sorted and unique")
		}
	}
	return nil
}

// ValidateBasic implements module.Msg. Each failure names the event.
func (m *MsgCapture) ValidateBasic() error {
	if !org.ValidOrgID(m.Org) {
		return ErrInvalidMsg.Wrapf("%q is not an organization id", m.Org)
	}
	if len(m.Events) == 0 {
		return ErrInvalidMsg.Wrapf("a capture needs at least one event")
	}
	total := 0
	for i := range m.Events {
		ev := &m.Events[i]
		total += len(ev.EPCs) + len(ev.ChildEPCs) + len(ev.InputEPCs) + len(ev.OutputEPCs) + len(ev.Quantities) + len(ev.Sensors)
		if total > maxListItems {
			return ErrTooLarge.Wrapf("more than %d EPCs, quantities and sensor reports in one capture", maxListItems)
		}
		if err := ev.Validate(); err != nil {
			return ErrInvalidMsg.Wrapf("event %d: %v", i, err)
		}
	}
	return nil
}

func errf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// Validate checks an event on its own (syntax and EPCIS structure); it
// returns a plain error whose text names the faulty field.
func (ev *Event) Validate() error {
	switch ev.Kind {
	case KindObject, KindTransaction:
		if ev.Action != ActionAdd && ev.Action != ActionObserve && ev.Action != ActionDelete {
			return errf("%s: action %q must be ADD, OBSERVE or DELETE", ev.Kind, ev.Action)
		}
		if len(ev.ChildEPCs)+len(ev.InputEPCs)+len(ev.OutputEPCs) > 0 {
			return errf("%s has no child, input or output EPCs", ev.Kind)
		}
	case KindAggregation, KindAssociation:
		if ev.Action != ActionAdd && ev.Action != ActionObserve && ev.Action != ActionDelete {
			return errf("%s: action %q must be ADD, OBSERVE or DELETE", ev.Kind, ev.Action)
		}
		if ev.ParentID == "" && ev.Action != ActionObserve {
			return errf("%s %s needs a parentID", ev.Kind, ev.Action)
		}
		if len(ev.EPCs)+len(ev.InputEPCs)+len(ev.OutputEPCs) > 0 {
			return errf("%s lists its EPCs as childEPCs", ev.Kind)
		}
	case KindTransformation:
		if ev.Action != "" {
			return errf("a TransformationEvent has no action")
		}
		if len(ev.EPCs)+len(ev.ChildEPCs) > 0 || ev.ParentID != "" {
			return errf("a TransformationEvent has input and output EPCs only")
		}
	default:
		return errf("unknown event type %q", ev.Kind)
	}
	seen := make(map[string]bool, len(ev.EPCs)+len(ev.ChildEPCs)) // look-ups only
	for _, l := range [][]string{ev.EPCs, ev.ChildEPCs, ev.InputEPCs, ev.OutputEPCs} {
		for _, e := range l {
			if !printable(e, maxEPCLen) {
				return errf("EPC %q: a URI of 1 to %d printable characters", clip(e), maxEPCLen)
			}
			if seen[e] {
				return errf("EPC %s is listed twice", clip(e))
			}
			seen[e] = true
		}
	}
	for _, s := range []struct{ name, v string }{{"eventID", ev.EventID}, {"bizStep", ev.BizStep}, {"disposition", ev.Disposition},
		{"parentID", ev.ParentID}, {"readPoint", ev.ReadPoint}, {"bizLocation", ev.BizLocation}, {"eventTimeZoneOffset", ev.TimeZone}} {
		if s.v != "" && !printable(s.v, maxTextLen) {
			return errf("%s %q: 1 to %d printable characters", s.name, clip(s.v), maxTextLen)
		}
	}
	if ev.ParentID != "" && (contains(ev.ChildEPCs, ev.ParentID)) {
		return errf("parent %s is also a child", ev.ParentID)
	}
	for _, q := range ev.Quantities {
		if !printable(q.EPCClass, maxEPCLen) || (q.Amount != "" && !decimal(q.Amount)) || !text(q.UOM, 16) || !text(q.Role, 16) {
			return errf("quantity %q: an EPC class, a decimal amount and a unit code", clip(q.EPCClass))
		}
	}
	for _, b := range ev.BizTransactions {
		if !printable(b.ID, maxTextLen) || (b.Type != "" && !printable(b.Type, maxTextLen)) {
			return errf("bizTransaction: an id and an optional type, each up to %d printable characters", maxTextLen)
		}
	}
	for _, p := range append(append([]PartyRef{}, ev.Sources...), ev.Destinations...) {
		if !printable(p.Type, maxTextLen) || !printable(p.ID, maxTextLen) {
			return errf("source/destination: a type and an id, each up to %d printable characters", maxTextLen)
		}
	}
	if ev.Lot != "" && !ValidLot(ev.Lot) {
		return errf("lot %q: 1 to %d printable characters", clip(ev.Lot), maxLotLen)
	}
	if ev.ExpiryDate != "" && !validDate(ev.ExpiryDate) {
		return errf("itemExpirationDate %q: YYYY-MM-DD", clip(ev.ExpiryDate))
	}
	for _, s := range ev.Sensors {
		if !printable(s.Type, maxTextLen) || !text(s.UOM, 16) {
			return errf("sensor report: a type and a unit code")
		}
		for _, v := range []int64{s.ValueMilli, s.MinMilli, s.MaxMilli} {
			if v < -1<<52 || v > 1<<52 {
				return errf("sensor value out of range")
			}
		}
	}
	if ev.Hash != "" && !ValidEventHash(ev.Hash) {
		return errf("event hash %q: ni:///sha-256;<64 hex digits>?ver=CBV2.0", clip(ev.Hash))
	}
	if len(ev.TradeSalt) != 0 && len(ev.TradeSalt) != 32 {
		return errf("trade salt: 32 bytes")
	}
	if len(ev.TradeCommitment) != 0 && len(ev.TradeCommitment) != 32 {
		return errf("trade commitment: 32 bytes")
	}
	if len(ev.TradeCommitment) != 0 && len(ev.TradeSalt) != 0 {
		return errf("give a trade commitment or a trade salt, not both")
	}
	return nil
}

// ValidEventHash reports whether s is a CBV 2.0 event hash:
// "ni:///sha-256;" + 64 lower-case hex digits + "?ver=CBV2.0".
func ValidEventHash(s string) bool {
	h, ok := strings.CutPrefix(s, "ni:///sha-256;")
	if !ok {
		return false
	}
	h, ok = strings.CutSuffix(h, "?ver=CBV2.0")
	if !ok || len(h) != 64 || strings.ToLower(h) != h {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

func decimal(s string) bool {
	dot := false
	if s != "" && s[0] == '-' {
		s = s[1:]
	}
	if s == "" || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '.' && !dot && i > 0 && i < len(s)-1:
			dot = true
		case s[i] < '0' || s[i] > '9':
			return false
		}
	}
	return true
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// clip shortens a value quoted in an error.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
