package consent

import (
	"slices"

	"github.com/medchain/medchain/internal/wire"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
)

// Type URLs of the consent messages.
const (
	TypeGrant       = "/medchain.consent.v1.MsgGrant"
	TypeRevoke      = "/medchain.consent.v1.MsgRevoke"
	TypeSetGuardian = "/medchain.consent.v1.MsgSetGuardian"
)

// Limits on a consent's scope lists.
const (
	maxList   = 64
	maxString = 128
)

// MsgGrant records a consent. The signer is the patient or one of their
// guardians. Lists must be sorted and unique; empty scope lists mean "any".
//
//	message MsgGrant {
//	  string patient = 1; string grantee_kind = 2; string grantee_did = 3; string grantee_org = 4;
//	  string grantee_role = 5; repeated string resource_types = 6; repeated string record_ids = 7;
//	  repeated string categories = 8; repeated string purposes = 9; uint64 not_before = 10;
//	  uint64 not_after = 11; string condition = 12;
//	}
//
// not_before and not_after are Unix seconds (0: from the grant's block / no end).
type MsgGrant struct {
	Patient       string
	Grantee       Grantee
	ResourceTypes []string
	RecordIDs     []string
	Categories    []string
	Purposes      []string
	NotBefore     uint64
	NotAfter      uint64
	Condition     string
}

func (m *MsgGrant) TypeURL() string { return TypeGrant }

func (m *MsgGrant) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, m.Patient)
	e.String(2, m.Grantee.Kind)
	e.String(3, m.Grantee.DID)
	e.String(4, m.Grantee.Org)
	e.String(5, m.Grantee.Role)
	e.Strings(6, m.ResourceTypes)
	e.Strings(7, m.RecordIDs)
	e.Strings(8, m.Categories)
	e.Strings(9, m.Purposes)
	e.Uint64(10, m.NotBefore)
	e.Uint64(11, m.NotAfter)
	e.String(12, m.Condition)
	return e.Bytes()
}

func checkList(name string, l []string, valid func(string) bool) error {
	if len(l) > maxList {
		return ErrInvalidMsg.Wrapf("%s: at most %d entries", name, maxList)
	}
	for i, s := range l {
		if s == "" || len(s) > maxString || (valid != nil && !valid(s)) {
			return ErrInvalidMsg.Wrapf("%s: invalid entry %q", name, s)
		}
		if i > 0 && l[i-1] >= s {
			return ErrInvalidMsg.Wrapf("%s must be sorted and unique", name)
		}
	}
	return nil
}

// ValidateBasic implements module.Msg.
func (m *MsgGrant) ValidateBasic() error {
	if !identity.ValidDID(m.Patient) {
		return ErrInvalidMsg.Wrapf("patient %q is not a medchain DID", m.Patient)
	}
	g := m.Grantee
	switch g.Kind {
	case GranteeDID:
		if !identity.ValidDID(g.DID) || g.Org != "" || g.Role != "" {
			return ErrInvalidMsg.Wrapf("a did grantee needs exactly a valid DID")
		}
	case GranteeOrg:
		if !org.ValidOrgID(g.Org) || g.DID != "" || g.Role != "" {
			return ErrInvalidMsg.Wrapf("an org grantee needs exactly a valid organization id")
		}
	case GranteeRole:
		if !org.ValidOrgID(g.Org) || !org.ValidRole(g.Role) || g.DID != "" {
			return ErrInvalidMsg.Wrapf("a role grantee needs an organization id and a role (one of %v)", org.Roles)
		}
	default:
		return ErrInvalidMsg.Wrapf("grantee kind %q: use did, org or role", g.Kind)
	}
	if len(m.Purposes) == 0 {
		return ErrInvalidMsg.Wrapf("at least one purpose of use is required (%v)", Purposes)
	}
	for _, c := range []error{
		checkList("purposes", m.Purposes, ValidPurpose),
		checkList("resource_types", m.ResourceTypes, validResourceType),
		checkList("record_ids", m.RecordIDs, nil),
		checkList("categories", m.Categories, nil),
	} {
		if c != nil {
			return c
		}
	}
	if m.NotAfter != 0 && m.NotAfter <= m.NotBefore {
		return ErrInvalidMsg.Wrapf("not_after must be after not_before")
	}
	if m.NotAfter > 1<<40 || m.NotBefore > 1<<40 {
		return ErrInvalidMsg.Wrapf("validity times out of range")
	}
	if m.Condition != "" {
		if _, err := CompileCondition(m.Condition); err != nil {
			return ErrBadCondition.Wrapf("%v", err)
		}
	}
	return nil
}

