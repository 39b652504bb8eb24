package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/spf13/cobra"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/x/identity"
)

func newQueryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "query", Aliases: []string{"q"}, Short: "Read chain state (every answer names the height it was read at)"}
	cmd.AddCommand(newQueryIdentityCmd(g), newQueryOrgCmd(g), newQueryProposalsCmd(g), newQueryTxCmd(g), newQueryBlockCmd(g), newQuerySequenceCmd(g), newQueryMembershipsCmd(g), newQueryStoreCmd(g), newQueryConsentsCmd(g), newQueryAccessLogCmd(g), newQueryErasureCmd(g))
	return cmd
}

// identityOutput is "query identity".
type identityOutput struct {
	DID          string                    `json:"did"`
	Height       int64                     `json:"height"`
	Document     *identity.Document        `json:"did_document"`
	Metadata     identity.DocumentMetadata `json:"did_document_metadata"`
	Verified     bool                      `json:"verified"`
	Verification *client.VerifiedRead      `json:"verification,omitempty"`
}

func newQueryIdentityCmd(g *globals) *cobra.Command {
	var verify bool
	var height int64
	var trustHeight int64
	var trustHash, genesisFile string
	var witnesses []string
	cmd := &cobra.Command{
		Use:   "identity DID",
		Short: "Resolve a DID to its W3C DID document (--verify: check it with a Merkle proof and the light client)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			did := args[0]
			if !identity.ValidDID(did) {
				return fmt.Errorf("%q is not a medchain DID (did:medchain:<26 base32 characters>)", did)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var out identityOutput
			if !verify {
				res, err := c.Identity(ctx, did, height, false)
				if err != nil {
					return err
				}
				out = identityOutput{DID: did, Height: res.Height, Document: res.Resolution.Document, Metadata: res.Resolution.Metadata}
			} else {
				o := client.VerifierOptions{Witnesses: witnesses, TrustHeight: trustHeight}
				if trustHash != "" {
					if o.TrustHash, err = hex.DecodeString(trustHash); err != nil {
						return fmt.Errorf("--trust-hash: %v", err)
					}
				}
				// A genesis we hold ourselves is a better trust root than the node's word.
				gf := genesisFile
				if gf == "" && node.IsInitialized(g.home) {
					gf = g.home + "/config/genesis.json"
				}
				if gf != "" {
					if doc, err := cmttypes.GenesisDocFromFile(gf); err == nil {
						st, err := c.Status(ctx)
						if err != nil {
							return err
						}
						if doc.ChainID == st.ChainID {
							o.Genesis = doc
						} else if genesisFile != "" {
							return fmt.Errorf("--genesis is for chain %q but the node serves %q", doc.ChainID, st.ChainID)
						}
					} else if genesisFile != "" {
						return err
					}
				}
				v, err := client.NewVerifier(ctx, c, o)
				if err != nil {
					return err
				}
				rec, vr, err := v.Identity(ctx, did, height)
				if err != nil {
					return err
				}
				res := rec.Resolve()
				out = identityOutput{DID: did, Height: vr.Height, Document: res.Document, Metadata: res.Metadata, Verified: true, Verification: vr}
			}
			return g.print(out, func(w io.Writer) {
				fmt.Fprintf(w, "%s at height %d\n", did, out.Height)
				if out.Metadata.Deactivated {
					fmt.Fprintln(w, "status:  deactivated")
				}
				for _, vm := range out.Document.VerificationMethod {
					fmt.Fprintf(w, "key:     %s %s %s\n", vm.ID, vm.Type, vm.PublicKeyMultibase[:min(24, len(vm.PublicKeyMultibase))]+"…")
				}
				if out.Verified {
					fmt.Fprintf(w, "verified: app hash %s in header %s (trust root: %s)\n", out.Verification.AppHash, out.Verification.HeaderHash, out.Verification.TrustRoot)
				}
			})
		},
	}
	cmd.Flags().BoolVar(&verify, "verify", false, "verify the answer with a Merkle proof against a light-client-verified header")
	cmd.Flags().Int64Var(&height, "height", 0, "read at this height (default latest)")
	cmd.Flags().StringVar(&genesisFile, "genesis", "", "trust root: a genesis file you trust (default: --home's, if for this chain; else the node's, on first use)")
	cmd.Flags().Int64Var(&trustHeight, "trust-height", 0, "trust root: a header height you trust (with --trust-hash)")
	cmd.Flags().StringVar(&trustHash, "trust-hash", "", "trust root: the hex hash of the header at --trust-height")
	cmd.Flags().StringSliceVar(&witnesses, "witness", nil, "other nodes' API URLs to cross-check headers with")
	return cmd
}

func newQueryOrgCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "org", Short: "Organizations, their members and roles"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "Every organization with its members and roles", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.Orgs(cmd.Context(), 0)
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) {
				fmt.Fprintf(w, "organizations at height %d\n", res.Height)
				for _, o := range res.Orgs {
					printOrg(w, o)
				}
			})
		},
	}, &cobra.Command{
		Use: "show ID", Short: "One organization", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.Org(cmd.Context(), args[0], 0, false)
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) {
				fmt.Fprintf(w, "at height %d\n", res.Height)
				printOrg(w, res.Org)
			})
		},
	})
	return cmd
}

func printOrg(w io.Writer, o *types.OrgDetail) {
	fmt.Fprintf(w, "%s  %q  %s  %s  validator power %d\n", o.ID, o.Name, o.Type, o.Status, o.Power())
	if len(o.GS1Prefixes)+len(o.LocationGLNs) > 0 || o.PartyGLN != "" {
		fmt.Fprintf(w, "  GS1 prefixes %s  party GLN %s  location GLNs %s\n", strings.Join(o.GS1Prefixes, ","), o.PartyGLN, strings.Join(o.LocationGLNs, ","))
	}
	for _, m := range o.Members {
		fmt.Fprintf(w, "  %s  %s\n", m.DID, strings.Join(m.Roles, ","))
	}
}

func newQueryProposalsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "proposals [ID]", Short: "Governance proposals (newest first), or one", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if len(args) == 1 {
				var id uint64
				if _, err := fmt.Sscan(args[0], &id); err != nil {
					return fmt.Errorf("proposal id %q is not a number", args[0])
				}
				res, err := c.Proposal(cmd.Context(), id, false)
				if err != nil {
					return err
				}
				return g.print(res, nil)
			}
			res, err := c.Proposals(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) {
				fmt.Fprintf(w, "proposals at height %d\n", res.Height)
				for _, p := range res.Proposals {
					yes, no := p.Tally()
					fmt.Fprintf(w, "#%d %s %s by %s: %s (%d yes, %d no of %d)\n", p.ID, p.Kind, p.Org, p.ProposerOrg, p.Status, yes, no, len(p.Electorate))
				}
			})
		},
	}
}

func newQueryTxCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "tx HASH", Short: "A committed transaction", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := hex.DecodeString(args[0])
			if err != nil || len(h) != 32 {
				return fmt.Errorf("%q is not a 64-character hex transaction hash", args[0])
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.Tx(cmd.Context(), h)
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) { printTxResult(w, res, "") })
		},
	}
}

func newQueryBlockCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "block [HEIGHT]", Short: "A block (default latest)", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var h int64
			if len(args) == 1 {
				if _, err := fmt.Sscan(args[0], &h); err != nil || h < 1 {
					return fmt.Errorf("height %q is not a positive number", args[0])
				}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			b, err := c.Block(cmd.Context(), h)
			if err != nil {
				return err
			}
			return g.print(b, func(w io.Writer) {
				fmt.Fprintf(w, "block %d %s at %s, %d txs\n", b.Height, b.Hash, b.Time.Format("2006-01-02T15:04:05.000Z07:00"), len(b.TxHashes))
			})
		},
	}
}

func newQuerySequenceCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "sequence DID", Short: "The next transaction sequence of a DID", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			seq, err := c.NextSequence(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.print(map[string]any{"did": args[0], "sequence": seq}, func(w io.Writer) { fmt.Fprintln(w, seq) })
		},
	}
}

func newQueryMembershipsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "memberships DID", Short: "The organizations a DID belongs to, with its roles", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.Memberships(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) {
				fmt.Fprintf(w, "%s at height %d\n", res.DID, res.Height)
				for _, m := range res.Members {
					fmt.Fprintf(w, "  %s  %s\n", m.Org, strings.Join(m.Roles, ","))
				}
			})
		},
	}
}

func newQueryStoreCmd(g *globals) *cobra.Command {
	var height int64
	var prove bool
	cmd := &cobra.Command{
		Use:   "store NAME HEXKEY",
		Short: "A raw state value (see each module's README for its key layout), optionally with its Merkle proof",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := hex.DecodeString(args[1])
			if err != nil || len(key) == 0 {
				return fmt.Errorf("key %q is not non-empty hex", args[1])
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.StoreValue(cmd.Context(), args[0], key, height, prove)
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) {
				if res.Value == nil {
					fmt.Fprintf(w, "no value at height %d\n", res.Height)
					return
				}
				fmt.Fprintf(w, "height %d: %s\n", res.Height, res.Value)
			})
		},
	}
	cmd.Flags().Int64Var(&height, "height", 0, "read at this height (default latest)")
	cmd.Flags().BoolVar(&prove, "prove", false, "include the Merkle proof")
	return cmd
}
