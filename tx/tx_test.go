package tx

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

const testSigner = "did:medchain:abcdefghijklmnopqrstuvwxyz#key-1"

func testKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("tx test key"))
	return ed25519.NewKeyFromSeed(seed[:])
}

func signed(b Body) Tx {
	return Tx{Body: b, Signature: ed25519.Sign(testKey(), b.SignBytes())}
}

// sampleTxs are valid transactions covering every field, a zero sequence,
// an empty message value, several messages and multi-byte varints.
func sampleTxs() map[string]Tx {
	return map[string]Tx{
		"one msg": signed(Body{ChainID: "medchain-1", Signer: testSigner, Sequence: 7,
			Msgs: []Any{{TypeURL: "/medchain.org.v1.MsgVote", Value: []byte{0x08, 0x01, 0x12, 0x03, 'o', 'r', 'g'}}}}),
		"seq zero": signed(Body{ChainID: "medchain-1", Signer: testSigner,
			Msgs: []Any{{TypeURL: "/medchain.identity.v1.MsgDeactivate", Value: []byte{0x0a, 0x01, 'x'}}}}),
		"empty value and long seq": signed(Body{ChainID: "c", Signer: testSigner, Sequence: 1<<63 + 5,
			Msgs: []Any{{TypeURL: "/a"}, {TypeURL: "/b", Value: bytes.Repeat([]byte{0x01}, 300)}}}),
		"no msgs":  signed(Body{ChainID: "medchain-1", Signer: testSigner, Sequence: 1}),
		"unsigned": {Body: Body{ChainID: "x", Signer: "s", Sequence: 128}},
	}
}

func TestRoundTrip(t *testing.T) {
	for name, want := range sampleTxs() {
		t.Run(name, func(t *testing.T) {
			bz := want.MarshalWire()
			got, err := Decode(bz)
			if err != nil {
				t.Fatalf("Decode: got error %v, want nil", err)
			}
			if !equalTx(got, want) {
				t.Fatalf("Decode: got %+v, want %+v", got, want)
			}
			if again := got.MarshalWire(); !bytes.Equal(again, bz) {
				t.Fatalf("re-encoding: got %X, want %X", again, bz)
			}
			if !bytes.Equal(Hash(bz), Hash(got.MarshalWire())) {
				t.Fatalf("Hash differs after a round trip")
			}
		})
	}
}

func equalTx(a, b Tx) bool {
	if a.Body.ChainID != b.Body.ChainID || a.Body.Signer != b.Body.Signer || a.Body.Sequence != b.Body.Sequence ||
		!bytes.Equal(a.Signature, b.Signature) || len(a.Body.Msgs) != len(b.Body.Msgs) {
		return false
	}
	for i := range a.Body.Msgs {
		if a.Body.Msgs[i].TypeURL != b.Body.Msgs[i].TypeURL || !bytes.Equal(a.Body.Msgs[i].Value, b.Body.Msgs[i].Value) {
			return false
		}
	}
	return true
}

func TestSignBytes(t *testing.T) {
	b := sampleTxs()["one msg"].Body
	sb := b.SignBytes()
	wantPrefix := []byte("medchain/tx/v1\x00")
	if !bytes.HasPrefix(sb, wantPrefix) {
		t.Fatalf("SignBytes prefix: got %q, want %q", sb[:min(len(sb), len(wantPrefix))], wantPrefix)
	}
	if got := sb[len(wantPrefix):]; !bytes.Equal(got, b.MarshalWire()) {
		t.Fatalf("SignBytes suffix: got %X, want the body encoding %X", got, b.MarshalWire())
	}
	// Every body field is covered by the signature.
	for name, mut := range map[string]func(*Body){
		"chain id": func(b *Body) { b.ChainID += "x" },
		"signer":   func(b *Body) { b.Signer += "x" },
		"sequence": func(b *Body) { b.Sequence++ },
		"type url": func(b *Body) { b.Msgs = []Any{{TypeURL: b.Msgs[0].TypeURL + "x", Value: b.Msgs[0].Value}} },
		"value": func(b *Body) {
			b.Msgs = []Any{{TypeURL: b.Msgs[0].TypeURL, Value: append([]byte{0x08, 0x02}, b.Msgs[0].Value[2:]...)}}
		},
		"msgs": func(b *Body) { b.Msgs = append(b.Msgs, b.Msgs[0]) },
	} {
		c := b
		mut(&c)
		if bytes.Equal(c.SignBytes(), sb) {
			t.Errorf("changing the %s: got the same sign bytes, want different", name)
		}
	}
}

