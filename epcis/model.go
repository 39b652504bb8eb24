package epcis

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Document formats (Document.Format).
const (
	FormatJSON  = "json"    // EPCIS 2.0 JSON / JSON-LD
	FormatXML2  = "xml-2.0" // EPCIS 2.0 XML
	FormatXML12 = "xml-1.2" // EPCIS 1.2 (or 1.x) XML
)

// Event types.
const (
	ObjectEvent         = "ObjectEvent"
	AggregationEvent    = "AggregationEvent"
	TransactionEvent    = "TransactionEvent"
	TransformationEvent = "TransformationEvent"
	AssociationEvent    = "AssociationEvent"
)

// Document is a parsed EPCIS document.
type Document struct {
	Format        string `json:"format"`
	Type          string `json:"type"` // EPCISDocument or EPCISQueryDocument
	SchemaVersion string `json:"schemaVersion"`
	CreationDate  string `json:"creationDate"`
	// IgnoreFields are the event fields a document-level ignoreFields
	// extension excludes from the event hash.
	IgnoreFields []string `json:"ignoreFields,omitempty"`
	Events       []Event  `json:"events"`
}

// Event is one EPCIS event. Identifiers are kept as written (EPC URI or
// GS1 Digital Link); vocabulary values are CBV short names ("shipping")
// when they are CBV terms, the URI otherwise. Numbers are decimal text.
type Event struct {
	Type                string    `json:"type"`
	EventTime           time.Time `json:"eventTime"`
	EventTimeZoneOffset string    `json:"eventTimeZoneOffset"`
	RecordTime          string    `json:"recordTime,omitempty"`
	EventID             string    `json:"eventID,omitempty"`
	CertificationInfo   []string  `json:"certificationInfo,omitempty"`
	ErrorDeclaration    *Node     `json:"errorDeclaration,omitempty"`

	Action           string   `json:"action,omitempty"`
	EPCList          []string `json:"epcList,omitempty"`
	ParentID         string   `json:"parentID,omitempty"`
	ChildEPCs        []string `json:"childEPCs,omitempty"`
	InputEPCList     []string `json:"inputEPCList,omitempty"`
	OutputEPCList    []string `json:"outputEPCList,omitempty"`
	TransformationID string   `json:"transformationID,omitempty"`

	QuantityList       []Quantity `json:"quantityList,omitempty"`
	ChildQuantityList  []Quantity `json:"childQuantityList,omitempty"`
	InputQuantityList  []Quantity `json:"inputQuantityList,omitempty"`
	OutputQuantityList []Quantity `json:"outputQuantityList,omitempty"`

	BizStep               string   `json:"bizStep,omitempty"`
	Disposition           string   `json:"disposition,omitempty"`
	PersistentDispSet     []string `json:"persistentDispositionSet,omitempty"`
	PersistentDispUnset   []string `json:"persistentDispositionUnset,omitempty"`
	ReadPoint             string   `json:"readPoint,omitempty"`
	BizLocation           string   `json:"bizLocation,omitempty"`
	BizTransactions       []Typed  `json:"bizTransactionList,omitempty"`
	Sources, Destinations []Typed  `json:"-"`

	SensorElements []SensorElement `json:"sensorElementList,omitempty"`
	// ILMD holds the instance/lot master data fields ({ns}name nodes).
	ILMD []*Node `json:"ilmd,omitempty"`
	// Extensions holds the event's top-level user extension fields.
	Extensions []*Node `json:"extensions,omitempty"`

	// Hash is the CBV 2.0 canonical event hash (ni:///sha-256;…?ver=CBV2.0).
	Hash string `json:"hash"`
	// Tree is the neutral tree the event was read from.
	Tree *Node `json:"-"`
}

// Quantity is a quantity element. Quantity is decimal text ("" if absent).
type Quantity struct {
	EPCClass string `json:"epcClass"`
	Quantity string `json:"quantity,omitempty"`
	UOM      string `json:"uom,omitempty"`
}

