package supply

import (
	"bytes"

	"github.com/medchain/medchain/internal/wire"
	"github.com/medchain/medchain/module"
)

// Type URLs of the supply messages.
const (
	TypeRegisterProduct = "/medchain.supply.v1.MsgRegisterProduct"
	TypeRegisterLot     = "/medchain.supply.v1.MsgRegisterLot"
	TypeCapture         = "/medchain.supply.v1.MsgCapture"
	TypeRecall          = "/medchain.supply.v1.MsgRecall"
)

// MsgRegisterProduct registers a trade item by GTIN (GTIN-8/12/13 are
// normalised to GTIN-14) or, for a device, by its GS1 UDI-DI, and
// optionally one lot of it. The signer is a member of Org (roles
// RegisterRoles); Org must own the GS1 company prefix the GTIN starts
// with. Registering an existing product again (same owner) only adds or
// updates the lot; the product's fields must then be empty or unchanged.
//
//	message MsgRegisterProduct {
//	  string org = 1; string gtin = 2; string ndc = 3; string udi_di = 4; string name = 5; string kind = 6;
//	  string lot = 7; string expiry = 8; int64 temp_min_milli = 9; int64 temp_max_milli = 10; bool has_temp_range = 11;
//	}
type MsgRegisterProduct struct {
	Org   string
	GTIN  string // 8, 12, 13 or 14 digits with a valid check digit
	NDC   string // optional, for drugs: 10 or 11 digits, with or without hyphens
	UDIDI string // optional, for devices: a GS1 UDI-DI (a GTIN); GTIN may then be empty
	Name  string // optional trade name (no PHI), at most 200 bytes
	Kind  string // "drug" or "device"; default "drug", or "device" when UDIDI is set
	// Optional lot: Lot with Expiry (YYYY-MM-DD) and a storage temperature
	// range in milli-degrees Celsius when HasTempRange.
	Lot          string
	Expiry       string
	TempMinMilli int64
	TempMaxMilli int64
	HasTempRange bool
}

// TypeURL implements module.Msg.
func (m *MsgRegisterProduct) TypeURL() string { return TypeRegisterProduct }

// MarshalWire implements module.Msg.
func (m *MsgRegisterProduct) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, m.Org)
	e.String(2, m.GTIN)
	e.String(3, m.NDC)
	e.String(4, m.UDIDI)
	e.String(5, m.Name)
	e.String(6, m.Kind)
	e.String(7, m.Lot)
	e.String(8, m.Expiry)
	e.Uint64(9, uint64(m.TempMinMilli))
	e.Uint64(10, uint64(m.TempMaxMilli))
	e.Bool(11, m.HasTempRange)
	return e.Bytes()
}

func decodeRegisterProduct(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
	}
	m := &MsgRegisterProduct{}
	for i, p := range []*string{&m.Org, &m.GTIN, &m.NDC, &m.UDIDI, &m.Name, &m.Kind, &m.Lot, &m.Expiry} {
		if err == nil {
			*p, err = fs.String(wire.Number(i + 1))
		}
	}
	if err == nil {
		m.TempMinMilli, err = int64Field(fs, 9)
	}
	if err == nil {
		m.TempMaxMilli, err = int64Field(fs, 10)
	}
	if err == nil {
		m.HasTempRange, err = fs.Bool(11)
	}
	return m, err
}

// MsgRegisterLot adds or updates one lot of a registered product. The
// signer is a member of the product's owner Org (roles RegisterRoles).
//
//	message MsgRegisterLot {
//	  string org = 1; string gtin = 2; string lot = 3; string expiry = 4;
//	  int64 temp_min_milli = 5; int64 temp_max_milli = 6; bool has_temp_range = 7;
//	}
type MsgRegisterLot struct {
	Org          string
	GTIN         string
	Lot          string
	Expiry       string // YYYY-MM-DD
	TempMinMilli int64  // milli-degrees Celsius
	TempMaxMilli int64
	HasTempRange bool
}

// TypeURL implements module.Msg.
func (m *MsgRegisterLot) TypeURL() string { return TypeRegisterLot }

// MarshalWire implements module.Msg.
func (m *MsgRegisterLot) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, m.Org)
	e.String(2, m.GTIN)
	e.String(3, m.Lot)
	e.String(4, m.Expiry)
	e.Uint64(5, uint64(m.TempMinMilli))
	e.Uint64(6, uint64(m.TempMaxMilli))
	e.Bool(7, m.HasTempRange)
	return e.Bytes()
}

func decodeRegisterLot(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2, 3, 4, 5, 6, 7)
	}
	m := &MsgRegisterLot{}
	for i, p := range []*string{&m.Org, &m.GTIN, &m.Lot, &m.Expiry} {
		if err == nil {
			*p, err = fs.String(wire.Number(i + 1))
		}
	}
	if err == nil {
		m.TempMinMilli, err = int64Field(fs, 5)
	}
	if err == nil {
		m.TempMaxMilli, err = int64Field(fs, 6)
	}
	if err == nil {
		m.HasTempRange, err = fs.Bool(7)
	}
	return m, err
}

