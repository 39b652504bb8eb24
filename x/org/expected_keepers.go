package org

import "github.com/medchain/medchain/store"

// IdentityChecker is what the org module needs from the identity module.
type IdentityChecker interface {
	// IsActive reports whether did is registered and not deactivated, reading
	// the identity store r.
	IsActive(r store.Reader, did string) bool
}

// IdentityStore names the store the IdentityChecker reads.
const IdentityStore = "identity"
