package epcis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Well-known JSON-LD prefixes of the EPCIS 2.0 context. A document's own
// @context entries override them.
var defaultPrefixes = map[string]string{
	"gs1":    "https://gs1.org/voc/",
	"cbv":    "https://ref.gs1.org/cbv/",
	"epcis":  "https://ref.gs1.org/epcis/",
	"cbvmda": "urn:epcglobal:cbv:mda",
	"rdfs":   "http://www.w3.org/2000/01/rdf-schema#",
	"xsd":    "http://www.w3.org/2001/XMLSchema#",
}

// maxDepth bounds nesting of extension fields (JSON and XML).
const maxDepth = 64

type jsonReader struct {
	errs
}

// parseJSON reads an EPCIS 2.0 JSON / JSON-LD document.
func parseJSON(data []byte) (*Document, []*Node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, nil, &ValidationError{Errors: []FieldError{{Event: -1, Reason: "not valid JSON: " + cleanJSONError(err)}}}
	}
	if dec.More() {
		return nil, nil, &ValidationError{Errors: []FieldError{{Event: -1, Reason: "trailing data after the JSON document"}}}
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return nil, nil, &ValidationError{Errors: []FieldError{{Event: -1, Reason: "the document is not a JSON object"}}}
	}
	r := &jsonReader{}
	doc := &Document{Format: FormatJSON}
	ctx, hasCtx := obj["@context"]
	if !hasCtx {
		r.add(-1, "@context", "missing: an EPCIS 2.0 JSON-LD document needs @context")
	}
	ns := r.context(copyPrefixes(defaultPrefixes), ctx, -1)
	doc.Type = str(obj["type"])
	switch doc.Type {
	case "EPCISDocument", "EPCISQueryDocument":
	case "":
		r.add(-1, "type", "missing: must be EPCISDocument or EPCISQueryDocument")
	default:
		r.add(-1, "type", "%q is not EPCISDocument or EPCISQueryDocument", clip(doc.Type))
	}
	doc.SchemaVersion = str(obj["schemaVersion"])
	if v, ok := obj["schemaVersion"]; !ok {
		r.add(-1, "schemaVersion", "missing")
	} else if s, ok := v.(string); !ok || (s != "2.0" && !strings.HasPrefix(s, "2.")) {
		r.add(-1, "schemaVersion", "must be the string \"2.0\"")
	}
	doc.CreationDate = str(obj["creationDate"])
	if v, ok := obj["creationDate"]; !ok {
		// required by the schema for capture, often absent in query results: tolerated
	} else if s, ok := v.(string); !ok {
		r.add(-1, "creationDate", "must be a date-time string")
	} else if _, err := ParseTime(s); err != nil {
		r.add(-1, "creationDate", "%v", err)
	}
	body, ok := obj["epcisBody"].(map[string]any)
	qr, _ := body["queryResults"].(map[string]any)
	for _, holder := range []map[string]any{obj, body, qr} {
		for _, k := range sortedKeys(holder) {
			if !strings.HasSuffix(k, ":ignoreFields") {
				continue
			}
			arr, _ := holder[k].([]any)
			for _, f := range arr {
				if s, ok := f.(string); ok {
					doc.IgnoreFields = append(doc.IgnoreFields, expandName(s, ns))
				}
			}
		}
	}
	if !ok {
		r.add(-1, "epcisBody", "missing or not an object")
		return nil, nil, r.err()
	}
	var list any
	var listPath string
	switch {
	case body["eventList"] != nil:
		list, listPath = body["eventList"], "epcisBody/eventList"
	case body["queryResults"] != nil:
		qr, _ := body["queryResults"].(map[string]any)
		rb, _ := qr["resultsBody"].(map[string]any)
		list, listPath = rb["eventList"], "epcisBody/queryResults/resultsBody/eventList"
		if list == nil {
			r.add(-1, listPath, "missing")
		}
	case body["event"] != nil:
		list, listPath = []any{body["event"]}, "epcisBody/event"
	default:
		r.add(-1, "epcisBody", "has no eventList")
	}
	var nodes []*Node
	if list != nil {
		events, ok := list.([]any)
		if !ok {
			r.add(-1, listPath, "must be an array of events")
		}
		for i, ev := range events {
			if n := r.event(i, ev, ns); n != nil {
				nodes = append(nodes, n)
			} else {
				nodes = append(nodes, &Node{})
			}
		}
	}
	if err := r.err(); err != nil {
		return nil, nil, err
	}
	return doc, nodes, nil
}

