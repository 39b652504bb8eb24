package records

import "github.com/medchain/medchain/module"

// Errors of the records module (codespace "records").
var (
	ErrInvalidMsg      = module.NewError(StoreName, 2, "invalid records message")
	ErrUnknownIdentity = module.NewError(StoreName, 3, "identity is not registered or is deactivated")
	ErrNotAuthor       = module.NewError(StoreName, 4, "signer may not write records for this organization")
	ErrVersion         = module.NewError(StoreName, 5, "record version conflict")
	ErrNotFound        = module.NewError(StoreName, 6, "record not found")
	ErrErased          = module.NewError(StoreName, 7, "record has been erased")
	ErrUnauthorized    = module.NewError(StoreName, 8, "signer may not act for this patient")
	ErrNotMember       = module.NewError(StoreName, 9, "requester is not a member of the organization")
	ErrNoErasure       = module.NewError(StoreName, 10, "no pending erasure for this patient and organization")
	ErrUnknownOrg      = module.NewError(StoreName, 11, "organization not found or removed")
)

func allErrors() []*module.Error {
	return []*module.Error{ErrInvalidMsg, ErrUnknownIdentity, ErrNotAuthor, ErrVersion, ErrNotFound, ErrErased, ErrUnauthorized, ErrNotMember, ErrNoErasure, ErrUnknownOrg}
}
