// Package supply is the on-chain side of the drug and device supply chain
// (issue 5): products registered by GTIN under their owner's GS1 company
// prefix, lots with expiry and storage temperature range, serialized units
// with exactly one custodian and one status, custody changes driven by
// normalized GS1 EPCIS 2.0 events (commissioning, packing, shipping,
// receiving, dispensing, decommissioning, destroying, theft), counterfeit
// and diversion alerts, lazy recalls with per-holder notice lists, cold
// chain excursions and DSCSA-style verification. See README.md and ADRs
// 0004, 0005 and 0010.
package supply

import (
	"encoding/json"
	"fmt"

	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
)

// Module is the supply module.
type Module struct {
	Keeper Keeper
}

// New returns the supply module, which reads organizations through orgs.
func New(orgs OrgReader) *Module { return &Module{Keeper: Keeper{orgs: orgs}} }

var _ module.Module = (*Module)(nil)

// Name implements module.Module.
func (*Module) Name() string { return StoreName }

// Errors implements module.Module.
func (*Module) Errors() []*module.Error { return allErrors() }

// MsgTypes implements module.Module.
func (m *Module) MsgTypes() []module.MsgType {
	return []module.MsgType{
		{TypeURL: TypeRegisterProduct, Decode: decodeRegisterProduct, Handler: m.Keeper.registerProduct},
		{TypeURL: TypeRegisterLot, Decode: decodeRegisterLot, Handler: m.Keeper.registerLot},
		{TypeURL: TypeCapture, Decode: decodeCapture, Handler: m.Keeper.capture},
		{TypeURL: TypeRecall, Decode: decodeRecall, Handler: m.Keeper.recall},
	}
}

// Genesis is the supply section of the genesis app state.
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
		return fmt.Errorf("supply genesis: %w", err)
	}
	if g.Params != nil {
		p := *g.Params
		if p.MaxTransit <= 0 || p.MaxEventsPerCapture <= 0 || p.MaxEPCsPerCapture <= 0 {
			return fmt.Errorf("supply genesis: params must be positive")
		}
		store.SetJSON(ctx.Store(StoreName), keyParams, &p)
	}
	return nil
}

var _ module.IndexUser = (*Module)(nil)

// IndexStores implements module.IndexUser: the unit index, IndexStoreName.
func (*Module) IndexStores() []string { return []string{IndexStoreName} }