func copyPrefixes(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+4)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// context merges an @context value (string, object or list) into ns.
func (r *jsonReader) context(ns map[string]string, ctx any, event int) map[string]string {
	switch c := ctx.(type) {
	case nil:
	case string:
	case map[string]any:
		for k, v := range c {
			if s, ok := v.(string); ok && !strings.HasPrefix(k, "@") {
				ns[k] = s
			}
		}
	case []any:
		for _, e := range c {
			r.context(ns, e, event)
		}
	default:
		r.add(event, "@context", "must be a string, an object or an array")
	}
	return ns
}

// Event fields whose JSON value is a list of EPC strings.
var epcListFields = map[string]bool{"epcList": true, "childEPCs": true, "inputEPCList": true, "outputEPCList": true}

// Event fields whose JSON value is a list of quantity elements.
var quantityListFields = map[string]bool{"quantityList": true, "childQuantityList": true, "inputQuantityList": true, "outputQuantityList": true}

// Event fields whose JSON value is a string.
var stringFields = map[string]bool{
	"eventTime": true, "recordTime": true, "eventTimeZoneOffset": true, "eventID": true,
	"parentID": true, "action": true, "transformationID": true, "bizStep": true, "disposition": true,
}

func (r *jsonReader) event(idx int, v any, ns map[string]string) *Node {
	obj, ok := v.(map[string]any)
	if !ok {
		r.add(idx, "", "an event must be a JSON object")
		return nil
	}
	if ctx, ok := obj["@context"]; ok {
		ns = r.context(copyPrefixes(ns), ctx, idx)
	}
	typ, _ := obj["type"].(string)
	if typ == "" {
		r.add(idx, "type", "missing event type")
	}
	n := &Node{Name: typ}
	for _, key := range sortedKeys(obj) {
		val := obj[key]
		switch {
		case key == "type" || strings.HasPrefix(key, "@") || key == "comment" || key == "rdfs:comment":
		case stringFields[key]:
			s, ok := val.(string)
			if !ok {
				r.add(idx, key, "must be a string")
				continue
			}
			n.Children = append(n.Children, &Node{Name: key, Text: strings.TrimSpace(s)})
		case key == "certificationInfo":
			switch c := val.(type) {
			case string:
				n.Children = append(n.Children, &Node{Name: key, Text: strings.TrimSpace(c)})
			case []any:
				for i, e := range c {
					s, ok := e.(string)
					if !ok {
						r.add(idx, fmt.Sprintf("%s/%d", key, i), "must be a string")
						continue
					}
					n.Children = append(n.Children, &Node{Name: key, Text: strings.TrimSpace(s)})
				}
			default:
				r.add(idx, key, "must be a string or an array of strings")
			}
		case epcListFields[key]:
			n.Children = append(n.Children, r.stringList(idx, key, "epc", val))
		case quantityListFields[key]:
			n.Children = append(n.Children, r.quantityList(idx, key, val, ns))
		case key == "readPoint" || key == "bizLocation":
			o, ok := val.(map[string]any)
			if !ok {
				r.add(idx, key, "must be an object with an id")
				continue
			}
			loc := &Node{Name: key}
			for _, k := range sortedKeys(o) {
				if k == "id" {
					s, ok := o[k].(string)
					if !ok {
						r.add(idx, key+"/id", "must be a string")
						continue
					}
					loc.Children = append(loc.Children, &Node{Name: "id", Text: strings.TrimSpace(s)})
					continue
				}
				loc.Children = append(loc.Children, r.ext(idx, key+"/"+k, k, o[k], ns, 1)...)
			}
			n.Children = append(n.Children, loc)
		case key == "bizTransactionList" || key == "sourceList" || key == "destinationList":
			n.Children = append(n.Children, r.typedList(idx, key, val, ns))
		case key == "persistentDisposition":
			o, ok := val.(map[string]any)
			if !ok {
				r.add(idx, key, "must be an object with set and/or unset")
				continue
			}
			pd := &Node{Name: key}
			for _, k := range sortedKeys(o) {
				if k != "set" && k != "unset" {
					if strings.Contains(k, ":") {
						pd.Children = append(pd.Children, r.ext(idx, key+"/"+k, k, o[k], ns, 1)...)
					} else {
						r.add(idx, key+"/"+k, "unknown field")
					}
					continue
				}
				l := r.stringList(idx, key+"/"+k, k, o[k])
				pd.Children = append(pd.Children, l.Children...)
			}
			n.Children = append(n.Children, pd)
		case key == "sensorElementList":
			n.Children = append(n.Children, r.sensorElementList(idx, val, ns))
		case key == "ilmd":
			o, ok := val.(map[string]any)
			if !ok {
				r.add(idx, key, "must be an object")
				continue
			}
			il := &Node{Name: key}
			for _, k := range sortedKeys(o) {
				if strings.HasPrefix(k, "@") {
					continue
				}
				if !strings.Contains(k, ":") {
					r.add(idx, "ilmd/"+k, "ILMD fields must be namespaced (prefix:name)")
					continue
				}
				il.Children = append(il.Children, r.ext(idx, "ilmd/"+k, k, o[k], ns, 1)...)
			}
			n.Children = append(n.Children, il)
		case key == "errorDeclaration":
			n.Children = append(n.Children, r.errorDeclaration(idx, val, ns))
		case strings.Contains(key, ":"):
			n.Children = append(n.Children, r.ext(idx, key, key, val, ns, 1)...)
		default:
			r.add(idx, key, "unknown field (user extensions must be namespaced, prefix:name)")
		}
	}
	return n
}