// Raw protobuf building blocks for non-canonical variants.

func tagB(num protowire.Number, typ protowire.Type) []byte { return protowire.AppendTag(nil, num, typ) }

func bytesField(num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(tagB(num, protowire.BytesType), v)
}

func varintField(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(tagB(num, protowire.VarintType), v)
}

// longVarint encodes v in one byte more than necessary.
func longVarint(v uint64) []byte {
	b := protowire.AppendVarint(nil, v)
	b[len(b)-1] |= 0x80
	return append(b, 0x00)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// anyBytes encodes a canonically, or with extra appended.
func anyBytes(a Any) []byte { return a.MarshalWire() }

func bodyFields(b Body) (chain, signer, seq []byte, msgs [][]byte) {
	chain = bytesField(1, []byte(b.ChainID))
	signer = bytesField(2, []byte(b.Signer))
	if b.Sequence != 0 {
		seq = varintField(3, b.Sequence)
	}
	for _, m := range b.Msgs {
		msgs = append(msgs, bytesField(4, anyBytes(m)))
	}
	return
}

func outer(body []byte, sig []byte) []byte { return cat(bytesField(1, body), bytesField(2, sig)) }

// variant is one way of writing a valid transaction that is not its
// canonical encoding, and the error Decode must give: ErrNonCanonical when a
// protobuf decoder would read the same transaction, ErrDecode otherwise.
type variant struct {
	name string
	make func(t Tx) []byte
	want error
}

func variants() []variant {
	withBody := func(f func(b Body) []byte) func(Tx) []byte {
		return func(t Tx) []byte { return outer(f(t.Body), t.Signature) }
	}
	return []variant{
		// Fields reordered.
		{"tx: signature before body", func(t Tx) []byte {
			return cat(bytesField(2, t.Signature), bytesField(1, t.Body.MarshalWire()))
		}, ErrNonCanonical},
		{"body: signer before chain id", withBody(func(b Body) []byte {
			c, s, q, ms := bodyFields(b)
			return cat(s, c, q, bytes.Join(ms, nil))
		}), ErrNonCanonical},
		{"body: messages before sequence", withBody(func(b Body) []byte {
			c, s, _, ms := bodyFields(b)
			return cat(c, s, bytes.Join(ms, nil), varintField(3, b.Sequence|1))
		}), ErrNonCanonical},
		{"any: value before type url", withBody(func(b Body) []byte {
			c, s, q, _ := bodyFields(b)
			a := b.Msgs[0]
			return cat(c, s, q, bytesField(4, cat(bytesField(2, append([]byte{1}, a.Value...)), bytesField(1, []byte(a.TypeURL)))))
		}), ErrNonCanonical},
		// Zero values written out.
		{"body: explicit zero sequence", withBody(func(b Body) []byte {
			c, s, _, ms := bodyFields(b)
			return cat(c, s, varintField(3, 0), bytes.Join(ms, nil))
		}), ErrNonCanonical},
		{"tx: explicit empty signature", func(t Tx) []byte {
			return cat(bytesField(1, t.Body.MarshalWire()), bytesField(2, nil))
		}, ErrNonCanonical},
		{"any: explicit empty value", withBody(func(b Body) []byte {
			c, s, q, _ := bodyFields(b)
			return cat(c, s, q, bytesField(4, cat(bytesField(1, []byte(b.Msgs[0].TypeURL)), bytesField(2, nil))))
		}), ErrNonCanonical},
		{"body: explicit empty chain id before the real one", withBody(func(b Body) []byte {
			c, s, q, ms := bodyFields(b)
			return cat(bytesField(1, nil), c, s, q, bytes.Join(ms, nil))
		}), ErrNonCanonical},
		// Non-minimal varints.
		{"body: non-minimal sequence", withBody(func(b Body) []byte {
			c, s, _, ms := bodyFields(b)
			return cat(c, s, tagB(3, protowire.VarintType), longVarint(b.Sequence|1), bytes.Join(ms, nil))
		}), ErrNonCanonical},
		{"tx: non-minimal body length", func(t Tx) []byte {
			body := t.Body.MarshalWire()
			return cat(tagB(1, protowire.BytesType), longVarint(uint64(len(body))), body, bytesField(2, t.Signature))
		}, ErrNonCanonical},
		{"tx: non-minimal tag", func(t Tx) []byte {
			return cat([]byte{0x8a, 0x00}, protowire.AppendBytes(nil, t.Body.MarshalWire()), bytesField(2, t.Signature))
		}, ErrNonCanonical},
		// Unknown fields.
		{"tx: unknown field appended", func(t Tx) []byte {
			return cat(t.MarshalWire(), varintField(3, 1))
		}, ErrDecode},
		{"body: unknown field appended", withBody(func(b Body) []byte {
			return cat(b.MarshalWire(), bytesField(9, []byte("x")))
		}), ErrDecode},
		{"any: unknown field appended", withBody(func(b Body) []byte {
			c, s, q, _ := bodyFields(b)
			return cat(c, s, q, bytesField(4, cat(anyBytes(b.Msgs[0]), varintField(3, 1))))
		}), ErrDecode},
		// Trailing garbage.
		{"tx: trailing 0xff", func(t Tx) []byte { return cat(t.MarshalWire(), []byte{0xff}) }, ErrDecode},
		{"tx: trailing zero byte", func(t Tx) []byte { return cat(t.MarshalWire(), []byte{0x00}) }, ErrDecode},
		{"tx: trailing truncated field", func(t Tx) []byte { return cat(t.MarshalWire(), []byte{0x12, 0x05, 0x01}) }, ErrDecode},
		{"body: trailing garbage", withBody(func(b Body) []byte { return cat(b.MarshalWire(), []byte{0x80}) }), ErrDecode},
		// Duplicated singular fields.
		{"tx: body twice", func(t Tx) []byte {
			return cat(bytesField(1, t.Body.MarshalWire()), bytesField(1, t.Body.MarshalWire()), bytesField(2, t.Signature))
		}, ErrNonCanonical},
		{"tx: signature twice", func(t Tx) []byte { return cat(t.MarshalWire(), bytesField(2, t.Signature)) }, ErrNonCanonical},
		{"body: chain id twice", withBody(func(b Body) []byte {
			c, s, q, ms := bodyFields(b)
			return cat(c, c, s, q, bytes.Join(ms, nil))
		}), ErrNonCanonical},
		{"body: sequence twice", withBody(func(b Body) []byte {
			c, s, _, ms := bodyFields(b)
			return cat(c, s, varintField(3, b.Sequence+1), varintField(3, b.Sequence|1), bytes.Join(ms, nil))
		}), ErrNonCanonical},
		// Not protobuf this schema allows.
		{"tx: fixed64 field", func(t Tx) []byte {
			return cat(t.MarshalWire(), protowire.AppendFixed64(tagB(3, protowire.Fixed64Type), 1))
		}, ErrDecode},
		{"body: sequence as bytes", withBody(func(b Body) []byte {
			c, s, _, ms := bodyFields(b)
			return cat(c, s, bytesField(3, []byte{1}), bytes.Join(ms, nil))
		}), ErrDecode},
		{"body: invalid UTF-8 chain id", withBody(func(b Body) []byte {
			_, s, q, ms := bodyFields(b)
			return cat(bytesField(1, []byte{0xff, 0xfe}), s, q, bytes.Join(ms, nil))
		}), ErrDecode},
	}
}

func TestDecodeRejectsNonCanonical(t *testing.T) {
	base := sampleTxs()["one msg"]
	if _, err := Decode(base.MarshalWire()); err != nil {
		t.Fatalf("Decode(canonical): got %v, want nil", err)
	}
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			bz := v.make(base)
			if bytes.Equal(bz, base.MarshalWire()) {
				t.Fatalf("variant is the canonical encoding; the test is broken")
			}
			got, err := Decode(bz)
			if err == nil {
				t.Fatalf("Decode(%X): got %+v, nil; want an error wrapping %v", bz, got, v.want)
			}
			if !errors.Is(err, v.want) {
				t.Fatalf("Decode(%X): got %v, want an error wrapping %v", bz, err, v.want)
			}
			other := ErrDecode
			if v.want == ErrDecode {
				other = ErrNonCanonical
			}
			if errors.Is(err, other) {
				t.Fatalf("Decode(%X): got %v, which wraps both ErrDecode and ErrNonCanonical", bz, err)
			}
		})
	}
}

