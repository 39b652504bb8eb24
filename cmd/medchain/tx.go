package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/spf13/cobra"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/tx"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
)

// txFlags are shared by every "tx" subcommand.
type txFlags struct {
	from         string
	generateOnly bool
	chainID      string
	sequence     int64
}

func (f *txFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.from, "from", "", "name of the keyring key that signs (required)")
	cmd.Flags().BoolVar(&f.generateOnly, "generate-only", false, "print the signed transaction instead of sending it (send it later with \"medchain tx broadcast FILE\")")
	cmd.Flags().StringVar(&f.chainID, "chain-id", "", "chain id (default: from the node, or from --home's genesis with --generate-only)")
	cmd.Flags().Int64Var(&f.sequence, "sequence", -1, "signer sequence (default: from the node; 0 for a registration)")
	_ = cmd.MarkFlagRequired("from")
}

// GeneratedTx is what --generate-only prints and "tx broadcast" reads.
type GeneratedTx struct {
	Tx     []byte       `json:"tx"` // base64 of the signed transaction
	TxHash string       `json:"tx_hash"`
	Body   types.TxBody `json:"body"`
}

// txOutput is a transaction's result plus command-specific fields.
type txOutput struct {
	*types.TxResult
	DID string `json:"did,omitempty"`
}

// txContext is what a message builder gets.
type txContext struct {
	ctx     context.Context
	g       *globals
	c       *client.Client
	signer  client.Signer
	chainID string
}

// sendTx signs the messages built by build with --from's key and either
// prints the signed transaction (--generate-only) or submits it and prints
// the committed result. after runs on a committed success.
func sendTx(cmd *cobra.Command, g *globals, f *txFlags, bootstrap bool,
	build func(tc *txContext) ([]module.Msg, client.Signer, error), after func(tc *txContext, res *types.TxResult) string) error {
	ctx := cmd.Context()
	kr, err := g.keyring()
	if err != nil {
		return err
	}
	key, err := kr.Get(f.from)
	if err != nil {
		return err
	}
	tc := &txContext{ctx: ctx, g: g, signer: client.KeySigner{Key: key}, chainID: f.chainID}
	needNode := !f.generateOnly || (tc.chainID == "" && homeChainID(g.home) == "") || (f.sequence < 0 && !bootstrap)
	if needNode {
		if tc.c, err = g.client(); err != nil {
			return err
		}
	}
	if tc.chainID == "" {
		if tc.chainID = homeChainID(g.home); tc.chainID == "" || !f.generateOnly {
			st, err := tc.c.Status(ctx)
			if err != nil {
				return err
			}
			tc.chainID = st.ChainID
		}
	}
	msgs, signer, err := build(tc)
	if err != nil {
		return err
	}
	if signer != nil {
		tc.signer = signer
	}
	seq := uint64(f.sequence)
	if f.sequence < 0 {
		if bootstrap {
			seq = 0
		} else if seq, err = tc.c.NextSequence(ctx, tc.signer.DID()); err != nil {
			return err
		}
	}
	bz, err := client.BuildTx(tc.signer, tc.chainID, seq, msgs...)
	if err != nil {
		return err
	}
	if f.generateOnly {
		gt := GeneratedTx{Tx: bz, TxHash: strings.ToUpper(hex.EncodeToString(tx.Hash(bz))), Body: types.TxBody{ChainID: tc.chainID, Signer: tc.signer.KeyID(), Sequence: seq}}
		for _, m := range msgs {
			gt.Body.Msgs = append(gt.Body.Msgs, m.TypeURL())
		}
		return g.print(gt, nil)
	}
	res, err := tc.c.Broadcast(ctx, bz)
	if err != nil {
		return err
	}
	out := txOutput{TxResult: res}
	if res.Code == 0 && after != nil {
		out.DID = after(tc, res)
	}
	return g.print(out, func(w io.Writer) { printTxResult(w, res, out.DID) })
}

func printTxResult(w io.Writer, res *types.TxResult, did string) {
	if res.Code != 0 {
		where := "refused by the mempool"
		if res.Stage == "deliver" {
			where = fmt.Sprintf("rejected in block %d", res.Height)
		}
		fmt.Fprintf(w, "transaction %s %s: code %d (%s): %s\n", res.Hash, where, res.Code, res.Codespace, res.Log)
		return
	}
	fmt.Fprintf(w, "committed in block %d: tx %s\n", res.Height, res.Hash)
	if did != "" {
		fmt.Fprintf(w, "did: %s\n", did)
	}
}

// homeChainID returns the chain id of --home's genesis, or "".
func homeChainID(home string) string {
	doc, err := cmttypes.GenesisDocFromFile(filepath.Join(home, "config", "genesis.json"))
	if err != nil {
		return ""
	}
	return doc.ChainID
}

func newTxCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "tx", Short: "Sign and send transactions"}
	cmd.AddCommand(newTxIdentityCmd(g), newTxOrgCmd(g), newTxConsentCmd(g), newTxRecordsCmd(g), newBroadcastCmd(g))
	return cmd
}

func newBroadcastCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "broadcast FILE",
		Short: "Send a transaction printed by --generate-only (FILE - reads standard input) and wait for the commit",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bz, err := readInput(args[0])
			if err != nil {
				return err
			}
			var gt GeneratedTx
			if err := json.Unmarshal(bz, &gt); err != nil || len(gt.Tx) == 0 {
				return fmt.Errorf("%s is not a transaction from --generate-only -o json (want {\"tx\": \"<base64>\"})", args[0])
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.Broadcast(cmd.Context(), gt.Tx)
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) { printTxResult(w, res, "") })
		},
	}
}

func newTxIdentityCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "identity", Short: "Register, rotate and deactivate DIDs"}

	var reg txFlags
	register := &cobra.Command{
		Use:   "register",
		Short: "Register --from's key as a new DID (self-registration; no one else needs to approve)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var did string
			return sendTx(cmd, g, &reg, true, func(tc *txContext) ([]module.Msg, client.Signer, error) {
				k := tc.signer.(client.KeySigner).Key
				if k.Generation != 1 {
					return nil, nil, fmt.Errorf("key %q has been rotated; only a first-generation key can register", reg.from)
				}
				m := client.RegisterMsg(k)
				did = m.DID()
				return []module.Msg{m}, nil, nil
			}, func(tc *txContext, _ *types.TxResult) string {
				if kr, err := g.keyring(); err == nil {
					_ = kr.SetDID(reg.from, did)
				}
				return did
			})
		},
	}
	reg.register(register)

	var rot txFlags
	rotate := &cobra.Command{
		Use:   "rotate-key",
		Short: "Replace --from's signing and encryption keys (old signatures stay verifiable at their heights)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return sendTx(cmd, g, &rot, false, func(tc *txContext) ([]module.Msg, client.Signer, error) {
				return rotateMsgs(tc, rot.from)
			}, nil)
		},
	}
	rot.register(rotate)

	var deact txFlags
	deactivate := &cobra.Command{
		Use:   "deactivate",
		Short: "Permanently deactivate --from's DID",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return sendTx(cmd, g, &deact, false, func(tc *txContext) ([]module.Msg, client.Signer, error) {
				return []module.Msg{&identity.MsgDeactivate{DID: tc.signer.DID()}}, nil, nil
			}, nil)
		},
	}
	deact.register(deactivate)
	cmd.AddCommand(register, rotate, deactivate)
	return cmd
}

// rotateMsgs rotates the keyring key to a new generation (unless a previous
// attempt already did and the chain still has the old key) and returns the
// rotation signed by the outgoing generation.
func rotateMsgs(tc *txContext, name string) ([]module.Msg, client.Signer, error) {
	if tc.c == nil {
		return nil, nil, errors.New("rotate-key needs the node (to read the current key); drop --generate-only or pass --sequence")
	}
	did := tc.signer.DID()
	cur, err := tc.c.Identity(tc.ctx, did, 0, false)
	if err != nil {
		return nil, nil, err
	}
	onChain := cur.Record.CurrentSigningKey()
	kr, err := tc.g.keyring()
	if err != nil {
		return nil, nil, err
	}
	key := tc.signer.(client.KeySigner).Key
	if string(onChain.PublicKey) == string(key.SigningPublic()) {
		if key, err = kr.Rotate(name); err != nil {
			return nil, nil, err
		}
	}
	prev := key.Previous[len(key.Previous)-1]
	if string(onChain.PublicKey) != string(prev.SigningKey.Public().(ed25519.PublicKey)) {
		return nil, nil, fmt.Errorf("key %q does not match %s's current key on chain; the keyring and the chain disagree", name, did)
	}
	signer := client.GenerationSigner{Identity: did, Generation: prev.Generation, Private: prev.SigningKey}
	return []module.Msg{client.RotateMsg(tc.chainID, did, key)}, signer, nil
}

// signerOrg picks the organization in which the signer holds role, or the
// one named by flag.
func signerOrg(tc *txContext, flag, role string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if tc.c == nil {
		return "", errors.New("pass --org (the node is needed to look it up)")
	}
	ms, err := tc.c.Memberships(tc.ctx, tc.signer.DID())
	if err != nil {
		return "", err
	}
	var orgs []string
	for _, m := range ms.Members {
		if m.HasRole(role) {
			orgs = append(orgs, m.Org)
		}
	}
	switch len(orgs) {
	case 1:
		return orgs[0], nil
	case 0:
		return "", fmt.Errorf("%s holds the %s role in no organization", tc.signer.DID(), role)
	}
	return "", fmt.Errorf("%s is %s of several organizations (%s); choose one with --org", tc.signer.DID(), role, strings.Join(orgs, ", "))
}