// Typed is a bizTransaction, source or destination: Type is a CBV short
// name or a URI, ID the identifier.
type Typed struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id"`
}

// SensorElement is one sensorElementList entry.
type SensorElement struct {
	Metadata map[string]string `json:"sensorMetadata,omitempty"`
	Reports  []SensorReport    `json:"sensorReport"`
}

// SensorReport is one sensor report. Type is short ("Temperature"); the
// numeric fields are decimal text as written; Fields holds every attribute.
type SensorReport struct {
	Type   string            `json:"type,omitempty"`
	UOM    string            `json:"uom,omitempty"`
	Value  string            `json:"value,omitempty"`
	Min    string            `json:"minValue,omitempty"`
	Max    string            `json:"maxValue,omitempty"`
	Time   string            `json:"time,omitempty"`
	Fields map[string]string `json:"fields,omitempty"`
}

// Lot returns the ILMD lot number (cbvmda:lotNumber), if any.
func (e *Event) Lot() string { return e.ilmdField("lotNumber") }

// ExpiryDate returns the ILMD item expiration date (cbvmda:itemExpirationDate),
// if any, as written (normally YYYY-MM-DD).
func (e *Event) ExpiryDate() string { return e.ilmdField("itemExpirationDate") }

func (e *Event) ilmdField(local string) string {
	var walk func(ns []*Node) string
	walk = func(ns []*Node) string {
		for _, n := range ns {
			space, l := n.Namespace()
			if l == local && (strings.HasPrefix(space, "urn:epcglobal:cbv:mda") || strings.Contains(space, "gs1ushc") || strings.Contains(space, "cbv")) && n.Text != "" {
				return n.Text
			}
			if v := walk(n.Children); v != "" {
				return v
			}
		}
		return ""
	}
	return walk(e.ILMD)
}

// Format names a wire format for Parse.
type Format int

const (
	// Detect chooses JSON or XML from the first non-space byte.
	Detect Format = iota
	JSON
	XML
)

// Parse reads an EPCIS document (JSON/JSON-LD, 2.0 XML or 1.2 XML) and
// validates every event. It returns a *ValidationError (and no Document)
// listing every problem when the document is not valid.
func Parse(data []byte, f Format) (*Document, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	trimmed = bytes.TrimPrefix(trimmed, []byte("\xef\xbb\xbf"))
	if f == Detect {
		switch {
		case len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '['):
			f = JSON
		case len(trimmed) > 0 && trimmed[0] == '<':
			f = XML
		default:
			return nil, &ValidationError{Errors: []FieldError{{Event: -1, Reason: "neither a JSON nor an XML document"}}}
		}
	}
	var doc *Document
	var nodes []*Node
	var err error
	if f == JSON {
		doc, nodes, err = parseJSON(trimmed)
	} else {
		doc, nodes, err = parseXML(trimmed)
	}
	if err != nil {
		return nil, err
	}
	c := &errs{}
	if len(nodes) == 0 {
		c.add(-1, "eventList", "the document holds no events")
	}
	doc.Events = make([]Event, 0, len(nodes))
	for i, n := range nodes {
		doc.Events = append(doc.Events, buildEvent(c, i, n, doc.IgnoreFields, doc.Format == FormatXML12))
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	return doc, nil
}

// ParseEvent validates one event tree (as built by a reader) on its own.
func ParseEvent(n *Node) (Event, error) {
	c := &errs{}
	ev := buildEvent(c, 0, n, nil, false)
	return ev, c.err()
}

var actions = setOf("ADD", "OBSERVE", "DELETE")

