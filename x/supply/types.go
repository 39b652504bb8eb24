package supply

import (
	"time"
)

// EPCIS event kinds (Event.Kind).
const (
	KindObject         = "ObjectEvent"
	KindAggregation    = "AggregationEvent"
	KindTransaction    = "TransactionEvent"
	KindTransformation = "TransformationEvent"
	KindAssociation    = "AssociationEvent"
)

// EPCIS actions (Event.Action).
const (
	ActionAdd     = "ADD"
	ActionObserve = "OBSERVE"
	ActionDelete  = "DELETE"
)

// Source and destination types (PartyRef.Type), CBV short names.
const (
	PartyOwning     = "owning_party"
	PartyPossessing = "possessing_party"
	PartyLocation   = "location"
)

// Event is one EPCIS event in the normalized, chain-side form that
// MsgCapture carries (package epcis converts EPCIS 2.0 JSON/JSON-LD/XML and
// EPCIS 1.2 XML documents into it). There is no JSON-LD here: CBV values are
// short names, EPCs are pure-identity URNs, times are integers. The
// canonical encoding is MarshalWire (package internal/wire); the JSON form
// (the json tags) is what state and queries hold.
//
// Confidential trading (ADR 0005): BizTransactions, Quantities, Sources and
// Destinations are "trade details". They are never written to state: the
// stored event keeps TradeCommitment instead (given by the submitter, or
// computed by the chain from TradeSalt and the details, see TradeCommit).
// A submitter that seals (SealTrade) sends the commitment and, of the
// destinations, only what the chain needs to resolve the receiving party,
// so the trade details never reach the transaction bytes either.
type Event struct {
	// Kind is ObjectEvent, AggregationEvent, TransactionEvent,
	// TransformationEvent or AssociationEvent.
	Kind string `json:"kind"`
	// Action is ADD, OBSERVE or DELETE; "" for a TransformationEvent.
	Action string `json:"action,omitempty"`
	// EventID is the document's optional eventID (e.g. "urn:uuid:…"); it is
	// informational, the chain names events by its own ids.
	EventID string `json:"event_id,omitempty"`
	// EventTimeMs is eventTime in Unix milliseconds. Informational only:
	// state time is always the block time. May be negative (before 1970).
	EventTimeMs int64 `json:"event_time_ms"`
	// TimeZone is eventTimeZoneOffset, e.g. "+01:00".
	TimeZone string `json:"time_zone,omitempty"`
	// BizStep is the CBV business step's short name ("commissioning",
	// "shipping", …); a non-CBV URI is kept verbatim.
	BizStep string `json:"biz_step,omitempty"`
	// Disposition is the CBV disposition's short name ("active",
	// "in_transit", …); a non-CBV URI is kept verbatim.
	Disposition string `json:"disposition,omitempty"`
	// EPCs is epcList (ObjectEvent, TransactionEvent): pure-identity URNs
	// such as urn:epc:id:sgtin:0614141.107346.2018 or urn:epc:id:sscc:…
	// (GS1 Digital Link URIs already converted).
	EPCs []string `json:"epcs,omitempty"`
	// ParentID is the parentID (AggregationEvent, TransactionEvent,
	// AssociationEvent), usually an SSCC or SGTIN.
	ParentID string `json:"parent_id,omitempty"`
	// ChildEPCs is childEPCs (AggregationEvent, AssociationEvent).
	ChildEPCs []string `json:"child_epcs,omitempty"`
	// InputEPCs and OutputEPCs are a TransformationEvent's lists.
	InputEPCs  []string `json:"input_epcs,omitempty"`
	OutputEPCs []string `json:"output_epcs,omitempty"`
	// Quantities flattens quantityList, childQuantityList,
	// inputQuantityList and outputQuantityList; Quantity.Role says which.
	// A trade detail (see above).
	Quantities []Quantity `json:"quantities,omitempty"`
	// ReadPoint and BizLocation are SGLN URNs (urn:epc:id:sgln:…).
	ReadPoint   string `json:"read_point,omitempty"`
	BizLocation string `json:"biz_location,omitempty"`
	// BizTransactions is bizTransactionList. A trade detail.
	BizTransactions []BizTransaction `json:"biz_transactions,omitempty"`
	// Sources and Destinations are sourceList and destinationList. Trade
	// details, except that a shipment's receiver is resolved from
	// Destinations (owning_party, then possessing_party, then location).
	Sources      []PartyRef `json:"sources,omitempty"`
	Destinations []PartyRef `json:"destinations,omitempty"`
	// Lot is the ILMD lot number (cbvmda:lotNumber) of commissioned units.
	Lot string `json:"lot,omitempty"`
	// ExpiryDate is the ILMD cbvmda:itemExpirationDate, YYYY-MM-DD.
	ExpiryDate string `json:"expiry_date,omitempty"`
	// Sensors flattens sensorElementList's sensorReports.
	Sensors []SensorReading `json:"sensors,omitempty"`
	// Hash is the GS1 CBV 2.0 canonical event hash,
	// "ni:///sha-256;<64 hex>?ver=CBV2.0", computed by the submitter over
	// the full event (trade details included); stored and returned as is.
	Hash string `json:"hash,omitempty"`
	// TradeSalt (32 bytes) salts the chain-computed TradeCommitment. It is
	// never stored. Empty when the submitter gives TradeCommitment itself.
	TradeSalt []byte `json:"-"`
	// TradeCommitment is the salted commitment to the trade details (32
	// bytes, see TradeCommit). Given by a sealing submitter, otherwise
	// computed by the chain when the event has trade details.
	TradeCommitment []byte `json:"trade_commitment,omitempty"`
}

