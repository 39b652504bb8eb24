package org

import (
	"crypto/ed25519"
	"slices"

	"github.com/medchain/medchain/internal/wire"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/x/identity"
)

// Type URLs of the org messages.
const (
	TypeAddMember      = "/medchain.org.v1.MsgAddMember"
	TypeRemoveMember   = "/medchain.org.v1.MsgRemoveMember"
	TypeSubmitProposal = "/medchain.org.v1.MsgSubmitProposal"
	TypeVote           = "/medchain.org.v1.MsgVote"
	TypeSetGLNs        = "/medchain.org.v1.MsgSetGLNs"
)

// MsgAddMember adds Member to Org with Roles, or replaces the roles of an
// existing member. The signer must be an admin of Org.
//
//	message MsgAddMember { string org = 1; string member = 2; repeated string roles = 3; }
type MsgAddMember struct {
	Org    string
	Member string
	Roles  []string // sorted, unique
}

func (m *MsgAddMember) TypeURL() string { return TypeAddMember }

func (m *MsgAddMember) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, m.Org)
	e.String(2, m.Member)
	e.Strings(3, m.Roles)
	return e.Bytes()
}

func (m *MsgAddMember) ValidateBasic() error {
	if !ValidOrgID(m.Org) {
		return ErrInvalidMsg.Wrapf("%q is not an organization id", m.Org)
	}
	if !identity.ValidDID(m.Member) {
		return ErrInvalidMsg.Wrapf("%q is not a medchain DID", m.Member)
	}
	if len(m.Roles) == 0 {
		return ErrInvalidMsg.Wrapf("at least one role is required (one of %v)", Roles)
	}
	for i, r := range m.Roles {
		if !ValidRole(r) {
			return ErrInvalidMsg.Wrapf("unknown role %q (one of %v)", r, Roles)
		}
		if i > 0 && m.Roles[i-1] >= r {
			return ErrInvalidMsg.Wrapf("roles must be sorted and unique")
		}
	}
	return nil
}

// SortRoles sorts and de-duplicates roles as MsgAddMember requires.
func SortRoles(roles []string) []string {
	r := slices.Clone(roles)
	slices.Sort(r)
	return slices.Compact(r)
}

func decodeAddMember(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2, 3)
	}
	m := &MsgAddMember{}
	if err == nil {
		m.Org, err = fs.String(1)
	}
	if err == nil {
		m.Member, err = fs.String(2)
	}
	if err == nil {
		m.Roles, err = fs.Strings(3)
	}
	return m, err
}

// MsgRemoveMember removes Member from Org. The signer must be an admin.
//
//	message MsgRemoveMember { string org = 1; string member = 2; }
type MsgRemoveMember struct {
	Org    string
	Member string
}

func (m *MsgRemoveMember) TypeURL() string { return TypeRemoveMember }

func (m *MsgRemoveMember) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, m.Org)
	e.String(2, m.Member)
	return e.Bytes()
}

func (m *MsgRemoveMember) ValidateBasic() error {
	if !ValidOrgID(m.Org) {
		return ErrInvalidMsg.Wrapf("%q is not an organization id", m.Org)
	}
	if !identity.ValidDID(m.Member) {
		return ErrInvalidMsg.Wrapf("%q is not a medchain DID", m.Member)
	}
	return nil
}

func decodeRemoveMember(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2)
	}
	m := &MsgRemoveMember{}
	if err == nil {
		m.Org, err = fs.String(1)
	}
	if err == nil {
		m.Member, err = fs.String(2)
	}
	return m, err
}

// MsgSubmitProposal opens a governance proposal on behalf of ProposerOrg,
// whose admin must sign; submitting counts as ProposerOrg's approval.
//
//	message MsgSubmitProposal {
//	  string proposer_org = 1; string kind = 2; string org = 3; string name = 4;
//	  string org_type = 5; string admin = 6; bytes validator_key = 7; uint64 power = 8;
//	  repeated string gs1_prefixes = 9;
//	}
type MsgSubmitProposal struct {
	ProposerOrg  string
	Kind         string   // admit_org, remove_org, set_validator
	Org          string   // the organization the proposal is about
	Name         string   // admit_org
	OrgType      string   // admit_org
	Admin        string   // admit_org: the first admin's DID
	ValidatorKey []byte   // admit_org (optional), set_validator
	Power        uint64   // admit_org (with ValidatorKey), set_validator (0 removes)
	Prefixes     []string // set_gs1_prefixes: the organization's GS1 company prefixes (sorted, unique; empty clears)
}

