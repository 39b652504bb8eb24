package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// ContentType is the media type of every response.
const ContentType = "application/fhir+json; charset=utf-8"

// Issue is one issue of an OperationOutcome. Messages never quote resource
// content: they name paths, types, ids and DIDs only.
type Issue struct {
	Severity   string // fatal, error, warning, information
	Code       string // FHIR issue-type code: invalid, structure, required, value, security, login, forbidden, not-found, deleted, too-long, not-supported, exception, ...
	Diagnostic string
	Expression string // FHIRPath of the element at fault, if known
}

// Error is an error answered with an OperationOutcome and an HTTP status.
type Error struct {
	Status int
	Issues []Issue
	// Challenge is the WWW-Authenticate value of a 401.
	Challenge string
	// Headers are extra response headers (e.g. Allow on 405).
	Headers map[string]string
}

func (e *Error) Error() string {
	if len(e.Issues) == 0 {
		return http.StatusText(e.Status)
	}
	return e.Issues[0].Diagnostic
}

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Issues: []Issue{{Severity: "error", Code: code, Diagnostic: fmt.Sprintf(format, args...)}}}
}

func badRequest(format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, "invalid", format, args...)
}

func notFound(format string, args ...any) *Error {
	return errorf(http.StatusNotFound, "not-found", format, args...)
}

func forbidden(format string, args ...any) *Error {
	return errorf(http.StatusForbidden, "forbidden", format, args...)
}

func unprocessable(format string, args ...any) *Error {
	return errorf(http.StatusUnprocessableEntity, "processing", format, args...)
}

func gone(format string, args ...any) *Error {
	return errorf(http.StatusGone, "deleted", format, args...)
}

// outcome renders issues as an OperationOutcome resource.
func outcome(issues []Issue) map[string]any {
	var out []any
	for _, is := range issues {
		m := map[string]any{"severity": is.Severity, "code": is.Code}
		if is.Diagnostic != "" {
			m["diagnostics"] = is.Diagnostic
		}
		if is.Expression != "" {
			m["expression"] = []any{is.Expression}
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		out = []any{map[string]any{"severity": "information", "code": "informational"}}
	}
	return map[string]any{"resourceType": "OperationOutcome", "issue": out}
}

// encodeJSON marshals v without HTML escaping (narratives stay readable).
func encodeJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("fhir: encode: %v", err))
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func writeResource(w http.ResponseWriter, status int, v any) {
	bz := encodeJSON(v)
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(bz)))
	w.WriteHeader(status)
	_, _ = w.Write(bz)
}

// writeError answers err as an OperationOutcome; anything but an *Error is
// a 500 whose details stay in the node log.
func writeError(w http.ResponseWriter, err error) {
	var fe *Error
	if !errors.As(err, &fe) {
		fe = errorf(http.StatusInternalServerError, "exception", "internal error; see the node log")
	}
	if fe.Challenge != "" {
		w.Header().Set("WWW-Authenticate", fe.Challenge)
	}
	for k, v := range fe.Headers {
		w.Header().Set(k, v)
	}
	writeResource(w, fe.Status, outcome(fe.Issues))
}