// Quantity is one entry of a quantity list: Role is "" (quantityList),
// "child", "input" or "output"; EPCClass a class-level URN
// (urn:epc:class:lgtin:… or urn:epc:idpat:sgtin:…); Amount a decimal string
// (never a float), UOM a UN/CEFACT code or "".
type Quantity struct {
	Role     string `json:"role,omitempty"`
	EPCClass string `json:"epc_class"`
	Amount   string `json:"amount,omitempty"`
	UOM      string `json:"uom,omitempty"`
}

// BizTransaction is one bizTransactionList entry: Type a CBV short name
// ("po", "inv", "desadv", …) or a URI, ID the transaction's identifier.
type BizTransaction struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id"`
}

// PartyRef is one sourceList/destinationList entry: Type is owning_party,
// possessing_party or location; ID an SGLN or PGLN URN
// (urn:epc:id:sgln:…, urn:epc:id:pgln:…).
type PartyRef struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// SensorReading is one sensorReport. Values are integers in thousandths of
// the unit (milli-degrees Celsius for Type "Temperature"; the parser
// converts Fahrenheit and Kelvin); Has* say which of Value, Min and Max
// the report carried. TimeMs is the report's time in Unix ms (0 if none).
type SensorReading struct {
	Type       string `json:"type"`
	ValueMilli int64  `json:"value_milli,omitempty"`
	MinMilli   int64  `json:"min_milli,omitempty"`
	MaxMilli   int64  `json:"max_milli,omitempty"`
	HasValue   bool   `json:"has_value,omitempty"`
	HasMin     bool   `json:"has_min,omitempty"`
	HasMax     bool   `json:"has_max,omitempty"`
	UOM        string `json:"uom,omitempty"`
	TimeMs     int64  `json:"time_ms,omitempty"`
}

// TradeDetails are an event's confidential parts: what ADR 0005 keeps off
// chain behind Event.TradeCommitment.
type TradeDetails struct {
	BizTransactions []BizTransaction `json:"biz_transactions,omitempty"`
	Quantities      []Quantity       `json:"quantities,omitempty"`
	Sources         []PartyRef       `json:"sources,omitempty"`
	Destinations    []PartyRef       `json:"destinations,omitempty"`
}

// Unit statuses (Unit.Status). "recalled", "expired" and
// "temperature_excursion" are not statuses: recalls are consulted lazily
// (Keeper.Verify, RecallNotices), expiry is judged at read time, and an
// excursion is a flag (Unit.Excursion).
const (
	StatusActive         = "active"         // commissioned, held by Custodian
	StatusInTransit      = "in_transit"     // shipped by Custodian to PendingTo
	StatusDispensed      = "dispensed"      // dispensed to a patient (or retail sold)
	StatusDecommissioned = "decommissioned" // taken out of the supply chain (inactive)
	StatusDestroyed      = "destroyed"
	StatusStolen         = "stolen"
	StatusRecalled       = "recalled" // only in a recalled unit's view (Verify, notices)
)

