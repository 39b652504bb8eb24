// Package wire is medchain's canonical binary encoding: a strict subset of the
// protobuf wire format in which every value has exactly one valid encoding.
//
// The rules, which the Encoder always follows and Parse enforces, are:
//   - fields appear in ascending field-number order; a repeated field's
//     elements are consecutive;
//   - only varint (uint64, bool) and length-delimited (bytes, string,
//     embedded message) wire types are used;
//   - a scalar field holding its zero value ("", empty bytes, 0, false) is
//     omitted, and a field that is present must not hold its zero value;
//   - varints and lengths use the minimal number of bytes;
//   - strings are valid UTF-8;
//   - unknown field numbers are an error, not something to skip.
//
// Because of these rules a decoder that re-encodes what it parsed gets the
// input back byte for byte; package tx relies on this to reject a second
// encoding of a valid transaction. The format stays readable by any protobuf
// library given the schemas in api/proto.
package wire

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Number is a protobuf field number.
type Number = protowire.Number

// ErrMalformed is wrapped by every error Parse and the Fields accessors return.
var ErrMalformed = errors.New("malformed encoding")

// ErrNonCanonical is wrapped, besides ErrMalformed, by the errors for input
// that a protobuf decoder would accept but that breaks a canonical rule:
// fields out of order, a singular field repeated, an explicit zero value, a
// non-minimal tag, varint or length, or a bool other than 0 or 1.
var ErrNonCanonical = errors.New("non-canonical encoding")

func nonCanonical(format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrMalformed, ErrNonCanonical, fmt.Sprintf(format, args...))
}

// Marshaler is a value with a canonical wire encoding.
type Marshaler interface {
	// MarshalWire returns the canonical encoding. It never fails.
	MarshalWire() []byte
}

// Encoder appends fields in canonical form. The caller must call its
// methods in ascending field-number order. The zero Encoder is ready to use.
type Encoder struct {
	buf []byte
}

// Bytes returns the encoding written so far. The Encoder keeps ownership.
func (e *Encoder) Bytes() []byte { return e.buf }

// Uint64 writes field num as a varint; zero is omitted.
func (e *Encoder) Uint64(num Number, v uint64) {
	if v == 0 {
		return
	}
	e.buf = protowire.AppendTag(e.buf, num, protowire.VarintType)
	e.buf = protowire.AppendVarint(e.buf, v)
}

// Bool writes field num; false is omitted.
func (e *Encoder) Bool(num Number, v bool) {
	if v {
		e.Uint64(num, 1)
	}
}

// Blob writes field num as length-delimited bytes; empty is omitted.
func (e *Encoder) Blob(num Number, v []byte) {
	if len(v) == 0 {
		return
	}
	e.buf = protowire.AppendTag(e.buf, num, protowire.BytesType)
	e.buf = protowire.AppendBytes(e.buf, v)
}

// String writes field num; "" is omitted.
func (e *Encoder) String(num Number, v string) {
	if v == "" {
		return
	}
	e.buf = protowire.AppendTag(e.buf, num, protowire.BytesType)
	e.buf = protowire.AppendString(e.buf, v)
}

// Message writes an embedded message; an empty encoding is omitted.
func (e *Encoder) Message(num Number, m Marshaler) {
	e.Blob(num, m.MarshalWire())
}

// Strings writes a repeated string field; elements must be non-empty.
func (e *Encoder) Strings(num Number, vs []string) {
	for _, v := range vs {
		e.buf = protowire.AppendTag(e.buf, num, protowire.BytesType)
		e.buf = protowire.AppendString(e.buf, v)
	}
}

// Blobs writes a repeated bytes field (or repeated embedded message).
func (e *Encoder) Blobs(num Number, vs [][]byte) {
	for _, v := range vs {
		e.buf = protowire.AppendTag(e.buf, num, protowire.BytesType)
		e.buf = protowire.AppendBytes(e.buf, v)
	}
}

type field struct {
	num    Number
	varint uint64
	bytes  []byte
	isVar  bool
}

// Fields is a parsed message: its fields in encoding order.
type Fields struct {
	f []field
}

