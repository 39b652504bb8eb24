package wire

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// sample is a message using every encoder method:
//
//	message Sample { uint64 n = 1; bool b = 2; bytes blob = 3; string s = 4; Sample inner = 5;
//	                 repeated string names = 6; repeated bytes blobs = 7; }
type sample struct {
	N     uint64
	B     bool
	Blob  []byte
	S     string
	Inner *sample
	Names []string
	Blobs [][]byte
}

func (m *sample) MarshalWire() []byte {
	var e Encoder
	e.Uint64(1, m.N)
	e.Bool(2, m.B)
	e.Blob(3, m.Blob)
	e.String(4, m.S)
	if m.Inner != nil {
		e.Message(5, m.Inner)
	}
	e.Strings(6, m.Names)
	e.Blobs(7, m.Blobs)
	return e.Bytes()
}

func decodeSample(bz []byte) (*sample, error) {
	fs, err := Parse(bz)
	if err != nil {
		return nil, err
	}
	if err := fs.Only(1, 2, 3, 4, 5, 6, 7); err != nil {
		return nil, err
	}
	m := &sample{}
	if m.N, err = fs.Uint64(1); err != nil {
		return nil, err
	}
	if m.B, err = fs.Bool(2); err != nil {
		return nil, err
	}
	if m.Blob, err = fs.Blob(3); err != nil {
		return nil, err
	}
	if m.S, err = fs.String(4); err != nil {
		return nil, err
	}
	inner, err := fs.Blob(5)
	if err != nil {
		return nil, err
	}
	if inner != nil {
		if m.Inner, err = decodeSample(inner); err != nil {
			return nil, err
		}
	}
	if m.Names, err = fs.Strings(6); err != nil {
		return nil, err
	}
	if m.Blobs, err = fs.Blobs(7); err != nil {
		return nil, err
	}
	return m, nil
}

func equalSample(a, b *sample) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.N == b.N && a.B == b.B && bytes.Equal(a.Blob, b.Blob) && a.S == b.S && equalSample(a.Inner, b.Inner) &&
		slices.Equal(a.Names, b.Names) && slices.EqualFunc(a.Blobs, b.Blobs, bytes.Equal)
}

func TestRoundTrip(t *testing.T) {
	for name, m := range map[string]*sample{
		"zero":       {},
		"scalars":    {N: 1, B: true, Blob: []byte{0}, S: "x"},
		"max varint": {N: ^uint64(0)},
		"128":        {N: 128},
		"long blob":  {Blob: bytes.Repeat([]byte{0xab}, 1000)},
		"utf8":       {S: "héllo, 世界"},
		"nested":     {N: 3, Inner: &sample{S: "inner", Inner: &sample{B: true}}},
		"repeated":   {Names: []string{"b", "a", "b"}, Blobs: [][]byte{{1}, {}, {2, 3}}},
		"everything": {N: 300, B: true, Blob: []byte("blob"), S: "s", Inner: &sample{N: 1}, Names: []string{"n"}, Blobs: [][]byte{{9}}},
	} {
		t.Run(name, func(t *testing.T) {
			bz := m.MarshalWire()
			got, err := decodeSample(bz)
			if err != nil {
				t.Fatalf("decode(%X): got error %v, want nil", bz, err)
			}
			// An empty element of a repeated bytes field decodes as empty, not nil.
			want := *m
			for i, b := range want.Blobs {
				if b == nil {
					want.Blobs[i] = []byte{}
				}
			}
			if !equalSample(got, &want) {
				t.Fatalf("decode: got %+v, want %+v", got, &want)
			}
			if again := got.MarshalWire(); !bytes.Equal(again, bz) {
				t.Fatalf("re-encode: got %X, want %X", again, bz)
			}
		})
	}
}

func TestEncoderOmitsZeroValues(t *testing.T) {
	var e Encoder
	e.Uint64(1, 0)
	e.Bool(2, false)
	e.Blob(3, nil)
	e.Blob(3, []byte{})
	e.String(4, "")
	e.Message(5, &sample{})
	if got := e.Bytes(); len(got) != 0 {
		t.Fatalf("encoding of zero values: got %X, want empty", got)
	}
}

func TestEncoderKnownBytes(t *testing.T) {
	m := &sample{N: 150, B: true, S: "hi", Names: []string{"a", "b"}}
	want := []byte{0x08, 0x96, 0x01, 0x10, 0x01, 0x22, 0x02, 'h', 'i', 0x32, 0x01, 'a', 0x32, 0x01, 'b'}
	if got := m.MarshalWire(); !bytes.Equal(got, want) {
		t.Fatalf("MarshalWire: got %X, want %X", got, want)
	}
}

func tag(num protowire.Number, typ protowire.Type) []byte { return protowire.AppendTag(nil, num, typ) }

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		name         string
		in           []byte
		nonCanonical bool // a protobuf decoder would accept it
	}{
		{"fields out of order", []byte{0x10, 0x01, 0x08, 0x01}, true},
		{"zero varint", []byte{0x08, 0x00}, true},
		{"non-minimal varint", []byte{0x08, 0x81, 0x00}, true},
		{"non-minimal length", []byte{0x1a, 0x81, 0x00, 0x01}, true},
		{"non-minimal tag", []byte{0x88, 0x00, 0x01}, true},
		{"truncated varint", []byte{0x08, 0x80}, false},
		{"varint overflow", []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, false},
		{"length exceeds input", []byte{0x1a, 0x05, 0x01}, false},
		{"length overflow", []byte{0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, false},
		{"field number 0", []byte{0x00, 0x01}, false},
		{"fixed64", append(tag(1, protowire.Fixed64Type), make([]byte, 8)...), false},
		{"fixed32", append(tag(1, protowire.Fixed32Type), make([]byte, 4)...), false},
		{"start group", tag(1, protowire.StartGroupType), false},
		{"truncated tag", []byte{0x80}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.in)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%X): got %v, want an error wrapping ErrMalformed", tc.in, err)
			}
			if got := errors.Is(err, ErrNonCanonical); got != tc.nonCanonical {
				t.Fatalf("Parse(%X): got %v (wraps ErrNonCanonical: %v), want ErrNonCanonical %v", tc.in, err, got, tc.nonCanonical)
			}
		})
	}
}

