package consent

import "encoding/binary"

// StoreName is the consent module's store and codespace.
const StoreName = "consent"

// State keys (store "consent"):
//
//	0x01 | consent_id (8 bytes BE)              -> Consent (JSON)
//	0x02 | patient | 0x00 | consent_id (8 BE)  -> 0x01 (a patient's consents)
//	0x03                                        -> next consent id (8 bytes BE)
//	0x04 | patient                              -> Guardians (JSON)
var (
	prefixConsent  = []byte{0x01}
	prefixByPat    = []byte{0x02}
	keyNextID      = []byte{0x03}
	prefixGuardian = []byte{0x04}
)

func consentKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte{}, prefixConsent...), id)
}

func byPatientPrefix(patient string) []byte {
	return append(append(append([]byte{}, prefixByPat...), patient...), 0)
}

func byPatientKey(patient string, id uint64) []byte {
	return binary.BigEndian.AppendUint64(byPatientPrefix(patient), id)
}

func guardianKey(patient string) []byte {
	return append(append([]byte{}, prefixGuardian...), patient...)
}

// ConsentKey is the state key of a consent, for proofs.
func ConsentKey(id uint64) []byte { return consentKey(id) }
