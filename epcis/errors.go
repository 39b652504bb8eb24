package epcis

import (
	"fmt"
	"strings"
)

// FieldError is one reason a document is not valid EPCIS. Event is the
// event's index in the document's event list (0-based), or -1 for a problem
// with the document itself; Field names the offending field (a JSON-pointer
// like path relative to the event, e.g. "epcList/2" or "quantityList/0/quantity").
type FieldError struct {
	Event  int    `json:"event"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

func (e FieldError) String() string {
	var b strings.Builder
	if e.Event >= 0 {
		fmt.Fprintf(&b, "event %d", e.Event)
	} else {
		b.WriteString("document")
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": %s", e.Field)
	}
	fmt.Fprintf(&b, ": %s", e.Reason)
	return b.String()
}

// ValidationError lists every problem found in a document. Parse returns it
// (and no Document) when the input is not valid EPCIS.
type ValidationError struct {
	Errors []FieldError `json:"errors"`
}

// maxReportedErrors bounds the error list of one document.
const maxReportedErrors = 100

func (e *ValidationError) Error() string {
	if len(e.Errors) == 0 {
		return "invalid EPCIS document"
	}
	parts := make([]string, 0, 3)
	for i, fe := range e.Errors {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(e.Errors)-3))
			break
		}
		parts = append(parts, fe.String())
	}
	return "invalid EPCIS document: " + strings.Join(parts, "; ")
}

// errs collects FieldErrors while reading a document.
type errs struct{ list []FieldError }

func (c *errs) add(event int, field, format string, args ...any) {
	if len(c.list) >= maxReportedErrors {
		return
	}
	c.list = append(c.list, FieldError{Event: event, Field: field, Reason: fmt.Sprintf(format, args...)})
}

func (c *errs) err() error {
	if len(c.list) == 0 {
		return nil
	}
	return &ValidationError{Errors: c.list}
}
