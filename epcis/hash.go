package epcis

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// The GS1 CBV 2.0 event hash ("Event hash" in CBV 2.0; reference
// implementation github.com/RalphTro/epcis-event-hash-generator):
//
//   - the pre-hash string starts with eventType=<type>, followed by the
//     event's fields in the canonical order of hashOrder, each rendered as
//     name=value or, for a structure, name followed by its members;
//   - repeated members (list entries, sensor elements, reports, extension
//     fields) are rendered one by one and sorted lexically (byte order);
//   - user extension fields are written {namespace}localName=value; inside a
//     known structure (readPoint, sensorMetadata, sensorElement, ...) they
//     follow its known members, sorted;
//   - everything the order does not name (bizTransactionList, sourceList,
//     destinationList, ilmd, top-level user extensions, misplaced standard
//     fields) follows, rendered generically and sorted; a bizTransaction,
//     source or destination renders as type=<type><name>=<id>;
//   - recordTime, eventID, errorDeclaration and comments are left out;
//   - values are normalised: timestamps to UTC with millisecond precision
//     and a Z; EPC URIs, EPC class and pattern URIs and GS1 Digital Links to
//     the constrained canonical Digital Link (https://id.gs1.org/...); CBV
//     URNs, CURIEs and bare CBV words to their https://ref.gs1.org/cbv/ or
//     https://gs1.org/voc/ forms; numeric values as the reference writes them (pyNumber);
//   - the hash is SHA-256 over the UTF-8 pre-hash string, written
//     ni:///sha-256;<lowercase hex>?ver=CBV2.0.

type orderSpec struct {
	name string
	sub  []orderSpec
	kind int
}

const (
	kindPlain    = iota // text and/or ordered sub-members
	kindExtended        // like plain, plus sorted namespaced members inline
)

var quantitySpec = []orderSpec{{name: "quantityElement", sub: []orderSpec{{name: "epcClass"}, {name: "quantity"}, {name: "uom"}}}}
var epcSpec = []orderSpec{{name: "epc"}}

var hashOrder = []orderSpec{
	{name: "eventTime"},
	{name: "eventTimeZoneOffset"},
	{name: "certificationInfo"},
	{name: "epcList", sub: epcSpec},
	{name: "parentID"},
	{name: "inputEPCList", sub: epcSpec},
	{name: "childEPCs", sub: epcSpec},
	{name: "quantityList", sub: quantitySpec},
	{name: "childQuantityList", sub: quantitySpec},
	{name: "inputQuantityList", sub: quantitySpec},
	{name: "outputEPCList", sub: epcSpec},
	{name: "outputQuantityList", sub: quantitySpec},
	{name: "action"},
	{name: "transformationID"},
	{name: "bizStep"},
	{name: "disposition"},
	{name: "persistentDisposition", sub: []orderSpec{{name: "set"}, {name: "unset"}}},
	{name: "readPoint", sub: []orderSpec{{name: "id"}}, kind: kindExtended},
	{name: "bizLocation", sub: []orderSpec{{name: "id"}}, kind: kindExtended},
	{name: "sensorElementList", sub: []orderSpec{{name: "sensorElement", kind: kindExtended, sub: []orderSpec{
		{name: "sensorMetadata", kind: kindExtended, sub: []orderSpec{{name: "time"}, {name: "startTime"}, {name: "endTime"},
			{name: "deviceID"}, {name: "deviceMetadata"}, {name: "rawData"}, {name: "dataProcessingMethod"}, {name: "bizRules"}}},
		{name: "sensorReport", kind: kindExtended, sub: []orderSpec{{name: "type"}, {name: "exception"}, {name: "deviceID"},
			{name: "deviceMetadata"}, {name: "rawData"}, {name: "dataProcessingMethod"}, {name: "time"}, {name: "microorganism"},
			{name: "chemicalSubstance"}, {name: "value"}, {name: "component"}, {name: "stringValue"}, {name: "booleanValue"},
			{name: "hexBinaryValue"}, {name: "uriValue"}, {name: "minValue"}, {name: "maxValue"}, {name: "meanValue"},
			{name: "sDev"}, {name: "percRank"}, {name: "percValue"}, {name: "uom"}, {name: "coordinateReferenceSystem"}}},
	}}}},
}

// Fields never part of the hash.
var hashIgnored = map[string]bool{"recordTime": true, "eventID": true, "errorDeclaration": true, "comment": true,
	"{http://www.w3.org/2000/01/rdf-schema#}comment": true}

