package supply

import (
	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/x/org"
)

// OrgReader is what the supply module needs from the org module.
type OrgReader interface {
	Org(r store.Reader, id string) (*org.Org, error)
	IsActiveOrg(r store.Reader, org string) bool
	HasRole(r store.Reader, did, org, role string) bool
	// PrefixOwner returns the organization owning the GS1 company prefix
	// that begins digits, and that prefix.
	PrefixOwner(r store.Reader, digits string) (orgID, prefix string)
	// OrgByGLN returns the organization whose party or location GLN gln is.
	OrgByGLN(r store.Reader, gln string) string
}

// OrgStore names the store the OrgReader reads.
const OrgStore = "org"

// RegulatorType is the organization type whose members may recall any
// product and see every alert and every trade detail.
const RegulatorType = "regulator"

// Roles: who in an organization may do what.
var (
	// CaptureRoles may capture EPCIS events for their organization.
	CaptureRoles = []string{org.RoleAdmin, org.RolePharmacist, org.RoleStaff, org.RoleVault}
	// RegisterRoles may register products and lots.
	RegisterRoles = []string{org.RoleAdmin, org.RoleStaff}
	// RecallRoles may recall products for the owner or a regulator.
	RecallRoles = []string{org.RoleAdmin, org.RoleStaff, org.RoleAuditor}
)
