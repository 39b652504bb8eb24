package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/spf13/cobra"

	"github.com/medchain/medchain/auth"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/epcis"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/supplyapi"
	"github.com/medchain/medchain/x/supply"
)

func newTxSupplyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "supply", Short: "Register products and recall lots (supply chain)"}

	var rp txFlags
	var orgID, gtin, ndc, udi, name, kind, lot, expiry, tmin, tmax string
	register := &cobra.Command{
		Use:   "register-product",
		Short: "Register a product by GTIN (or a device by UDI-DI), optionally with one lot: expiry and storage temperature range",
		Long: "Registers a trade item for --from's organization, which must own the GS1 company prefix the GTIN starts with\n" +
			"(\"medchain query org list\" shows each organization's prefixes). GTIN-8/12/13/14 with a valid check digit;\n" +
			"--ndc for drugs; --udi-di for devices. With --lot, the lot's --expiry (YYYY-MM-DD) and allowed storage range\n" +
			"--temp-min/--temp-max in °C (decimals allowed) are recorded; registering the product again adds more lots.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if gtin == "" && udi == "" {
				return errors.New("give --gtin (or --udi-di for a device)")
			}
			if (tmin == "") != (tmax == "") {
				return errors.New("give both --temp-min and --temp-max, or neither")
			}
			if (tmin != "" || expiry != "") && lot == "" {
				return errors.New("--expiry and --temp-min/--temp-max describe a lot: give --lot too")
			}
			if expiry != "" {
				if _, err := time.Parse(time.DateOnly, expiry); err != nil {
					return fmt.Errorf("--expiry %q: want YYYY-MM-DD", expiry)
				}
			}
			m := &supply.MsgRegisterProduct{GTIN: gtin, NDC: ndc, UDIDI: udi, Name: name, Kind: kind, Lot: lot, Expiry: expiry}
			if tmin != "" {
				var err error
				if m.TempMinMilli, err = epcis.ParseMilli(tmin); err != nil {
					return fmt.Errorf("--temp-min %q: %v", tmin, err)
				}
				if m.TempMaxMilli, err = epcis.ParseMilli(tmax); err != nil {
					return fmt.Errorf("--temp-max %q: %v", tmax, err)
				}
				if m.TempMinMilli > m.TempMaxMilli {
					return fmt.Errorf("--temp-min %s is above --temp-max %s", tmin, tmax)
				}
				m.HasTempRange = true
			}
			return sendTx(cmd, g, &rp, false, func(tc *txContext) ([]module.Msg, client.Signer, error) {
				o, err := supplyOrgOf(tc, orgID, supply.RegisterRoles)
				m.Org = o
				return []module.Msg{m}, nil, err
			}, nil)
		},
	}
	rp.register(register)
	f := register.Flags()
	f.StringVar(&orgID, "org", "", "organization registering (default: the one where --from holds admin or staff)")
	f.StringVar(&gtin, "gtin", "", "GTIN (8, 12, 13 or 14 digits with check digit)")
	f.StringVar(&ndc, "ndc", "", "US National Drug Code (drugs)")
	f.StringVar(&udi, "udi-di", "", "GS1 UDI-DI (devices)")
	f.StringVar(&name, "name", "", "trade name (no patient data)")
	f.StringVar(&kind, "kind", "", "drug or device (default: drug, or device with --udi-di)")
	f.StringVar(&lot, "lot", "", "lot number to register with the product")
	f.StringVar(&expiry, "expiry", "", "the lot's expiry date, YYYY-MM-DD")
	f.StringVar(&tmin, "temp-min", "", "lowest allowed storage temperature of the lot, °C")
	f.StringVar(&tmax, "temp-max", "", "highest allowed storage temperature of the lot, °C")

	var rc txFlags
	var rOrg, rGTIN, rLots, reason string
	var allLots bool
	recall := &cobra.Command{
		Use:   "recall",
		Short: "Recall lots of a product (the product's manufacturer or a regulator): every unit of them becomes recalled",
		Long: "Recalls --lot L[,L2…] of --gtin (or every lot with --all-lots). Holders see the affected units they hold with\n" +
			"\"medchain query supply recalls --from KEY\", verification answers \"recalled\", and dispensing them is refused.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rGTIN == "" {
				return errors.New("give --gtin")
			}
			var lots []string
			for _, l := range strings.Split(rLots, ",") {
				if l = strings.TrimSpace(l); l != "" {
					lots = append(lots, l)
				}
			}
			if len(lots) == 0 && !allLots {
				return errors.New("give --lot L[,L2…], or --all-lots to recall every lot of the product")
			}
			if len(lots) > 0 && allLots {
				return errors.New("give --lot or --all-lots, not both")
			}
			lots = sortedUnique(lots)
			return sendTx(cmd, g, &rc, false, func(tc *txContext) ([]module.Msg, client.Signer, error) {
				o, err := supplyOrgOf(tc, rOrg, supply.RecallRoles)
				return []module.Msg{&supply.MsgRecall{Org: o, GTIN: rGTIN, Lots: lots, Reason: reason}}, nil, err
			}, nil)
		},
	}
	rc.register(recall)
	f = recall.Flags()
	f.StringVar(&rOrg, "org", "", "organization recalling (default: the one where --from holds admin, staff or auditor)")
	f.StringVar(&rGTIN, "gtin", "", "GTIN of the product")
	f.StringVar(&rLots, "lot", "", "lot numbers, comma-separated")
	f.BoolVar(&allLots, "all-lots", false, "recall every lot of the product")
	f.StringVar(&reason, "reason", "", "short reason (no patient data, at most 200 bytes)")
	cmd.AddCommand(register, recall)
	return cmd
}

