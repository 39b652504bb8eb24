package consent

import (
	"slices"
	"time"
)

// Purposes of use (HL7 v3 PurposeOfUse codes) a consent can allow.
const (
	PurposeTreatment          = "TREAT"
	PurposeEmergencyTreatment = "ETREAT"
	PurposePayment            = "HPAYMT"
	PurposeOperations         = "HOPERAT"
	PurposeResearch           = "HRESCH"
	PurposePublicHealth       = "PUBHLTH"
)

// Purposes lists every purpose of use, sorted.
var Purposes = []string{PurposeEmergencyTreatment, PurposeOperations, PurposePayment, PurposeResearch, PurposePublicHealth, PurposeTreatment}

// ValidPurpose reports whether p is a known purpose of use.
func ValidPurpose(p string) bool { return slices.Contains(Purposes, p) }

// Grantee kinds.
const (
	GranteeDID  = "did"  // one person or service, by DID
	GranteeOrg  = "org"  // every member of an organization
	GranteeRole = "role" // members of an organization holding a role
)

// Grantee is who a consent is for.
type Grantee struct {
	Kind string `json:"kind"`
	DID  string `json:"did,omitempty"`
	Org  string `json:"org,omitempty"`
	Role string `json:"role,omitempty"`
}

// Consent statuses.
const (
	StatusActive  = "active"
	StatusRevoked = "revoked"
)

// Consent is a patient's permission for a grantee to read some of their
// records for some purposes during a period. Empty scope lists mean "any"
// in that dimension; a consent must name at least one purpose.
type Consent struct {
	ID            uint64    `json:"id"`
	Patient       string    `json:"patient"`
	Grantee       Grantee   `json:"grantee"`
	ResourceTypes []string  `json:"resource_types,omitempty"`
	RecordIDs     []string  `json:"record_ids,omitempty"`
	Categories    []string  `json:"categories,omitempty"`
	Purposes      []string  `json:"purposes"`
	NotBefore     time.Time `json:"not_before"`
	NotAfter      time.Time `json:"not_after,omitempty"` // zero: no end
	Condition     string    `json:"condition,omitempty"` // CEL
	Status        string    `json:"status"`
	GrantedBy     string    `json:"granted_by"`
	CreatedHeight int64     `json:"created_height"`
	RevokedHeight int64     `json:"revoked_height,omitempty"`
	RevokedBy     string    `json:"revoked_by,omitempty"`
}

// ActiveAt reports whether the consent is in force at block time t.
func (c *Consent) ActiveAt(t time.Time) bool {
	return c.Status == StatusActive && !t.Before(c.NotBefore) && (c.NotAfter.IsZero() || t.Before(c.NotAfter))
}

// Guardians are the DIDs allowed to manage a patient's consents.
type Guardians struct {
	Patient   string   `json:"patient"`
	Guardians []string `json:"guardians"` // sorted
}
