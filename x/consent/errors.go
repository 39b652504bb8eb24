package consent

import "github.com/medchain/medchain/module"

// Errors of the consent module (codespace "consent").
var (
	ErrInvalidMsg      = module.NewError(StoreName, 2, "invalid consent message")
	ErrNotFound        = module.NewError(StoreName, 3, "consent not found")
	ErrUnauthorized    = module.NewError(StoreName, 4, "signer may not manage this patient's consents")
	ErrNotActive       = module.NewError(StoreName, 5, "consent is not active")
	ErrUnknownIdentity = module.NewError(StoreName, 6, "identity is not registered or is deactivated")
	ErrBadCondition    = module.NewError(StoreName, 7, "consent condition does not compile to a boolean CEL expression")
	ErrUnknownOrg      = module.NewError(StoreName, 8, "organization not found or removed")
)

func allErrors() []*module.Error {
	return []*module.Error{ErrInvalidMsg, ErrNotFound, ErrUnauthorized, ErrNotActive, ErrUnknownIdentity, ErrBadCondition, ErrUnknownOrg}
}
