package epcis

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// EPCIS XML namespaces.
const (
	nsEPCIS2      = "urn:epcglobal:epcis:xsd:2"
	nsEPCIS1      = "urn:epcglobal:epcis:xsd:1"
	nsEPCISQuery2 = "urn:epcglobal:epcis-query:xsd:2"
	nsEPCISQuery1 = "urn:epcglobal:epcis-query:xsd:1"
)

// maxXMLElements bounds the element count of one XML document.
const maxXMLElements = 2_000_000

type xnode struct {
	space, local string
	attrs        []xml.Attr
	text         strings.Builder
	kids         []*xnode
}

func (x *xnode) std() bool {
	switch x.space {
	case "", nsEPCIS2, nsEPCIS1, nsEPCISQuery2, nsEPCISQuery1:
		return true
	}
	return false
}

func (x *xnode) kid(local string) *xnode {
	for _, k := range x.kids {
		if k.local == local {
			return k
		}
	}
	return nil
}

// readXMLTree parses data into a tree of elements.
func readXMLTree(data []byte) (*xnode, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "utf-8", "us-ascii", "ascii":
			return in, nil
		}
		return nil, errors.New("unsupported XML encoding " + clip(label) + " (use UTF-8)")
	}
	var root *xnode
	var stack []*xnode
	count := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errors.New("not well-formed XML: " + err.Error())
		}
		switch t := tok.(type) {
		case xml.StartElement:
			count++
			if count > maxXMLElements {
				return nil, errors.New("too many XML elements")
			}
			if len(stack) >= maxDepth+8 {
				return nil, errors.New("XML nested too deeply")
			}
			n := &xnode{space: t.Name.Space, local: t.Name.Local, attrs: t.Attr}
			if len(stack) == 0 {
				if root != nil {
					return nil, errors.New("more than one root element")
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			}
		}
	}
	if root == nil {
		return nil, errors.New("no XML root element")
	}
	return root, nil
}

// parseXML reads an EPCIS 2.0 or 1.2 XML document (capture or query).
func parseXML(data []byte) (*Document, []*Node, error) { return parseXMLOpts(data, true) }

// parseXMLOpts reads XML; strict also checks each event's element order.
func parseXMLOpts(data []byte, strict bool) (*Document, []*Node, error) {
	root, err := readXMLTree(data)
	if err != nil {
		return nil, nil, &ValidationError{Errors: []FieldError{{Event: -1, Reason: err.Error()}}}
	}
	r := &errs{}
	doc := &Document{}
	switch root.local {
	case "EPCISDocument", "EPCISQueryDocument":
		doc.Type = root.local
	default:
		r.add(-1, "", "root element <%s> is not EPCISDocument or EPCISQueryDocument", clip(root.local))
		return nil, nil, r.err()
	}
	switch root.space {
	case nsEPCIS2, nsEPCISQuery2:
		doc.Format = FormatXML2
	case nsEPCIS1, nsEPCISQuery1:
		doc.Format = FormatXML12
	default:
		r.add(-1, "", "root element namespace %q is not an EPCIS 1.x or 2.0 namespace", clip(root.space))
		return nil, nil, r.err()
	}
	for _, a := range root.attrs {
		switch a.Name.Local {
		case "schemaVersion":
			doc.SchemaVersion = a.Value
		case "creationDate":
			doc.CreationDate = a.Value
		}
	}
	if doc.SchemaVersion == "" {
		r.add(-1, "schemaVersion", "missing attribute")
	} else if doc.Format == FormatXML2 && !strings.HasPrefix(doc.SchemaVersion, "2.") {
		r.add(-1, "schemaVersion", "%q does not match the EPCIS 2.0 namespace", clip(doc.SchemaVersion))
	}
	if doc.CreationDate != "" {
		if _, err := ParseTime(doc.CreationDate); err != nil {
			r.add(-1, "creationDate", "%v", err)
		}
	}
	for _, k := range root.kids {
		if k.local == "ignoreFields" && !k.std() {
			for _, f := range k.kids {
				doc.IgnoreFields = append(doc.IgnoreFields, xname(f.space, f.local, f.std()))
			}
		}
	}
	list := findEventList(root)
	if list == nil {
		r.add(-1, "EventList", "missing")
		return nil, nil, r.err()
	}
	var events []*xnode
	var collect func(kids []*xnode, depth int)
	collect = func(kids []*xnode, depth int) {
		for _, k := range kids {
			if k.local == "extension" && k.std() && depth < 4 {
				collect(k.kids, depth+1)
				continue
			}
			events = append(events, k)
		}
	}
	collect(list.kids, 0)
	nodes := make([]*Node, 0, len(events))
	for i, ev := range events {
		if !ev.std() {
			r.add(i, "", "event element <%s> is not in the EPCIS namespace", clip(ev.local))
			nodes = append(nodes, &Node{})
			continue
		}
		if _, ok := eventOrder[ev.local]; !ok {
			r.add(i, "", "unknown event type %q", clip(ev.local))
			nodes = append(nodes, &Node{})
			continue
		}
		n := xmlToNode(ev, 0)
		if strict && doc.Format == FormatXML2 {
			checkXMLOrder(r, i, ev)
		}
		nodes = append(nodes, n)
	}
	if err := r.err(); err != nil {
		return nil, nil, err
	}
	return doc, nodes, nil
}