func (m *MsgSubmitProposal) TypeURL() string { return TypeSubmitProposal }

func (m *MsgSubmitProposal) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, m.ProposerOrg)
	e.String(2, m.Kind)
	e.String(3, m.Org)
	e.String(4, m.Name)
	e.String(5, m.OrgType)
	e.String(6, m.Admin)
	e.Blob(7, m.ValidatorKey)
	e.Uint64(8, m.Power)
	e.Strings(9, m.Prefixes)
	return e.Bytes()
}

// maxPower keeps total voting power far below CometBFT's limit.
const maxPower = 1 << 40

func (m *MsgSubmitProposal) ValidateBasic() error {
	if !ValidOrgID(m.ProposerOrg) {
		return ErrInvalidMsg.Wrapf("proposer org %q is not an organization id", m.ProposerOrg)
	}
	if !ValidOrgID(m.Org) {
		return ErrInvalidMsg.Wrapf("%q is not an organization id", m.Org)
	}
	if m.Power > maxPower {
		return ErrInvalidMsg.Wrapf("power %d exceeds %d", m.Power, uint64(maxPower))
	}
	if len(m.ValidatorKey) != 0 && len(m.ValidatorKey) != ed25519.PublicKeySize {
		return ErrInvalidMsg.Wrapf("validator key must be a %d-byte Ed25519 public key", ed25519.PublicKeySize)
	}
	none := func(what string, set bool) error {
		if set {
			return ErrInvalidMsg.Wrapf("%s does not apply to a %s proposal", what, m.Kind)
		}
		return nil
	}
	switch m.Kind {
	case KindAdmitOrg:
		if m.Name == "" || len(m.Name) > 200 {
			return ErrInvalidMsg.Wrapf("name must be 1 to 200 bytes")
		}
		if !ValidType(m.OrgType) {
			return ErrInvalidMsg.Wrapf("unknown organization type %q (one of %v)", m.OrgType, OrgTypes)
		}
		if !identity.ValidDID(m.Admin) {
			return ErrInvalidMsg.Wrapf("admin %q is not a medchain DID", m.Admin)
		}
		if (len(m.ValidatorKey) == 0) != (m.Power == 0) {
			return ErrInvalidMsg.Wrapf("give both a validator key and a power, or neither")
		}
	case KindRemoveOrg:
		for _, c := range []error{none("name", m.Name != ""), none("org type", m.OrgType != ""), none("admin", m.Admin != ""),
			none("validator key", len(m.ValidatorKey) != 0), none("power", m.Power != 0)} {
			if c != nil {
				return c
			}
		}
	case KindSetValidator:
		if len(m.ValidatorKey) == 0 {
			return ErrInvalidMsg.Wrapf("a set_validator proposal needs a validator key")
		}
		for _, c := range []error{none("name", m.Name != ""), none("org type", m.OrgType != ""), none("admin", m.Admin != "")} {
			if c != nil {
				return c
			}
		}
	case KindSetPrefixes:
		for _, c := range []error{none("name", m.Name != ""), none("org type", m.OrgType != ""), none("admin", m.Admin != ""),
			none("validator key", len(m.ValidatorKey) != 0), none("power", m.Power != 0)} {
			if c != nil {
				return c
			}
		}
		if err := validPrefixes(m.Prefixes); err != nil {
			return err
		}
	default:
		return ErrInvalidMsg.Wrapf("unknown proposal kind %q (admit_org, remove_org, set_validator or set_gs1_prefixes)", m.Kind)
	}
	if m.Kind != KindSetPrefixes && len(m.Prefixes) > 0 {
		return ErrInvalidMsg.Wrapf("GS1 prefixes only belong to a set_gs1_prefixes proposal")
	}
	return nil
}

func decodeSubmitProposal(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2, 3, 4, 5, 6, 7, 8, 9)
	}
	m := &MsgSubmitProposal{}
	for i, p := range []*string{&m.ProposerOrg, &m.Kind, &m.Org, &m.Name, &m.OrgType, &m.Admin} {
		if err == nil {
			*p, err = fs.String(wire.Number(i + 1))
		}
	}
	if err == nil {
		m.ValidatorKey, err = fs.Blob(7)
	}
	if err == nil {
		m.Power, err = fs.Uint64(8)
	}
	if err == nil {
		m.Prefixes, err = fs.Strings(9)
	}
	return m, err
}

