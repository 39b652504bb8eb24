package main

// Consent, access-log and erasure commands:
//
//	medchain tx consent grant|revoke|guardian
//	medchain tx records erase|request-access
//	medchain query consents|access-log|erasure

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/records"
)

// sendTxReporting is sendTx that, on a committed success, adds fields taken
// from the transaction's events to the output: to the JSON object with -o
// json, as "name: value" lines in text.
func sendTxReporting(cmd *cobra.Command, g *globals, f *txFlags,
	build func(tc *txContext) ([]module.Msg, client.Signer, error), report func(res *types.TxResult) [][2]string) error {
	var buf bytes.Buffer
	inner := *g
	inner.stdout = &buf
	var fields [][2]string
	err := sendTx(cmd, &inner, f, false, build, func(_ *txContext, res *types.TxResult) string {
		fields = report(res)
		return ""
	})
	if err != nil || len(fields) == 0 {
		_, _ = g.stdout.Write(buf.Bytes())
		return err
	}
	if g.output != "json" {
		_, _ = g.stdout.Write(buf.Bytes())
		for _, kv := range fields {
			fmt.Fprintf(g.stdout, "%s: %s\n", strings.ReplaceAll(kv[0], "_", " "), kv[1])
		}
		return nil
	}
	var obj map[string]any
	if err := json.Unmarshal(buf.Bytes(), &obj); err != nil {
		_, _ = g.stdout.Write(buf.Bytes())
		return nil
	}
	for _, kv := range fields {
		if n, err := strconv.ParseUint(kv[1], 10, 64); err == nil {
			obj[kv[0]] = n
		} else {
			obj[kv[0]] = kv[1]
		}
	}
	return g.print(obj, nil)
}

// patientOf returns the DID named by --patient, or else that of the keyring
// key named by --from.
func patientOf(g *globals, from, patient string) (string, error) {
	if patient != "" {
		if !identity.ValidDID(patient) {
			return "", fmt.Errorf("--patient %q is not a medchain DID", patient)
		}
		return patient, nil
	}
	if from == "" {
		return "", errors.New("name the patient with --from NAME (a keyring key) or --patient DID")
	}
	kr, err := g.keyring()
	if err != nil {
		return "", err
	}
	info, err := kr.Info(from)
	if err != nil {
		return "", err
	}
	return viewOf(info).DID, nil
}

// parseWhen reads an RFC 3339 time or a duration (like 720h) after base.
func parseWhen(flag, s string, base time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return base.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: use an RFC 3339 time (2026-01-31T00:00:00Z) or a positive duration (720h)", flag, s)
}

func upperAll(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = strings.ToUpper(strings.TrimSpace(s))
	}
	return out
}

func newTxConsentCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "consent", Short: "Grant and revoke access to a patient's records; name guardians"}

	var gf txFlags
	var granteeDID, granteeOrg, granteeRole, notBefore, notAfter, condition, patient string
	var purposes, resourceTypes, recordIDs, categories []string
	grant := &cobra.Command{
		Use:   "grant",
		Short: "Let a person (--grantee-did), an organization (--grantee-org) or a role there (--grantee-org + --grantee-role) read the patient's records for --purpose",
		Long: `Grant a consent on the patient's records (--from is the patient, or a guardian with --patient).

Scope: --resource-type, --record and --category narrow it (empty: any); --purpose lists the HL7
purposes of use it allows (` + strings.Join(consent.Purposes, ", ") + `). Validity is judged by block
time: --not-before and --not-after take RFC 3339 times or durations (--not-after 720h is 30 days after
--not-before, or after now). --condition is a CEL expression over purpose, requester, requester_orgs,
requester_roles ("<org>/<role>"), record_type, record_category, record_org and time, e.g.
  --condition 'record_category != "mental-health"'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m := &consent.MsgGrant{Purposes: consent.SortList(upperAll(purposes)), ResourceTypes: consent.SortList(resourceTypes),
				RecordIDs: consent.SortList(recordIDs), Categories: consent.SortList(categories), Condition: condition}
			switch {
			case granteeDID != "" && (granteeOrg != "" || granteeRole != ""):
				return errors.New("give --grantee-did, or --grantee-org (with an optional --grantee-role), not both")
			case granteeDID != "":
				m.Grantee = consent.Grantee{Kind: consent.GranteeDID, DID: granteeDID}
			case granteeOrg != "" && granteeRole != "":
				m.Grantee = consent.Grantee{Kind: consent.GranteeRole, Org: granteeOrg, Role: granteeRole}
			case granteeOrg != "":
				m.Grantee = consent.Grantee{Kind: consent.GranteeOrg, Org: granteeOrg}
			default:
				return errors.New("name the grantee: --grantee-did DID, or --grantee-org ORG [--grantee-role ROLE]")
			}
			base := time.Now().UTC()
			if notBefore != "" {
				t, err := parseWhen("not-before", notBefore, base)
				if err != nil {
					return err
				}
				m.NotBefore, base = uint64(t.Unix()), t
			}
			if notAfter != "" {
				t, err := parseWhen("not-after", notAfter, base)
				if err != nil {
					return err
				}
				m.NotAfter = uint64(t.Unix())
			}
			return sendTxReporting(cmd, g, &gf, func(tc *txContext) ([]module.Msg, client.Signer, error) {
				m.Patient = tc.signer.DID()
				if patient != "" {
					m.Patient = patient
				}
				return []module.Msg{m}, nil, nil
			}, func(res *types.TxResult) [][2]string {
				return [][2]string{{"consent_id", res.Attr("consent.granted", "id")}}
			})
		},
	}
	gf.register(grant)
	fl := grant.Flags()
	fl.StringVar(&granteeDID, "grantee-did", "", "the DID of the person (or service) granted access")
	fl.StringVar(&granteeOrg, "grantee-org", "", "the organization granted access (every member, or those with --grantee-role)")
	fl.StringVar(&granteeRole, "grantee-role", "", "with --grantee-org: only members holding this role ("+strings.Join(org.Roles, ", ")+")")
	fl.StringSliceVar(&purposes, "purpose", nil, "purposes of use, comma-separated: "+strings.Join(consent.Purposes, ", "))
	fl.StringSliceVar(&resourceTypes, "resource-type", nil, "FHIR resource types covered (default any), e.g. Observation,Condition")
	fl.StringSliceVar(&recordIDs, "record", nil, "record ids covered (default any)")
	fl.StringSliceVar(&categories, "category", nil, "record categories covered (default any), e.g. laboratory")
	fl.StringVar(&notBefore, "not-before", "", "start of validity: RFC 3339 time or duration from now (default: the block that grants it)")
	fl.StringVar(&notAfter, "not-after", "", "end of validity: RFC 3339 time or duration after --not-before/now, e.g. 720h (default: none)")
	fl.StringVar(&condition, "condition", "", "CEL condition that must also be true, evaluated on chain at each access")
	fl.StringVar(&patient, "patient", "", "the patient's DID, when --from is their guardian")
	_ = grant.MarkFlagRequired("purpose")

	var rf txFlags
	revoke := &cobra.Command{
		Use:   "revoke CONSENT_ID",
		Short: "Revoke a consent (--from the patient or a guardian); it stops counting from the block that commits this",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || id == 0 {
				return fmt.Errorf("consent id %q is not a positive integer", args[0])
			}
			return sendTx(cmd, g, &rf, false, func(tc *txContext) ([]module.Msg, client.Signer, error) {
				return []module.Msg{&consent.MsgRevoke{ConsentID: id}}, nil, nil
			}, nil)
		},
	}
	rf.register(revoke)

	var guf txFlags
	var guardian string
	var remove bool
	guard := &cobra.Command{
		Use:   "guardian",
		Short: "Name (or --remove) a guardian who may manage --from's consents, read their records and request erasure",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return sendTx(cmd, g, &guf, false, func(tc *txContext) ([]module.Msg, client.Signer, error) {
				return []module.Msg{&consent.MsgSetGuardian{Patient: tc.signer.DID(), Guardian: guardian, Remove: remove}}, nil, nil
			}, nil)
		},
	}
	guf.register(guard)
	guard.Flags().StringVar(&guardian, "guardian", "", "the guardian's DID")
	guard.Flags().BoolVar(&remove, "remove", false, "remove this guardian instead")
	_ = guard.MarkFlagRequired("guardian")

	cmd.AddCommand(grant, revoke, guard)
	return cmd
}

func newTxRecordsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "records", Short: "Erasure requests and access requests on patients' records"}

	var ef txFlags
	var patient string
	erase := &cobra.Command{
		Use:   "erase",
		Short: "Ask every vault holding --from's records (or --patient's, as guardian) to destroy them; follow with \"query erasure\"",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return sendTxReporting(cmd, g, &ef, func(tc *txContext) ([]module.Msg, client.Signer, error) {
				p := tc.signer.DID()
				if patient != "" {
					p = patient
				}
				return []module.Msg{&records.MsgRequestErasure{Patient: p}}, nil, nil
			}, func(res *types.TxResult) [][2]string {
				orgs := res.Attr("records.erasure_requested", "orgs")
				if orgs == "" {
					orgs = "(none: no records held)"
				}
				return [][2]string{{"organizations", orgs}}
			})
		},
	}
	ef.register(erase)
	erase.Flags().StringVar(&patient, "patient", "", "the patient's DID, when --from is their guardian")

	var af txFlags
	var m records.MsgRequestAccess
	var ids []string
	access := &cobra.Command{
		Use:   "request-access",
		Short: "Ask to read --patient's records (--record, or all of --resource-type, or all) for --purpose; decided on chain and logged either way",
		Long: `Request access to a patient's records. The chain decides against the consents at that height and
appends an access event to the patient's log whether it permits or denies. --org is the organization
you act for (omit it when acting for yourself, as the patient or a guardian). --break-glass asks for
emergency access (purpose ETREAT) without consent; it needs the emergency role in --org and a --reason
code (` + strings.Join(records.BreakGlassReasons, ", ") + `).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			msg := m
			msg.Records = consent.SortList(ids)
			msg.Purpose = strings.ToUpper(msg.Purpose)
			if msg.BreakGlass && msg.Purpose == "" {
				msg.Purpose = consent.PurposeEmergencyTreatment
			}
			return sendTxReporting(cmd, g, &af, func(tc *txContext) ([]module.Msg, client.Signer, error) {
				return []module.Msg{&msg}, nil, nil
			}, func(res *types.TxResult) [][2]string {
				return [][2]string{{"access_event", res.Attr("records.access", "id")}, {"decision", res.Attr("records.access", "decision")},
					{"basis", res.Attr("records.access", "basis")}}
			})
		},
	}
	af.register(access)
	fl := access.Flags()
	fl.StringVar(&m.Patient, "patient", "", "the patient's DID")
	fl.StringVar(&m.Org, "org", "", "the organization you act for (default: yourself)")
	fl.StringSliceVar(&ids, "record", nil, "record ids (default: all the patient's records, or all of --resource-type)")
	fl.StringVar(&m.ResourceType, "resource-type", "", "all the patient's records of this FHIR type")
	fl.StringVar(&m.Purpose, "purpose", "", "purpose of use: "+strings.Join(consent.Purposes, ", ")+" (ETREAT with --break-glass)")
	fl.BoolVar(&m.BreakGlass, "break-glass", false, "emergency access without consent (needs the emergency role in --org)")
	fl.StringVar(&m.Reason, "reason", "", "break-glass reason code: "+strings.Join(records.BreakGlassReasons, ", "))
	fl.StringVar(&m.Requester, "requester", "", "the requester's DID, when --from is an organization's vault acting for them")
	_ = access.MarkFlagRequired("patient")

	cmd.AddCommand(erase, access)
	return cmd
}

