package records

import (
	"time"

	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/org"
)

// IdentityChecker is what records needs from the identity module.
type IdentityChecker interface {
	IsActive(r store.Reader, did string) bool
}

// OrgReader is what records needs from the org module.
type OrgReader interface {
	IsActiveOrg(r store.Reader, org string) bool
	HasRole(r store.Reader, did, org, role string) bool
	HasAnyRole(r store.Reader, did, org string, roles ...string) bool
	Memberships(r store.Reader, did string) []*org.Member
}

// ConsentReader is what records needs from the consent module.
type ConsentReader interface {
	MayManage(r store.Reader, patient, did string) bool
	Guardians(r store.Reader, patient string) []string
	Find(r store.Reader, patient string, req consent.Requester, purpose string, rec consent.Record, t time.Time) *consent.Consent
}

// Store names the keepers read.
const (
	IdentityStore = "identity"
	OrgStore      = "org"
	ConsentStore  = "consent"
)