// MsgCapture submits EPCIS events for Org, in order. The signer is a
// member of Org with one of CaptureRoles. Events apply one after another;
// an event that breaks a custody rule rejects the whole message (nothing
// changes), except the alert cases of ADR 0004.
//
//	message MsgCapture { string org = 1; repeated Event events = 2; }
type MsgCapture struct {
	Org    string
	Events []Event
}

// TypeURL implements module.Msg.
func (m *MsgCapture) TypeURL() string { return TypeCapture }

// MarshalWire implements module.Msg.
func (m *MsgCapture) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, m.Org)
	for i := range m.Events {
		e.Blobs(2, [][]byte{m.Events[i].MarshalWire()})
	}
	return e.Bytes()
}

func decodeCapture(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2)
	}
	m := &MsgCapture{}
	if err == nil {
		m.Org, err = fs.String(1)
	}
	var evs [][]byte
	if err == nil {
		evs, err = fs.Blobs(2)
	}
	for _, b := range evs {
		if err != nil {
			break
		}
		var ev Event
		ev, err = DecodeEvent(b)
		m.Events = append(m.Events, ev)
	}
	return m, err
}

// MsgRecall recalls lots of a product: every unit of those lots becomes
// recalled. The signer is a member (RecallRoles) of Org, which is the
// product's owner or a regulator (organization type "regulator"). Lots
// empty recalls every lot.
//
//	message MsgRecall { string org = 1; string gtin = 2; repeated string lots = 3; string reason = 4; }
type MsgRecall struct {
	Org    string
	GTIN   string
	Lots   []string // sorted, unique
	Reason string   // a short reason (no PHI), at most 200 bytes
}

// TypeURL implements module.Msg.
func (m *MsgRecall) TypeURL() string { return TypeRecall }

// MarshalWire implements module.Msg.
func (m *MsgRecall) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, m.Org)
	e.String(2, m.GTIN)
	e.Strings(3, m.Lots)
	e.String(4, m.Reason)
	return e.Bytes()
}

func decodeRecall(bz []byte) (module.Msg, error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2, 3, 4)
	}
	m := &MsgRecall{}
	if err == nil {
		m.Org, err = fs.String(1)
	}
	if err == nil {
		m.GTIN, err = fs.String(2)
	}
	if err == nil {
		m.Lots, err = fs.Strings(3)
	}
	if err == nil {
		m.Reason, err = fs.String(4)
	}
	return m, err
}

// int64Field reads an int64 stored as a varint of its two's complement, as
// protobuf's int64 does.
func int64Field(fs wire.Fields, n wire.Number) (int64, error) {
	u, err := fs.Uint64(n)
	return int64(u), err
}

// MarshalWire returns the canonical encoding of an event:
//
//	message Event {
//	  string kind = 1; string action = 2; string event_id = 3; int64 event_time_ms = 4; string time_zone = 5;
//	  string biz_step = 6; string disposition = 7; repeated string epcs = 8; string parent_id = 9;
//	  repeated string child_epcs = 10; repeated string input_epcs = 11; repeated string output_epcs = 12;
//	  repeated Quantity quantities = 13; string read_point = 14; string biz_location = 15;
//	  repeated BizTransaction biz_transactions = 16; repeated PartyRef sources = 17; repeated PartyRef destinations = 18;
//	  string lot = 19; string expiry_date = 20; repeated SensorReading sensors = 21; string hash = 22;
//	  bytes trade_salt = 23; bytes trade_commitment = 24;
//	}
//	message Quantity { string role = 1; string epc_class = 2; string amount = 3; string uom = 4; }
//	message BizTransaction { string type = 1; string id = 2; }
//	message PartyRef { string type = 1; string id = 2; }
//	message SensorReading {
//	  string type = 1; int64 value_milli = 2; int64 min_milli = 3; int64 max_milli = 4;
//	  bool has_value = 5; bool has_min = 6; bool has_max = 7; string uom = 8; int64 time_ms = 9;
//	}
func (ev *Event) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, ev.Kind)
	e.String(2, ev.Action)
	e.String(3, ev.EventID)
	e.Uint64(4, uint64(ev.EventTimeMs))
	e.String(5, ev.TimeZone)
	e.String(6, ev.BizStep)
	e.String(7, ev.Disposition)
	e.Strings(8, ev.EPCs)
	e.String(9, ev.ParentID)
	e.Strings(10, ev.ChildEPCs)
	e.Strings(11, ev.InputEPCs)
	e.Strings(12, ev.OutputEPCs)
	for _, q := range ev.Quantities {
		var qe wire.Encoder
		qe.String(1, q.Role)
		qe.String(2, q.EPCClass)
		qe.String(3, q.Amount)
		qe.String(4, q.UOM)
		e.Blobs(13, [][]byte{qe.Bytes()})
	}
	e.String(14, ev.ReadPoint)
	e.String(15, ev.BizLocation)
	for _, b := range ev.BizTransactions {
		e.Blobs(16, [][]byte{pairWire(b.Type, b.ID)})
	}
	for _, p := range ev.Sources {
		e.Blobs(17, [][]byte{pairWire(p.Type, p.ID)})
	}
	for _, p := range ev.Destinations {
		e.Blobs(18, [][]byte{pairWire(p.Type, p.ID)})
	}
	e.String(19, ev.Lot)
	e.String(20, ev.ExpiryDate)
	for _, s := range ev.Sensors {
		var se wire.Encoder
		se.String(1, s.Type)
		se.Uint64(2, uint64(s.ValueMilli))
		se.Uint64(3, uint64(s.MinMilli))
		se.Uint64(4, uint64(s.MaxMilli))
		se.Bool(5, s.HasValue)
		se.Bool(6, s.HasMin)
		se.Bool(7, s.HasMax)
		se.String(8, s.UOM)
		se.Uint64(9, uint64(s.TimeMs))
		e.Blobs(21, [][]byte{se.Bytes()})
	}
	e.String(22, ev.Hash)
	e.Blob(23, ev.TradeSalt)
	e.Blob(24, ev.TradeCommitment)
	return e.Bytes()
}