// whoFlags name the patient of a query.
type whoFlags struct{ from, patient string }

func (w *whoFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&w.from, "from", "", "the patient, by keyring key name")
	cmd.Flags().StringVar(&w.patient, "patient", "", "the patient, by DID")
}

// open returns the patient's DID (patientOf) and a client of the node.
func (w *whoFlags) open(g *globals) (string, *client.Client, error) {
	p, err := patientOf(g, w.from, w.patient)
	if err != nil {
		return "", nil, err
	}
	c, err := g.client()
	return p, c, err
}

func newQueryConsentsCmd(g *globals) *cobra.Command {
	var who whoFlags
	var height int64
	cmd := &cobra.Command{
		Use:   "consents",
		Short: "A patient's consents (every status, with its state now) and guardians",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, c, err := who.open(g)
			if err != nil {
				return err
			}
			res, err := c.PatientConsents(cmd.Context(), p, height)
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) { printConsents(w, res) })
		},
	}
	who.register(cmd)
	cmd.Flags().Int64Var(&height, "height", 0, "read at this height (default latest)")
	return cmd
}

func orAny(l []string) string {
	if len(l) == 0 {
		return "any"
	}
	return strings.Join(l, ",")
}

func grantee(g consent.Grantee) string {
	switch g.Kind {
	case consent.GranteeDID:
		return g.DID
	case consent.GranteeOrg:
		return "organization " + g.Org
	case consent.GranteeRole:
		return g.Role + "s of " + g.Org
	}
	return g.Kind
}

