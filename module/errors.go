package module

import (
	"errors"
	"fmt"
)

// Error is a coded rejection: a transaction that fails with it gets
// Codespace and Code in its ABCI result and Error() as its log. Codes are
// unique within a codespace and never reused for another meaning.
type Error struct {
	Codespace string
	Code      uint32
	Desc      string
}

// NewError declares a coded error. Code 0 is reserved for success.
func NewError(codespace string, code uint32, desc string) *Error {
	if code == 0 {
		panic("module: code 0 is reserved")
	}
	return &Error{Codespace: codespace, Code: code, Desc: desc}
}

func (e *Error) Error() string { return e.Desc }

// Wrapf returns an error that matches e with errors.Is and errors.As and
// reads "desc: detail". The detail must not carry protected health
// information: it ends up in transaction logs.
func (e *Error) Wrapf(format string, args ...any) error {
	return &wrapped{code: e, msg: e.Desc + ": " + fmt.Sprintf(format, args...)}
}

type wrapped struct {
	code *Error
	msg  string
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.code }

// CodeOf returns the codespace and code of err, or ok=false when err carries
// no code.
func CodeOf(err error) (codespace string, code uint32, ok bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Codespace, e.Code, true
	}
	return "", 0, false
}
