package supply

import (
	"encoding/binary"
	"time"
)

// StoreName is the supply module's store and codespace.
const StoreName = "supply"

// IndexStoreName is the supply module's index store (package store, index
// stores; ADR 0010): unauthenticated, unversioned, not in the app hash.
//
//	0x01 | h(epc) -> unit number (8 BE)
//
// Each entry is derived from the authenticated state — the unit at
// UnitKey(number) has that EPC — and is only a hint: every lookup confirms
// it against that leaf (unitByEPC, unitByHash). An entry left by a height
// that was never committed, or read with an older height's state, names a
// number that is missing there or holds another unit, and reads as "no
// such unit".
const IndexStoreName = "supply-index"

// State keys (store "supply"). h(epc) is EPCHash (32 bytes); ids and unit
// numbers are 8 bytes big-endian; strings are followed by 0x00 where
// another part comes after them.
//
//	0x01 | gtin14                                       -> Product (JSON)
//	0x02 | gtin14 | 0x00 | lot                          -> Lot (JSON)
//	0x04 | custodian | 0x00 | gtin | 0x00 | lot | 0x00 | 0x01 | h(epc)   -> 0x01 (a unit an organization holds: active or in transit)
//	0x04 | custodian | 0x00 | gtin | 0x00 | lot | 0x00 | 0x02 | event id -> count (8 BE): a cohort, the units that event
//	                                                    created and that still sit with their first custodian (Unit.Cohort)
//	0x05 | h(parent) | h(child)                         -> 0x01 (a container's direct children)
//	0x06 | event id                                     -> StoredEvent (JSON)
//	0x07 | h(epc) | event id                            -> 0x01 (events on a unit, its containers' included while packed)
//	0x08 | block time (unix ns, 8 BE) | event id         -> 0x01 (events by block time)
//	0x09 | biz step | 0x00 | event id                   -> 0x01
//	0x0A | disposition | 0x00 | event id                -> 0x01
//	0x0B                                                -> next event id
//	0x0C | alert id                                     -> Alert (JSON)
//	0x0D | org | 0x00 | alert id                        -> 0x01 (alerts an organization sees)
//	0x0E                                                -> next alert id
//	0x0F | gtin14 | 0x00 | lot                          -> Recall (JSON); lot "" recalls every lot
//	0x10                                                -> Params (JSON)
//	0x11 | unit number                                  -> Unit (JSON), numbered from 1 in the order units are created
//	0x12                                                -> next unit number
//
// (0x03, the unit at h(epc), is gone: units are numbered so that a batch
// of new units appends at the tree's right edge instead of inserting at
// random positions; IndexStoreName finds a unit's number. ADR 0010.)
var (
	prefixProduct  = []byte{0x01}
	prefixLot      = []byte{0x02}
	prefixHeld     = []byte{0x04}
	prefixChild    = []byte{0x05}
	prefixEvent    = []byte{0x06}
	prefixByEPC    = []byte{0x07}
	prefixByTime   = []byte{0x08}
	prefixByStep   = []byte{0x09}
	prefixByDisp   = []byte{0x0A}
	keyNextEvent   = []byte{0x0B}
	prefixAlert    = []byte{0x0C}
	prefixAlertOrg = []byte{0x0D}
	keyNextAlert   = []byte{0x0E}
	prefixRecall   = []byte{0x0F}
	keyParams      = []byte{0x10}
	prefixUnit     = []byte{0x11}
	keyNextUnit    = []byte{0x12}
	prefixIndex    = []byte{0x01} // in IndexStoreName
	zero           = []byte{0}
)

func cat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// ProductKey, LotKey, UnitKey, EventKey, AlertKey and RecallKey are the
// state keys of the values the HTTP layer proves (/store/supply/<key>).
// UnitKey takes the unit's number (Unit.Number), which the unit index
// (IndexStoreName) gives for an EPC.
func ProductKey(gtin string) []byte     { return cat(prefixProduct, []byte(gtin)) }
func LotKey(gtin, lot string) []byte    { return cat(prefixLot, []byte(gtin), zero, []byte(lot)) }
func lotPrefix(gtin string) []byte      { return cat(prefixLot, []byte(gtin), zero) }
func UnitKey(number uint64) []byte      { return cat(prefixUnit, u64(number)) }
func EventKey(id uint64) []byte         { return cat(prefixEvent, u64(id)) }
func AlertKey(id uint64) []byte         { return cat(prefixAlert, u64(id)) }
func RecallKey(gtin, lot string) []byte { return cat(prefixRecall, []byte(gtin), zero, []byte(lot)) }

// IndexKey is the key of the unit index entry of the EPC with hash h
// (EPCHash) in IndexStoreName.
func IndexKey(h []byte) []byte { return cat(prefixIndex, h) }

func heldOrgPrefix(org string) []byte { return cat(prefixHeld, []byte(org), zero) }
func heldLotPrefix(org, gtin, lot string) []byte {
	return cat(prefixHeld, []byte(org), zero, []byte(gtin), zero, []byte(lot), zero)
}
func heldGTINPrefix(org, gtin string) []byte {
	return cat(prefixHeld, []byte(org), zero, []byte(gtin), zero)
}
func heldKey(org, gtin, lot string, h []byte) []byte {
	return cat(heldLotPrefix(org, gtin, lot), []byte{1}, h)
}
func cohortKey(org, gtin, lot string, event uint64) []byte {
	return cat(heldLotPrefix(org, gtin, lot), []byte{2}, u64(event))
}
func childPrefix(parent []byte) []byte     { return cat(prefixChild, parent) }
func childKey(parent, child []byte) []byte { return cat(prefixChild, parent, child) }
func byEPCPrefix(h []byte) []byte          { return cat(prefixByEPC, h) }
func byEPCKey(h []byte, id uint64) []byte  { return cat(prefixByEPC, h, u64(id)) }
func byTimeKey(t time.Time, id uint64) []byte {
	return cat(prefixByTime, u64(uint64(t.UnixNano())), u64(id))
}
func byStepPrefix(step string) []byte          { return cat(prefixByStep, []byte(step), zero) }
func byDispPrefix(disp string) []byte          { return cat(prefixByDisp, []byte(disp), zero) }
func alertOrgPrefix(org string) []byte         { return cat(prefixAlertOrg, []byte(org), zero) }
func alertOrgKey(org string, id uint64) []byte { return cat(alertOrgPrefix(org), u64(id)) }
