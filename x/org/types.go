package org

import (
	"slices"
	"time"
)

// Organization types.
var OrgTypes = []string{
	"hospital", "clinic", "laboratory", "pharmacy", "manufacturer", "distributor",
	"insurer", "regulator", "licensing-board", "public-health-agency",
}

// Roles a member can hold. RoleAdmin may manage members and vote for the
// organization; later modules check the others through HasRole.
const (
	RoleAdmin        = "admin"
	RolePractitioner = "practitioner"
	RoleNurse        = "nurse"
	RolePharmacist   = "pharmacist"
	RoleLabTech      = "lab-technician"
	RoleStaff        = "staff"
	RoleEmergency    = "emergency"
	RoleAuditor      = "auditor"
	RoleBilling      = "billing"
	RoleResearcher   = "researcher"
	// RoleVault is an organization's node service identity: its vault signs
	// record anchors and access requests on behalf of authenticated members
	// and patients, and confirms erasures.
	RoleVault = "vault"
)

// Roles lists every role, sorted.
var Roles = []string{RoleAdmin, RoleAuditor, RoleBilling, RoleEmergency, RoleLabTech, RoleNurse, RolePharmacist, RolePractitioner, RoleResearcher, RoleStaff, RoleVault}

// ValidRole reports whether r is a known role.
func ValidRole(r string) bool { return slices.Contains(Roles, r) }

// ValidType reports whether t is a known organization type.
func ValidType(t string) bool { return slices.Contains(OrgTypes, t) }

// Org statuses.
const (
	StatusActive  = "active"
	StatusRemoved = "removed"
)

// Org is a member organization of the consortium.
type Org struct {
	ID             string      `json:"id"`
	Name           string      `json:"name"`
	Type           string      `json:"type"`
	Status         string      `json:"status"`
	AdmittedHeight int64       `json:"admitted_height"`
	RemovedHeight  int64       `json:"removed_height,omitempty"`
	Validators     []Validator `json:"validators"`
	// GS1 data (issue 5): company prefixes the organization owns (set at
	// genesis or by a set_gs1_prefixes proposal), its party GLN and its
	// location GLNs (set by its admin, MsgSetGLNs).
	GS1Prefixes  []string `json:"gs1_prefixes,omitempty"`  // sorted
	PartyGLN     string   `json:"party_gln,omitempty"`     // 13 digits
	LocationGLNs []string `json:"location_glns,omitempty"` // sorted
}

// Validator is one CometBFT validator run by an organization.
type Validator struct {
	PubKey []byte `json:"pub_key"` // Ed25519, 32 bytes
	Power  int64  `json:"power"`
}

// Power returns the organization's total voting power.
func (o *Org) Power() int64 {
	var p int64
	for _, v := range o.Validators {
		p += v.Power
	}
	return p
}

// Member is a DID's membership in an organization.
type Member struct {
	DID         string   `json:"did"`
	Org         string   `json:"org"`
	Roles       []string `json:"roles"` // sorted, unique
	AddedHeight int64    `json:"added_height"`
	AddedBy     string   `json:"added_by,omitempty"`
}

// HasRole reports whether the member holds role.
func (m *Member) HasRole(role string) bool { return slices.Contains(m.Roles, role) }

// Proposal kinds.
const (
	KindAdmitOrg     = "admit_org"
	KindRemoveOrg    = "remove_org"
	KindSetValidator = "set_validator"
	// KindSetPrefixes replaces an organization's GS1 company prefixes.
	KindSetPrefixes = "set_gs1_prefixes"
)

// Proposal statuses.
const (
	ProposalVoting   = "voting"
	ProposalPassed   = "passed"   // approved and executed
	ProposalRejected = "rejected" // can no longer reach the threshold
	ProposalFailed   = "failed"   // approved, but execution was refused
	ProposalExpired  = "expired"
)

// Proposal is a governance proposal. It passes when more than two thirds of
// its electorate (the organizations active when it was submitted) approve.
type Proposal struct {
	ID              uint64    `json:"id"`
	Kind            string    `json:"kind"`
	ProposerOrg     string    `json:"proposer_org"`
	Proposer        string    `json:"proposer"`
	Org             string    `json:"org"`
	Name            string    `json:"name,omitempty"`
	OrgType         string    `json:"org_type,omitempty"`
	Admin           string    `json:"admin,omitempty"`
	ValidatorKey    []byte    `json:"validator_key,omitempty"`
	Power           int64     `json:"power,omitempty"`
	Prefixes        []string  `json:"gs1_prefixes,omitempty"` // set_gs1_prefixes
	Electorate      []string  `json:"electorate"`             // sorted org ids
	Votes           []Vote    `json:"votes"`
	Status          string    `json:"status"`
	Result          string    `json:"result,omitempty"`
	SubmittedHeight int64     `json:"submitted_height"`
	Submitted       time.Time `json:"submitted"`
	Deadline        time.Time `json:"deadline"`
	DecidedHeight   int64     `json:"decided_height,omitempty"`
}

// Vote is one organization's vote.
type Vote struct {
	Org     string `json:"org"`
	Voter   string `json:"voter"`
	Approve bool   `json:"approve"`
	Height  int64  `json:"height"`
}

// Tally counts approvals and rejections.
func (p *Proposal) Tally() (yes, no int) {
	for _, v := range p.Votes {
		if v.Approve {
			yes++
		} else {
			no++
		}
	}
	return yes, no
}

// Passes reports whether yes approvals out of n electors exceed two thirds.
func Passes(yes, n int) bool { return 3*yes > 2*n }

// Params are the module's consensus parameters.
type Params struct {
	// VotingPeriod is how long a proposal stays open, judged by block time.
	VotingPeriod time.Duration `json:"voting_period"`
}

// DefaultParams returns the default parameters.
func DefaultParams() Params { return Params{VotingPeriod: 7 * 24 * time.Hour} }