// buildEvent turns an event tree into an Event, recording every problem.
// v12 relaxes two EPCIS 2.0 rules EPCIS 1.2 did not have (ilmd only with
// ADD; certificationInfo a URI).
func buildEvent(c *errs, i int, n *Node, ignore []string, v12 bool) Event {
	ev := Event{Type: n.Name, Tree: n}
	if _, ok := eventOrder[n.Name]; !ok {
		c.add(i, "type", "unknown event type %q (want ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent or AssociationEvent)", clip(n.Name))
		return ev
	}
	allowed := map[string]bool{}
	for _, f := range baseOrder {
		allowed[f] = true
	}
	for _, f := range eventOrder[n.Name] {
		allowed[f] = true
	}
	for _, ch := range n.Children {
		if ch.IsExtension() {
			ev.Extensions = append(ev.Extensions, ch)
			continue
		}
		if !allowed[ch.Name] {
			c.add(i, ch.Name, "not a field of %s", n.Name)
		}
		switch ch.Name {
		case "certificationInfo", "epcList", "childEPCs", "inputEPCList", "outputEPCList", "quantityList",
			"childQuantityList", "inputQuantityList", "outputQuantityList", "bizTransactionList", "sourceList",
			"destinationList", "sensorElementList", "ilmd":
		default:
			if k := n.count(ch.Name); k > 1 {
				c.add(i, ch.Name, "appears %d times", k)
			}
		}
	}

	// Time.
	switch et := n.text("eventTime"); {
	case n.child("eventTime") == nil:
		c.add(i, "eventTime", "missing (required)")
	default:
		t, err := ParseTime(et)
		if err != nil {
			c.add(i, "eventTime", "%q: %v", clip(et), err)
		}
		ev.EventTime = t
	}
	switch tz := n.text("eventTimeZoneOffset"); {
	case n.child("eventTimeZoneOffset") == nil:
		c.add(i, "eventTimeZoneOffset", "missing (required)")
	case !validOffset(tz):
		c.add(i, "eventTimeZoneOffset", "%q is not ±hh:mm", clip(tz))
	default:
		ev.EventTimeZoneOffset = tz
	}
	if rt := n.child("recordTime"); rt != nil {
		if _, err := ParseTime(rt.Text); err != nil {
			c.add(i, "recordTime", "%v", err)
		}
		ev.RecordTime = rt.Text
	}
	if id := n.child("eventID"); id != nil {
		if !isURI(id.Text) {
			c.add(i, "eventID", "must be a URI")
		}
		ev.EventID = id.Text
	}
	for _, ci := range n.all("certificationInfo") {
		if !isURI(ci.Text) && !v12 {
			c.add(i, "certificationInfo", "must be a URI")
		}
		ev.CertificationInfo = append(ev.CertificationInfo, ci.Text)
	}
	if ed := n.child("errorDeclaration"); ed != nil {
		ev.ErrorDeclaration = ed
		if dt := ed.child("declarationTime"); dt == nil {
			c.add(i, "errorDeclaration/declarationTime", "missing (required)")
		} else if _, err := ParseTime(dt.Text); err != nil {
			c.add(i, "errorDeclaration/declarationTime", "%v", err)
		}
		if r := ed.child("reason"); r != nil {
			if _, ok := vocabER.short(r.Text); !ok {
				c.add(i, "errorDeclaration/reason", "%q is not a CBV error reason or a URI", clip(r.Text))
			}
		}
	}

	// Action.
	if a := n.child("action"); a != nil {
		if !actions[a.Text] {
			c.add(i, "action", "%q is not ADD, OBSERVE or DELETE", clip(a.Text))
		}
		ev.Action = a.Text
	} else if n.Name != TransformationEvent {
		c.add(i, "action", "missing (required for %s)", n.Name)
	}

	// Identifiers.
	ev.EPCList = epcs(c, i, n, "epcList")
	ev.ChildEPCs = epcs(c, i, n, "childEPCs")
	ev.InputEPCList = epcs(c, i, n, "inputEPCList")
	ev.OutputEPCList = epcs(c, i, n, "outputEPCList")
	if p := n.child("parentID"); p != nil {
		if !isURI(p.Text) {
			c.add(i, "parentID", "%q is not a URI", clip(p.Text))
		}
		ev.ParentID = p.Text
	}
	if t := n.child("transformationID"); t != nil {
		if !isURI(t.Text) {
			c.add(i, "transformationID", "must be a URI")
		}
		ev.TransformationID = t.Text
	}
	ev.QuantityList = quantities(c, i, n, "quantityList")
	ev.ChildQuantityList = quantities(c, i, n, "childQuantityList")
	ev.InputQuantityList = quantities(c, i, n, "inputQuantityList")
	ev.OutputQuantityList = quantities(c, i, n, "outputQuantityList")

	// Vocabulary.
	if b := n.child("bizStep"); b != nil {
		s, ok := ShortBizStep(b.Text)
		if !ok || b.Text == "" {
			c.add(i, "bizStep", "%q is not a CBV business step or a URI", clip(b.Text))
		}
		ev.BizStep = s
	}
	if d := n.child("disposition"); d != nil {
		s, ok := ShortDisposition(d.Text)
		if !ok || d.Text == "" {
			c.add(i, "disposition", "%q is not a CBV disposition or a URI", clip(d.Text))
		}
		ev.Disposition = s
	}
	if pd := n.child("persistentDisposition"); pd != nil {
		for _, m := range pd.Children {
			if m.IsExtension() {
				continue
			}
			s, ok := ShortDisposition(m.Text)
			if !ok {
				c.add(i, "persistentDisposition/"+m.Name, "%q is not a CBV disposition or a URI", clip(m.Text))
			}
			switch m.Name {
			case "set":
				ev.PersistentDispSet = append(ev.PersistentDispSet, s)
			case "unset":
				ev.PersistentDispUnset = append(ev.PersistentDispUnset, s)
			default:
				c.add(i, "persistentDisposition/"+m.Name, "unknown field")
			}
		}
	}
	ev.ReadPoint = location(c, i, n, "readPoint")
	ev.BizLocation = location(c, i, n, "bizLocation")
	ev.BizTransactions = typedList(c, i, n, "bizTransactionList", "bizTransaction", vocabBTT, false)
	ev.Sources = typedList(c, i, n, "sourceList", "source", vocabSDT, true)
	ev.Destinations = typedList(c, i, n, "destinationList", "destination", vocabSDT, true)
	ev.SensorElements = sensors(c, i, n)
	if il := n.child("ilmd"); il != nil {
		for _, m := range il.Children {
			if !m.IsExtension() {
				c.add(i, "ilmd/"+m.Name, "ILMD fields must be namespaced")
				continue
			}
			ev.ILMD = append(ev.ILMD, m)
		}
	}

	// Per-type rules (EPCIS 2.0 section 7.4 and the JSON schema).
	hasEPCs, hasQty := n.child("epcList") != nil, len(ev.QuantityList) > 0
	switch n.Name {
	case ObjectEvent:
		if !hasEPCs && !hasQty && !(len(ev.SensorElements) > 0 && ev.ReadPoint != "") {
			c.add(i, "epcList", "an ObjectEvent needs epcList or quantityList (or sensor data with a readPoint)")
		}
		if n.child("ilmd") != nil && ev.Action != "ADD" && !v12 {
			c.add(i, "ilmd", "only allowed when action is ADD")
		}
	case AggregationEvent, AssociationEvent:
		if ev.Action != "OBSERVE" && ev.ParentID == "" {
			c.add(i, "parentID", "required when action is %s", ev.Action)
		}
		if n.Name == AssociationEvent && ev.ParentID == "" && ev.Action == "OBSERVE" {
			c.add(i, "parentID", "required for an AssociationEvent")
		}
		if ev.Action == "ADD" && len(ev.ChildEPCs) == 0 && len(ev.ChildQuantityList) == 0 {
			c.add(i, "childEPCs", "an ADD needs childEPCs or childQuantityList")
		}
	case TransactionEvent:
		if n.child("bizTransactionList") == nil || len(ev.BizTransactions) == 0 {
			c.add(i, "bizTransactionList", "required for a TransactionEvent")
		}
	case TransformationEvent:
		in := len(ev.InputEPCList) + len(ev.InputQuantityList)
		out := len(ev.OutputEPCList) + len(ev.OutputQuantityList)
		if in == 0 && out == 0 {
			c.add(i, "inputEPCList", "a TransformationEvent needs inputs or outputs")
		} else if (in == 0 || out == 0) && ev.TransformationID == "" {
			c.add(i, "transformationID", "required when a TransformationEvent lacks inputs or outputs")
		}
	}
	ev.Hash = Hash(n, ignore...)
	return ev
}

