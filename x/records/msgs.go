package records

import (
	"crypto/sha256"
	"slices"

	"github.com/medchain/medchain/internal/wire"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
)

// Type URLs of the records messages.
const (
	TypeAnchor         = "/medchain.records.v1.MsgAnchor"
	TypeRequestAccess  = "/medchain.records.v1.MsgRequestAccess"
	TypeRequestErasure = "/medchain.records.v1.MsgRequestErasure"
	TypeErasureReceipt = "/medchain.records.v1.MsgErasureReceipt"
)

// MaxRecordsPerRequest bounds one access request.
const MaxRecordsPerRequest = 1000

// MsgAnchor anchors a new record (version 1) or a new version of one. The
// signer is a member of Org with an authoring role, or the patient.
//
//	message MsgAnchor {
//	  string id = 1; string patient = 2; string org = 3; string resource_type = 4; string category = 5;
//	  uint64 version = 6; bytes ciphertext_hash = 7; bytes commitment = 8; string author = 9;
//	}
//
// Author empty: the signer is the author. Author set: the signer is Org's
// vault (role "vault") writing on behalf of Author, an authenticated member
// of Org with an authoring role, or the patient.
type MsgAnchor struct {
	ID             string
	Patient        string
	Org            string
	ResourceType   string
	Category       string
	Version        uint64
	CiphertextHash []byte
	Commitment     []byte
	Author         string
}

func (m *MsgAnchor) TypeURL() string { return TypeAnchor }

func (m *MsgAnchor) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, m.ID)
	e.String(2, m.Patient)
	e.String(3, m.Org)
	e.String(4, m.ResourceType)
	e.String(5, m.Category)
	e.Uint64(6, m.Version)
	e.Blob(7, m.CiphertextHash)
	e.Blob(8, m.Commitment)
	e.String(9, m.Author)
	return e.Bytes()
}

// ValidateBasic implements module.Msg.
func (m *MsgAnchor) ValidateBasic() error {
	switch {
	case m.Author != "" && !identity.ValidDID(m.Author):
		return ErrInvalidMsg.Wrapf("author %q is not a medchain DID", m.Author)
	case !ValidRecordID(m.ID):
		return ErrInvalidMsg.Wrapf("record id %q is not a FHIR id", m.ID)
	case !identity.ValidDID(m.Patient):
		return ErrInvalidMsg.Wrapf("patient %q is not a medchain DID", m.Patient)
	case !org.ValidOrgID(m.Org):
		return ErrInvalidMsg.Wrapf("%q is not an organization id", m.Org)
	case !validResourceType(m.ResourceType):
		return ErrInvalidMsg.Wrapf("%q is not a FHIR resource type", m.ResourceType)
	case m.Category != "" && !categoryPattern.MatchString(m.Category):
		return ErrInvalidMsg.Wrapf("category %q: lower-case letters, digits and hyphens", m.Category)
	case m.Version == 0:
		return ErrInvalidMsg.Wrapf("version starts at 1")
	case len(m.CiphertextHash) != sha256.Size || len(m.Commitment) != sha256.Size:
		return ErrInvalidMsg.Wrapf("ciphertext hash and commitment must be 32 bytes")
	}
	return nil
}

func validResourceType(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func decodeAnchor(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2, 3, 4, 5, 6, 7, 8, 9)
	}
	m := &MsgAnchor{}
	for i, p := range []*string{&m.ID, &m.Patient, &m.Org, &m.ResourceType, &m.Category} {
		if err == nil {
			*p, err = fs.String(wire.Number(i + 1))
		}
	}
	if err == nil {
		m.Version, err = fs.Uint64(6)
	}
	if err == nil {
		m.CiphertextHash, err = fs.Blob(7)
	}
	if err == nil {
		m.Commitment, err = fs.Blob(8)
	}
	if err == nil {
		m.Author, err = fs.String(9)
	}
	return m, err
}

// MsgRequestAccess asks to read some of a patient's records for a purpose.
// The decision is made on chain against the state at this height and is
// recorded as an AccessEvent either way. Records empty means all the
// patient's records of ResourceType (empty: of every type). Org is the
// organization the requester acts for ("" when acting for themselves, as
// the patient or a guardian). Break-glass asks for emergency access
// (purpose ETREAT) without consent, with a reason code.
//
//	message MsgRequestAccess {
//	  string org = 1; string patient = 2; repeated string records = 3; string resource_type = 4;
//	  string purpose = 5; bool break_glass = 6; string reason = 7; string requester = 8;
//	}
//
// Requester empty: the signer is the requester. Requester set: the signer is
// the vault (role "vault") of the node the requester authenticated to, which
// must be Org's vault when Org is set.
type MsgRequestAccess struct {
	Org          string
	Patient      string
	Records      []string
	ResourceType string
	Purpose      string
	BreakGlass   bool
	Reason       string
	Requester    string
}

func (m *MsgRequestAccess) TypeURL() string { return TypeRequestAccess }

