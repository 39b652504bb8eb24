package supply_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/supply"
)

// orgOfGLN is the chain's view of which active organization holds a GLN,
// read from the world's committed org store (what the node's HTTP layer
// gives SealTrade).
func orgOfGLN(w *world) func(string) string {
	orgs := w.orgReader()
	return func(gln string) string {
		if o := (org.Keeper{}).OrgByGLN(orgs, gln); o != "" && (org.Keeper{}).IsActiveOrg(orgs, o) {
			return o
		}
		return ""
	}
}

// TestSealTradeKeepsTheResolvingDestination: a shipment whose first
// owning party is a GLN no organization holds, and whose receiver is named
// only by a later destination (a possessing party, a location), is
// accepted sealed both by a submitter without chain state (SealTrade with
// no resolver keeps every candidate, as "epcis capture --sign" seals) and
// by one with it (the node: only the destination that resolves is kept);
// the chain resolves the same receiver as for the unsealed shipment.
// Before, SealTrade kept the first owning party and the chain refused
// the capture with supply/11.
func TestSealTradeKeepsTheResolvingDestination(t *testing.T) {
	w := newWorld(t)
	w.register("L1", "2030-01-31", 0, 0)
	nobody := gln("777777700001") // a valid GLN no organization holds
	cases := []struct {
		name  string
		dests []supply.PartyRef
	}{
		{"owning party unknown, location resolves", []supply.PartyRef{
			{Type: supply.PartyOwning, ID: pglnURN(nobody)}, {Type: supply.PartyLocation, ID: sglnURN(locGLN[pharm])}}},
		{"owning party unknown, possessing party resolves", []supply.PartyRef{
			{Type: supply.PartyLocation, ID: sglnURN(nobody)}, {Type: supply.PartyOwning, ID: nobody},
			{Type: supply.PartyPossessing, ID: pglnURN(partyGLN[pharm])}, {Type: "urn:example:other", ID: "x"}}},
		{"bare GLN second owning party", []supply.PartyRef{
			{Type: supply.PartyOwning, ID: "not a gln"}, {Type: supply.PartyOwning, ID: pglnURN(nobody)},
			{Type: supply.PartyOwning, ID: partyGLN[pharm]}}},
	}
	for i, tc := range cases {
		for _, withState := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/state=%v", tc.name, withState), func(t *testing.T) {
				u := sgtin(fmt.Sprintf("seal-%d-%v", i, withState))
				w.mustCapture(mfr, commission("L1", "", u))
				ev := ship(mfr, pharm, u)
				ev.Destinations, ev.TradeSalt = tc.dests, nil
				var orgOf func(string) string
				if withState {
					orgOf = orgOfGLN(w)
				}
				sealed, details := supply.SealTrade(ev, make32(u), orgOf)
				if !slices.Equal(details.Destinations, tc.dests) || len(sealed.BizTransactions)+len(sealed.Sources)+len(sealed.Quantities) != 0 {
					t.Fatalf("sealed %+v, details %+v", sealed, details)
				}
				want := supply.ReceiverCandidates(tc.dests)
				if withState {
					r, o, ok := supply.ResolveReceiver(tc.dests, orgOfGLN(w))
					if !ok || o != pharm {
						t.Fatalf("resolve: %v %q %v", r, o, ok)
					}
					want = []supply.PartyRef{r}
				}
				if !slices.Equal(sealed.Destinations, want) {
					t.Fatalf("kept destinations %v, want %v", sealed.Destinations, want)
				}
				w.mustCapture(mfr, sealed)
				if got := w.unit(u); got.PendingTo != pharm {
					t.Fatalf("shipped to %q, want %q", got.PendingTo, pharm)
				}
			})
		}
	}
}

// TestSealTradeAgreesWithTheChain: over random destination lists (owning,
// possessing and location refs naming active organizations, unknown GLNs
// and non-GLN ids, in random order), the receiver the chain resolves from
// the sealed event equals the one it resolves from the full event, with
// and without the submitter's resolver; with it, exactly one destination
// is kept whenever one resolves.
func TestSealTradeAgreesWithTheChain(t *testing.T) {
	w := newWorld(t)
	orgOf := orgOfGLN(w)
	rng := rand.New(rand.NewPCG(5, 11))
	types := []string{supply.PartyOwning, supply.PartyPossessing, supply.PartyLocation, "urn:example:dock"}
	ids := []string{pglnURN(partyGLN[dist]), sglnURN(locGLN[pharm]), partyGLN[pharm2], sglnURN(gln("777777700001")),
		gln("777777700002"), "urn:example:not-a-gln", pglnURN(partyGLN[reg])}
	for i := range 2000 {
		n := 1 + rng.IntN(5)
		ds := make([]supply.PartyRef, n)
		for j := range ds {
			ds[j] = supply.PartyRef{Type: types[rng.IntN(len(types))], ID: ids[rng.IntN(len(ids))]}
		}
		ev := supply.Event{Kind: supply.KindObject, Action: supply.ActionObserve, BizStep: "shipping", Destinations: ds}
		_, full, fullOK := supply.ResolveReceiver(ds, orgOf)
		for _, submitter := range []func(string) string{nil, orgOf} {
			sealed, _ := supply.SealTrade(ev, make32("p"), submitter)
			_, got, ok := supply.ResolveReceiver(sealed.Destinations, orgOf)
			if ok != fullOK || got != full {
				t.Fatalf("case %d (%v): sealed %v resolves to %q/%v, the full list to %q/%v", i, ds, sealed.Destinations, got, ok, full, fullOK)
			}
			if submitter != nil && fullOK && len(sealed.Destinations) != 1 {
				t.Fatalf("case %d: with a resolver %d destinations kept: %v", i, len(sealed.Destinations), sealed.Destinations)
			}
		}
	}
}