// Unit is one serialized unit (SGTIN) or logistic unit (SSCC): exactly one
// custodian organization and one status at every height.
type Unit struct {
	EPC string `json:"epc"`
	// Number is the unit's number, assigned from 1 in the order units are
	// created and never reused: its record is at UnitKey(Number).
	Number    uint64 `json:"number"`
	GTIN      string `json:"gtin,omitempty"` // GTIN-14; "" for an SSCC
	Serial    string `json:"serial,omitempty"`
	Lot       string `json:"lot,omitempty"`
	Expiry    string `json:"expiry,omitempty"` // YYYY-MM-DD
	Custodian string `json:"custodian"`        // organization id
	Status    string `json:"status"`
	// PendingTo is the organization a shipment in transit names.
	PendingTo string `json:"pending_to,omitempty"`
	// ShippedHeight and ShippedTime date the pending shipment.
	ShippedHeight int64     `json:"shipped_height,omitempty"`
	ShippedTime   time.Time `json:"shipped_time,omitzero"`
	// Parent is the container the unit is packed in (aggregation), "" when loose.
	Parent string `json:"parent,omitempty"`
	// Children counts the units packed directly in this one.
	Children int `json:"children,omitempty"`
	// Excursion is set when a temperature reading outside the lot's range
	// was captured on the unit or on a container it was packed in.
	Excursion       bool  `json:"excursion,omitempty"`
	ExcursionHeight int64 `json:"excursion_height,omitempty"`
	// Owner is the organization that commissioned the unit.
	Owner            string    `json:"owner"`
	CommissionHeight int64     `json:"commission_height"`
	Commissioned     time.Time `json:"commissioned"`
	UpdatedHeight    int64     `json:"updated_height"`
	// Cohort is FirstEvent while the unit is still held by the organization
	// that created it: the custodian index then counts it in that event's
	// cohort entry instead of an entry of its own (one state write per
	// serial when commissioning in batches). 0 once it has moved.
	Cohort uint64 `json:"cohort,omitempty"`
	// FirstEvent is the id of the event that created the unit (its
	// commissioning); it is not repeated in the EPC event index.
	FirstEvent uint64 `json:"first_event"`
	// LastEvent is the id of the last event that changed the unit.
	LastEvent uint64 `json:"last_event"`
}

// Product is a registered trade item.
type Product struct {
	GTIN  string `json:"gtin"`             // GTIN-14
	NDC   string `json:"ndc,omitempty"`    // US National Drug Code, for drugs
	UDIDI string `json:"udi_di,omitempty"` // device identifier (GS1: the GTIN)
	Name  string `json:"name,omitempty"`   // trade name (no PHI)
	Kind  string `json:"kind"`             // "drug" or "device"
	Owner string `json:"owner"`            // organization owning the GTIN's company prefix
	// Prefix is the GS1 company prefix that gave Owner the GTIN.
	Prefix           string    `json:"prefix"`
	RegisteredHeight int64     `json:"registered_height"`
	Registered       time.Time `json:"registered"`
}

// Product kinds.
const (
	ProductDrug   = "drug"
	ProductDevice = "device"
)

// Lot is lot-level data of a product.
type Lot struct {
	GTIN   string `json:"gtin"`
	Lot    string `json:"lot"`
	Expiry string `json:"expiry,omitempty"` // YYYY-MM-DD
	// The allowed storage temperature range, in milli-degrees Celsius,
	// when HasTempRange.
	TempMinMilli     int64 `json:"temp_min_milli,omitempty"`
	TempMaxMilli     int64 `json:"temp_max_milli,omitempty"`
	HasTempRange     bool  `json:"has_temp_range,omitempty"`
	RegisteredHeight int64 `json:"registered_height"`
}

// StoredEvent is a captured event as state holds it: the normalized Event
// without its trade details, with the chain's id, who captured it, when,
// and the organizations it moved custody between.
type StoredEvent struct {
	ID     uint64    `json:"id"`
	Event  Event     `json:"event"`
	Org    string    `json:"org"`    // capturing organization
	Signer string    `json:"signer"` // DID that signed the capture
	Height int64     `json:"height"`
	Time   time.Time `json:"time"` // block time
	// Index is the event's position in its capture message.
	Index int `json:"index"`
	// Receiver is the organization a shipping event named (resolved from
	// its destination), "" otherwise. Custody changes reveal it anyway.
	Receiver string `json:"receiver,omitempty"`
}