func pairWire(a, b string) []byte {
	var e wire.Encoder
	e.String(1, a)
	e.String(2, b)
	return e.Bytes()
}

func decodePair(bz []byte) (a, b string, err error) {
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2)
	}
	if err == nil {
		a, err = fs.String(1)
	}
	if err == nil {
		b, err = fs.String(2)
	}
	return a, b, err
}

// DecodeEvent parses an event's canonical encoding (Event.MarshalWire).
func DecodeEvent(bz []byte) (Event, error) {
	var ev Event
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24)
	}
	str := func(n wire.Number, p *string) {
		if err == nil {
			*p, err = fs.String(n)
		}
	}
	strs := func(n wire.Number, p *[]string) {
		if err == nil {
			*p, err = fs.Strings(n)
		}
	}
	blobs := func(n wire.Number) [][]byte {
		var bs [][]byte
		if err == nil {
			bs, err = fs.Blobs(n)
		}
		return bs
	}
	str(1, &ev.Kind)
	str(2, &ev.Action)
	str(3, &ev.EventID)
	if err == nil {
		ev.EventTimeMs, err = int64Field(fs, 4)
	}
	str(5, &ev.TimeZone)
	str(6, &ev.BizStep)
	str(7, &ev.Disposition)
	strs(8, &ev.EPCs)
	str(9, &ev.ParentID)
	strs(10, &ev.ChildEPCs)
	strs(11, &ev.InputEPCs)
	strs(12, &ev.OutputEPCs)
	for _, b := range blobs(13) {
		var q Quantity
		var qf wire.Fields
		if qf, err = wire.Parse(b); err == nil {
			err = qf.Only(1, 2, 3, 4)
		}
		for i, p := range []*string{&q.Role, &q.EPCClass, &q.Amount, &q.UOM} {
			if err == nil {
				*p, err = qf.String(wire.Number(i + 1))
			}
		}
		ev.Quantities = append(ev.Quantities, q)
	}
	str(14, &ev.ReadPoint)
	str(15, &ev.BizLocation)
	for _, b := range blobs(16) {
		var t BizTransaction
		if err == nil {
			t.Type, t.ID, err = decodePair(b)
		}
		ev.BizTransactions = append(ev.BizTransactions, t)
	}
	for _, n := range []wire.Number{17, 18} {
		for _, b := range blobs(n) {
			var p PartyRef
			if err == nil {
				p.Type, p.ID, err = decodePair(b)
			}
			if n == 17 {
				ev.Sources = append(ev.Sources, p)
			} else {
				ev.Destinations = append(ev.Destinations, p)
			}
		}
	}
	str(19, &ev.Lot)
	str(20, &ev.ExpiryDate)
	for _, b := range blobs(21) {
		var s SensorReading
		var sf wire.Fields
		if sf, err = wire.Parse(b); err == nil {
			err = sf.Only(1, 2, 3, 4, 5, 6, 7, 8, 9)
		}
		if err == nil {
			s.Type, err = sf.String(1)
		}
		for i, p := range []*int64{&s.ValueMilli, &s.MinMilli, &s.MaxMilli} {
			if err == nil {
				*p, err = int64Field(sf, wire.Number(i+2))
			}
		}
		for i, p := range []*bool{&s.HasValue, &s.HasMin, &s.HasMax} {
			if err == nil {
				*p, err = sf.Bool(wire.Number(i + 5))
			}
		}
		if err == nil {
			s.UOM, err = sf.String(8)
		}
		if err == nil {
			s.TimeMs, err = int64Field(sf, 9)
		}
		ev.Sensors = append(ev.Sensors, s)
	}
	str(22, &ev.Hash)
	if err == nil {
		ev.TradeSalt, err = fs.Blob(23)
	}
	if err == nil {
		ev.TradeCommitment, err = fs.Blob(24)
	}
	// Blob aliases the input; keep no reference to the transaction bytes.
	ev.TradeSalt, ev.TradeCommitment = bytes.Clone(ev.TradeSalt), bytes.Clone(ev.TradeCommitment)
	return ev, err
}