func (m *MsgRequestAccess) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, m.Org)
	e.String(2, m.Patient)
	e.Strings(3, m.Records)
	e.String(4, m.ResourceType)
	e.String(5, m.Purpose)
	e.Bool(6, m.BreakGlass)
	e.String(7, m.Reason)
	e.String(8, m.Requester)
	return e.Bytes()
}

// ValidateBasic implements module.Msg.
func (m *MsgRequestAccess) ValidateBasic() error {
	if m.Org != "" && !org.ValidOrgID(m.Org) {
		return ErrInvalidMsg.Wrapf("%q is not an organization id", m.Org)
	}
	if m.Requester != "" && !identity.ValidDID(m.Requester) {
		return ErrInvalidMsg.Wrapf("requester %q is not a medchain DID", m.Requester)
	}
	if !identity.ValidDID(m.Patient) {
		return ErrInvalidMsg.Wrapf("patient %q is not a medchain DID", m.Patient)
	}
	if len(m.Records) > MaxRecordsPerRequest {
		return ErrInvalidMsg.Wrapf("at most %d records per request", MaxRecordsPerRequest)
	}
	for i, r := range m.Records {
		if !ValidRecordID(r) {
			return ErrInvalidMsg.Wrapf("record id %q is not a FHIR id", r)
		}
		if i > 0 && m.Records[i-1] >= r {
			return ErrInvalidMsg.Wrapf("records must be sorted and unique")
		}
	}
	if m.ResourceType != "" && (len(m.Records) > 0 || !validResourceType(m.ResourceType)) {
		return ErrInvalidMsg.Wrapf("give record ids or a resource type, not both")
	}
	if !consent.ValidPurpose(m.Purpose) {
		return ErrInvalidMsg.Wrapf("purpose %q (one of %v)", m.Purpose, consent.Purposes)
	}
	if m.BreakGlass {
		if m.Purpose != consent.PurposeEmergencyTreatment {
			return ErrInvalidMsg.Wrapf("break-glass access is for purpose ETREAT")
		}
		if !slices.Contains(BreakGlassReasons, m.Reason) {
			return ErrInvalidMsg.Wrapf("break-glass needs a reason code (one of %v); never free text", BreakGlassReasons)
		}
		if m.Org == "" {
			return ErrInvalidMsg.Wrapf("break-glass needs the organization the requester acts for")
		}
	} else if m.Reason != "" {
		return ErrInvalidMsg.Wrapf("a reason is only for break-glass access")
	}
	return nil
}

func decodeRequestAccess(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2, 3, 4, 5, 6, 7, 8)
	}
	m := &MsgRequestAccess{}
	if err == nil {
		m.Org, err = fs.String(1)
	}
	if err == nil {
		m.Patient, err = fs.String(2)
	}
	if err == nil {
		m.Records, err = fs.Strings(3)
	}
	if err == nil {
		m.ResourceType, err = fs.String(4)
	}
	if err == nil {
		m.Purpose, err = fs.String(5)
	}
	if err == nil {
		m.BreakGlass, err = fs.Bool(6)
	}
	if err == nil {
		m.Reason, err = fs.String(7)
	}
	if err == nil {
		m.Requester, err = fs.String(8)
	}
	return m, err
}

// MsgRequestErasure asks every vault holding the patient's records to
// destroy them. The signer is the patient or a guardian.
//
//	message MsgRequestErasure { string patient = 1; }
type MsgRequestErasure struct {
	Patient string
}

func (m *MsgRequestErasure) TypeURL() string { return TypeRequestErasure }

func (m *MsgRequestErasure) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, m.Patient)
	return e.Bytes()
}

func (m *MsgRequestErasure) ValidateBasic() error {
	if !identity.ValidDID(m.Patient) {
		return ErrInvalidMsg.Wrapf("patient %q is not a medchain DID", m.Patient)
	}
	return nil
}

func decodeRequestErasure(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1)
	}
	m := &MsgRequestErasure{}
	if err == nil {
		m.Patient, err = fs.String(1)
	}
	return m, err
}

// MsgErasureReceipt is a vault's signed confirmation that it destroyed the
// patient's records it held. The signer is an admin or staff member of Org.
//
//	message MsgErasureReceipt { string patient = 1; string org = 2; }
type MsgErasureReceipt struct {
	Patient string
	Org     string
}

func (m *MsgErasureReceipt) TypeURL() string { return TypeErasureReceipt }

func (m *MsgErasureReceipt) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, m.Patient)
	e.String(2, m.Org)
	return e.Bytes()
}

func (m *MsgErasureReceipt) ValidateBasic() error {
	if !identity.ValidDID(m.Patient) || !org.ValidOrgID(m.Org) {
		return ErrInvalidMsg.Wrapf("patient must be a DID and org an organization id")
	}
	return nil
}

func decodeErasureReceipt(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2)
	}
	m := &MsgErasureReceipt{}
	if err == nil {
		m.Patient, err = fs.String(1)
	}
	if err == nil {
		m.Org, err = fs.String(2)
	}
	return m, err
}
