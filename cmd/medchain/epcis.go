package main

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/auth"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/supplyapi"
)

// addSupplyCommands adds the supply-chain commands: "epcis", "tx supply"
// and "query supply".
func addSupplyCommands(g *globals, root *cobra.Command) {
	root.AddCommand(newEPCISCmd(g))
	for _, c := range root.Commands() {
		switch c.Name() {
		case "tx":
			c.AddCommand(newTxSupplyCmd(g))
			for _, sub := range c.Commands() {
				if sub.Name() == "org" {
					sub.AddCommand(newSetGLNsCmd(g))
				}
			}
		case "query":
			c.AddCommand(newQuerySupplyCmd(g))
		}
	}
}

// supplyToken returns --token, or a fresh bearer token signed by --from.
func supplyToken(cmd *cobra.Command, g *globals, from, token string) (string, error) {
	if token != "" {
		return token, nil
	}
	if from == "" {
		return "", fmt.Errorf("give --from KEY (the keyring key of a member of the organization) or --token TOKEN")
	}
	iss, err := fhirToken(cmd.Context(), g, from, auth.DefaultTTL)
	if err != nil {
		return "", err
	}
	return iss.Token, nil
}

func newEPCISCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "epcis", Short: "GS1 EPCIS 2.0 capture and queries on the node's supply-chain API"}

	var from, token, org, ctype string
	var sign bool
	capture := &cobra.Command{
		Use:   "capture FILE",
		Short: "Post an EPCIS document (2.0 JSON/JSON-LD or XML, 1.2 XML) to POST /epcis/capture for --from's organization",
		Long: "Posts FILE (- reads standard input) to the node's POST /epcis/capture with a bearer token signed by --from's key\n" +
			"(as \"medchain auth token\" makes). The content type follows the extension: .json → application/json,\n" +
			".jsonld → application/ld+json, .xml → application/xml (or --content-type). The node signs the capture for\n" +
			"--from's organization (--org when --from captures for several) and waits for the commit; every event's\n" +
			"GS1 CBV 2.0 event hash is printed. A refused document lists the reason for each event and changes nothing.\n" +
			"With --sign the document is converted here and the capture signed with --from's own key (a member with a\n" +
			"capture role), for nodes whose service key is not a member of the organization.\n" +
			"Trade details (bizTransactionList, quantities, source and destination lists) never go on chain: the chain\n" +
			"gets a salted commitment, and the details stay with the node (with --sign, in --home's data/trade), which\n" +
			"shows them to the trading partners and regulators only (\"medchain epcis events --from KEY\").",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := readInput(args[0])
			if err != nil {
				return err
			}
			ct := ctype
			if ct == "" && args[0] != "-" {
				var ok bool
				if ct, ok = client.ContentTypeFor(args[0]); !ok {
					return fmt.Errorf("%s: cannot tell the format from the extension; name the file .json, .jsonld or .xml, or give --content-type", args[0])
				}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			var res *supplyapi.CaptureResult
			if sign {
				if from == "" {
					return fmt.Errorf("--sign needs --from KEY, the member whose key signs the capture")
				}
				kr, err := g.keyring()
				if err != nil {
					return err
				}
				key, err := kr.Get(from)
				if err != nil {
					return err
				}
				// Trade details are sealed; they are kept in --home's
				// trade-details store, which the node of that home serves to
				// the trading partners and regulators.
				trades, err := supplyapi.OpenTradeStore(node.TradeDir(g.home))
				if err != nil {
					return err
				}
				res, tx, err := c.CaptureSigned(cmd.Context(), client.KeySigner{Key: key}, doc, ct, org, trades)
				if err != nil {
					return err
				}
				if tx.Code != 0 {
					return fmt.Errorf("capture refused: code %d (%s): %s", tx.Code, tx.Codespace, tx.Log)
				}
				return printCapture(g, res)
			}
			tok, err := supplyToken(cmd, g, from, token)
			if err != nil {
				return err
			}
			if res, err = c.Capture(cmd.Context(), doc, ct, tok, org); err != nil {
				return err
			}
			return printCapture(g, res)
		},
	}
	capture.Flags().StringVar(&from, "from", "", "keyring key of the member capturing (signs the bearer token)")
	capture.Flags().StringVar(&token, "token", "", "bearer token to use instead of one signed by --from")
	capture.Flags().StringVar(&org, "org", "", "organization to capture for (when --from captures for several)")
	capture.Flags().StringVar(&ctype, "content-type", "", "content type (default: from FILE's extension)")
	capture.Flags().BoolVar(&sign, "sign", false, "convert the document here and sign the capture with --from's own key (for a node that does not sign captures)")

	var epc, step, disp, since, until, evFrom, evToken string
	var limit int
	events := &cobra.Command{
		Use:   "events",
		Short: "Query stored events (GET /epcis/events): by EPC, business step, disposition and event time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"MATCH_epc": epc, "EQ_bizStep": step, "EQ_disposition": disp, "GE_eventTime": since, "LT_eventTime": until} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if limit > 0 {
				q.Set("perPage", fmt.Sprint(limit))
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			tok := evToken
			if tok == "" && evFrom != "" {
				if tok, err = supplyToken(cmd, g, evFrom, ""); err != nil {
					return err
				}
			}
			page, err := c.EventsAs(cmd.Context(), q, tok)
			if err != nil {
				return err
			}
			return g.print(page, func(w io.Writer) {
				fmt.Fprintf(w, "%d events at height %d\n", len(page.Events), page.Height)
				for _, e := range page.Events {
					fmt.Fprintf(w, "  %v  %-18v %-8v %-14v %v\n", e["eventTime"], e["type"], e["action"], e["bizStep"], e["eventID"])
					if t, ok := e["medchain:trade"]; ok {
						fmt.Fprintf(w, "     trade details %v%s\n", t, tradeSummary(e))
					}
				}
				if page.NextPageToken != "" {
					fmt.Fprintf(w, "more: add nextPageToken=%s to the query\n", page.NextPageToken)
				}
			})
		},
	}
	events.Flags().StringVar(&epc, "epc", "", "events on this EPC URI or GS1 Digital Link")
	events.Flags().StringVar(&step, "biz-step", "", "CBV business step (shipping, receiving, …)")
	events.Flags().StringVar(&disp, "disposition", "", "CBV disposition (in_transit, …)")
	events.Flags().StringVar(&since, "since", "", "events at or after this time (RFC 3339)")
	events.Flags().StringVar(&until, "until", "", "events before this time (RFC 3339)")
	events.Flags().IntVar(&limit, "limit", 0, "at most this many events")
	events.Flags().StringVar(&evFrom, "from", "", "keyring key of a member: events of its organization's trades (or all, for a regulator) show their trade details")
	events.Flags().StringVar(&evToken, "token", "", "bearer token to use instead of one signed by --from")
	cmd.AddCommand(capture, events)
	return cmd
}

