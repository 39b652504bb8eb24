package identity

import "github.com/medchain/medchain/module"

// Errors of the identity module (codespace "identity").
var (
	ErrInvalidMsg   = module.NewError(StoreName, 2, "invalid identity message")
	ErrExists       = module.NewError(StoreName, 3, "identity already registered")
	ErrNotFound     = module.NewError(StoreName, 4, "identity not found")
	ErrDeactivated  = module.NewError(StoreName, 5, "identity is deactivated")
	ErrUnauthorized = module.NewError(StoreName, 6, "signer may not change this identity")
	ErrBadProof     = module.NewError(StoreName, 7, "proof of possession of the new key is invalid")
	ErrKeyInUse     = module.NewError(StoreName, 8, "key is already used by this identity")
)

func allErrors() []*module.Error {
	return []*module.Error{ErrInvalidMsg, ErrExists, ErrNotFound, ErrDeactivated, ErrUnauthorized, ErrBadProof, ErrKeyInUse}
}