func epcs(c *errs, i int, n *Node, list string) []string {
	l := n.child(list)
	if l == nil {
		return nil
	}
	out := make([]string, 0, len(l.Children))
	for j, m := range l.Children {
		if m.Name != "epc" {
			if !m.IsExtension() {
				c.add(i, fmt.Sprintf("%s/%d", list, j), "unexpected <%s> (want epc)", clip(m.Name))
			}
			continue
		}
		if !isURI(m.Text) {
			c.add(i, fmt.Sprintf("%s/%d", list, j), "%q is not a URI", clip(m.Text))
			continue
		}
		if strings.HasPrefix(m.Text, "urn:epc:id:") {
			if _, ok := URNToDL(m.Text); !ok && !strings.HasPrefix(m.Text, "urn:epc:id:adi:") && !strings.HasPrefix(m.Text, "urn:epc:id:usdod:") && !strings.HasPrefix(m.Text, "urn:epc:id:gid:") && !strings.HasPrefix(m.Text, "urn:epc:id:bic:") && !strings.HasPrefix(m.Text, "urn:epc:id:imovn:") {
				c.add(i, fmt.Sprintf("%s/%d", list, j), "%q is not a valid EPC URI", clip(m.Text))
				continue
			}
		}
		out = append(out, m.Text)
	}
	return out
}

