package envelope

import (
	"errors"
	"fmt"
)

// Errors returned by this package. Every error returned wraps exactly one of
// them (test with errors.Is); the message after the sentinel's text says what
// was wrong but never contains plaintext or key material.
var (
	// ErrMalformed: the envelope or its encoding is not well formed (bad
	// lengths, an unsupported KEM, a non-canonical or truncated encoding,
	// duplicate key ids, a nil envelope).
	ErrMalformed = errors.New("envelope: malformed")
	// ErrTampered: authentication failed. The envelope was modified, was
	// sealed for another AD (record, version, patient or resource type), its
	// wrapped key was made for another envelope, or the private key given is
	// not the one the key id names. No plaintext is returned.
	ErrTampered = errors.New("envelope: authentication failed")
	// ErrNoKey: the envelope has no wrapped key for the key id asked for (for
	// example after [Shred]), the key is wrapped for another KEM than the
	// private key's, or no private key was given.
	ErrNoKey = errors.New("envelope: no wrapped key")
	// ErrInvalidAD: an [AD] given by the caller breaks the rules of
	// [AD.Validate].
	ErrInvalidAD = errors.New("envelope: invalid additional data")
	// ErrInvalidRecipient: a [Recipient] has an invalid key id, an
	// unsupported KEM or a public key that is not a valid key for its KEM,
	// two recipients share a key id, or there are none.
	ErrInvalidRecipient = errors.New("envelope: invalid recipient")
	// ErrSealerClosed: [Sealer.Seal] was called after [Sealer.Close].
	ErrSealerClosed = errors.New("envelope: sealer closed")
)

func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
