package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/x/org"
)

// newSetGLNsCmd is "medchain tx org set-glns": an organization's admin sets
// its GS1 party GLN and location GLNs (org.MsgSetGLNs), which shipments name
// receivers by (x/supply README).
func newSetGLNsCmd(g *globals) *cobra.Command {
	var f txFlags
	var orgID, party string
	var locations []string
	cmd := &cobra.Command{
		Use:   "set-glns",
		Short: "Set your organization's GS1 party GLN (--party-gln) and location GLNs (--location-gln, repeatable)",
		Long: "Sets --from's organization's party GLN and location GLNs (13 digits with the GS1 check digit), signed by an\n" +
			"admin of the organization. Shipments name their receiver by these GLNs. A GLN belongs to one organization,\n" +
			"and a GLN under a GS1 company prefix another organization owns is refused (org/17). The message replaces both:\n" +
			"a flag left out keeps the organization's current value (read from the node; give --org with --generate-only).\n" +
			"\"medchain query org list -o json\" shows party_gln and location_glns.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			setParty, setLocs := cmd.Flags().Changed("party-gln"), cmd.Flags().Changed("location-gln")
			if !setParty && !setLocs {
				return errors.New("give --party-gln, --location-gln (repeatable), or both")
			}
			if party != "" && !org.ValidGLN(party) {
				return fmt.Errorf("--party-gln %q: want 13 digits with a valid GS1 check digit", party)
			}
			for _, l := range locations {
				if !org.ValidGLN(l) {
					return fmt.Errorf("--location-gln %q: want 13 digits with a valid GS1 check digit", l)
				}
			}
			return sendTx(cmd, g, &f, false, func(tc *txContext) ([]module.Msg, client.Signer, error) {
				o, err := signerOrg(tc, orgID, org.RoleAdmin)
				if err != nil {
					return nil, nil, err
				}
				p, locs := party, locations
				if !setParty || !setLocs {
					if tc.c == nil {
						return nil, nil, errors.New("give both --party-gln and --location-gln with --generate-only (the current values are read from the node)")
					}
					cur, err := tc.c.Org(tc.ctx, o, 0, false)
					if err != nil {
						return nil, nil, err
					}
					if !setParty {
						p = cur.Org.PartyGLN
					}
					if !setLocs {
						locs = cur.Org.LocationGLNs
					}
				}
				return []module.Msg{client.NewMsgSetGLNs(o, p, locs)}, nil, nil
			}, nil)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&orgID, "org", "", "organization id (default: the one --from administers)")
	cmd.Flags().StringVar(&party, "party-gln", "", "the organization's party GLN (\"\" clears it)")
	cmd.Flags().StringSliceVar(&locations, "location-gln", nil, "a location GLN of the organization (repeatable; replaces the list)")
	return cmd
}