func TestDecodeGarbage(t *testing.T) {
	for name, bz := range map[string][]byte{
		"nil":                 nil,
		"0xff":                {0xff},
		"field 0":             {0x00},
		"truncated length":    {0x0a, 0x05, 0x01},
		"huge length":         {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"end group":           {0x0c},
		"body is not a body":  {0x0a, 0x01, 0xff},
		"overlong varint":     {0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"text":                []byte("hello, world"),
		"msgs field is a var": outer(cat(bytesField(1, []byte("c")), varintField(4, 1)), nil),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Decode(bz)
			if name == "nil" {
				// The empty encoding is the zero Tx, which is canonical; admission
				// rejects it for other reasons.
				if err != nil {
					t.Fatalf("Decode(nil): got %v, want nil (the zero Tx)", err)
				}
				return
			}
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("Decode(%X): got (%+v, %v), want an error wrapping ErrDecode", bz, got, err)
			}
		})
	}
}

func TestHash(t *testing.T) {
	bz := sampleTxs()["one msg"].MarshalWire()
	want := sha256.Sum256(bz)
	if got := Hash(bz); !bytes.Equal(got, want[:]) {
		t.Fatalf("Hash: got %X, want %X", got, want)
	}
}

// FuzzDecode checks that Decode never panics and accepts only canonical
// encodings: whatever it decodes re-encodes to the input byte for byte.
func FuzzDecode(f *testing.F) {
	for _, tx := range sampleTxs() {
		bz := tx.MarshalWire()
		f.Add(bz)
		f.Add(cat(bz, []byte{0x00}))
		f.Add(bz[:len(bz)/2])
		flipped := bytes.Clone(bz)
		flipped[len(flipped)/3] ^= 0x40
		f.Add(flipped)
	}
	base := sampleTxs()["one msg"]
	for _, v := range variants() {
		f.Add(v.make(base))
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, bz []byte) {
		got, err := Decode(bz)
		if err != nil {
			if !errors.Is(err, ErrDecode) && !errors.Is(err, ErrNonCanonical) {
				t.Fatalf("Decode(%X): got %v, want an error wrapping ErrDecode or ErrNonCanonical", bz, err)
			}
			return
		}
		if re := got.MarshalWire(); !bytes.Equal(re, bz) {
			t.Fatalf("Decode(%X) succeeded but re-encodes to %X, want the input", bz, re)
		}
	})
}
