package api

import (
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/medchain/medchain/api/types"
)

// schemaTypes maps the component names used in the route table to the Go
// types of their bodies; their JSON schemas are derived by reflection so the
// document cannot drift from the code.
var schemaTypes = map[string]any{
	"Status":            types.Status{},
	"SubmitTx":          types.SubmitTx{},
	"TxResult":          types.TxResult{},
	"Block":             types.Block{},
	"Identity":          types.Identity{},
	"Sequence":          types.Sequence{},
	"Memberships":       types.Memberships{},
	"OrgList":           types.OrgList{},
	"OrgDetail":         types.OrgResponse{},
	"ProposalList":      types.ProposalList{},
	"ProposalDetail":    types.ProposalResponse{},
	"StoreValue":        types.StoreValue{},
	"ConsentList":       types.ConsentList{},
	"ConsentDetail":     types.ConsentResponse{},
	"AccessLog":         types.AccessLog{},
	"AccessEventDetail": types.AccessEventResponse{},
	"RecordList":        types.RecordList{},
	"RecordDetail":      types.RecordResponse{},
	"ErasureStatus":     types.ErasureStatus{},
	"Error":             ErrorBody{},
}

var pathParam = regexp.MustCompile(`\{([a-z]+)\}`)

// OpenAPI returns the OpenAPI 3.0 document of every route.
func (s *Server) OpenAPI() map[string]any {
	paths := map[string]any{}
	for _, rt := range s.routes {
		op := map[string]any{"summary": rt.Summary, "operationId": operationID(rt)}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.Pattern, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range rt.Query {
			params = append(params, map[string]any{"name": q.Name, "in": "query", "required": false, "description": q.Desc, "schema": map[string]any{"type": q.Type}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.Body != "" {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": ref(rt.Body)}}}
		}
		okContent := map[string]any{"application/json": map[string]any{"schema": ref(rt.Response)}}
		switch rt.Response {
		case "Metrics":
			okContent = map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}
		case "External":
			okContent = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
		case "OpenAPI", "JSONRPC":
			okContent = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
		}
		errResp := map[string]any{"description": "Error", "content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}}
		op["responses"] = map[string]any{
			"200":     map[string]any{"description": "OK", "content": okContent},
			"default": errResp,
		}
		item, _ := paths[rt.Pattern].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.Pattern] = item
		}
		m := strings.ToLower(rt.Method)
		if m == "" {
			m = "get"
		}
		item[m] = op
	}
	schemas := map[string]any{}
	for name, v := range schemaTypes {
		schemas[name] = schemaOf(reflect.TypeOf(v), 0)
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "medchain node API", "version": "1",
			"description": "REST API of a medchain node. Every read reports the height it was served at; errors are {\"error\":{\"code\",\"message\"}}."},
		"servers":    []any{map[string]any{"url": "http://127.0.0.1:8080"}},
		"paths":      paths,
		"components": map[string]any{"schemas": schemas},
	}
}

func operationID(rt Route) string {
	id := strings.ToLower(rt.Method)
	for _, part := range strings.Split(strings.Trim(rt.Pattern, "/"), "/") {
		part = strings.Trim(part, "{}.")
		part = strings.ReplaceAll(part, ".", "")
		if part != "" {
			id += strings.ToUpper(part[:1]) + part[1:]
		}
	}
	return id
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

var timeType = reflect.TypeOf(time.Time{})

// schemaOf derives an OpenAPI schema from a Go type as encoding/json
// marshals it.
func schemaOf(t reflect.Type, depth int) map[string]any {
	if depth > 12 {
		return map[string]any{"type": "object"}
	}
	if t == timeType {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem(), depth+1)
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if t.String() == "node.Duration" || t.String() == "time.Duration" {
			return map[string]any{"type": "integer", "description": "nanoseconds"}
		}
		return map[string]any{"type": "integer"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			if t.Name() == "RawMessage" {
				return map[string]any{"type": "object"}
			}
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), depth+1)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), depth+1)}
	case reflect.Struct:
		props := map[string]any{}
		addFields(t, props, depth)
		return map[string]any{"type": "object", "properties": props}
	}
	return map[string]any{}
}

func addFields(t reflect.Type, props map[string]any, depth int) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			addFields(ft, props, depth+1)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaOf(f.Type, depth+1)
	}
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.OpenAPI())
}
