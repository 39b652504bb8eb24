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
// copy whose trade details are replaced by their commitment under salt, and
// the details themselves, which the submitter keeps and shares with its
// trading partner and regulators.
//
// Of the destination list the copy keeps what the chain needs to resolve
// the receiving organization of a shipment (which the custody change
// reveals anyway), chosen with the chain's own resolution, ResolveReceiver,
// so that the sealed event resolves to the receiver the full one would:
//   - with orgOf (the submitter's view of which organization holds a GLN,
//     "" for none), the one destination ResolveReceiver picks; when none
//     resolves, every candidate, and the chain judges;
//   - with a nil orgOf (a submitter without chain state), every destination
//     the chain may try (ReceiverCandidates): dropping only destinations the
//     chain never resolves leaves its choice unchanged whatever the state.
//
// A destination kept this way is visible in the transaction bytes; the
// rest of the details are not.
func SealTrade(ev Event, salt []byte, orgOf func(gln string) string) (Event, TradeDetails) {
	d := ev.Details()
	if !d.HasDetails() {
		return ev, d
	}
	out := ev
	out.TradeCommitment = TradeCommit(salt, d)
	out.TradeSalt = nil
	out.BizTransactions, out.Quantities, out.Sources, out.Destinations = nil, nil, nil, nil
	if orgOf != nil {
		if r, _, ok := ResolveReceiver(ev.Destinations, orgOf); ok {
			out.Destinations = []PartyRef{r}
			return out, d
		}
	}
	out.Destinations = ReceiverCandidates(ev.Destinations)
	return out, d
}

// receiverTypes are the destination types a receiver is resolved from, in
// order of preference.
var receiverTypes = [...]string{PartyOwning, PartyPossessing, PartyLocation}

// ReceiverCandidates returns the destinations a shipment's receiving
// organization may be resolved from, in the order the chain tries them:
// the owning parties, then the possessing parties, then the locations,
// each in list order, keeping only those whose ID is a GLN (an SGLN or
// PGLN URN, or a bare GLN). It returns nil when there are none; the
// returned slice is new, its elements copies.
func ReceiverCandidates(ds []PartyRef) []PartyRef {
	var out []PartyRef
	for _, t := range receiverTypes {
		for _, d := range ds {
			if d.Type != t {
				continue
			}
			if _, ok := GLNFromURN(d.ID); ok {
				out = append(out, d)
			}
		}
	}
	return out
}

// ResolveReceiver returns the first of ReceiverCandidates(ds) whose GLN
// orgOf maps to an organization, and that organization; ok is false when
// none does. It is the chain's receiver resolution (orgOf: the active
// organization holding the GLN in the org store) and SealTrade's choice of
// the destination to keep, so that the two agree by construction.
func ResolveReceiver(ds []PartyRef, orgOf func(gln string) string) (ref PartyRef, orgID string, ok bool) {
	for _, d := range ReceiverCandidates(ds) {
		gln, _ := GLNFromURN(d.ID)
		if o := orgOf(gln); o != "" {
			return d, o, true
		}
	}
	return PartyRef{}, "", false
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
