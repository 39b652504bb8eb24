package records

import (
	"slices"
	"time"
)

// Anchor statuses.
const (
	StatusActive = "active"
	StatusErased = "erased"
)

// Anchor is the on-chain trace of one record: who it is about (a
// pseudonymous DID), which organization's vault holds it, and hashes that
// bind the off-chain ciphertext — never the content.
type Anchor struct {
	ID             string    `json:"id"`
	Patient        string    `json:"patient"`
	HolderOrg      string    `json:"holder_org"`
	Author         string    `json:"author"`
	Submitter      string    `json:"submitter,omitempty"` // the vault that signed, when not the author
	ResourceType   string    `json:"resource_type"`
	Category       string    `json:"category,omitempty"`
	Version        uint64    `json:"version"`
	CiphertextHash []byte    `json:"ciphertext_hash,omitempty"` // SHA-256 of the sealed envelope
	Commitment     []byte    `json:"commitment,omitempty"`      // salted SHA-256 of the content
	Status         string    `json:"status"`
	CreatedHeight  int64     `json:"created_height"`
	Created        time.Time `json:"created"`
	UpdatedHeight  int64     `json:"updated_height"`
	Updated        time.Time `json:"updated"`
	ErasedHeight   int64     `json:"erased_height,omitempty"`
}

// Decisions.
const (
	Permit = "permit"
	Deny   = "deny"
)

// Break-glass reason codes. Reasons are codes, not free text, so that no
// clinical detail ever reaches the chain.
var BreakGlassReasons = []string{"life-threatening", "other-emergency", "patient-unconscious", "unable-to-consent"}

// AccessEvent is the audit record of one access attempt, permitted or not.
// Vaults release data only against a permitted event, to its requester,
// for its records, before it expires.
type AccessEvent struct {
	ID           uint64    `json:"id"`
	Patient      string    `json:"patient"`
	Requester    string    `json:"requester"`
	Submitter    string    `json:"submitter,omitempty"` // the vault that asked on the requester's behalf
	RequesterOrg string    `json:"requester_org,omitempty"`
	Records      []string  `json:"records"`
	Purpose      string    `json:"purpose"`
	Decision     string    `json:"decision"`
	Basis        string    `json:"basis"` // patient, guardian, holder-org, consent:<id>, break-glass; or the deny reason
	BreakGlass   bool      `json:"break_glass,omitempty"`
	Reason       string    `json:"reason,omitempty"` // break-glass reason code
	Height       int64     `json:"height"`
	Time         time.Time `json:"time"`
	NotAfter     time.Time `json:"not_after,omitempty"` // a permit's expiry
}

// Permits reports whether the event lets requester read record at time t.
func (e *AccessEvent) Permits(requester, record string, t time.Time) bool {
	return e.Decision == Permit && e.Requester == requester && slices.Contains(e.Records, record) && t.Before(e.NotAfter)
}

// Erasure is a patient's erasure request and each holding organization's
// progress.
type Erasure struct {
	Patient         string       `json:"patient"`
	RequestedBy     string       `json:"requested_by"`
	RequestedHeight int64        `json:"requested_height"`
	Requested       time.Time    `json:"requested"`
	Orgs            []ErasureOrg `json:"orgs"` // sorted by org
}

// ErasureOrg is one vault's part of an erasure.
type ErasureOrg struct {
	Org         string   `json:"org"`
	Records     []string `json:"records"`
	Done        bool     `json:"done"`
	DoneHeight  int64    `json:"done_height,omitempty"`
	ConfirmedBy string   `json:"confirmed_by,omitempty"`
}

// Complete reports whether every organization has confirmed.
func (e *Erasure) Complete() bool {
	for _, o := range e.Orgs {
		if !o.Done {
			return false
		}
	}
	return true
}

// Params of the records module.
type Params struct {
	// AccessTTL is how long a permit lets the requester fetch the records.
	AccessTTL time.Duration `json:"access_ttl"`
	// BreakGlassTTL is how long an emergency access lasts.
	BreakGlassTTL time.Duration `json:"break_glass_ttl"`
}

// DefaultParams: 15 minutes for a permit, 1 hour for break-glass.
func DefaultParams() Params { return Params{AccessTTL: 15 * time.Minute, BreakGlassTTL: time.Hour} }

// AuthorRoles may write clinical records for their organization's patients.
var AuthorRoles = []string{"lab-technician", "nurse", "pharmacist", "practitioner"}

// CareRoles may read the records their own organization holds, for
// treatment and operations, without a consent.
var CareRoles = []string{"emergency", "lab-technician", "nurse", "pharmacist", "practitioner"}

// VaultRoles may confirm erasures for their organization's vault.
var VaultRoles = []string{"admin", "vault"}