func parseValidatorKey(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	return nil, fmt.Errorf("--validator-key %q is not a 32-byte Ed25519 key in hex or base64 (see pub_key.value in priv_validator_key.json)", s)
}

func newTxOrgCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "org", Short: "Manage members and vote on governance proposals"}

	var af txFlags
	var member, orgID string
	var roles []string
	add := &cobra.Command{
		Use:   "add-member",
		Short: "Add --member to your organization with --role (repeatable), or replace its roles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return sendTx(cmd, g, &af, false, func(tc *txContext) ([]module.Msg, client.Signer, error) {
				o, err := signerOrg(tc, orgID, org.RoleAdmin)
				if err != nil {
					return nil, nil, err
				}
				return []module.Msg{&org.MsgAddMember{Org: o, Member: member, Roles: org.SortRoles(roles)}}, nil, nil
			}, nil)
		},
	}
	af.register(add)
	add.Flags().StringVar(&member, "member", "", "DID of the member")
	add.Flags().StringSliceVar(&roles, "role", nil, "role: "+strings.Join(org.Roles, ", "))
	add.Flags().StringVar(&orgID, "org", "", "organization id (default: the one --from administers)")
	_ = add.MarkFlagRequired("member")
	_ = add.MarkFlagRequired("role")

	var rf txFlags
	var rmember, rorg string
	remove := &cobra.Command{
		Use:   "remove-member",
		Short: "Remove --member from your organization",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return sendTx(cmd, g, &rf, false, func(tc *txContext) ([]module.Msg, client.Signer, error) {
				o, err := signerOrg(tc, rorg, org.RoleAdmin)
				if err != nil {
					return nil, nil, err
				}
				return []module.Msg{&org.MsgRemoveMember{Org: o, Member: rmember}}, nil, nil
			}, nil)
		},
	}
	rf.register(remove)
	remove.Flags().StringVar(&rmember, "member", "", "DID of the member")
	remove.Flags().StringVar(&rorg, "org", "", "organization id (default: the one --from administers)")
	_ = remove.MarkFlagRequired("member")

	var pf txFlags
	var p org.MsgSubmitProposal
	var valKey string
	var power uint64
	propose := &cobra.Command{
		Use:   "propose KIND",
		Short: "Propose admit_org, remove_org or set_validator; it passes when more than 2/3 of member organizations approve",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return sendTx(cmd, g, &pf, false, func(tc *txContext) ([]module.Msg, client.Signer, error) {
				var err error
				m := p
				m.Kind, m.Power = args[0], power
				if m.ValidatorKey, err = parseValidatorKey(valKey); err != nil {
					return nil, nil, err
				}
				if m.ProposerOrg, err = signerOrg(tc, p.ProposerOrg, org.RoleAdmin); err != nil {
					return nil, nil, err
				}
				return []module.Msg{&m}, nil, nil
			}, nil)
		},
	}
	pf.register(propose)
	propose.Flags().StringVar(&p.ProposerOrg, "proposer-org", "", "your organization (default: the one --from administers)")
	propose.Flags().StringVar(&p.Org, "org", "", "the organization the proposal is about")
	propose.Flags().StringVar(&p.Name, "name", "", "admit_org: organization name")
	propose.Flags().StringVar(&p.OrgType, "type", "", "admit_org: "+strings.Join(org.OrgTypes, ", "))
	propose.Flags().StringVar(&p.Admin, "admin", "", "admit_org: DID of the first admin")
	propose.Flags().StringVar(&valKey, "validator-key", "", "validator Ed25519 public key (hex or base64)")
	propose.Flags().Uint64Var(&power, "power", 0, "validator voting power (0 removes, with set_validator)")

	var vf txFlags
	var vorg string
	var reject bool
	vote := &cobra.Command{
		Use:   "vote PROPOSAL_ID",
		Short: "Approve (default) or --reject a proposal for your organization",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var id uint64
			if _, err := fmt.Sscan(args[0], &id); err != nil || id == 0 {
				return fmt.Errorf("proposal id %q is not a positive integer", args[0])
			}
			return sendTx(cmd, g, &vf, false, func(tc *txContext) ([]module.Msg, client.Signer, error) {
				o, err := signerOrg(tc, vorg, org.RoleAdmin)
				if err != nil {
					return nil, nil, err
				}
				return []module.Msg{&org.MsgVote{ProposalID: id, Org: o, Approve: !reject}}, nil, nil
			}, nil)
		},
	}
	vf.register(vote)
	vote.Flags().StringVar(&vorg, "org", "", "the voting organization (default: the one --from administers)")
	vote.Flags().BoolVar(&reject, "reject", false, "vote against")
	cmd.AddCommand(add, remove, propose, vote)
	return cmd
}
