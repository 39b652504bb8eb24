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
func Decode(bz []byte) (Tx, error) {
	fs, err := wire.Parse(bz)
	if err != nil {
		return Tx{}, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if err := fs.Only(1, 2); err != nil {
		return Tx{}, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	var t Tx
	body, err := fs.Blob(1)
	if err != nil {
		return Tx{}, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if t.Signature, err = fs.Blob(2); err != nil {
		return Tx{}, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if t.Body, err = decodeBody(body); err != nil {
		return Tx{}, err
	}
	if !bytes.Equal(t.MarshalWire(), bz) {
		return Tx{}, ErrNonCanonical
	}
	return t, nil
}

func decodeBody(bz []byte) (Body, error) {
	var b Body
	fs, err := wire.Parse(bz)
	if err == nil {
		err = fs.Only(1, 2, 3, 4)
	}
	if err == nil {
		b.ChainID, err = fs.String(1)
	}
	if err == nil {
		b.Signer, err = fs.String(2)
	}
	if err == nil {
		b.Sequence, err = fs.Uint64(3)
	}
	var ms [][]byte
	if err == nil {
		ms, err = fs.Blobs(4)
	}
	for _, m := range ms {
		if err != nil {
			break
		}
		var a Any
		var afs wire.Fields
		afs, err = wire.Parse(m)
		if err == nil {
			err = afs.Only(1, 2)
		}
		if err == nil {
			a.TypeURL, err = afs.String(1)
		}
		if err == nil {
			a.Value, err = afs.Blob(2)
		}
		b.Msgs = append(b.Msgs, a)
	}
	if err != nil {
		return Body{}, fmt.Errorf("%w: body: %v", ErrDecode, err)
	}
	return b, nil
}