func sortedUnique(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		i := 0
		for i < len(out) && out[i] < s {
			i++
		}
		if i < len(out) && out[i] == s {
			continue
		}
		out = append(out[:i], append([]string{s}, out[i:]...)...)
	}
	return out
}

// supplyOrgOf resolves the organization the signer acts for.
func supplyOrgOf(tc *txContext, want string, roles []string) (string, error) {
	if tc.c == nil {
		if want == "" {
			return "", errors.New("with --generate-only and no node, give --org")
		}
		return want, nil
	}
	return tc.c.SupplyOrg(tc.ctx, tc.signer.DID(), want, roles)
}

func newQuerySupplyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "supply", Short: "Supply chain: verify packs, units, provenance, products, recalls, alerts"}

	var gtin, serial, lot, expiry, link string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Verify a pack (public, GET /verify): --gtin --serial [--lot --expiry], or --link <GS1 Digital Link>",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if link == "" && (gtin == "" || serial == "") {
				return errors.New("give --gtin and --serial (with --lot and --expiry from the pack), or --link")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ans, err := c.Verify(cmd.Context(), client.VerifyRequest{GTIN: gtin, Serial: serial, Lot: lot, Expiry: expiry, Link: link})
			if err != nil {
				return err
			}
			return g.print(ans, func(w io.Writer) {
				if ans.Verified {
					fmt.Fprintf(w, "verified: %s (lot %s, expiry %s, %s, custodian %s) at height %d\n", ans.EPC, ans.Lot, ans.Expiry, ans.Status, ans.Custodian, ans.Height)
					return
				}
				fmt.Fprintf(w, "NOT verified: %s — %s (%s) at height %d\n", ans.Reason, ans.Detail, orDash(ans.EPC), ans.Height)
			})
		},
	}
	f := verify.Flags()
	f.StringVar(&gtin, "gtin", "", "GTIN on the pack")
	f.StringVar(&serial, "serial", "", "serial number on the pack")
	f.StringVar(&lot, "lot", "", "lot on the pack")
	f.StringVar(&expiry, "expiry", "", "expiry on the pack, YYYY-MM-DD")
	f.StringVar(&link, "link", "", "GS1 Digital Link URI from the pack's 2D code, e.g. https://id.gs1.org/01/…/21/…?10=…&17=…")

	var unitVerify bool
	unit := &cobra.Command{
		Use:   "unit EPC",
		Short: "A unit's custodian, status, lot and packing (EPC URI or GS1 Digital Link); --verify checks its Merkle proof",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var ans *supplyapi.UnitAnswer
			var vr *client.VerifiedRead
			if unitVerify {
				// The proof must be of the record of the unit asked for
				// (its number's key, the proven EPC the one asked):
				// Verifier.Unit checks both, then the Merkle proof.
				v, err := supplyVerifier(cmd, g, c)
				if err != nil {
					return err
				}
				if ans, vr, err = v.Unit(cmd.Context(), args[0]); err != nil {
					return err
				}
			} else if ans, err = c.Unit(cmd.Context(), args[0], false); err != nil {
				return err
			}
			out := struct {
				*supplyapi.UnitAnswer
				Verified *client.VerifiedRead `json:"verified,omitempty"`
			}{ans, vr}
			return g.print(out, func(w io.Writer) {
				u := ans.Unit
				fmt.Fprintf(w, "%s at height %d\n  status %s, custodian %s", u.EPC, ans.Height, u.Status, u.Custodian)
				if u.PendingTo != "" {
					fmt.Fprintf(w, ", shipped to %s", u.PendingTo)
				}
				fmt.Fprintln(w)
				if u.GTIN != "" {
					fmt.Fprintf(w, "  GTIN %s serial %s lot %s expiry %s, commissioned by %s\n", u.GTIN, u.Serial, orDash(u.Lot), orDash(u.Expiry), u.Owner)
				}
				if u.Parent != "" {
					fmt.Fprintf(w, "  packed in %s\n", u.Parent)
				}
				if len(ans.Children) > 0 {
					fmt.Fprintf(w, "  contains %d units\n", len(ans.Children))
				}
				if ans.Recalled {
					fmt.Fprintln(w, "  RECALLED")
				}
				if u.Excursion {
					fmt.Fprintln(w, "  temperature excursion recorded")
				}
				printVerified(w, vr)
			})
		},
	}
	unit.Flags().BoolVar(&unitVerify, "verify", false, "check the unit record against a header verified by the light client")

	var provVerify bool
	var provFrom, provToken string
	provenance := &cobra.Command{
		Use:   "provenance EPC",
		Short: "Every event on a unit, oldest first (GET /epcis/provenance); --verify checks each against a verified app hash",
		Long: "Every event on a unit, oldest first. With --verify each event and the unit are checked against a header\n" +
			"verified by the light client. With --from (or --token), a member of a trading partner of an event, or of a\n" +
			"regulator, also gets the event's trade details (purchase orders, quantities, ship-from/ship-to), each checked\n" +
			"against the event's on-chain commitment; others see that the details exist, not what they are.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			tok := provToken
			if tok == "" && provFrom != "" {
				if tok, err = supplyToken(cmd, g, provFrom, ""); err != nil {
					return err
				}
			}
			var p *client.Provenance
			if provVerify {
				v, err := supplyVerifier(cmd, g, c)
				if err != nil {
					return err
				}
				p, err = v.ProvenanceAs(cmd.Context(), args[0], tok)
				if err != nil {
					return err
				}
			} else if p, err = c.ProvenanceAs(cmd.Context(), args[0], false, tok); err != nil {
				return err
			}
			return g.print(p, func(w io.Writer) {
				fmt.Fprintf(w, "%s at height %d", p.EPC, p.Height)
				if p.Unit != nil {
					fmt.Fprintf(w, ": %s, custodian %s", p.Unit.Status, p.Unit.Custodian)
				}
				fmt.Fprintln(w)
				for _, e := range p.Events {
					step := e.Event.BizStep
					if step == "" {
						step = e.Event.Action
					}
					fmt.Fprintf(w, "  #%-5d block %-6d %-18s %-14s by %-18s %s\n", e.ID, e.Height, e.Event.Kind, step, e.Org, e.Event.Hash)
					if st, ok := p.Trade[e.ID]; ok {
						fmt.Fprintf(w, "         trade details %s%s\n", st, tradeLine(e.Event))
					}
				}
				printVerified(w, p.Verified)
			})
		},
	}
	provenance.Flags().BoolVar(&provVerify, "verify", false, "check the unit and every event against a header verified by the light client")
	provenance.Flags().StringVar(&provFrom, "from", "", "keyring key of a member: events of its organization's trades (every event, for a regulator) show their trade details")
	provenance.Flags().StringVar(&provToken, "token", "", "bearer token to use instead of one signed by --from")

	product := &cobra.Command{
		Use:   "product GTIN",
		Short: "A registered product with its lots and recalls",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ans, err := c.Product(cmd.Context(), args[0], false)
			if err != nil {
				return err
			}
			return g.print(ans, func(w io.Writer) {
				p := ans.Product
				fmt.Fprintf(w, "GTIN %s (%s) owned by %s, prefix %s", p.GTIN, p.Kind, p.Owner, p.Prefix)
				if p.NDC != "" {
					fmt.Fprintf(w, ", NDC %s", p.NDC)
				}
				fmt.Fprintln(w)
				for _, l := range ans.Lots {
					fmt.Fprintf(w, "  lot %s expiry %s", l.Lot, orDash(l.Expiry))
					if l.HasTempRange {
						fmt.Fprintf(w, " storage %s..%s °C", milli(l.TempMinMilli), milli(l.TempMaxMilli))
					}
					fmt.Fprintln(w)
				}
				for _, r := range ans.Recalls {
					fmt.Fprintf(w, "  RECALLED lot %s by %s at height %d: %s\n", orDash(r.Lot), r.By, r.Height, r.Reason)
				}
			})
		},
	}

	var from, token, orgID string
	var watch bool
	recalls := &cobra.Command{
		Use:   "recalls",
		Short: "The recalled units --from's organization holds (its recall notice list), and every recall",
		Long: "Lists the recalled units --from's organization holds (as custodian, active or in transit from it), and every recall.\n" +
			"With --watch it subscribes to GET /supply/recalls/stream: the list now, then each change a committed block makes\n" +
			"(a new recall of units it holds, recalled units it receives, units leaving its custody) with its height, until\n" +
			"Ctrl-C; with -o json one JSON object (an update) per line. With --from, an expiring token is renewed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok, err := supplyToken(cmd, g, from, token)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if watch {
				return watchRecalls(cmd, g, c, tok, from, orgID)
			}
			ans, err := c.Recalls(cmd.Context(), tok, orgID)
			if err != nil {
				return err
			}
			return g.print(ans, func(w io.Writer) {
				fmt.Fprintf(w, "%s holds %d recalled units at height %d\n", ans.Org, len(ans.Notices), ans.Height)
				for _, n := range ans.Notices {
					fmt.Fprintf(w, "  %s  lot %s  %s  (recalled by %s: %s)\n", n.EPC, orDash(n.Lot), n.Status, n.Recall.By, n.Recall.Reason)
				}
			})
		},
	}
	for _, c := range []*cobra.Command{recalls} {
		c.Flags().StringVar(&from, "from", "", "keyring key of a member of the organization (signs a bearer token)")
		c.Flags().StringVar(&token, "token", "", "bearer token to use instead of one signed by --from")
		c.Flags().StringVar(&orgID, "org", "", "organization (when --from belongs to several)")
	}
	recalls.Flags().BoolVar(&watch, "watch", false, "keep running and print each change of the list as blocks commit")
	var aFrom, aToken, aOrg string
	alerts := &cobra.Command{
		Use:   "alerts",
		Short: "Counterfeit and diversion alerts --from's organization may see (a regulator sees every alert)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok, err := supplyToken(cmd, g, aFrom, aToken)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ans, err := c.Alerts(cmd.Context(), tok, aOrg)
			if err != nil {
				return err
			}
			return g.print(ans, func(w io.Writer) {
				fmt.Fprintf(w, "%d alerts for %s at height %d\n", len(ans.Alerts), ans.Org, ans.Height)
				for _, a := range ans.Alerts {
					fmt.Fprintf(w, "  #%d block %d %s %s (captured by %s): %s\n", a.ID, a.Height, a.Kind, a.EPC, a.Org, a.Detail)
				}
			})
		},
	}
	alerts.Flags().StringVar(&aFrom, "from", "", "keyring key of a member of the organization (signs a bearer token)")
	alerts.Flags().StringVar(&aToken, "token", "", "bearer token to use instead of one signed by --from")
	alerts.Flags().StringVar(&aOrg, "org", "", "organization (when --from belongs to several)")

	cmd.AddCommand(verify, unit, provenance, product, recalls, alerts)
	return cmd
}

