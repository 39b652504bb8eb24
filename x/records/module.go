// Package records is the on-chain side of patient-controlled health
// records: anchors of encrypted records held in organizations' vaults
// (hashes and salted commitments only, never content), access requests
// decided against consent at the height they commit and recorded as an
// access event either way, break-glass emergency access, and erasure
// requests with per-vault receipts. See README.md.
package records

import (
	"encoding/json"

	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
)

// Module is the records module.
type Module struct {
	Keeper Keeper
}

// New returns the records module.
func New(ids IdentityChecker, orgs OrgReader, consents ConsentReader) *Module {
	return &Module{Keeper: Keeper{ids: ids, orgs: orgs, consents: consents}}
}

var _ module.Module = (*Module)(nil)

// Name implements module.Module.
func (*Module) Name() string { return StoreName }

// Errors implements module.Module.
func (*Module) Errors() []*module.Error { return allErrors() }

// MsgTypes implements module.Module.
func (m *Module) MsgTypes() []module.MsgType {
	return []module.MsgType{
		{TypeURL: TypeAnchor, Decode: decodeAnchor, Handler: m.Keeper.anchor},
		{TypeURL: TypeRequestAccess, Decode: decodeRequestAccess, Handler: m.Keeper.requestAccess},
		{TypeURL: TypeRequestErasure, Decode: decodeRequestErasure, Handler: m.Keeper.requestErasure},
		{TypeURL: TypeErasureReceipt, Decode: decodeErasureReceipt, Handler: m.Keeper.erasureReceipt},
	}
}

// Genesis is the records section of the genesis app state.
type Genesis struct {
	Params *Params `json:"params,omitempty"`
}

// InitGenesis implements module.Module.
func (m *Module) InitGenesis(ctx *module.Context, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var g Genesis
	if err := json.Unmarshal(raw, &g); err != nil {
		return err
	}
	if g.Params != nil {
		store.SetJSON(ctx.Store(StoreName), keyParams, g.Params)
	}
	return nil
}