// Alert kinds.
const (
	AlertDoubleCommission = "double_commission" // a serial commissioned twice
	AlertUnknownSerial    = "unknown_serial"    // an unknown serial in a shipment or receipt
	AlertWrongReceiver    = "wrong_receiver"    // received by an organization it was not shipped to
	AlertReentry          = "dispensed_reentry" // a dispensed unit re-entering the chain
	AlertNotCustodian     = "not_custodian"     // shipped by an organization that does not hold it
)

// Alert is an on-chain counterfeit or diversion alert (ADR 0004), visible
// to the product's manufacturer, the organizations involved and regulators.
type Alert struct {
	ID        uint64    `json:"id"`
	Kind      string    `json:"kind"`
	EPC       string    `json:"epc"`
	GTIN      string    `json:"gtin,omitempty"`
	Org       string    `json:"org"`             // the capturing organization
	Owner     string    `json:"owner,omitempty"` // the product's manufacturer, when known
	Custodian string    `json:"custodian,omitempty"`
	Height    int64     `json:"height"`
	Time      time.Time `json:"time"`
	EventHash string    `json:"event_hash,omitempty"`
	// EventIndex is the offending event's position in its capture message.
	EventIndex int    `json:"event_index"`
	Detail     string `json:"detail"`
}

// Recall is a recall of one lot of a product (or of every lot: Lot "").
type Recall struct {
	GTIN   string    `json:"gtin"`
	Lot    string    `json:"lot,omitempty"`
	By     string    `json:"by"` // organization
	Signer string    `json:"signer"`
	Reason string    `json:"reason,omitempty"`
	Height int64     `json:"height"`
	Time   time.Time `json:"time"`
}

// VerifyResult is the answer to a verification request.
type VerifyResult struct {
	Verified bool   `json:"verified"`
	Reason   string `json:"reason,omitempty"` // one of the Reason* codes when not verified
	// Detail says more, in words (no PHI).
	Detail string `json:"detail,omitempty"`
	EPC    string `json:"epc"`
	GTIN   string `json:"gtin"`
	Serial string `json:"serial"`
	// Status, Custodian, Lot and Expiry are the unit's as state holds them
	// (empty for an unknown serial).
	Status    string `json:"status,omitempty"`
	Custodian string `json:"custodian,omitempty"`
	Lot       string `json:"lot,omitempty"`
	Expiry    string `json:"expiry,omitempty"`
	Excursion bool   `json:"excursion,omitempty"`
	Recalled  bool   `json:"recalled,omitempty"`
}

// Verification reasons (VerifyResult.Reason).
const (
	ReasonUnknownSerial  = "unknown_serial"
	ReasonUnknownProduct = "unknown_product"
	ReasonLotMismatch    = "lot_mismatch"
	ReasonExpiryMismatch = "expiry_mismatch"
	ReasonExpired        = "expired"
	ReasonDecommissioned = "decommissioned"
	ReasonDestroyed      = "destroyed"
	ReasonDispensed      = "dispensed"
	ReasonRecalled       = "recalled"
	ReasonStolen         = "stolen"
	ReasonExcursion      = "temperature_excursion"
	ReasonCustodyGap     = "custody_gap"
)

// EventFilter selects stored events (Keeper.Events). Zero fields do not
// filter. Times are block times.
type EventFilter struct {
	EPC         string    // events on this EPC (and, while packed, on its containers)
	BizStep     string    // CBV short name
	Disposition string    // CBV short name
	From, To    time.Time // block time range [From, To)
	After       uint64    // only events with id > After (paging)
	Limit       int       // at most (0: DefaultEventLimit)
}

// DefaultEventLimit bounds one Events answer.
const DefaultEventLimit = 1000

// Params of the supply module.
type Params struct {
	// MaxTransit is how long a shipment may stay in transit before
	// verification reports a custody gap.
	MaxTransit time.Duration `json:"max_transit"`
	// MaxEventsPerCapture and MaxEPCsPerCapture bound one MsgCapture.
	MaxEventsPerCapture int `json:"max_events_per_capture"`
	MaxEPCsPerCapture   int `json:"max_epcs_per_capture"`
}

// DefaultParams: 30 days in transit, 1,000 events and 100,000 EPCs per capture.
func DefaultParams() Params {
	return Params{MaxTransit: 30 * 24 * time.Hour, MaxEventsPerCapture: 1000, MaxEPCsPerCapture: 100_000}
}