// validPrefixes checks a sorted, unique list of GS1 company prefixes of
// which none starts another.
func validPrefixes(ps []string) error {
	if len(ps) > MaxPrefixes {
		return ErrInvalidMsg.Wrapf("at most %d GS1 company prefixes", MaxPrefixes)
	}
	for i, p := range ps {
		if !ValidCompanyPrefix(p) {
			return ErrInvalidMsg.Wrapf("GS1 company prefix %q: 6 to 12 digits", p)
		}
		if i > 0 && ps[i-1] >= p {
			return ErrInvalidMsg.Wrapf("GS1 company prefixes must be sorted and unique")
		}
		if i > 0 && len(p) > len(ps[i-1]) && p[:len(ps[i-1])] == ps[i-1] {
			return ErrInvalidMsg.Wrapf("GS1 company prefix %q extends %q", p, ps[i-1])
		}
	}
	return nil
}

// MsgSetGLNs sets Org's party GLN and location GLNs (replacing the
// previous ones). The signer must be an admin of Org. A GLN belongs to one
// organization, and a GLN under a GS1 company prefix that an organization
// owns may only be claimed by that organization.
//
//	message MsgSetGLNs { string org = 1; string party_gln = 2; repeated string location_glns = 3; }
type MsgSetGLNs struct {
	Org          string
	PartyGLN     string
	LocationGLNs []string // sorted, unique
}

func (m *MsgSetGLNs) TypeURL() string { return TypeSetGLNs }

func (m *MsgSetGLNs) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, m.Org)
	e.String(2, m.PartyGLN)
	e.Strings(3, m.LocationGLNs)
	return e.Bytes()
}

func (m *MsgSetGLNs) ValidateBasic() error {
	if !ValidOrgID(m.Org) {
		return ErrInvalidMsg.Wrapf("%q is not an organization id", m.Org)
	}
	if m.PartyGLN != "" && !ValidGLN(m.PartyGLN) {
		return ErrInvalidMsg.Wrapf("party GLN %q: 13 digits with a valid GS1 check digit", m.PartyGLN)
	}
	if len(m.LocationGLNs) > MaxLocationGLNs {
		return ErrInvalidMsg.Wrapf("at most %d location GLNs", MaxLocationGLNs)
	}
	for i, g := range m.LocationGLNs {
		if !ValidGLN(g) {
			return ErrInvalidMsg.Wrapf("location GLN %q: 13 digits with a valid GS1 check digit", g)
		}
		if i > 0 && m.LocationGLNs[i-1] >= g {
			return ErrInvalidMsg.Wrapf("location GLNs must be sorted and unique")
		}
	}
	return nil
}

func decodeSetGLNs(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2, 3)
	}
	m := &MsgSetGLNs{}
	if err == nil {
		m.Org, err = fs.String(1)
	}
	if err == nil {
		m.PartyGLN, err = fs.String(2)
	}
	if err == nil {
		m.LocationGLNs, err = fs.Strings(3)
	}
	return m, err
}

// MsgVote casts Org's vote on a proposal. The signer must be an admin of Org.
//
//	message MsgVote { uint64 proposal_id = 1; string org = 2; bool approve = 3; }
type MsgVote struct {
	ProposalID uint64
	Org        string
	Approve    bool
}

func (m *MsgVote) TypeURL() string { return TypeVote }

func (m *MsgVote) MarshalWire() []byte {
	var e wire.Encoder
	e.Uint64(1, m.ProposalID)
	e.String(2, m.Org)
	e.Bool(3, m.Approve)
	return e.Bytes()
}

func (m *MsgVote) ValidateBasic() error {
	if m.ProposalID == 0 {
		return ErrInvalidMsg.Wrapf("proposal id is required")
	}
	if !ValidOrgID(m.Org) {
		return ErrInvalidMsg.Wrapf("%q is not an organization id", m.Org)
	}
	return nil
}

func decodeVote(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2, 3)
	}
	m := &MsgVote{}
	if err == nil {
		m.ProposalID, err = fs.Uint64(1)
	}
	if err == nil {
		m.Org, err = fs.String(2)
	}
	if err == nil {
		m.Approve, err = fs.Bool(3)
	}
	return m, err
}
