// Package identity is the self-sovereign identity module: DIDs of the form
// did:medchain:<id> with an Ed25519 signing key and an HPKE encryption key,
// key rotation with history, and deactivation. See README.md for the state
// layout, messages and their failure cases.
package identity

import (
	"encoding/json"
	"fmt"

	"github.com/medchain/medchain/module"
)

// Module is the identity module.
type Module struct {
	Keeper Keeper
}

// New returns the identity module.
func New() *Module { return &Module{Keeper: Keeper{signers: newSignerCache()}} }

var _ module.Module = (*Module)(nil)

// Name implements module.Module.
func (*Module) Name() string { return StoreName }

// Errors implements module.Module.
func (*Module) Errors() []*module.Error { return allErrors() }

// MsgTypes implements module.Module.
func (m *Module) MsgTypes() []module.MsgType {
	return []module.MsgType{
		{TypeURL: TypeRegister, Decode: decodeRegister, Handler: m.Keeper.register},
		{TypeURL: TypeRotateKey, Decode: decodeRotate, Handler: m.Keeper.rotate},
		{TypeURL: TypeDeactivate, Decode: decodeDeactivate, Handler: m.Keeper.deactivate},
	}
}

// Genesis is the identity section of the genesis app state.
type Genesis struct {
	Identities []GenesisIdentity `json:"identities"`
}

// GenesisIdentity is an identity present from the first block.
type GenesisIdentity struct {
	SigningKey    []byte `json:"signing_key"`
	EncryptionKey []byte `json:"encryption_key"`
	KEM           uint16 `json:"kem"`
}

// InitGenesis implements module.Module.
func (m *Module) InitGenesis(ctx *module.Context, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var g Genesis
	if err := json.Unmarshal(raw, &g); err != nil {
		return fmt.Errorf("identity genesis: %w", err)
	}
	kv := ctx.Store(StoreName)
	for i, gi := range g.Identities {
		msg := &MsgRegister{SigningKey: gi.SigningKey, EncryptionKey: gi.EncryptionKey, KEM: uint64(gi.KEM)}
		if err := msg.ValidateBasic(); err != nil {
			return fmt.Errorf("identity genesis: identity %d: %w", i, err)
		}
		did := msg.DID()
		if kv.Has(recordKey(did)) {
			return fmt.Errorf("identity genesis: %s listed twice", did)
		}
		m.Keeper.Import(kv, NewRecord(did, gi.SigningKey, gi.KEM, gi.EncryptionKey, ctx.Height, ctx.Time))
	}
	return nil
}