// PreHash returns the canonical pre-hash string of an event tree. ignore
// names top-level fields ("{namespace}local") the document asks to leave
// out (a document-level ignoreFields extension, as the reference supports).
func PreHash(ev *Node, ignore ...string) string {
	var b strings.Builder
	b.WriteString("eventType=")
	b.WriteString(ev.Name)
	top := &Node{Name: ev.Name}
	for _, c := range ev.Children {
		if !hashIgnored[c.Name] && !contains(ignore, c.Name) {
			top.Children = append(top.Children, c)
		}
	}
	s, left := renderOrdered(top, hashOrder, kindPlain, "")
	b.WriteString(s)
	if left != nil {
		b.WriteString(renderGenericList(left.Children, ""))
	}
	return b.String()
}

// Hash returns the CBV 2.0 event hash of an event tree (see PreHash).
func Hash(ev *Node, ignore ...string) string {
	sum := sha256.Sum256([]byte(PreHash(ev, ignore...)))
	return "ni:///sha-256;" + hex.EncodeToString(sum[:]) + "?ver=CBV2.0"
}

// renderOrdered renders n's members named by spec, in order (each group
// sorted); kindExtended appends the namespaced members, sorted. It returns
// the rendering and the members it did not render (with their path kept as
// a pruned copy of n), or nil when nothing is left.
func renderOrdered(n *Node, spec []orderSpec, kind int, parent string) (string, *Node) {
	var b strings.Builder
	used := make([]bool, len(n.Children))
	var leftKids []*Node
	for _, sp := range spec {
		var vals []string
		for i, c := range n.Children {
			if c.Name != sp.name {
				continue
			}
			used[i] = true
			s, left := renderMember(c, sp, n.Name)
			if s != "" {
				vals = append(vals, s)
			}
			if left != nil {
				leftKids = append(leftKids, left)
			}
		}
		sort.Strings(vals)
		for _, v := range vals {
			b.WriteString(v)
		}
	}
	var extVals []string
	for i, c := range n.Children {
		if used[i] {
			continue
		}
		if kind == kindExtended && c.IsExtension() {
			extVals = append(extVals, renderGeneric(c, n.Name))
			continue
		}
		leftKids = append(leftKids, c)
	}
	sort.Strings(extVals)
	for _, v := range extVals {
		b.WriteString(v)
	}
	if len(leftKids) == 0 {
		return b.String(), nil
	}
	return b.String(), &Node{Name: n.Name, Children: leftKids}
}

func renderMember(c *Node, sp orderSpec, parent string) (string, *Node) {
	var text, sub string
	var left *Node
	if sp.sub != nil {
		sub, left = renderOrdered(c, sp.sub, sp.kind, parent)
	} else if len(c.Children) > 0 {
		left = &Node{Name: c.Name, Children: c.Children}
	}
	if c.Text != "" {
		if v := canonValue(c.Name, c.Text, parent); v != "" {
			text = "=" + v
		}
	}
	if text == "" && sub == "" {
		return "", left
	}
	return c.Name + text + sub, left
}

// renderGeneric renders a node and its children (sorted), or "" when it
// holds nothing.
func renderGeneric(n *Node, parent string) string {
	switch n.Name {
	case "bizTransaction", "source", "destination":
		var b strings.Builder
		if t := n.text("type"); t != "" {
			b.WriteString("type=" + canonValue("type", t, n.Name))
		}
		if n.Text != "" {
			b.WriteString(n.Name + "=" + canonValue(n.Name, n.Text, parent))
		}
		var rest []*Node
		for _, c := range n.Children {
			if c.Name != "type" {
				rest = append(rest, c)
			}
		}
		b.WriteString(renderGenericList(rest, n.Name))
		return b.String()
	}
	var text string
	if n.Text != "" {
		if v := canonValue(n.Name, n.Text, parent); v != "" {
			text = "=" + v
		}
	}
	sub := renderGenericList(n.Children, n.Name)
	if text == "" && sub == "" && len(n.Children) > 0 {
		return ""
	}
	return n.Name + text + sub
}

func renderGenericList(kids []*Node, parent string) string {
	vals := make([]string, 0, len(kids))
	for _, c := range kids {
		if hashIgnored[c.Name] {
			continue
		}
		if s := renderGeneric(c, parent); s != "" {
			vals = append(vals, s)
		}
	}
	sort.Strings(vals)
	return strings.Join(vals, "")
}

