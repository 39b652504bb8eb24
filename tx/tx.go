// Package tx is the medchain transaction envelope: its canonical encoding,
// its sign bytes and its hash.
//
// Schema (protobuf-compatible, see api/proto/medchain/tx/v1/tx.proto):
//
//	message Tx   { Body body = 1; bytes signature = 2; }
//	message Body { string chain_id = 1; string signer = 2; uint64 sequence = 3; repeated Any messages = 4; }
//	message Any  { string type_url = 1; bytes value = 2; }
//
// The signer is a DID key id (did:medchain:<id>#key-<n>). The signature is
// Ed25519 over SignBytes: the domain tag "medchain/tx/v1", a zero byte, and
// the canonical encoding of Body. Every field follows package wire's
// canonical rules, so a transaction has exactly one valid encoding; Decode
// rejects any other with ErrNonCanonical.
package tx

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/medchain/medchain/internal/wire"
)

// SignDomain is the domain-separation tag prefixed to sign bytes.
const SignDomain = "medchain/tx/v1"

var (
	// ErrDecode: the bytes are not a transaction.
	ErrDecode = errors.New("undecodable transaction")
	// ErrNonCanonical: the bytes decode, but are not the canonical encoding.
	ErrNonCanonical = errors.New("non-canonical transaction encoding")
)

// Any is one message: its type URL and its canonical encoding.
type Any struct {
	TypeURL string
	Value   []byte
}

// MarshalWire implements wire.Marshaler.
func (a Any) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, a.TypeURL)
	e.Blob(2, a.Value)
	return e.Bytes()
}

// Body is the signed part of a transaction.
type Body struct {
	ChainID  string
	Signer   string // DID key id
	Sequence uint64
	Msgs     []Any
}

// MarshalWire implements wire.Marshaler.
func (b Body) MarshalWire() []byte {
	var e wire.Encoder
	e.String(1, b.ChainID)
	e.String(2, b.Signer)
	e.Uint64(3, b.Sequence)
	ms := make([][]byte, len(b.Msgs))
	for i, m := range b.Msgs {
		ms[i] = m.MarshalWire()
	}
	e.Blobs(4, ms)
	return e.Bytes()
}

// SignBytes returns the bytes the signer signs.
func (b Body) SignBytes() []byte {
	return append([]byte(SignDomain+"\x00"), b.MarshalWire()...)
}

// Tx is a signed transaction.
type Tx struct {
	Body      Body
	Signature []byte
}

// MarshalWire implements wire.Marshaler; it is the transaction's encoding.
func (t Tx) MarshalWire() []byte {
	var e wire.Encoder
	e.Message(1, t.Body)
	e.Blob(2, t.Signature)
	return e.Bytes()
}

// Hash returns the transaction hash: SHA-256 of its encoding, as CometBFT
// computes it.
func Hash(txBytes []byte) []byte {
	h := sha256.Sum256(txBytes)
	return h[:]
}

// Decode parses a transaction. Message values are returned undecoded; the
// application decodes them by type URL and then calls CheckCanonical.
//
// Bytes that a protobuf decoder reads as a transaction but that are not its
// canonical encoding (fields reordered or repeated, explicit zero values,
// non-minimal varints, ...) fail with ErrNonCanonical; any other bytes that
// are not a transaction fail with ErrDecode.
func Decode(bz []byte) (Tx, error) {
	t, _, err := DecodeSigned(bz)
	return t, err
}

// DecodeSigned is Decode that also returns the transaction's sign bytes
// (Body.SignBytes), taken from the encoding instead of encoding the body
// again: a canonical transaction carries its body's canonical encoding.
func DecodeSigned(bz []byte) (Tx, []byte, error) {
	var d decoder
	fs := d.parse(bz)
	d.check(fs.Only(1, 2))
	var t Tx
	body := d.blob(fs, 1)
	t.Signature = d.blob(fs, 2)
	t.Body = d.body(body)
	if d.err != nil {
		return Tx{}, nil, fmt.Errorf("%w: %v", ErrDecode, d.err)
	}
	if d.nc != nil {
		return Tx{}, nil, fmt.Errorf("%w: %v", ErrNonCanonical, d.nc)
	}
	if !bytes.Equal(t.MarshalWire(), bz) {
		return Tx{}, nil, ErrNonCanonical
	}
	sb := make([]byte, 0, len(SignDomain)+1+len(body))
	sb = append(append(append(sb, SignDomain...), 0), body...)
	return t, sb, nil
}

// decoder keeps decoding past canonical-rule violations, remembering the
// first, so that Decode tells a second encoding of a transaction (nc) from
// bytes that are not a transaction (err).
type decoder struct {
	err error // first hard failure
	nc  error // first canonical-rule violation
}

// check records err.
func (d *decoder) check(err error) {
	switch {
	case err == nil:
	case errors.Is(err, wire.ErrNonCanonical):
		if d.nc == nil {
			d.nc = err
		}
	default:
		if d.err == nil {
			d.err = err
		}
	}
}

func (d *decoder) parse(bz []byte) wire.Fields {
	fs, err := wire.Parse(bz)
	d.check(err)
	return fs
}

func (d *decoder) blob(fs wire.Fields, num wire.Number) []byte {
	v, err := fs.Blob(num)
	d.check(err)
	return v
}

func (d *decoder) string(fs wire.Fields, num wire.Number) string {
	v, err := fs.String(num)
	d.check(err)
	return v
}

func (d *decoder) body(bz []byte) Body {
	var b Body
	if d.err != nil {
		return b
	}
	fs := d.parse(bz)
	d.check(fs.Only(1, 2, 3, 4))
	b.ChainID = d.string(fs, 1)
	b.Signer = d.string(fs, 2)
	seq, err := fs.Uint64(3)
	d.check(err)
	b.Sequence = seq
	ms, err := fs.Blobs(4)
	d.check(err)
	for _, m := range ms {
		if d.err != nil {
			break
		}
		afs := d.parse(m)
		d.check(afs.Only(1, 2))
		b.Msgs = append(b.Msgs, Any{TypeURL: d.string(afs, 1), Value: d.blob(afs, 2)})
	}
	if d.err != nil {
		d.err = fmt.Errorf("body: %w", d.err)
	}
	return b
}
