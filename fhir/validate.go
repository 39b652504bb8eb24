package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
)

// validator checks resources against the FHIR R4 structure definitions
// (types, cardinality, required elements, code bindings, reference
// targets, primitive formats) with github.com/google/fhir/go.
type validator struct {
	once sync.Once
	u    *jsonformat.Unmarshaller
	err  error
}

var defaultValidator validator

func (v *validator) get() (*jsonformat.Unmarshaller, error) {
	v.once.Do(func() { v.u, v.err = jsonformat.NewUnmarshaller("UTC", fhirversion.R4) })
	return v.u, v.err
}

var errorLine = regexp.MustCompile(`^error at "([^"]*)": (.*)$`)

// Validate checks one FHIR R4 resource (JSON) and returns its issues; none
// means valid. The issues name element paths and what is wrong, never the
// values found there.
//
// A reference to a resource type its element does not allow (the R4
// examples themselves contain a few, e.g. DeviceMetric.parent naming a
// DeviceDefinition) is not an error here: this server resolves no
// references but the patient's, which it checks itself.
func Validate(bz []byte) []Issue {
	u, err := defaultValidator.get()
	if err != nil {
		return []Issue{{Severity: "fatal", Code: "exception", Diagnostic: "validator unavailable"}}
	}
	rep := &reporter{}
	_, err = u.UnmarshalWithErrorReporter(bz, rep)
	var out []Issue
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				out = append(out, issueOf(line))
			}
		}
	}
	out = append(out, rep.errs...)
	if len(out) > 50 {
		out = out[:50]
	}
	return out
}

// reporter collects validation errors, keeping reference-type mismatches
// apart.
type reporter struct{ errs, warnings []Issue }

func (r *reporter) ReportValidationError(_ string, err error) error {
	is := issueOf(err.Error())
	if strings.HasPrefix(is.Diagnostic, "invalid reference to a") {
		is.Severity = "warning"
		r.warnings = append(r.warnings, is)
		return nil
	}
	r.errs = append(r.errs, is)
	return nil
}

func (r *reporter) ReportValidationWarning(_ string, err error) error {
	is := issueOf(err.Error())
	is.Severity = "warning"
	r.warnings = append(r.warnings, is)
	return nil
}

// issueOf turns a validator message ("error at \"Path\": details") into an
// issue.
func issueOf(line string) Issue {
	is := Issue{Severity: "error", Code: "invalid", Diagnostic: line}
	if m := errorLine.FindStringSubmatch(line); m != nil {
		is.Expression, is.Diagnostic = m[1], m[2]
	}
	switch {
	case strings.Contains(is.Diagnostic, "missing required"):
		is.Code = "required"
	case strings.Contains(is.Diagnostic, "unknown field"), strings.Contains(is.Diagnostic, "unknown resource"):
		is.Code = "structure"
	case strings.HasPrefix(is.Diagnostic, "expected"), strings.Contains(is.Diagnostic, "mismatch"), strings.Contains(is.Diagnostic, "invalid"):
		is.Code = "value"
	}
	is.Diagnostic = clip(is.Diagnostic, 200)
	return is
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// decodeObject parses a JSON object, keeping numbers as written (FHIR
// decimals carry their precision). Errors say where, never what.
func decodeObject(bz []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(bz))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, syntaxError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("malformed JSON: data after the top-level value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("the body must be a JSON object (a FHIR resource)")
	}
	return m, nil
}

func syntaxError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return badRequest("malformed JSON at byte offset %d", se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return badRequest("malformed JSON: unexpected end of input")
	}
	return badRequest("malformed JSON")
}

// readBody reads a request body within the API's limit.
func readBody(r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := strings.Cut(ct, ";")
		switch strings.TrimSpace(strings.ToLower(mt)) {
		case "application/fhir+json", "application/json", "application/json+fhir":
		default:
			return nil, errorf(http.StatusUnsupportedMediaType, "not-supported", "content type %q: this server reads application/fhir+json", clip(mt, 60))
		}
	}
	bz, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, errorf(http.StatusRequestEntityTooLarge, "too-long", "request body exceeds %d bytes", mbe.Limit)
	case err != nil:
		return nil, badRequest("could not read the request body")
	case len(bytes.TrimSpace(bz)) == 0:
		return nil, badRequest("empty request body; send a FHIR resource")
	}
	return bz, nil
}

// parseResource decodes and validates a posted resource whose type must
// be want ("" for any).
func parseResource(bz []byte, want string) (map[string]any, error) {
	res, err := decodeObject(bz)
	if err != nil {
		return nil, err
	}
	rt, _ := res["resourceType"].(string)
	switch {
	case rt == "":
		return nil, badRequest("the resource has no resourceType")
	case want != "" && rt != want:
		return nil, badRequest("resourceType %s does not match the URL's type %s", clip(rt, 64), want)
	}
	if issues := Validate(bz); len(issues) > 0 {
		return nil, &Error{Status: http.StatusUnprocessableEntity, Issues: issues}
	}
	return res, nil
}

func typeError(t string) error {
	if isR4Type(t) {
		return notFound("resource type %s is not served here: this server stores patient records (see /fhir/metadata)", t)
	}
	return notFound("%q is not a FHIR R4 resource type", clip(t, 64))
}

func fmtID(typ, id string) string { return fmt.Sprintf("%s/%s", typ, id) }
