package envelope

import (
	"testing"
)

func benchParties(b *testing.B) (party, party, []Recipient) {
	patient := newParty(b, "did:medchain:patient1#enc-1", KEMMLKEM768X25519)
	org := newParty(b, "did:medchain:hospitalA#enc-1", KEMMLKEM768X25519)
	return patient, org, []Recipient{patient.rcpt, org.rcpt}
}

// BenchmarkSeal seals a 1 KiB record to two MLKEM768-X25519 recipients (the
// patient and the holding organization), the cost of one vault write.
func BenchmarkSeal(b *testing.B) {
	_, _, rs := benchParties(b)
	pt := make([]byte, 1024)
	ad := testAD()
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Seal(pt, ad, rs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen opens a 1 KiB record sealed as in BenchmarkSeal.
func BenchmarkOpen(b *testing.B) {
	_, org, rs := benchParties(b)
	pt := make([]byte, 1024)
	ad := testAD()
	env, err := Seal(pt, ad, rs)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Open(env, ad, org.rcpt.KeyID, org.priv); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRewrap re-wraps the data key of a sealed record to a requester,
// the cost of one authorized release.
func BenchmarkRewrap(b *testing.B) {
	_, org, rs := benchParties(b)
	requester := newParty(b, "did:medchain:hospitalB#enc-1", KEMMLKEM768X25519)
	ad := testAD()
	env, err := Seal(make([]byte, 1024), ad, rs)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Rewrap(env, ad, org.rcpt.KeyID, org.priv, requester.rcpt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarshalUnmarshal encodes and decodes a two-recipient envelope.
func BenchmarkMarshalUnmarshal(b *testing.B) {
	_, _, rs := benchParties(b)
	env, err := Seal(make([]byte, 1024), testAD(), rs)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		enc, err := env.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Unmarshal(enc); err != nil {
			b.Fatal(err)
		}
	}
}
