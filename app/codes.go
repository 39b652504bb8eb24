package app

import "github.com/medchain/medchain/module"

// Codespace of the admission checks that apply to every transaction.
const Codespace = "tx"

// Admission rejections (codespace "tx"). CheckTx returns them without
// changing anything; FinalizeBlock returns them for a transaction a faulty
// proposer included, again without changing anything.
var (
	ErrInternal         = module.NewError(Codespace, 1, "internal error")
	ErrDecode           = module.NewError(Codespace, 2, "undecodable transaction")
	ErrNonCanonical     = module.NewError(Codespace, 3, "non-canonical transaction encoding")
	ErrTooLarge         = module.NewError(Codespace, 4, "transaction too large")
	ErrWrongChain       = module.NewError(Codespace, 5, "wrong chain id")
	ErrBadSignature     = module.NewError(Codespace, 6, "signature verification failed")
	ErrUnknownSigner    = module.NewError(Codespace, 7, "unknown signer")
	ErrSignerInactive   = module.NewError(Codespace, 8, "signer is deactivated")
	ErrSequenceReused   = module.NewError(Codespace, 9, "sequence already used")
	ErrSequenceFuture   = module.NewError(Codespace, 10, "sequence out of order")
	ErrUnknownMsg       = module.NewError(Codespace, 11, "unknown message type")
	ErrInvalidMsg       = module.NewError(Codespace, 12, "message failed validation")
	ErrNoMsgs           = module.NewError(Codespace, 13, "transaction has no messages")
	ErrTooManyMsgs      = module.NewError(Codespace, 14, "transaction has too many messages")
	ErrSignerKeyRotated = module.NewError(Codespace, 15, "signer key has been rotated away")
)

// AdmissionErrors lists the admission errors, for documentation and the
// uniqueness test.
func AdmissionErrors() []*module.Error {
	return []*module.Error{ErrInternal, ErrDecode, ErrNonCanonical, ErrTooLarge, ErrWrongChain, ErrBadSignature,
		ErrUnknownSigner, ErrSignerInactive, ErrSequenceReused, ErrSequenceFuture, ErrUnknownMsg, ErrInvalidMsg,
		ErrNoMsgs, ErrTooManyMsgs, ErrSignerKeyRotated}
}
