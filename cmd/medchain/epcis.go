package main

import (
	"fmt"
	"io"
	"net/url"
	"os"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/auth"
	"github.com/medchain/medchain/client"
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
			"capture role), for nodes whose service key is not a member of the organization.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var doc []byte
			var err error
			if args[0] == "-" {
				doc, err = io.ReadAll(os.Stdin)
			} else {
				doc, err = os.ReadFile(args[0])
			}
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
				res, tx, err := c.CaptureSigned(cmd.Context(), client.KeySigner{Key: key}, doc, ct, org)
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

	var epc, step, disp, since, until string
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
			page, err := c.Events(cmd.Context(), q)
			if err != nil {
				return err
			}
			return g.print(page, func(w io.Writer) {
				fmt.Fprintf(w, "%d events at height %d\n", len(page.Events), page.Height)
				for _, e := range page.Events {
					fmt.Fprintf(w, "  %v  %-18v %-8v %-14v %v\n", e["eventTime"], e["type"], e["action"], e["bizStep"], e["eventID"])
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
			if e.Outcome == "alert" {
				fmt.Fprintf(w, "     not applied: raised alert #%d %s: %s\n", e.AlertID, e.Alert, e.Reason)
			}
		}
	})
}