const timeFmt = "2006-01-02 15:04:05Z07:00"

func printConsents(w io.Writer, res *types.ConsentList) {
	fmt.Fprintf(w, "consents of %s at height %d (block time %s): %d\n", res.Patient, res.Height, res.BlockTime.Format(timeFmt), len(res.Consents))
	if len(res.Guardians) > 0 {
		fmt.Fprintf(w, "guardians: %s\n", strings.Join(res.Guardians, ", "))
	}
	for _, c := range res.Consents {
		until := "no end"
		if !c.NotAfter.IsZero() {
			until = "until " + c.NotAfter.Format(timeFmt)
		}
		fmt.Fprintf(w, "#%d  %-7s  to %s  for %s\n", c.ID, strings.ToUpper(c.State), grantee(c.Grantee), strings.Join(c.Purposes, ","))
		fmt.Fprintf(w, "     types %s, records %s, categories %s; from %s, %s; granted at height %d by %s\n",
			orAny(c.ResourceTypes), orAny(c.RecordIDs), orAny(c.Categories), c.NotBefore.Format(timeFmt), until, c.CreatedHeight, c.GrantedBy)
		if c.Condition != "" {
			fmt.Fprintf(w, "     condition: %s\n", c.Condition)
		}
		if c.Status == consent.StatusRevoked {
			fmt.Fprintf(w, "     revoked at height %d by %s\n", c.RevokedHeight, c.RevokedBy)
		}
	}
}

// Accounting is an accounting of disclosures: per requester, organization
// and purpose, how many accesses were permitted (disclosures), denied and
// broke the glass, and when.
type Accounting struct {
	Patient string            `json:"patient"`
	Height  int64             `json:"height"`
	Events  int               `json:"events"`
	Self    int               `json:"self_accesses"` // the patient's own reads, not disclosures
	Entries []AccountingEntry `json:"entries"`
}

// AccountingEntry is one requester/organization/purpose line.
type AccountingEntry struct {
	Requester   string    `json:"requester"`
	Org         string    `json:"org,omitempty"`
	Purpose     string    `json:"purpose"`
	Disclosures int       `json:"disclosures"` // permitted accesses
	Records     int       `json:"records"`     // records disclosed, counted per access
	Denied      int       `json:"denied"`
	BreakGlass  int       `json:"break_glass"`
	First       time.Time `json:"first"`
	Last        time.Time `json:"last"`
}

func accounting(log *types.AccessLog) *Accounting {
	a := &Accounting{Patient: log.Patient, Height: log.Height, Events: len(log.Events), Entries: []AccountingEntry{}}
	for _, ev := range log.Events {
		if ev.Requester == log.Patient && ev.RequesterOrg == "" {
			a.Self++
			continue
		}
		i := slices.IndexFunc(a.Entries, func(e AccountingEntry) bool {
			return e.Requester == ev.Requester && e.Org == ev.RequesterOrg && e.Purpose == ev.Purpose
		})
		if i < 0 {
			a.Entries = append(a.Entries, AccountingEntry{Requester: ev.Requester, Org: ev.RequesterOrg, Purpose: ev.Purpose, First: ev.Time})
			i = len(a.Entries) - 1
		}
		e := &a.Entries[i]
		if ev.Decision == records.Permit {
			e.Disclosures++
			e.Records += len(ev.Records)
		} else {
			e.Denied++
		}
		if ev.BreakGlass {
			e.BreakGlass++
		}
		e.Last = ev.Time
	}
	return a
}

func newQueryAccessLogCmd(g *globals) *cobra.Command {
	var who whoFlags
	var after uint64
	var limit int
	var format string
	cmd := &cobra.Command{
		Use:   "access-log",
		Short: "Who accessed a patient's records: every access event, permitted or denied, break-glass first (--format accounting: an accounting of disclosures)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "log" && format != "accounting" {
				return fmt.Errorf("--format %q: use log or accounting", format)
			}
			p, c, err := who.open(g)
			if err != nil {
				return err
			}
			var log *types.AccessLog
			if after > 0 || limit > 0 {
				log, err = c.AccessLog(cmd.Context(), p, after, limit)
			} else {
				log, err = c.FullAccessLog(cmd.Context(), p)
			}
			if err != nil {
				return err
			}
			if format == "accounting" {
				a := accounting(log)
				return g.print(a, func(w io.Writer) { printAccounting(w, a) })
			}
			return g.print(log, func(w io.Writer) { printAccessLog(w, log) })
		},
	}
	who.register(cmd)
	cmd.Flags().Uint64Var(&after, "after", 0, "one page: start after this event id")
	cmd.Flags().IntVar(&limit, "limit", 0, "one page: at most this many events (default: every event)")
	cmd.Flags().StringVar(&format, "format", "log", "log (every event) or accounting (accounting of disclosures per requester, organization and purpose)")
	return cmd
}