// Parse splits b into fields and enforces the canonical rules that do not
// depend on the schema (order, wire types, minimal varints, zero values).
// The returned Fields alias b.
//
// When b is well-formed protobuf whose only faults are canonical-rule
// violations, the error wraps ErrNonCanonical and the returned Fields hold
// every field, so that a caller can tell a second encoding of a valid value
// from bytes that are not one at all. Any other error wraps ErrMalformed
// only, and the Fields are empty.
func Parse(b []byte) (Fields, error) {
	fs := Fields{f: make([]field, 0, 8)}
	var last Number
	var nc error // the first canonical-rule violation
	note := func(format string, args ...any) {
		if nc == nil {
			nc = nonCanonical(format, args...)
		}
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return Fields{}, fmt.Errorf("%w: bad tag: %v", ErrMalformed, protowire.ParseError(n))
		}
		if n != protowire.SizeTag(num) {
			note("non-minimal tag")
		}
		if num < last {
			note("field %d after field %d", num, last)
		}
		last = max(last, num)
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return Fields{}, fmt.Errorf("%w: field %d: %v", ErrMalformed, num, protowire.ParseError(m))
			}
			if m != protowire.SizeVarint(v) {
				note("field %d: non-minimal varint", num)
			}
			if v == 0 {
				note("field %d: zero value must be omitted", num)
			}
			fs.f = append(fs.f, field{num: num, varint: v, isVar: true})
			b = b[m:]
		case protowire.BytesType:
			l, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return Fields{}, fmt.Errorf("%w: field %d: %v", ErrMalformed, num, protowire.ParseError(m))
			}
			if m != protowire.SizeVarint(l) {
				note("field %d: non-minimal length", num)
			}
			if l > uint64(len(b)-m) {
				return Fields{}, fmt.Errorf("%w: field %d: length %d exceeds input", ErrMalformed, num, l)
			}
			fs.f = append(fs.f, field{num: num, bytes: b[m : m+int(l)]})
			b = b[m+int(l):]
		default:
			return Fields{}, fmt.Errorf("%w: field %d: wire type %d not allowed", ErrMalformed, num, typ)
		}
	}
	if nc != nil {
		return fs, nc
	}
	return fs, nil
}

// Only returns an error if any field's number is not in known.
func (fs Fields) Only(known ...Number) error {
	for _, f := range fs.f {
		ok := false
		for _, k := range known {
			if f.num == k {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("%w: unknown field %d", ErrMalformed, f.num)
		}
	}
	return nil
}

// single returns the last occurrence of field num, as a protobuf decoder
// reads it; a repeated occurrence, or a present but empty length-delimited
// value (which the Encoder omits), makes the error wrap ErrNonCanonical.
func (fs Fields) single(num Number, wantVar bool) (field, bool, error) {
	var got field
	var err error
	found := false
	for _, f := range fs.f {
		if f.num != num {
			continue
		}
		if f.isVar != wantVar {
			return field{}, false, fmt.Errorf("%w: field %d has the wrong wire type", ErrMalformed, num)
		}
		if found && err == nil {
			err = nonCanonical("field %d repeated", num)
		}
		got, found = f, true
	}
	if err == nil && found && !wantVar && len(got.bytes) == 0 {
		err = nonCanonical("field %d: empty value must be omitted", num)
	}
	return got, found, err
}

// The accessors below return the value a protobuf decoder would read even
// when the error wraps ErrNonCanonical; on any other error the value is the
// zero value.

// Uint64 returns field num as a varint, 0 if absent.
func (fs Fields) Uint64(num Number) (uint64, error) {
	f, _, err := fs.single(num, true)
	return f.varint, err
}

// Bool returns field num, false if absent.
func (fs Fields) Bool(num Number) (bool, error) {
	f, _, err := fs.single(num, true)
	if err == nil && f.varint > 1 {
		err = nonCanonical("field %d: bool out of range", num)
	}
	return f.varint != 0, err
}

// Blob returns field num's bytes (aliasing the input), nil if absent.
func (fs Fields) Blob(num Number) ([]byte, error) {
	f, _, err := fs.single(num, false)
	return f.bytes, err
}

// String returns field num as a string, "" if absent.
func (fs Fields) String(num Number) (string, error) {
	f, _, err := fs.single(num, false)
	if !utf8.Valid(f.bytes) {
		return "", fmt.Errorf("%w: field %d: invalid UTF-8", ErrMalformed, num)
	}
	return string(f.bytes), err
}

// Blobs returns every element of a repeated length-delimited field.
func (fs Fields) Blobs(num Number) ([][]byte, error) {
	var out [][]byte
	for _, f := range fs.f {
		if f.num != num {
			continue
		}
		if f.isVar {
			return nil, fmt.Errorf("%w: field %d has the wrong wire type", ErrMalformed, num)
		}
		out = append(out, f.bytes)
	}
	return out, nil
}

// Strings returns every element of a repeated string field.
func (fs Fields) Strings(num Number) ([]string, error) {
	bs, err := fs.Blobs(num)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(bs))
	for i, b := range bs {
		if !utf8.Valid(b) {
			return nil, fmt.Errorf("%w: field %d: invalid UTF-8", ErrMalformed, num)
		}
		out[i] = string(b)
	}
	return out, nil
}