func quantities(c *errs, i int, n *Node, list string) []Quantity {
	l := n.child(list)
	if l == nil {
		return nil
	}
	var out []Quantity
	for j, m := range l.Children {
		path := fmt.Sprintf("%s/%d", list, j)
		if m.Name != "quantityElement" {
			if !m.IsExtension() {
				c.add(i, path, "unexpected <%s> (want quantityElement)", clip(m.Name))
			}
			continue
		}
		q := Quantity{EPCClass: m.text("epcClass"), Quantity: m.text("quantity"), UOM: m.text("uom")}
		if m.child("epcClass") == nil || !isURI(q.EPCClass) {
			c.add(i, path+"/epcClass", "missing or not a URI")
		}
		if m.child("quantity") != nil && q.Quantity != "" {
			if _, ok := canonDecimal(q.Quantity); !ok {
				if _, err := ParseMilli(q.Quantity); err != nil {
					c.add(i, path+"/quantity", "%q is not a number", clip(q.Quantity))
				}
			}
		}
		if q.UOM != "" && !validUOM(q.UOM) {
			c.add(i, path+"/uom", "%q is not a UN/CEFACT unit code", clip(q.UOM))
		}
		out = append(out, q)
	}
	return out
}

func validUOM(s string) bool {
	if len(s) < 2 || len(s) > 3 {
		return false
	}
	for k := 0; k < len(s); k++ {
		if !(s[k] >= 'A' && s[k] <= 'Z' || s[k] >= '0' && s[k] <= '9') {
			return false
		}
	}
	return true
}

func location(c *errs, i int, n *Node, name string) string {
	l := n.child(name)
	if l == nil {
		return ""
	}
	id := l.child("id")
	if id == nil {
		c.add(i, name+"/id", "missing")
		return ""
	}
	if !isURI(id.Text) {
		c.add(i, name+"/id", "%q is not a URI", clip(id.Text))
	}
	return id.Text
}

