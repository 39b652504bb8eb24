// Package consent is the patient consent module: patients (or their
// guardians) grant a person, an organization, or a role within an
// organization access to their records, scoped by FHIR resource types,
// record ids and categories, for HL7 purposes of use, within a validity
// period judged by block time, optionally under a CEL condition evaluated
// deterministically on chain. Revocation takes effect from the height it
// commits. See README.md.
package consent

import (
	"encoding/json"

	"github.com/medchain/medchain/module"
)

// Module is the consent module.
type Module struct {
	Keeper Keeper
}

// New returns the consent module.
func New(ids IdentityChecker, orgs OrgChecker) *Module {
	return &Module{Keeper: Keeper{ids: ids, orgs: orgs}}
}

var _ module.Module = (*Module)(nil)

// Name implements module.Module.
func (*Module) Name() string { return StoreName }

// Errors implements module.Module.
func (*Module) Errors() []*module.Error { return allErrors() }

// MsgTypes implements module.Module.
func (m *Module) MsgTypes() []module.MsgType {
	return []module.MsgType{
		{TypeURL: TypeGrant, Decode: decodeGrant, Handler: m.Keeper.grant},
		{TypeURL: TypeRevoke, Decode: decodeRevoke, Handler: m.Keeper.revoke},
		{TypeURL: TypeSetGuardian, Decode: decodeSetGuardian, Handler: m.Keeper.setGuardian},
	}
}

// InitGenesis implements module.Module; consent has no genesis state.
func (*Module) InitGenesis(*module.Context, json.RawMessage) error { return nil }