func printCapture(g *globals, res *supplyapi.CaptureResult) error {
	return g.print(res, func(w io.Writer) {
		switch res.Status {
		case "committed":
			fmt.Fprintf(w, "captured %d events for %s in block %d: tx %s\n", len(res.Events), res.Org, res.Height, res.TxHash)
		default:
			fmt.Fprintf(w, "validated %d events for %s; nothing written (the node signs no captures: use --sign)\n", len(res.Events), res.Org)
		}
		for _, e := range res.Events {
			fmt.Fprintf(w, "  %d  %-20s %s\n", e.Index, e.Type, e.Hash)
			if e.TradeCommitment != "" {
				fmt.Fprintf(w, "     trade details sealed: on chain as commitment %s…, kept by the node\n", e.TradeCommitment[:16])
			}
			if e.Outcome == "alert" {
				fmt.Fprintf(w, "     not applied: raised alert #%d %s: %s\n", e.AlertID, e.Alert, e.Reason)
			}
		}
	})
}

// tradeSummary lists an EPCIS event's disclosed trade details in one line.
func tradeSummary(e map[string]any) string {
	var parts []string
	if l, ok := e["bizTransactionList"].([]any); ok {
		for _, b := range l {
			if m, ok := b.(map[string]any); ok {
				parts = append(parts, fmt.Sprintf("%v %v", m["type"], m["bizTransaction"]))
			}
		}
	}
	for _, k := range []string{"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"} {
		if l, ok := e[k].([]any); ok {
			for _, q := range l {
				if m, ok := q.(map[string]any); ok {
					parts = append(parts, fmt.Sprintf("%v × %v", m["quantity"], m["epcClass"]))
				}
			}
		}
	}
	if l, ok := e["destinationList"].([]any); ok {
		for _, d := range l {
			if m, ok := d.(map[string]any); ok {
				parts = append(parts, fmt.Sprintf("to %v", m["destination"]))
			}
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, "; ")
}
