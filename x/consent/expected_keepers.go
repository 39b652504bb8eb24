package consent

import "github.com/medchain/medchain/store"

// IdentityChecker is what consent needs from the identity module.
type IdentityChecker interface {
	IsActive(r store.Reader, did string) bool
}

// OrgChecker is what consent needs from the org module.
type OrgChecker interface {
	// IsActiveOrg reports whether org exists and is active.
	IsActiveOrg(r store.Reader, org string) bool
}

// Store names the keepers read.
const (
	IdentityStore = "identity"
	OrgStore      = "org"
)
