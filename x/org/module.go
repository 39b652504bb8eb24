// Package org is the organizations and governance module: the consortium's
// member organizations, their members and roles (with the HasRole check that
// every later module uses), and proposals that admit or remove organizations
// and change the validator set when more than two thirds of the member
// organizations approve. See README.md.
package org

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Module is the org module.
type Module struct {
	Keeper Keeper
}

// New returns the org module, which checks identities through ids.
func New(ids IdentityChecker) *Module { return &Module{Keeper: Keeper{ids: ids}} }

var _ module.Module = (*Module)(nil)

// Name implements module.Module.
func (*Module) Name() string { return StoreName }

// Errors implements module.Module.
func (*Module) Errors() []*module.Error { return allErrors() }

// MsgTypes implements module.Module.
func (m *Module) MsgTypes() []module.MsgType {
	return []module.MsgType{
		{TypeURL: TypeAddMember, Decode: decodeAddMember, Handler: m.Keeper.addMember},
		{TypeURL: TypeRemoveMember, Decode: decodeRemoveMember, Handler: m.Keeper.removeMember},
		{TypeURL: TypeSubmitProposal, Decode: decodeSubmitProposal, Handler: m.Keeper.submitProposal},
		{TypeURL: TypeVote, Decode: decodeVote, Handler: m.Keeper.vote},
		{TypeURL: TypeSetGLNs, Decode: decodeSetGLNs, Handler: m.Keeper.setGLNs},
	}
}

// Genesis is the org section of the genesis app state.
type Genesis struct {
	Params *Params      `json:"params,omitempty"`
	Orgs   []GenesisOrg `json:"orgs"`
}

// GenesisOrg is a founding organization.
type GenesisOrg struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Admins     []string        `json:"admins"`
	Members    []GenesisMember `json:"members,omitempty"`
	Validators []Validator     `json:"validators"`
	// GS1 data: company prefixes owned (sorted, unique), party GLN and
	// location GLNs (sorted, unique).
	GS1Prefixes  []string `json:"gs1_prefixes,omitempty"`
	PartyGLN     string   `json:"party_gln,omitempty"`
	LocationGLNs []string `json:"location_glns,omitempty"`
}

// GenesisMember is a member present from genesis.
type GenesisMember struct {
	DID   string   `json:"did"`
	Roles []string `json:"roles"`
}

// InitGenesis implements module.Module. Identities named here must already
// be in the identity section.
func (m *Module) InitGenesis(ctx *module.Context, raw json.RawMessage) error {
	var g Genesis
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &g); err != nil {
			return fmt.Errorf("org genesis: %w", err)
		}
	}
	if len(g.Orgs) == 0 {
		return fmt.Errorf("org genesis: at least one founding organization is required")
	}
	kv := ctx.Store(StoreName)
	if g.Params != nil {
		if g.Params.VotingPeriod <= 0 {
			return fmt.Errorf("org genesis: voting_period must be positive")
		}
		store.SetJSON(kv, keyParams, g.Params)
	}
	k := m.Keeper
	var powers []orgPower
	for _, go_ := range g.Orgs {
		if !ValidOrgID(go_.ID) || !ValidType(go_.Type) || go_.Name == "" {
			return fmt.Errorf("org genesis: organization %q: invalid id, type or name", go_.ID)
		}
		if kv.Has(orgKey(go_.ID)) {
			return fmt.Errorf("org genesis: organization %q listed twice", go_.ID)
		}
		if len(go_.Admins) == 0 {
			return fmt.Errorf("org genesis: organization %q needs an admin", go_.ID)
		}
		o := &Org{ID: go_.ID, Name: go_.Name, Type: go_.Type, Status: StatusActive, AdmittedHeight: ctx.Height, Validators: slices.Clone(go_.Validators)}
		if o.Validators == nil {
			o.Validators = []Validator{}
		}
		slices.SortFunc(o.Validators, func(a, b Validator) int { return bytes.Compare(a.PubKey, b.PubKey) })
		for _, v := range o.Validators {
			if len(v.PubKey) != 32 || v.Power <= 0 || v.Power > maxPower {
				return fmt.Errorf("org genesis: organization %q: invalid validator", o.ID)
			}
			if kv.Has(valOwnerKey(v.PubKey)) {
				return fmt.Errorf("org genesis: validator key used twice")
			}
			kv.Set(valOwnerKey(v.PubKey), []byte(o.ID))
		}
		if err := validPrefixes(go_.GS1Prefixes); err != nil {
			return fmt.Errorf("org genesis: organization %q: %w", o.ID, err)
		}
		for _, p := range go_.GS1Prefixes {
			if owner := k.PrefixOwnerOf(kv, p); owner != "" {
				return fmt.Errorf("org genesis: GS1 prefix %s overlaps one of %q", p, owner)
			}
			kv.Set(gs1PrefixKey(p), []byte(o.ID))
		}
		o.GS1Prefixes = slices.Clone(go_.GS1Prefixes)
		gm := &MsgSetGLNs{Org: o.ID, PartyGLN: go_.PartyGLN, LocationGLNs: go_.LocationGLNs}
		if err := gm.ValidateBasic(); err != nil {
			return fmt.Errorf("org genesis: %w", err)
		}
		if err := k.putGLNs(kv, o, gm); err != nil {
			return fmt.Errorf("org genesis: %w", err)
		}
		store.SetJSON(kv, orgKey(o.ID), o)
		powers = append(powers, orgPower{o.ID, o.Power()})
		members := slices.Clone(go_.Members)
		for _, a := range go_.Admins {
			members = append(members, GenesisMember{DID: a, Roles: []string{RoleAdmin}})
		}
		for _, gm := range members {
			if !k.ids.IsActive(ctx.Store(IdentityStore), gm.DID) {
				return fmt.Errorf("org genesis: organization %q: %s is not in the identity genesis", o.ID, gm.DID)
			}
			mem, err := k.Member(kv, o.ID, gm.DID)
			if err != nil {
				mem = &Member{DID: gm.DID, Org: o.ID, AddedHeight: ctx.Height, AddedBy: "genesis"}
			}
			mem.Roles = SortRoles(append(mem.Roles, gm.Roles...))
			for _, r := range mem.Roles {
				if !ValidRole(r) {
					return fmt.Errorf("org genesis: unknown role %q", r)
				}
			}
			k.putMember(kv, mem)
		}
	}
	if err := CheckPowerCap(powers); err != nil {
		return fmt.Errorf("org genesis: %w", err)
	}
	return nil
}