func (r *jsonReader) stringList(idx int, path, member string, val any) *Node {
	n := &Node{Name: path[strings.LastIndexByte(path, '/')+1:]}
	arr, ok := val.([]any)
	if !ok {
		r.add(idx, path, "must be an array of strings")
		return n
	}
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			r.add(idx, fmt.Sprintf("%s/%d", path, i), "must be a string")
			continue
		}
		n.Children = append(n.Children, &Node{Name: member, Text: strings.TrimSpace(s)})
	}
	return n
}

func (r *jsonReader) quantityList(idx int, key string, val any, ns map[string]string) *Node {
	n := &Node{Name: key}
	arr, ok := val.([]any)
	if !ok {
		r.add(idx, key, "must be an array of quantity elements")
		return n
	}
	for i, e := range arr {
		path := fmt.Sprintf("%s/%d", key, i)
		o, ok := e.(map[string]any)
		if !ok {
			r.add(idx, path, "must be an object with epcClass")
			continue
		}
		q := &Node{Name: "quantityElement"}
		for _, k := range sortedKeys(o) {
			switch k {
			case "epcClass", "uom":
				s, ok := o[k].(string)
				if !ok {
					r.add(idx, path+"/"+k, "must be a string")
					continue
				}
				q.Children = append(q.Children, &Node{Name: k, Text: strings.TrimSpace(s)})
			case "quantity":
				num, ok := o[k].(json.Number)
				if !ok {
					r.add(idx, path+"/quantity", "must be a number")
					continue
				}
				q.Children = append(q.Children, &Node{Name: k, Text: num.String()})
			default:
				if strings.Contains(k, ":") {
					q.Children = append(q.Children, r.ext(idx, path+"/"+k, k, o[k], ns, 1)...)
				} else {
					r.add(idx, path+"/"+k, "unknown field")
				}
			}
		}
		n.Children = append(n.Children, q)
	}
	return n
}

