package org

import (
	"encoding/binary"
	"regexp"
)

// StoreName is the org module's store and codespace.
const StoreName = "org"

// State keys (store "org"):
//
//	0x01 | org_id                    -> Org (JSON)
//	0x02 | org_id | 0x00 | did       -> Member (JSON)
//	0x03 | did | 0x00 | org_id       -> 0x01 (index: organizations of a DID)
//	0x04 | proposal_id (8 bytes BE)  -> Proposal (JSON)
//	0x05                             -> next proposal id (8 bytes BE)
//	0x06 | validator pubkey          -> org_id (who owns a validator key)
//	0x07                             -> Params (JSON)
//	0x08 | gs1 company prefix        -> org_id (who owns a prefix)
//	0x09 | gln (13 digits)           -> org_id (whose party or location GLN it is)
var (
	prefixOrg      = []byte{0x01}
	prefixMember   = []byte{0x02}
	prefixMemberOf = []byte{0x03}
	prefixProposal = []byte{0x04}
	keyNextProp    = []byte{0x05}
	prefixValOwner = []byte{0x06}
	keyParams      = []byte{0x07}
	prefixGS1      = []byte{0x08}
	prefixGLN      = []byte{0x09}
)

func gs1PrefixKey(p string) []byte { return append(append([]byte{}, prefixGS1...), p...) }
func glnKey(gln string) []byte     { return append(append([]byte{}, prefixGLN...), gln...) }

func orgKey(id string) []byte { return append(append([]byte{}, prefixOrg...), id...) }

func memberPrefix(org string) []byte {
	return append(append(append([]byte{}, prefixMember...), org...), 0)
}
func memberKey(org, did string) []byte { return append(memberPrefix(org), did...) }

func memberOfPrefix(did string) []byte {
	return append(append(append([]byte{}, prefixMemberOf...), did...), 0)
}
func memberOfKey(did, org string) []byte { return append(memberOfPrefix(did), org...) }

func proposalKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte{}, prefixProposal...), id)
}

func valOwnerKey(pub []byte) []byte { return append(append([]byte{}, prefixValOwner...), pub...) }

// OrgKey, MemberKey and ProposalKey expose the state keys for clients that
// verify proofs of raw values.
func OrgKey(id string) []byte          { return orgKey(id) }
func MemberKey(org, did string) []byte { return memberKey(org, did) }
func ProposalKey(id uint64) []byte     { return proposalKey(id) }

var orgIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$`)

// ValidOrgID reports whether s is a valid organization id: 3 to 64 lower-case
// letters, digits and inner hyphens.
func ValidOrgID(s string) bool { return orgIDPattern.MatchString(s) }