func xname(space, local string, std bool) string {
	if std {
		return local
	}
	return "{" + space + "}" + local
}

// xmlToNode converts an element, making attributes children and flattening
// <extension> and <baseExtension> wrappers.
func xmlToNode(x *xnode, depth int) *Node {
	n := &Node{Name: xname(x.space, x.local, x.std()), Text: strings.TrimSpace(x.text.String())}
	if depth > maxDepth {
		return n
	}
	for _, a := range x.attrs {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") || a.Name.Space == "http://www.w3.org/2000/xmlns/" {
			continue
		}
		if a.Name.Space == "http://www.w3.org/2001/XMLSchema-instance" {
			continue
		}
		n.Children = append(n.Children, &Node{Name: xname(a.Name.Space, a.Name.Local, a.Name.Space == ""), Text: strings.TrimSpace(a.Value)})
	}
	var walk func(kids []*xnode)
	walk = func(kids []*xnode) {
		for _, k := range kids {
			if k.std() && (k.local == "extension" || k.local == "baseExtension") {
				walk(k.kids)
				continue
			}
			n.Children = append(n.Children, xmlToNode(k, depth+1))
		}
	}
	walk(x.kids)
	return n
}

var baseOrder = []string{"eventTime", "recordTime", "eventTimeZoneOffset", "eventID", "errorDeclaration", "certificationInfo"}

// eventOrder is the XSD element sequence of each event type after the
// common header fields (EPCIS 2.0; EPCIS 1.2 documents give the same
// relative order once their extension wrappers are flattened).
var eventOrder = map[string][]string{
	"ObjectEvent": {"epcList", "action", "bizStep", "disposition", "readPoint", "bizLocation", "bizTransactionList",
		"quantityList", "sourceList", "destinationList", "sensorElementList", "persistentDisposition", "ilmd"},
	"AggregationEvent": {"parentID", "childEPCs", "action", "bizStep", "disposition", "readPoint", "bizLocation",
		"bizTransactionList", "childQuantityList", "sourceList", "destinationList", "sensorElementList", "persistentDisposition"},
	"TransactionEvent": {"bizTransactionList", "parentID", "epcList", "action", "bizStep", "disposition", "readPoint",
		"bizLocation", "quantityList", "sourceList", "destinationList", "sensorElementList", "persistentDisposition"},
	"TransformationEvent": {"inputEPCList", "inputQuantityList", "outputEPCList", "outputQuantityList", "transformationID",
		"bizStep", "disposition", "readPoint", "bizLocation", "bizTransactionList", "sourceList", "destinationList",
		"sensorElementList", "persistentDisposition", "ilmd"},
	"AssociationEvent": {"parentID", "childEPCs", "childQuantityList", "action", "bizStep", "disposition", "readPoint",
		"bizLocation", "bizTransactionList", "sourceList", "destinationList", "sensorElementList", "persistentDisposition"},
}

// checkXMLOrder checks that an XML event's standard elements are known for
// its type, appear at most once and follow the XSD sequence.
func checkXMLOrder(r *errs, idx int, ev *xnode) {
	rank := map[string]int{}
	for i, f := range baseOrder {
		rank[f] = i
	}
	for i, f := range eventOrder[ev.local] {
		rank[f] = len(baseOrder) + i
	}
	last, lastName := -1, ""
	seen := map[string]bool{}
	// The trailing optional blocks are accepted in any order among
	// themselves (published examples disagree), certificationInfo anywhere.
	for _, f := range []string{"sensorElementList", "persistentDisposition", "ilmd"} {
		if _, ok := rank[f]; ok {
			rank[f] = 1000
		}
	}
	var visit func(kids []*xnode, wrapped bool)
	visit = func(kids []*xnode, wrapped bool) {
		for _, k := range kids {
			if !k.std() {
				continue
			}
			if k.local == "extension" || k.local == "baseExtension" {
				visit(k.kids, true)
				continue
			}
			pos, ok := rank[k.local]
			if ok && (wrapped || k.local == "certificationInfo") {
				if seen[k.local] {
					r.add(idx, k.local, "appears more than once")
				}
				seen[k.local] = true
				continue
			}
			if !ok {
				r.add(idx, k.local, "unknown element for %s (extensions need their own namespace)", ev.local)
				continue
			}
			if seen[k.local] {
				r.add(idx, k.local, "appears more than once")
				continue
			}
			seen[k.local] = true
			if pos < last {
				r.add(idx, k.local, "out of order: <%s> must come before <%s>", k.local, lastName)
				continue
			}
			last, lastName = pos, k.local
		}
	}
	visit(ev.kids, false)
}

// findEventList finds the EventList element: EPCISBody/EventList, or in a
// query document .../resultsBody/EventList (breadth first, a few levels).
func findEventList(root *xnode) *xnode {
	level := []*xnode{root}
	for depth := 0; depth < 5 && len(level) > 0; depth++ {
		var next []*xnode
		for _, n := range level {
			for _, k := range n.kids {
				if !k.std() {
					continue
				}
				if k.local == "EventList" {
					return k
				}
				switch k.local {
				case "EPCISBody", "QueryResults", "resultsBody":
					next = append(next, k)
				}
			}
		}
		level = next
	}
	return nil
}
