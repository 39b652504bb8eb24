package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/auth"
	"github.com/medchain/medchain/client"
)

func newAuthCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "auth", Short: "Bearer tokens for a node's FHIR API"}
	var from string
	var ttl time.Duration
	token := &cobra.Command{
		Use:   "token",
		Short: "Print a short-lived token signed by --from's DID key for the FHIR API (Authorization: Bearer <token>)",
		Long: "Prints a JWT signed with EdDSA by --from's current signing key: kid is the key's DID URL, iss and sub the DID, aud the chain id\n" +
			"(read from --node), valid for --ttl (at most 15 minutes). Text output is the token alone, for use in scripts.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			iss, err := fhirToken(cmd.Context(), g, from, ttl)
			if err != nil {
				return err
			}
			return g.print(iss, func(w io.Writer) { fmt.Fprintln(w, iss.Token) })
		},
	}
	token.Flags().StringVar(&from, "from", "", "name of the keyring key whose DID the token speaks for (required)")
	token.Flags().DurationVar(&ttl, "ttl", auth.DefaultTTL, "lifetime of the token (at most 15m)")
	_ = token.MarkFlagRequired("from")
	cmd.AddCommand(token)
	return cmd
}

// fhirToken issues a token for keyring key from, for the chain of --node.
func fhirToken(ctx context.Context, g *globals, from string, ttl time.Duration) (*auth.Issued, error) {
	kr, err := g.keyring()
	if err != nil {
		return nil, err
	}
	key, err := kr.Get(from)
	if err != nil {
		return nil, err
	}
	c, err := g.client()
	if err != nil {
		return nil, err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return nil, err
	}
	s := client.KeySigner{Key: key}
	return auth.Issue(key.SigningKey, s.DID(), s.KeyID(), st.ChainID, ttl)
}