// typedList reads bizTransactionList, sourceList or destinationList.
func (r *jsonReader) typedList(idx int, key string, val any, ns map[string]string) *Node {
	member := strings.TrimSuffix(key, "List")
	n := &Node{Name: key}
	arr, ok := val.([]any)
	if !ok {
		r.add(idx, key, "must be an array of objects")
		return n
	}
	for i, e := range arr {
		path := fmt.Sprintf("%s/%d", key, i)
		o, ok := e.(map[string]any)
		if !ok {
			r.add(idx, path, "must be an object with %s", member)
			continue
		}
		id, ok := o[member].(string)
		if !ok {
			r.add(idx, path+"/"+member, "missing or not a string")
			continue
		}
		m := &Node{Name: member, Text: strings.TrimSpace(id)}
		for _, k := range sortedKeys(o) {
			switch {
			case k == member:
			case k == "type":
				t, ok := o[k].(string)
				if !ok {
					r.add(idx, path+"/type", "must be a string")
					continue
				}
				m.Children = append(m.Children, &Node{Name: "type", Text: strings.TrimSpace(t)})
			case strings.Contains(k, ":"):
				m.Children = append(m.Children, r.ext(idx, path+"/"+k, k, o[k], ns, 1)...)
			default:
				r.add(idx, path+"/"+k, "unknown field")
			}
		}
		n.Children = append(n.Children, m)
	}
	return n
}

var sensorMetadataFields = map[string]bool{"time": true, "startTime": true, "endTime": true, "deviceID": true,
	"deviceMetadata": true, "rawData": true, "dataProcessingMethod": true, "bizRules": true}

var sensorReportFields = map[string]bool{"type": true, "exception": true, "deviceID": true, "deviceMetadata": true,
	"rawData": true, "dataProcessingMethod": true, "time": true, "microorganism": true, "chemicalSubstance": true,
	"value": true, "component": true, "stringValue": true, "booleanValue": true, "hexBinaryValue": true,
	"uriValue": true, "minValue": true, "maxValue": true, "meanValue": true, "sDev": true, "percRank": true,
	"percValue": true, "uom": true, "coordinateReferenceSystem": true, "bizRules": true}

var sensorNumberFields = map[string]bool{"value": true, "minValue": true, "maxValue": true, "meanValue": true,
	"sDev": true, "percRank": true, "percValue": true}

func (r *jsonReader) sensorElementList(idx int, val any, ns map[string]string) *Node {
	n := &Node{Name: "sensorElementList"}
	arr, ok := val.([]any)
	if !ok {
		r.add(idx, "sensorElementList", "must be an array of sensor elements")
		return n
	}
	for i, e := range arr {
		path := fmt.Sprintf("sensorElementList/%d", i)
		o, ok := e.(map[string]any)
		if !ok {
			r.add(idx, path, "must be an object")
			continue
		}
		se := &Node{Name: "sensorElement"}
		for _, k := range sortedKeys(o) {
			switch {
			case k == "sensorMetadata":
				m, ok := o[k].(map[string]any)
				if !ok {
					r.add(idx, path+"/sensorMetadata", "must be an object")
					continue
				}
				se.Children = append(se.Children, r.sensorFields(idx, path+"/sensorMetadata", "sensorMetadata", m, sensorMetadataFields, ns))
			case k == "sensorReport":
				reps, ok := o[k].([]any)
				if !ok {
					r.add(idx, path+"/sensorReport", "must be an array")
					continue
				}
				for j, rep := range reps {
					m, ok := rep.(map[string]any)
					if !ok {
						r.add(idx, fmt.Sprintf("%s/sensorReport/%d", path, j), "must be an object")
						continue
					}
					se.Children = append(se.Children, r.sensorFields(idx, fmt.Sprintf("%s/sensorReport/%d", path, j), "sensorReport", m, sensorReportFields, ns))
				}
			case strings.HasPrefix(k, "@"):
			case strings.Contains(k, ":"):
				se.Children = append(se.Children, r.ext(idx, path+"/"+k, k, o[k], ns, 1)...)
			default:
				r.add(idx, path+"/"+k, "unknown field")
			}
		}
		n.Children = append(n.Children, se)
	}
	return n
}