// validResourceType accepts FHIR resource type names (an upper-case letter
// then letters).
func validResourceType(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// SortList sorts and de-duplicates a scope list as MsgGrant requires.
func SortList(l []string) []string {
	l = slices.Clone(l)
	slices.Sort(l)
	return slices.Compact(l)
}

func decodeGrant(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
	}
	m := &MsgGrant{}
	for i, p := range []*string{&m.Patient, &m.Grantee.Kind, &m.Grantee.DID, &m.Grantee.Org, &m.Grantee.Role} {
		if err == nil {
			*p, err = fs.String(wire.Number(i + 1))
		}
	}
	for i, p := range []*[]string{&m.ResourceTypes, &m.RecordIDs, &m.Categories, &m.Purposes} {
		if err == nil {
			*p, err = fs.Strings(wire.Number(i + 6))
		}
	}
	if err == nil {
		m.NotBefore, err = fs.Uint64(10)
	}
	if err == nil {
		m.NotAfter, err = fs.Uint64(11)
	}
	if err == nil {
		m.Condition, err = fs.String(12)
	}
	return m, err
}

// MsgRevoke revokes a consent from the height it commits. The signer is the
// patient or one of their guardians.
//
//	message MsgRevoke { uint64 consent_id = 1; }
type MsgRevoke struct {
	ConsentID uint64
}

func (m *MsgRevoke) TypeURL() string { return TypeRevoke }

func (m *MsgRevoke) MarshalWire() []byte {
	var e wire.Encoder
	e.Uint64(1, m.ConsentID)
	return e.Bytes()
}

func (m *MsgRevoke) ValidateBasic() error {
	if m.ConsentID == 0 {
		return ErrInvalidMsg.Wrapf("consent id is required")
	}
	return nil
}

func decodeRevoke(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1)
	}
	m := &MsgRevoke{}
	if err == nil {
		m.ConsentID, err = fs.Uint64(1)
	}
	return m, err
}

// MsgSetGuardian names (or, with Remove, removes) a guardian who may manage
// the patient's consents and read their records. Only the patient signs it.
//
//	message MsgSetGuardian { string patient = 1; string guardian = 2; bool remove = 3; }
type MsgSetGuardian struct {
	Patient  string
	Guardian string
	Remove   bool
}

func (m *MsgSetGuardian) TypeURL() string { return TypeSetGuardian }

func (m *MsgSetGuardian) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, m.Patient)
	e.String(2, m.Guardian)
	e.Bool(3, m.Remove)
	return e.Bytes()
}

func (m *MsgSetGuardian) ValidateBasic() error {
	if !identity.ValidDID(m.Patient) || !identity.ValidDID(m.Guardian) {
		return ErrInvalidMsg.Wrapf("patient and guardian must be medchain DIDs")
	}
	if m.Patient == m.Guardian {
		return ErrInvalidMsg.Wrapf("a patient cannot be their own guardian")
	}
	return nil
}

func decodeSetGuardian(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2, 3)
	}
	m := &MsgSetGuardian{}
	if err == nil {
		m.Patient, err = fs.String(1)
	}
	if err == nil {
		m.Guardian, err = fs.String(2)
	}
	if err == nil {
		m.Remove, err = fs.Bool(3)
	}
	return m, err
}
