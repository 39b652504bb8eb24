package org

import "github.com/medchain/medchain/module"

// Errors of the org module (codespace "org").
var (
	ErrInvalidMsg       = module.NewError(StoreName, 2, "invalid organization message")
	ErrOrgNotFound      = module.NewError(StoreName, 3, "organization not found")
	ErrOrgExists        = module.NewError(StoreName, 4, "organization already exists")
	ErrNotAdmin         = module.NewError(StoreName, 5, "signer is not an admin of the organization")
	ErrUnknownIdentity  = module.NewError(StoreName, 6, "identity is not registered or is deactivated")
	ErrMemberNotFound   = module.NewError(StoreName, 7, "member not found")
	ErrLastAdmin        = module.NewError(StoreName, 8, "an organization must keep at least one admin")
	ErrProposalNotFound = module.NewError(StoreName, 9, "proposal not found")
	ErrNotVoting        = module.NewError(StoreName, 10, "proposal is not open for voting")
	ErrNotElector       = module.NewError(StoreName, 11, "organization may not vote on this proposal")
	ErrAlreadyVoted     = module.NewError(StoreName, 12, "organization has already voted")
	ErrPowerCap         = module.NewError(StoreName, 13, "change would give one organization a third or more of the voting power")
	ErrValidatorKey     = module.NewError(StoreName, 14, "validator key is invalid or belongs to another organization")
	ErrNoValidators     = module.NewError(StoreName, 15, "change would leave the network without validators")
	ErrOrgInactive      = module.NewError(StoreName, 16, "organization has been removed")
	ErrGS1Taken         = module.NewError(StoreName, 17, "GS1 prefix or GLN belongs to another organization")
)

func allErrors() []*module.Error {
	return []*module.Error{ErrInvalidMsg, ErrOrgNotFound, ErrOrgExists, ErrNotAdmin, ErrUnknownIdentity,
		ErrMemberNotFound, ErrLastAdmin, ErrProposalNotFound, ErrNotVoting, ErrNotElector, ErrAlreadyVoted,
		ErrPowerCap, ErrValidatorKey, ErrNoValidators, ErrOrgInactive, ErrGS1Taken}
}
