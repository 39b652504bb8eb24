package records

import (
	"encoding/binary"
	"regexp"
)

// StoreName is the records module's store and codespace.
const StoreName = "records"

// State keys (store "records"):
//
//	0x01 | record_id                          -> Anchor (JSON)
//	0x02 | patient | 0x00 | record_id         -> 0x01 (a patient's records)
//	0x03 | event_id (8 bytes BE)              -> AccessEvent (JSON)
//	0x04 | patient | 0x00 | event_id (8 BE)   -> 0x01 (a patient's access log)
//	0x05                                      -> next access event id (8 bytes BE)
//	0x06 | patient                            -> Erasure (JSON)
//	0x07 | org | 0x00 | patient               -> 0x01 (erasures an organization's vault still owes)
//	0x08                                      -> Params (JSON)
var (
	prefixAnchor    = []byte{0x01}
	prefixByPatient = []byte{0x02}
	prefixEvent     = []byte{0x03}
	prefixLog       = []byte{0x04}
	keyNextEvent    = []byte{0x05}
	prefixErasure   = []byte{0x06}
	prefixOwed      = []byte{0x07}
	keyParams       = []byte{0x08}
)

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func anchorKey(id string) []byte { return cat(prefixAnchor, []byte(id)) }
func byPatientPrefix(p string) []byte {
	return cat(prefixByPatient, []byte(p), []byte{0})
}
func byPatientKey(p, id string) []byte  { return cat(byPatientPrefix(p), []byte(id)) }
func eventKey(id uint64) []byte         { return binary.BigEndian.AppendUint64(cat(prefixEvent), id) }
func logPrefix(p string) []byte         { return cat(prefixLog, []byte(p), []byte{0}) }
func logKey(p string, id uint64) []byte { return binary.BigEndian.AppendUint64(logPrefix(p), id) }
func erasureKey(p string) []byte        { return cat(prefixErasure, []byte(p)) }
func owedPrefix(org string) []byte      { return cat(prefixOwed, []byte(org), []byte{0}) }
func owedKey(org, p string) []byte      { return cat(owedPrefix(org), []byte(p)) }

// AnchorKey and EventKey expose state keys for clients verifying proofs.
func AnchorKey(id string) []byte { return anchorKey(id) }
func EventKey(id uint64) []byte  { return eventKey(id) }

// FHIR R4 id syntax: [A-Za-z0-9\-\.]{1,64}.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// ValidRecordID reports whether s is a valid record id (a FHIR id).
func ValidRecordID(s string) bool { return idPattern.MatchString(s) }

var categoryPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
