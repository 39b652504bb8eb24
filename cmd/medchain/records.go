package main

// Patient records through a node's FHIR API:
//
//	medchain records put FILE --from NAME
//	medchain records get TYPE/ID --from NAME [--purpose TREAT] [--break-glass REASON]
//	medchain records list [--patient DID] --from NAME [--type T]
//
// Each command makes a short-lived token from --from's key (as "medchain
// auth token" does) and sends it as the bearer token.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/x/identity"
)

func newRecordsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "records", Short: "Write and read FHIR R4 patient records through the node's FHIR API"}
	cmd.AddCommand(newRecordsPutCmd(g), newRecordsGetCmd(g), newRecordsListCmd(g))
	return cmd
}

// recordsRef is one stored record in command output.
type recordsRef struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	Version     string `json:"version,omitempty"`
	LastUpdated string `json:"last_updated,omitempty"`
	Status      string `json:"status,omitempty"`
	Location    string `json:"location,omitempty"`
}

func newRecordsPutCmd(g *globals) *cobra.Command {
	var from string
	cmd := &cobra.Command{
		Use:   "put FILE",
		Short: "Store a FHIR R4 resource, or a transaction Bundle, from FILE (- reads standard input) as --from",
		Long: "Posts the resource to /fhir/<type> (or a transaction Bundle to /fhir): the node validates it, encrypts it in its vault\n" +
			"and anchors it on chain. The resource's subject (or patient) must reference a registered patient as Patient/<id>,\n" +
			"where did:medchain:<id> is the patient's DID. With -o json the stored resource (or the transaction-response) is printed.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bz, err := readInput(args[0])
			if err != nil {
				return err
			}
			var head struct {
				ResourceType string `json:"resourceType"`
				Type         string `json:"type"`
			}
			if err := json.Unmarshal(bz, &head); err != nil || head.ResourceType == "" {
				return fmt.Errorf("%s is not a FHIR resource in JSON (no resourceType)", args[0])
			}
			path := "/" + head.ResourceType
			if head.ResourceType == "Bundle" && head.Type == "transaction" {
				path = ""
			}
			iss, err := fhirToken(cmd.Context(), g, from, 0)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			resp, err := c.FHIR(cmd.Context(), http.MethodPost, path, iss.Token, bz, nil)
			if err != nil {
				return err
			}
			return g.print(json.RawMessage(resp.Body), func(w io.Writer) {
				if path == "" {
					var b struct {
						Entry []struct {
							Response struct{ Status, Location string } `json:"response"`
						} `json:"entry"`
					}
					_ = json.Unmarshal(resp.Body, &b)
					for _, e := range b.Entry {
						fmt.Fprintf(w, "%s %s\n", e.Response.Status, e.Response.Location)
					}
					fmt.Fprintf(w, "transaction committed: %d records\n", len(b.Entry))
					return
				}
				r := refOf(resp.Body)
				fmt.Fprintf(w, "stored %s/%s version %s\n", r.Type, r.ID, r.Version)
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "keyring key of the writer: a practitioner of the node's organization, or the patient (required)")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}

// readHeaders are the purpose of use and break-glass headers of a read.
func readHeaders(purpose, breakGlass string) http.Header {
	h := http.Header{}
	if purpose != "" {
		h.Set("X-Purpose-Of-Use", strings.ToUpper(purpose))
	}
	if breakGlass != "" {
		h.Set("X-Break-Glass", breakGlass)
	}
	return h
}

func newRecordsGetCmd(g *globals) *cobra.Command {
	var from, purpose, breakGlass string
	cmd := &cobra.Command{
		Use:   "get TYPE/ID",
		Short: "Read a record as --from (an access request decided on chain and logged in the patient's access log)",
		Long: "Prints the FHIR resource as JSON. The node reads as --from for --purpose; a member of the node's organization\n" +
			"reads for it, anyone else as themselves. Refusals: 403 denied by consent (logged), 404, 410 erased.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			typ, id, ok := strings.Cut(args[0], "/")
			if !ok || typ == "" || id == "" || strings.Contains(id, "/") {
				return fmt.Errorf("%q: give TYPE/ID, e.g. Observation/%s", args[0], "abc")
			}
			iss, err := fhirToken(cmd.Context(), g, from, 0)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			resp, err := c.FHIR(cmd.Context(), http.MethodGet, "/"+url.PathEscape(typ)+"/"+url.PathEscape(id), iss.Token, nil, readHeaders(purpose, breakGlass))
			if err != nil {
				return err
			}
			g2 := *g
			g2.output = "json" // a record prints as JSON either way
			return g2.print(json.RawMessage(resp.Body), nil)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "keyring key of the reader (required)")
	cmd.Flags().StringVar(&purpose, "purpose", "TREAT", "purpose of use: TREAT, ETREAT, HPAYMT, HOPERAT, HRESCH, PUBHLTH")
	cmd.Flags().StringVar(&breakGlass, "break-glass", "", "emergency access without consent (emergency role), with a reason code: life-threatening, other-emergency, patient-unconscious, unable-to-consent")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}

// refOf reads type, id and version of a resource.
func refOf(bz []byte) recordsRef {
	var r struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
		Meta         struct {
			VersionID   string `json:"versionId"`
			LastUpdated string `json:"lastUpdated"`
		} `json:"meta"`
	}
	_ = json.Unmarshal(bz, &r)
	return recordsRef{Type: r.ResourceType, ID: r.ID, Version: r.Meta.VersionID, LastUpdated: r.Meta.LastUpdated}
}

// recordsList is "records list -o json".
type recordsList struct {
	Patient   string            `json:"patient"`
	Type      string            `json:"type,omitempty"`
	Count     int               `json:"count"`
	Records   []recordsRef      `json:"records"`
	Resources []json.RawMessage `json:"resources"`
}

func newRecordsListCmd(g *globals) *cobra.Command {
	var from, patient, typ, purpose string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the records of --patient (default: --from's own) that --from may read, optionally of one --type",
		Long: "Searches /fhir/<type>?patient=... (or Patient/<id>/$everything without --type) as --from. Every page is an\n" +
			"access request decided on chain and logged. -o json prints the resources too.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			iss, err := fhirToken(cmd.Context(), g, from, 0)
			if err != nil {
				return err
			}
			if patient == "" {
				patient = iss.DID
			}
			if !identity.ValidDID(patient) {
				return fmt.Errorf("--patient %q is not a medchain DID", patient)
			}
			id := strings.TrimPrefix(patient, identity.Method)
			path := "/Patient/" + id + "/$everything?_count=1000"
			if typ != "" {
				path = "/" + url.PathEscape(typ) + "?patient=Patient/" + id + "&_count=1000"
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.FHIRSearchAll(cmd.Context(), path, iss.Token, readHeaders(purpose, ""))
			if err != nil {
				return err
			}
			out := recordsList{Patient: patient, Type: typ, Count: len(res), Records: []recordsRef{}, Resources: res}
			if out.Resources == nil {
				out.Resources = []json.RawMessage{}
			}
			for _, r := range res {
				out.Records = append(out.Records, refOf(r))
			}
			return g.print(out, func(w io.Writer) {
				fmt.Fprintf(w, "%d records of %s\n", out.Count, patient)
				for _, r := range out.Records {
					fmt.Fprintf(w, "%s/%s\tversion %s\t%s\n", r.Type, r.ID, r.Version, r.LastUpdated)
				}
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "keyring key of the reader (required)")
	cmd.Flags().StringVar(&patient, "patient", "", "the patient's DID (default: --from's DID)")
	cmd.Flags().StringVar(&typ, "type", "", "only records of this FHIR resource type")
	cmd.Flags().StringVar(&purpose, "purpose", "TREAT", "purpose of use")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}