func typedList(c *errs, i int, n *Node, list, member string, v vocab, typeRequired bool) []Typed {
	l := n.child(list)
	if l == nil {
		return nil
	}
	var out []Typed
	for j, m := range l.Children {
		path := fmt.Sprintf("%s/%d", list, j)
		if m.Name != member {
			if !m.IsExtension() {
				c.add(i, path, "unexpected <%s> (want %s)", clip(m.Name), member)
			}
			continue
		}
		t := Typed{ID: m.Text}
		if !isURI(m.Text) {
			c.add(i, path, "%q is not a URI", clip(m.Text))
		}
		if tn := m.child("type"); tn != nil {
			s, ok := v.short(tn.Text)
			if !ok {
				c.add(i, path+"/type", "%q is not a CBV type or a URI", clip(tn.Text))
			}
			t.Type = s
		} else if typeRequired {
			c.add(i, path+"/type", "missing (required)")
		}
		out = append(out, t)
	}
	return out
}

func sensors(c *errs, i int, n *Node) []SensorElement {
	l := n.child("sensorElementList")
	if l == nil {
		return nil
	}
	var out []SensorElement
	for j, se := range l.Children {
		path := fmt.Sprintf("sensorElementList/%d", j)
		if se.Name != "sensorElement" {
			if !se.IsExtension() {
				c.add(i, path, "unexpected <%s> (want sensorElement)", clip(se.Name))
			}
			continue
		}
		var el SensorElement
		if md := se.child("sensorMetadata"); md != nil {
			el.Metadata = map[string]string{}
			for _, f := range md.Children {
				if !f.IsExtension() {
					el.Metadata[f.Name] = f.Text
				}
			}
			for _, tf := range []string{"time", "startTime", "endTime"} {
				if v, ok := el.Metadata[tf]; ok {
					if _, err := ParseTime(v); err != nil {
						c.add(i, path+"/sensorMetadata/"+tf, "%v", err)
					}
				}
			}
		}
		for k, rep := range se.all("sensorReport") {
			rpath := fmt.Sprintf("%s/sensorReport/%d", path, k)
			r := SensorReport{Fields: map[string]string{}}
			for _, f := range rep.Children {
				if !f.IsExtension() {
					r.Fields[f.Name] = f.Text
				}
			}
			r.Type = shortSensorType(r.Fields["type"])
			r.UOM, r.Value, r.Min, r.Max, r.Time = r.Fields["uom"], r.Fields["value"], r.Fields["minValue"], r.Fields["maxValue"], r.Fields["time"]
			for _, nf := range []string{"value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue"} {
				if v, ok := r.Fields[nf]; ok {
					if _, err := ParseMilli(v); err != nil {
						c.add(i, rpath+"/"+nf, "%q is not a number", clip(v))
					}
				}
			}
			if r.Time != "" {
				if _, err := ParseTime(r.Time); err != nil {
					c.add(i, rpath+"/time", "%v", err)
				}
			}
			if r.UOM != "" && !validUOM(r.UOM) {
				c.add(i, rpath+"/uom", "%q is not a UN/CEFACT unit code", clip(r.UOM))
			}
			el.Reports = append(el.Reports, r)
		}
		if len(el.Reports) == 0 {
			c.add(i, path+"/sensorReport", "a sensorElement needs at least one sensorReport")
		}
		out = append(out, el)
	}
	return out
}

// isURI reports whether s is an absolute URI (scheme ":" rest, no spaces).
func isURI(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n<>\"{}|\\^`") {
		return false
	}
	i := strings.IndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return false
	}
	for k := 0; k < i; k++ {
		ch := s[k]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || k > 0 && (ch >= '0' && ch <= '9' || ch == '+' || ch == '-' || ch == '.')) {
			return false
		}
	}
	if strings.HasPrefix(s, "http") {
		if _, err := url.Parse(s); err != nil {
			return false
		}
	}
	return true
}