// watchRecalls prints the recall notice stream of GET /supply/recalls/stream
// until Ctrl-C: the list, then each change with its height (-o json: each
// update as one JSON line). When the node ends the stream because the
// token expired and --from gave the key, it reconnects with a fresh token
// and prints only what changed meanwhile.
func watchRecalls(cmd *cobra.Command, g *globals, c *client.Client, tok, from, orgID string) error {
	ctx := cmd.Context()
	var last []supply.RecallNotice
	var lastHeight int64 // of last; a new stream resumes after it
	connected := false
	for {
		reconnect, since := connected, time.Now()
		err := c.WatchRecallsSince(ctx, tok, orgID, lastHeight, func(u *supplyapi.RecallUpdate) error {
			next := u.Apply(last)
			lastHeight = u.Height
			if u.Initial && reconnect {
				// The node could not resume: its first update is the whole
				// list. Show it as the change since the last one printed.
				u.Added, u.Removed, u.Changed = supplyapi.DiffNotices(last, next)
				u.Initial, u.Notices, u.Recalls = false, nil, nil
				if len(u.Added)+len(u.Removed)+len(u.Changed) == 0 {
					last = next
					return nil
				}
			}
			connected, last = true, next
			return printRecallUpdate(g, u)
		})
		var ended *client.StreamEndedError
		switch {
		case ctx.Err() != nil:
			return nil // Ctrl-C
		case errors.As(err, &ended) && ended.Reason == supplyapi.EndTokenExpired && from != "":
			if time.Since(since) < 30*time.Second {
				return fmt.Errorf("%w (right after connecting: is this machine's clock behind the node's?)", err)
			}
			iss, err := fhirToken(ctx, g, from, auth.MaxTTL)
			if err != nil {
				return err
			}
			tok = iss.Token
			continue
		}
		return err
	}
}