// Time-valued field names.
var timeFields = map[string]bool{"eventTime": true, "recordTime": true, "time": true, "startTime": true,
	"endTime": true, "declarationTime": true}

// pyNumber normalises a numeric value the way the reference
// implementation does (it is what the published vectors encode): the text
// is read as an IEEE-754 double; an integral value is written as an integer
// ("26.0" → "26", "0614141" → "614141"), any other value in its shortest
// round-trip form ("12.10" → "12.1", 0.00001 → "1e-05"). Used only to
// build the pre-hash string, never for amounts or sensor values.
func pyNumber(s string) (string, bool) {
	if !pyFloatSyntax(s) {
		return "", false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", false
	}
	if f == math.Trunc(f) {
		if f == 0 {
			return "0", true
		}
		return new(big.Float).SetFloat64(f).Text('f', 0), true
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if exp >= -4 && exp < 16 {
		return strconv.FormatFloat(f, 'f', -1, 64), true
	}
	return e, true
}

// pyFloatSyntax accepts [+-](digits[.digits]|.digits)[e[+-]digits].
func pyFloatSyntax(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	intDigits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		intDigits++
	}
	fracDigits := 0
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			fracDigits++
		}
	}
	if intDigits+fracDigits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		expDigits := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			expDigits++
		}
		if expDigits == 0 {
			return false
		}
	}
	return i == len(s)
}

// canonValue normalises one value for the pre-hash string.
func canonValue(name, text, parent string) string {
	text = strings.TrimSpace(text)
	if timeFields[name] {
		if t, err := ParseTime(text); err == nil {
			return t.UTC().Format("2006-01-02T15:04:05.000Z")
		}
		return text
	}
	if v, ok := expandVocabulary(name, text, parent); ok {
		return v
	}
	if d, ok := pyNumber(text); ok {
		return d
	}
	if dl, ok := CanonicalDL(text); ok {
		return dl
	}
	return text
}

// expandVocabulary maps CBV URNs, CURIEs and bare CBV words to their web
// vocabulary URIs.
func expandVocabulary(name, text, parent string) (string, bool) {
	for _, m := range cbvURNPrefixes {
		if strings.HasPrefix(text, m.urn) {
			return m.web + text[len(m.urn):], true
		}
	}
	switch {
	case strings.HasPrefix(text, "gs1:"):
		return "https://gs1.org/voc/" + text[4:], true
	case strings.HasPrefix(text, "cbv:"):
		return "https://ref.gs1.org/cbv/" + text[4:], true
	}
	if strings.Contains(text, ":") || text == "" {
		return "", false
	}
	// A bare word: a CBV term in JSON-LD, expanded by the EPCIS context.
	switch name {
	case "bizStep":
		return cbvWeb + "BizStep-" + text, true
	case "disposition", "set", "unset":
		return cbvWeb + "Disp-" + text, true
	case "reason":
		return cbvWeb + "ER-" + text, true
	case "component":
		return cbvWeb + "Comp-" + text, true
	case "type":
		switch parent {
		case "bizTransaction":
			return cbvWeb + "BTT-" + text, true
		case "source", "destination":
			return cbvWeb + "SDT-" + text, true
		case "sensorReport":
			return "https://gs1.org/voc/" + text, true
		}
	case "exception":
		return "https://gs1.org/voc/" + text, true
	}
	return "", false
}

const cbvWeb = "https://ref.gs1.org/cbv/"

var cbvURNPrefixes = []struct{ urn, web string }{
	{"urn:epcglobal:cbv:bizstep:", cbvWeb + "BizStep-"},
	{"urn:epcglobal:cbv:disp:", cbvWeb + "Disp-"},
	{"urn:epcglobal:cbv:btt:", cbvWeb + "BTT-"},
	{"urn:epcglobal:cbv:sdt:", cbvWeb + "SDT-"},
	{"urn:epcglobal:cbv:er:", cbvWeb + "ER-"},
	{"urn:epcglobal:cbv:comp:", cbvWeb + "Comp-"},
}

// canonDecimal writes a decimal number without a plus sign, leading zeros
// or trailing fractional zeros ("026.50" → "26.5", "-0.0" → "0").
func canonDecimal(s string) (string, bool) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return "", false
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return "", false
			}
		}
	}
	if hasDot && frac == "" && intPart == "" {
		return "", false
	}
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	frac = strings.TrimRight(frac, "0")
	out := intPart
	if frac != "" {
		out += "." + frac
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
