package main

import (
	"fmt"
	"io"
	"strings"

	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/spf13/cobra"

	"github.com/medchain/medchain/node"
)

// newJoinCmd returns "medchain join": create a node home for an
// organization joining an existing network.
func newJoinCmd(g *globals) *cobra.Command {
	var a addrFlags
	var genesis, moniker string
	var peers, orgPeers []string
	cmd := &cobra.Command{
		Use:   "join",
		Short: "Create a node home in --home that joins an existing network, for an organization to be admitted",
		Long: "Create a node home in --home for the network whose genesis is --genesis: CometBFT configuration\n" +
			"dialing the --peer nodes, fresh node and validator keys, and the joining organization's first\n" +
			"admin key \"admin\" in the keyring (encrypted with MEDCHAIN_PASSPHRASE, or a passphrase you are\n" +
			"asked for). The genesis is checked by running it as the node will. The node block-syncs as a\n" +
			"full node; it signs blocks once the member organizations admit yours with its validator key\n" +
			"(medchain tx org propose admit_org ... --validator-key KEY, then votes). The output names the\n" +
			"node id, the validator key and the admin DID that proposal needs, and the steps.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if genesis == "" {
				return fmt.Errorf("--genesis is required: the network's genesis.json (from any member's <home>/config)")
			}
			doc, err := cmttypes.GenesisDocFromFile(genesis)
			if err != nil {
				return fmt.Errorf("--genesis: %w", err)
			}
			op := map[string]string{}
			for _, p := range orgPeers {
				org, url, ok := strings.Cut(p, "=")
				if !ok {
					return fmt.Errorf("--org-peer %q: want ORG=URL", p)
				}
				op[org] = url
			}
			kr, err := g.keyring()
			if err != nil {
				return err
			}
			j, err := node.Join(g.home, doc, node.NetworkJoinOptions{
				Moniker: moniker, Addrs: a.addrs(), Peers: peers, OrgPeers: op, Keyring: kr,
			})
			if err != nil {
				return err
			}
			return g.print(j, func(w io.Writer) { writeJoined(w, j) })
		},
	}
	a.register(cmd)
	f := cmd.Flags()
	f.StringVar(&genesis, "genesis", "", "the network's genesis.json (required)")
	f.StringArrayVar(&peers, "peer", nil, "a node of the network to sync from, NODE_ID@HOST:P2P_PORT (repeatable; at least one)")
	f.StringArrayVar(&orgPeers, "org-peer", nil, "ORG=URL: an organization's node API, where this node's vault fetches the records that organization holds (repeatable)")
	f.StringVar(&moniker, "moniker", "node", "node name")
	return cmd
}

// writeJoined prints a joined home and the steps to admission.
func writeJoined(w io.Writer, j node.Joined) {
	fmt.Fprintf(w, "initialised %s for chain %s\n", j.Home, j.ChainID)
	fmt.Fprintf(w, "node id:        %s (P2P %s)\n", j.NodeID, j.P2PAddr)
	fmt.Fprintf(w, "validator key:  %s (address %s)\n", j.ValidatorPubKey, j.ValidatorAddress)
	fmt.Fprintf(w, "admin key:      %s (%s)\n", j.AdminKey, j.AdminDID)
	fmt.Fprintf(w, "\nNext:\n")
	fmt.Fprintf(w, "  1. medchain start --home %s\n", j.Home)
	fmt.Fprintf(w, "     (a full node: it block-syncs from its peers)\n")
	fmt.Fprintf(w, "  2. medchain tx identity register --from %s --home %s --node %s\n", j.AdminKey, j.Home, j.APIURL)
	fmt.Fprintf(w, "     (registers your admin's DID through your node, once it has caught up)\n")
	fmt.Fprintf(w, "  3. an admin of a member organization proposes your admission, and member admins vote\n")
	fmt.Fprintf(w, "     until more than 2/3 of the organizations approve:\n")
	fmt.Fprintf(w, "       medchain tx org propose admit_org --org ORG_ID --name \"NAME\" --type TYPE \\\n")
	fmt.Fprintf(w, "         --admin %s --validator-key %s --power 10 --from admin\n", j.AdminDID, j.ValidatorPubKey)
	fmt.Fprintf(w, "       medchain tx org vote PROPOSAL_ID --from admin\n")
	fmt.Fprintf(w, "     From the block after it passes, this node's validator signs blocks.\n")
}