// printRecallUpdate prints one update of a recall stream.
func printRecallUpdate(g *globals, u *supplyapi.RecallUpdate) error {
	if g.output == "json" {
		bz, err := json.Marshal(u)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(g.stdout, "%s\n", bz)
		return err
	}
	line := func(mark string, n supply.RecallNotice) {
		fmt.Fprintf(g.stdout, "  %s %s  lot %s  %s  (recalled by %s: %s)\n", mark, n.EPC, orDash(n.Lot), n.Status, n.Recall.By, n.Recall.Reason)
	}
	if u.Initial {
		fmt.Fprintf(g.stdout, "%s holds %d recalled units at height %d; watching (Ctrl-C stops)\n", u.Org, len(u.Notices), u.Height)
		for _, n := range u.Notices {
			line(" ", n)
		}
		return nil
	}
	blocks := fmt.Sprintf("height %d", u.Height)
	if u.FromHeight > 0 && u.FromHeight < u.Height {
		blocks = fmt.Sprintf("heights %d-%d", u.FromHeight, u.Height)
	}
	fmt.Fprintf(g.stdout, "%s: %s holds %d recalled units (%d new, %d gone, %d changed)\n", blocks, u.Org, u.Count, len(u.Added), len(u.Removed), len(u.Changed))
	for _, n := range u.Added {
		line("+", n)
	}
	for _, n := range u.Removed {
		line("-", n)
	}
	for _, n := range u.Changed {
		line("~", n)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// milli renders thousandths as a decimal ("-20.5").
func milli(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	s := fmt.Sprintf("%s%d.%03d", sign, v/1000, v%1000)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

func printVerified(w io.Writer, vr *client.VerifiedRead) {
	if vr == nil {
		return
	}
	fmt.Fprintf(w, "verified: proofs check against app hash %s in header %d (%s), trust root %s\n", vr.AppHash, vr.Height+1, vr.HeaderHash, vr.TrustRoot)
}

// supplyVerifier starts a light-client verifier whose trust root is
// --home's genesis when it is this chain's, else the node's genesis on
// first use.
func supplyVerifier(cmd *cobra.Command, g *globals, c *client.Client) (*client.Verifier, error) {
	o := client.VerifierOptions{}
	if node.IsInitialized(g.home) {
		if doc, err := cmttypes.GenesisDocFromFile(g.home + "/config/genesis.json"); err == nil {
			st, err := c.Status(cmd.Context())
			if err != nil {
				return nil, err
			}
			if doc.ChainID == st.ChainID {
				o.Genesis = doc
			}
		}
	}
	return client.NewVerifier(cmd.Context(), c, o)
}

// tradeLine lists an event's disclosed trade details (checked against its
// commitment by the SDK) in one line.
func tradeLine(ev supply.Event) string {
	var parts []string
	for _, b := range ev.BizTransactions {
		parts = append(parts, b.Type+" "+b.ID)
	}
	for _, q := range ev.Quantities {
		parts = append(parts, strings.TrimSpace(q.Amount+" "+q.UOM)+" × "+q.EPCClass)
	}
	for _, d := range ev.Destinations {
		parts = append(parts, "to "+d.ID)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (opens the commitment): " + strings.Join(parts, "; ")
}
