package envelope

import (
	"fmt"
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

// BenchmarkSeal100 seals a batch of 100 1 KiB records, each to a patient
// and the holding organization (MLKEM768-X25519 keys), as PutBatch does
// for a full batch: with 100 Seal calls (two encapsulations per record),
// through one Sealer for a single patient (two encapsulations per batch),
// and through one Sealer for ten patients (eleven per batch). It reports
// the time per record.
func BenchmarkSeal100(b *testing.B) {
	_, org, _ := benchParties(b)
	patients := make([]party, 10)
	for i := range patients {
		patients[i] = newParty(b, fmt.Sprintf("did:medchain:patient%d#enc-1", i), KEMMLKEM768X25519)
	}
	pt := make([]byte, 1024)
	const n = 100
	ads := make([]AD, n)
	for i := range ads {
		ads[i] = testAD()
		ads[i].RecordID = fmt.Sprintf("rec-%04d", i)
	}
	perRecord := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "us/record")
	}
	onePatient := []Recipient{patients[0].rcpt, org.rcpt}
	b.Run("Seal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i := range ads {
				if _, err := Seal(pt, ads[i], onePatient); err != nil {
					b.Fatal(err)
				}
			}
		}
		perRecord(b)
	})
	for _, np := range []int{1, 10} {
		b.Run(fmt.Sprintf("Sealer/patients=%d", np), func(b *testing.B) {
			rs := make([][]Recipient, np)
			for i := range rs {
				rs[i] = []Recipient{patients[i].rcpt, org.rcpt}
			}
			b.ReportAllocs()
			for b.Loop() {
				s := NewSealer()
				for i := range ads {
					if _, err := s.Seal(pt, ads[i], rs[i%np]); err != nil {
						b.Fatal(err)
					}
				}
				s.Close()
			}
			perRecord(b)
		})
	}
}