func eventLine(ev *records.AccessEvent) string {
	org := ev.RequesterOrg
	if org == "" {
		org = "self"
	}
	s := fmt.Sprintf("#%d  height %d  %s  %-6s  %s (%s)  %s  records %s  [%s]", ev.ID, ev.Height, ev.Time.Format(timeFmt),
		strings.ToUpper(ev.Decision), ev.Requester, org, ev.Purpose, orNone(ev.Records), ev.Basis)
	if ev.BreakGlass {
		s += "  reason " + ev.Reason
		if ev.Decision == records.Permit {
			s += "  until " + ev.NotAfter.Format(timeFmt)
		}
	}
	return s
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ",")
}

func printAccessLog(w io.Writer, log *types.AccessLog) {
	var bg []*records.AccessEvent
	for _, ev := range log.Events {
		if ev.BreakGlass {
			bg = append(bg, ev)
		}
	}
	fmt.Fprintf(w, "access log of %s at height %d: %d events\n", log.Patient, log.Height, len(log.Events))
	if len(bg) > 0 {
		fmt.Fprintf(w, "BREAK-GLASS: %d emergency access attempts without consent:\n", len(bg))
		for _, ev := range bg {
			fmt.Fprintf(w, "BREAK-GLASS  %s\n", eventLine(ev))
		}
		fmt.Fprintln(w)
	}
	for _, ev := range log.Events {
		mark := "            "
		if ev.BreakGlass {
			mark = "BREAK-GLASS "
		}
		fmt.Fprintf(w, "%s %s\n", mark, eventLine(ev))
	}
	if log.Next != 0 {
		fmt.Fprintf(w, "more: --after %d\n", log.Next)
	}
}

func printAccounting(w io.Writer, a *Accounting) {
	fmt.Fprintf(w, "accounting of disclosures of %s's records at height %d (%d access events; %d by the patient, not listed)\n",
		a.Patient, a.Height, a.Events, a.Self)
	if len(a.Entries) == 0 {
		fmt.Fprintln(w, "no one else has accessed or asked to access these records")
		return
	}
	for _, e := range a.Entries {
		org := e.Org
		if org == "" {
			org = "self"
		}
		mark := ""
		if e.BreakGlass > 0 {
			mark = fmt.Sprintf("  BREAK-GLASS x%d", e.BreakGlass)
		}
		fmt.Fprintf(w, "%s (%s) for %s: %d disclosures (%d records), %d denied; first %s, last %s%s\n",
			e.Requester, org, e.Purpose, e.Disclosures, e.Records, e.Denied, e.First.Format(timeFmt), e.Last.Format(timeFmt), mark)
	}
}

func newQueryErasureCmd(g *globals) *cobra.Command {
	var who whoFlags
	cmd := &cobra.Command{
		Use:   "erasure",
		Short: "A patient's erasure request and which organizations have confirmed destroying their records",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, c, err := who.open(g)
			if err != nil {
				return err
			}
			res, err := c.Erasure(cmd.Context(), p, 0)
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) { printErasure(w, res) })
		},
	}
	who.register(cmd)
	return cmd
}

func printErasure(w io.Writer, res *types.ErasureStatus) {
	if !res.Requested {
		fmt.Fprintf(w, "no erasure requested for %s (height %d)\n", res.Patient, res.Height)
		return
	}
	e := res.Erasure
	done := 0
	for _, o := range e.Orgs {
		if o.Done {
			done++
		}
	}
	state := fmt.Sprintf("%d of %d organizations confirmed", done, len(e.Orgs))
	if res.Complete {
		state = "complete: " + state
	}
	fmt.Fprintf(w, "erasure of %s requested at height %d by %s; %s (height %d)\n", res.Patient, e.RequestedHeight, e.RequestedBy, state, res.Height)
	for _, o := range e.Orgs {
		st := "pending"
		if o.Done {
			st = fmt.Sprintf("done at height %d (confirmed by %s)", o.DoneHeight, o.ConfirmedBy)
		}
		fmt.Fprintf(w, "  %-20s %d records  %s\n", o.Org, len(o.Records), st)
	}
}