// A non-canonical input still yields its fields, so a caller can check the
// rest of the encoding; a later hard error wins over a non-canonical one.
func TestParseNonCanonicalKeepsFields(t *testing.T) {
	fs, err := Parse([]byte{0x10, 0x01, 0x08, 0x05})
	if !errors.Is(err, ErrNonCanonical) {
		t.Fatalf("Parse: got %v, want ErrNonCanonical", err)
	}
	if n, _ := fs.Uint64(1); n != 5 {
		t.Fatalf("field 1: got %d, want 5", n)
	}
	if b, _ := fs.Bool(2); !b {
		t.Fatalf("field 2: got false, want true")
	}
	_, err = Parse([]byte{0x10, 0x01, 0x08, 0x05, 0x1a, 0x09})
	if err == nil || errors.Is(err, ErrNonCanonical) {
		t.Fatalf("Parse(out of order, then truncated): got %v, want a malformed error that is not ErrNonCanonical", err)
	}
}

func TestAccessors(t *testing.T) {
	for _, tc := range []struct {
		name         string
		in           []byte
		get          func(Fields) error
		nonCanonical bool
	}{
		{"repeated singular varint", []byte{0x08, 0x01, 0x08, 0x02}, func(fs Fields) error { _, err := fs.Uint64(1); return err }, true},
		{"repeated singular bytes", []byte{0x1a, 0x01, 'a', 0x1a, 0x01, 'b'}, func(fs Fields) error { _, err := fs.Blob(3); return err }, true},
		{"repeated singular string", []byte{0x22, 0x01, 'a', 0x22, 0x01, 'b'}, func(fs Fields) error { _, err := fs.String(4); return err }, true},
		{"explicit empty bytes", []byte{0x1a, 0x00}, func(fs Fields) error { _, err := fs.Blob(3); return err }, true},
		{"explicit empty string", []byte{0x22, 0x00}, func(fs Fields) error { _, err := fs.String(4); return err }, true},
		{"bool out of range", []byte{0x10, 0x02}, func(fs Fields) error { _, err := fs.Bool(2); return err }, true},
		{"varint read as bytes", []byte{0x08, 0x01}, func(fs Fields) error { _, err := fs.Blob(1); return err }, false},
		{"bytes read as varint", []byte{0x0a, 0x01, 0x01}, func(fs Fields) error { _, err := fs.Uint64(1); return err }, false},
		{"invalid UTF-8", []byte{0x22, 0x01, 0xff}, func(fs Fields) error { _, err := fs.String(4); return err }, false},
		{"invalid UTF-8 element", []byte{0x32, 0x01, 'a', 0x32, 0x01, 0xff}, func(fs Fields) error { _, err := fs.Strings(6); return err }, false},
		{"repeated with a varint element", []byte{0x38, 0x01}, func(fs Fields) error { _, err := fs.Blobs(7); return err }, false},
		{"unknown field", []byte{0x08, 0x01, 0x40, 0x01}, func(fs Fields) error { return fs.Only(1, 2, 3, 4, 5, 6, 7) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%X): got %v, want nil", tc.in, err)
			}
			err = tc.get(fs)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("accessor: got %v, want an error wrapping ErrMalformed", err)
			}
			if got := errors.Is(err, ErrNonCanonical); got != tc.nonCanonical {
				t.Fatalf("accessor: got %v (wraps ErrNonCanonical: %v), want ErrNonCanonical %v", err, got, tc.nonCanonical)
			}
		})
	}
}

func TestAbsentFieldsReadAsZero(t *testing.T) {
	fs, err := Parse(nil)
	if err != nil {
		t.Fatalf("Parse(nil): got %v, want nil", err)
	}
	n, err1 := fs.Uint64(1)
	b, err2 := fs.Bool(2)
	bl, err3 := fs.Blob(3)
	s, err4 := fs.String(4)
	ss, err5 := fs.Strings(6)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		t.Fatalf("accessors on empty input: got %v, want nil", err)
	}
	if n != 0 || b || bl != nil || s != "" || ss == nil && len(ss) != 0 {
		t.Fatalf("accessors on empty input: got %d %v %v %q %v, want zero values", n, b, bl, s, ss)
	}
}

// FuzzParse checks that Parse never panics and that whatever decodes as a
// sample re-encodes to the input.
func FuzzParse(f *testing.F) {
	f.Add((&sample{N: 300, B: true, Blob: []byte("blob"), S: "s", Inner: &sample{N: 1}, Names: []string{"n"}}).MarshalWire())
	f.Add([]byte{0x10, 0x01, 0x08, 0x01})
	f.Add([]byte{0x08, 0x81, 0x00})
	f.Fuzz(func(t *testing.T, bz []byte) {
		m, err := decodeSample(bz)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decode(%X): got %v, want an error wrapping ErrMalformed", bz, err)
			}
			return
		}
		if re := m.MarshalWire(); !bytes.Equal(re, bz) {
			t.Fatalf("decode(%X) succeeded but re-encodes to %X", bz, re)
		}
	})
}
