package supply

import (
	"crypto/sha256"
)

// Trade details are confidential (ADR 0005): state keeps only a salted
// commitment to them.

// Details returns the event's trade details.
func (ev *Event) Details() TradeDetails {
	return TradeDetails{BizTransactions: ev.BizTransactions, Quantities: ev.Quantities, Sources: ev.Sources, Destinations: ev.Destinations}
}

// HasDetails reports whether the event carries any trade detail.
func (d TradeDetails) HasDetails() bool {
	return len(d.BizTransactions)+len(d.Quantities)+len(d.Sources)+len(d.Destinations) > 0
}

// TradeCommit returns SHA-256("medchain/supply/trade/v1" 0x00 || salt ||
// canonical encoding of the details), the commitment the chain stores in
// place of the trade details. The salt must be 32 random bytes that only
// the trading partners (and, on request, regulators) learn.
func TradeCommit(salt []byte, d TradeDetails) []byte {
	ev := Event{BizTransactions: d.BizTransactions, Quantities: d.Quantities, Sources: d.Sources, Destinations: d.Destinations}
	h := sha256.New()
	h.Write([]byte("medchain/supply/trade/v1\x00"))
	h.Write(salt)
	h.Write(ev.MarshalWire())
	return h.Sum(nil)
}

// SealTrade prepares an event for a confidential capture: it returns a
// copy whose trade details are replaced by their commitment under salt,
// keeping only the destination that names the receiving party (which the
// custody change reveals anyway), and the details themselves, which the
// submitter keeps and shares with its trading partner and regulators.
func SealTrade(ev Event, salt []byte) (Event, TradeDetails) {
	d := ev.Details()
	if !d.HasDetails() {
		return ev, d
	}
	out := ev
	out.TradeCommitment = TradeCommit(salt, d)
	out.TradeSalt = nil
	out.BizTransactions, out.Quantities, out.Sources, out.Destinations = nil, nil, nil, nil
	if r := receiverRef(ev.Destinations); r != nil {
		out.Destinations = []PartyRef{*r}
	}
	return out, d
}

// receiverRef picks the destination that names the receiver: the owning
// party, else the possessing party, else the location.
func receiverRef(ds []PartyRef) *PartyRef {
	for _, t := range []string{PartyOwning, PartyPossessing, PartyLocation} {
		for i := range ds {
			if ds[i].Type == t {
				return &ds[i]
			}
		}
	}
	return nil
}

// publicForm returns the event as state stores it: trade details and salt
// removed, the commitment kept or computed.
func publicForm(ev *Event) Event {
	out := *ev
	d := ev.Details()
	if len(out.TradeCommitment) == 0 && d.HasDetails() {
		out.TradeCommitment = TradeCommit(ev.TradeSalt, d)
	}
	out.TradeSalt = nil
	out.BizTransactions, out.Quantities, out.Sources, out.Destinations = nil, nil, nil, nil
	return out
}
