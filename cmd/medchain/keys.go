package main

import (
	"encoding/hex"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/x/identity"
)

// keyView is how a key is shown: public material only.
type keyView struct {
	Name             string `json:"name"`
	DID              string `json:"did"`
	Registered       bool   `json:"registered"`
	KeyID            string `json:"key_id"`
	Generation       int    `json:"generation"`
	SigningPublicKey string `json:"signing_public_key"`
	Multikey         string `json:"public_key_multibase"`
	EncryptionKeyLen int    `json:"encryption_public_key_bytes"`
}

func viewOf(in keyring.Info) keyView {
	did := in.DID
	registered := did != ""
	if did == "" && in.Generation == 1 {
		did = identity.DIDFromKey(in.SigningPublic)
	}
	return keyView{Name: in.Name, DID: did, Registered: registered, KeyID: identity.SigningKeyID(did, in.Generation), Generation: in.Generation,
		SigningPublicKey: hex.EncodeToString(in.SigningPublic), Multikey: identity.Multikey(in.SigningPublic), EncryptionKeyLen: len(in.EncryptionPublic)}
}

func printKey(w io.Writer, v keyView) {
	state := "not registered yet (medchain tx identity register --from " + v.Name + ")"
	if v.Registered {
		state = "registered"
	}
	fmt.Fprintf(w, "name:       %s\ndid:        %s (%s)\nkey id:     %s\npublic key: %s\n", v.Name, v.DID, state, v.KeyID, v.Multikey)
}

func newKeysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage the keyring in --home (keys are encrypted with a passphrase; set MEDCHAIN_PASSPHRASE to skip the prompt)"}
	cmd.AddCommand(
		&cobra.Command{
			Use: "add NAME", Short: "Create a key (Ed25519 signing + ML-KEM-768/X25519 encryption)", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				kr, err := g.keyring()
				if err != nil {
					return err
				}
				k, err := kr.Add(args[0])
				if err != nil {
					return err
				}
				v := viewOf(k.Info())
				return g.print(v, func(w io.Writer) { printKey(w, v) })
			},
		},
		&cobra.Command{
			Use: "list", Short: "List keys (no passphrase needed)", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				kr, err := g.keyring()
				if err != nil {
					return err
				}
				infos, err := kr.List()
				if err != nil {
					return err
				}
				views := []keyView{}
				for _, in := range infos {
					views = append(views, viewOf(in))
				}
				return g.print(views, func(w io.Writer) {
					if len(views) == 0 {
						fmt.Fprintln(w, "no keys; create one with: medchain keys add NAME")
					}
					for _, v := range views {
						fmt.Fprintf(w, "%-16s %s\n", v.Name, v.DID)
					}
				})
			},
		},
		&cobra.Command{
			Use: "show NAME", Short: "Show a key's DID and public key", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				kr, err := g.keyring()
				if err != nil {
					return err
				}
				in, err := kr.Info(args[0])
				if err != nil {
					return err
				}
				v := viewOf(in)
				return g.print(v, func(w io.Writer) { printKey(w, v) })
			},
		},
		&cobra.Command{
			Use: "export NAME", Short: "Print a key encrypted with the keyring passphrase (armored text)", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				kr, err := g.keyring()
				if err != nil {
					return err
				}
				bz, err := kr.Export(args[0])
				if err != nil {
					return err
				}
				return g.print(map[string]string{"name": args[0], "armored": string(bz)}, func(w io.Writer) { w.Write(bz) })
			},
		},
		&cobra.Command{
			Use: "import NAME FILE", Short: "Import an exported key (FILE - reads standard input)", Args: cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				bz, err := readInput(args[1])
				if err != nil {
					return err
				}
				kr, err := g.keyring()
				if err != nil {
					return err
				}
				if err := kr.Import(args[0], bz); err != nil {
					return err
				}
				in, err := kr.Info(args[0])
				if err != nil {
					return err
				}
				v := viewOf(in)
				return g.print(v, func(w io.Writer) { printKey(w, v) })
			},
		},
		&cobra.Command{
			Use: "delete NAME", Short: "Delete a key (it cannot be recovered without an export)", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				kr, err := g.keyring()
				if err != nil {
					return err
				}
				if err := kr.Delete(args[0]); err != nil {
					return err
				}
				return g.print(map[string]any{"name": args[0], "deleted": true}, func(w io.Writer) { fmt.Fprintf(w, "deleted %s\n", args[0]) })
			},
		},
	)
	return cmd
}