func (r *jsonReader) sensorFields(idx int, path, name string, o map[string]any, known map[string]bool, ns map[string]string) *Node {
	n := &Node{Name: name}
	for _, k := range sortedKeys(o) {
		v := o[k]
		switch {
		case known[k]:
			var text string
			switch x := v.(type) {
			case string:
				if sensorNumberFields[k] {
					r.add(idx, path+"/"+k, "must be a number")
					continue
				}
				text = x
			case json.Number:
				text = x.String()
			case bool:
				text = fmt.Sprint(x)
			default:
				r.add(idx, path+"/"+k, "must be a string, number or boolean")
				continue
			}
			n.Children = append(n.Children, &Node{Name: k, Text: strings.TrimSpace(text)})
		case strings.HasPrefix(k, "@"):
		case strings.Contains(k, ":"):
			n.Children = append(n.Children, r.ext(idx, path+"/"+k, k, v, ns, 1)...)
		default:
			r.add(idx, path+"/"+k, "unknown field")
		}
	}
	return n
}

func (r *jsonReader) errorDeclaration(idx int, val any, ns map[string]string) *Node {
	n := &Node{Name: "errorDeclaration"}
	o, ok := val.(map[string]any)
	if !ok {
		r.add(idx, "errorDeclaration", "must be an object")
		return n
	}
	for _, k := range sortedKeys(o) {
		switch {
		case k == "declarationTime" || k == "reason":
			s, ok := o[k].(string)
			if !ok {
				r.add(idx, "errorDeclaration/"+k, "must be a string")
				continue
			}
			n.Children = append(n.Children, &Node{Name: k, Text: strings.TrimSpace(s)})
		case k == "correctiveEventIDs":
			l := r.stringList(idx, "errorDeclaration/correctiveEventIDs", "correctiveEventID", o[k])
			n.Children = append(n.Children, l)
		case strings.HasPrefix(k, "@"):
		case strings.Contains(k, ":"):
			n.Children = append(n.Children, r.ext(idx, "errorDeclaration/"+k, k, o[k], ns, 1)...)
		default:
			r.add(idx, "errorDeclaration/"+k, "unknown field")
		}
	}
	return n
}

// ext converts a user-extension member into nodes (one per array element).
func (r *jsonReader) ext(idx int, path, key string, val any, ns map[string]string, depth int) []*Node {
	if depth > maxDepth {
		r.add(idx, path, "nested too deeply")
		return nil
	}
	name := expandName(key, ns)
	switch v := val.(type) {
	case nil:
		return nil
	case string:
		return []*Node{{Name: name, Text: strings.TrimSpace(v)}}
	case json.Number:
		return []*Node{{Name: name, Text: v.String()}}
	case bool:
		return []*Node{{Name: name, Text: fmt.Sprint(v)}}
	case []any:
		var out []*Node
		for i, e := range v {
			out = append(out, r.ext(idx, fmt.Sprintf("%s/%d", path, i), key, e, ns, depth+1)...)
		}
		return out
	case map[string]any:
		n := &Node{Name: name}
		for _, k := range sortedKeys(v) {
			switch {
			case k == "#text" || k == "@value":
				if s, ok := v[k].(string); ok {
					n.Text = strings.TrimSpace(s)
				} else if num, ok := v[k].(json.Number); ok {
					n.Text = num.String()
				}
			case strings.HasPrefix(k, "@"):
			default:
				n.Children = append(n.Children, r.ext(idx, path+"/"+k, k, v[k], ns, depth+1)...)
			}
		}
		return []*Node{n}
	}
	return nil
}

// expandName turns "prefix:local" into "{namespace}local" when the prefix
// is declared; other names are kept.
func expandName(key string, ns map[string]string) string {
	i := strings.IndexByte(key, ':')
	if i <= 0 {
		return key
	}
	if uri, ok := ns[key[:i]]; ok {
		return "{" + uri + "}" + key[i+1:]
	}
	return "{" + key[:i] + ":}" + key[i+1:]
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// cleanJSONError keeps encoding/json's message short and free of input bytes.
func cleanJSONError(err error) string {
	var se *json.SyntaxError
	if ok := asSyntax(err, &se); ok {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	return "cannot decode"
}

func asSyntax(err error, target **json.SyntaxError) bool {
	se, ok := err.(*json.SyntaxError)
	if ok {
		*target = se
	}
	return ok
}
