package envelope

import (
	"bytes"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var allKEMs = []uint16{KEMMLKEM768X25519, KEMX25519, KEMMLKEM1024}

type party struct {
	priv hpke.PrivateKey
	rcpt Recipient
}

func newParty(t testing.TB, keyID string, kem uint16) party {
	t.Helper()
	k, err := hpke.NewKEM(kem)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := k.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return party{priv, Recipient{KeyID: keyID, KEM: kem, PublicKey: priv.PublicKey().Bytes()}}
}

func testAD() AD {
	return AD{RecordID: "rec-0001", Version: 3, Patient: "did:medchain:patient1", ResourceType: "Observation"}
}

var record = []byte(`{"resourceType":"Observation","id":"rec-0001","status":"final","subject":{"reference":"Patient/patient1"},"valueString":"CANARY-Zebulon-1987-02-14"}`)

func seal(t testing.TB, pt []byte, ad AD, ps ...party) *Envelope {
	t.Helper()
	var rs []Recipient
	for _, p := range ps {
		rs = append(rs, p.rcpt)
	}
	env, err := Seal(pt, ad, rs)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return env
}

// sealFunc seals pt for ad to the parties, failing the test on error.
type sealFunc func(t testing.TB, pt []byte, ad AD, ps ...party) *Envelope

// forEachMode runs f once per way of sealing: with [Seal] (WrapHPKE keys),
// and with one [Sealer] shared by every envelope f seals (WrapBatch keys,
// so that f's envelopes are one batch). Each mode's sealFunc checks the
// scheme of every key it returns, so a test run in batch mode does test
// batch-wrapped keys.
func forEachMode(t *testing.T, f func(t *testing.T, seal sealFunc)) {
	t.Run("single-shot", func(t *testing.T) {
		f(t, func(t testing.TB, pt []byte, ad AD, ps ...party) *Envelope {
			t.Helper()
			return checkScheme(t, seal(t, pt, ad, ps...), WrapHPKE)
		})
	})
	t.Run("batch", func(t *testing.T) {
		s := NewSealer()
		t.Cleanup(s.Close)
		f(t, batchSeal(s))
	})
}

// batchSeal returns a sealFunc sealing through s.
func batchSeal(s *Sealer) sealFunc {
	return func(t testing.TB, pt []byte, ad AD, ps ...party) *Envelope {
		t.Helper()
		env, err := s.Seal(pt, ad, recipientsOf(ps...))
		if err != nil {
			t.Fatalf("Sealer.Seal: %v", err)
		}
		return checkScheme(t, env, WrapBatch)
	}
}

func recipientsOf(ps ...party) []Recipient {
	var rs []Recipient
	for _, p := range ps {
		rs = append(rs, p.rcpt)
	}
	return rs
}

func checkScheme(t testing.TB, env *Envelope, want WrapScheme) *Envelope {
	t.Helper()
	for _, wk := range env.Wrapped {
		if wk.Scheme != want {
			t.Fatalf("key %s wrapped with scheme %d, want %d", wk.KeyID, wk.Scheme, want)
		}
	}
	return env
}

func mustOpen(t testing.TB, env *Envelope, ad AD, p party) []byte {
	t.Helper()
	pt, err := Open(env, ad, p.rcpt.KeyID, p.priv)
	if err != nil {
		t.Fatalf("Open(%s): %v", p.rcpt.KeyID, err)
	}
	return pt
}

// expectErr checks that pt is nil and err wraps want and never contains the
// plaintext.
func expectErr(t testing.TB, pt []byte, err, want error, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: opened (%d bytes of plaintext), want %v", what, len(pt), want)
	}
	if pt != nil {
		t.Fatalf("%s: error %v but plaintext returned", what, err)
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
	if strings.Contains(err.Error(), "CANARY") {
		t.Fatalf("%s: error message contains plaintext: %v", what, err)
	}
}

func clone(env *Envelope) *Envelope {
	c := *env
	c.Nonce = slices.Clone(env.Nonce)
	c.Ciphertext = slices.Clone(env.Ciphertext)
	c.KeyCommitment = slices.Clone(env.KeyCommitment)
	c.Wrapped = nil
	for _, wk := range env.Wrapped {
		wk.Enc = slices.Clone(wk.Enc)
		wk.Sealed = slices.Clone(wk.Sealed)
		c.Wrapped = append(c.Wrapped, wk)
	}
	return &c
}

func TestRoundTripEachKEM(t *testing.T) { forEachMode(t, testRoundTripEachKEM) }

func testRoundTripEachKEM(t *testing.T, seal sealFunc) {
	for _, kem := range allKEMs {
		t.Run(fmt.Sprintf("0x%04x", kem), func(t *testing.T) {
			patient := newParty(t, "did:medchain:patient1#enc-1", kem)
			org := newParty(t, "did:medchain:hospitalA#enc-1", KEMMLKEM768X25519)
			for _, pt := range [][]byte{record, {}, bytes.Repeat([]byte{0xa5}, 1<<20)} {
				env := seal(t, pt, testAD(), patient, org)
				if len(env.Wrapped) != 2 || len(env.Ciphertext) != len(pt)+TagSize {
					t.Fatalf("envelope shape: %d wrapped, %d bytes of ciphertext", len(env.Wrapped), len(env.Ciphertext))
				}
				if bytes.Contains(env.Ciphertext, []byte("CANARY")) {
					t.Fatal("plaintext visible in the ciphertext")
				}
				for _, p := range []party{patient, org} {
					if got := mustOpen(t, env, testAD(), p); !bytes.Equal(got, pt) {
						t.Fatalf("%s opened different plaintext", p.rcpt.KeyID)
					}
				}
				b, err := env.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(b, []byte("CANARY")) {
					t.Fatal("plaintext visible in the encoding")
				}
				env2, err := Unmarshal(b)
				if err != nil {
					t.Fatalf("Unmarshal: %v", err)
				}
				b2, err := env2.Marshal()
				if err != nil || !bytes.Equal(b, b2) {
					t.Fatalf("re-encoding differs (err %v)", err)
				}
				if CiphertextHash(env) != CiphertextHash(env2) {
					t.Fatal("ciphertext hash changed through the encoding")
				}
				for i := range env.Wrapped {
					if env2.Wrapped[i].Scheme != env.Wrapped[i].Scheme {
						t.Fatalf("wrap scheme %d decoded as %d", env.Wrapped[i].Scheme, env2.Wrapped[i].Scheme)
					}
				}
				if got := mustOpen(t, env2, testAD(), patient); !bytes.Equal(got, pt) {
					t.Fatal("decoded envelope opened different plaintext")
				}
			}
		})
	}
}

func TestDefaultKEM(t *testing.T) { forEachMode(t, testDefaultKEM) }

func testDefaultKEM(t *testing.T, seal sealFunc) {
	p := newParty(t, "did:medchain:p#enc-1", KEMMLKEM768X25519)
	p.rcpt.KEM = 0
	env := seal(t, record, testAD(), p)
	if env.Wrapped[0].KEM != KEMMLKEM768X25519 {
		t.Fatalf("KEM 0 wrapped as 0x%04x, want 0x647a", env.Wrapped[0].KEM)
	}
	mustOpen(t, env, testAD(), p)
}

func TestEncSizes(t *testing.T) {
	for id, k := range kemTable {
		priv, err := k.kem.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		enc, _, err := hpke.NewSender(priv.PublicKey(), wrapKDF, wrapAEAD, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(enc) != k.encSize || k.kem.ID() != id {
			t.Errorf("KEM 0x%04x: enc %d bytes, table says %d (table KEM 0x%04x)", id, len(enc), k.encSize, k.kem.ID())
		}
	}
	if !SupportedKEM(KEMX25519) || SupportedKEM(0x0010) || SupportedKEM(0) {
		t.Error("SupportedKEM")
	}
}

// Every single-bit flip of every authenticated byte an opener uses is
// detected with ErrTampered.
func TestEveryBitFlipFails(t *testing.T) { forEachMode(t, testEveryBitFlipFails) }

func testEveryBitFlipFails(t *testing.T, seal sealFunc) {
	for _, kem := range allKEMs {
		t.Run(fmt.Sprintf("0x%04x", kem), func(t *testing.T) {
			p := newParty(t, "did:medchain:patient1#enc-1", kem)
			env := seal(t, record[:64], testAD(), p)
			fields := map[string]func(*Envelope) []byte{
				"ciphertext":     func(e *Envelope) []byte { return e.Ciphertext },
				"nonce":          func(e *Envelope) []byte { return e.Nonce },
				"key commitment": func(e *Envelope) []byte { return e.KeyCommitment },
				"enc":            func(e *Envelope) []byte { return e.Wrapped[0].Enc },
				"sealed":         func(e *Envelope) []byte { return e.Wrapped[0].Sealed },
			}
			for name, field := range fields {
				flips := 0
				for i := range field(env) {
					for bit := range 8 {
						field(env)[i] ^= 1 << bit
						pt, err := Open(env, testAD(), p.rcpt.KeyID, p.priv)
						expectErr(t, pt, err, ErrTampered, fmt.Sprintf("%s byte %d bit %d", name, i, bit))
						field(env)[i] ^= 1 << bit
						flips++
					}
				}
				t.Logf("%s: %d flips, all detected", name, flips)
			}
			mustOpen(t, env, testAD(), p) // the flips were undone
		})
	}
}

// Every single-bit flip anywhere in a stored encoding fails, in Unmarshal or
// in Open, with a typed error.
func TestEveryBitFlipOfEncodingFails(t *testing.T) { forEachMode(t, testEveryBitFlipOfEncodingFails) }

func testEveryBitFlipOfEncodingFails(t *testing.T, seal sealFunc) {
	kems := []uint16{KEMX25519, KEMMLKEM768X25519}
	if testing.Short() {
		kems = kems[:1]
	}
	for _, kem := range kems {
		t.Run(fmt.Sprintf("0x%04x", kem), func(t *testing.T) {
			p := newParty(t, "did:medchain:patient1#enc-1", kem)
			env := seal(t, record, testAD(), p)
			b, err := env.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var malformed, tampered, noKey int
			for i := range b {
				for bit := range 8 {
					b[i] ^= 1 << bit
					what := fmt.Sprintf("byte %d bit %d", i, bit)
					e, err := Unmarshal(b)
					var pt []byte
					if err == nil {
						pt, err = Open(e, testAD(), p.rcpt.KeyID, p.priv)
					}
					switch {
					case err == nil:
						t.Fatalf("%s: flipped encoding opened", what)
					case pt != nil:
						t.Fatalf("%s: plaintext with an error", what)
					case errors.Is(err, ErrMalformed):
						malformed++
					case errors.Is(err, ErrTampered):
						tampered++
					case errors.Is(err, ErrNoKey):
						noKey++
					default:
						t.Fatalf("%s: untyped error %v", what, err)
					}
					b[i] ^= 1 << bit
				}
			}
			t.Logf("%d flips: %d malformed, %d tampered, %d no key", 8*len(b), malformed, tampered, noKey)
		})
	}
}

func TestADMismatch(t *testing.T) { forEachMode(t, testADMismatch) }

func testADMismatch(t *testing.T, seal sealFunc) {
	p := newParty(t, "did:medchain:patient1#enc-1", KEMMLKEM768X25519)
	env := seal(t, record, testAD(), p)
	changes := map[string]func(*AD){
		"record id":     func(a *AD) { a.RecordID = "rec-0002" },
		"version":       func(a *AD) { a.Version++ },
		"older version": func(a *AD) { a.Version-- },
		"patient":       func(a *AD) { a.Patient = "did:medchain:patient2" },
		"resource type": func(a *AD) { a.ResourceType = "Condition" },
	}
	for name, change := range changes {
		other := testAD()
		change(&other)
		// The caller expects another AD than the envelope's.
		pt, err := Open(env, other, p.rcpt.KeyID, p.priv)
		expectErr(t, pt, err, ErrTampered, name)
		// The stored AD was rewritten to match what the caller expects.
		forged := clone(env)
		forged.AD = other
		pt, err = Open(forged, other, p.rcpt.KeyID, p.priv)
		expectErr(t, pt, err, ErrTampered, name+" (forged stored AD)")
		_, err = Rewrap(forged, other, p.rcpt.KeyID, p.priv, newParty(t, "did:medchain:x#enc-1", KEMX25519).rcpt)
		expectErr(t, nil, err, ErrTampered, name+" (rewrap of forged AD)")
	}
}

func TestOlderVersionReplayed(t *testing.T) { forEachMode(t, testOlderVersionReplayed) }

func testOlderVersionReplayed(t *testing.T, seal sealFunc) {
	p := newParty(t, "did:medchain:patient1#enc-1", KEMMLKEM768X25519)
	v1, v2 := testAD(), testAD()
	v1.Version, v2.Version = 1, 2
	old := seal(t, []byte(`{"v":1}`), v1, p)
	seal(t, []byte(`{"v":2}`), v2, p)
	pt, err := Open(old, v2, p.rcpt.KeyID, p.priv)
	expectErr(t, pt, err, ErrTampered, "v1 envelope read as v2")
	old.AD = v2
	pt, err = Open(old, v2, p.rcpt.KeyID, p.priv)
	expectErr(t, pt, err, ErrTampered, "v1 envelope relabelled v2")
}

func TestEnvelopesSwappedBetweenPatients(t *testing.T) {
	forEachMode(t, testEnvelopesSwappedBetweenPatients)
}

func testEnvelopesSwappedBetweenPatients(t *testing.T, seal sealFunc) {
	org := newParty(t, "did:medchain:hospitalA#enc-1", KEMMLKEM768X25519)
	adA, adB := testAD(), testAD()
	adB.Patient, adB.RecordID = "did:medchain:patient2", "rec-0002"
	envA := seal(t, []byte("CANARY A"), adA, org)
	envB := seal(t, []byte("CANARY B"), adB, org)
	// The vault asked for A's record gets B's blob, and the reverse.
	pt, err := Open(envB, adA, org.rcpt.KeyID, org.priv)
	expectErr(t, pt, err, ErrTampered, "B's envelope read as A's")
	pt, err = Open(envA, adB, org.rcpt.KeyID, org.priv)
	expectErr(t, pt, err, ErrTampered, "A's envelope read as B's")
	// Same, with the stored ADs swapped too.
	a, b := clone(envA), clone(envB)
	a.AD, b.AD = b.AD, a.AD
	pt, err = Open(b, adA, org.rcpt.KeyID, org.priv)
	expectErr(t, pt, err, ErrTampered, "B's envelope relabelled A")
}

func TestSwappedWrappedKeys(t *testing.T) { forEachMode(t, testSwappedWrappedKeys) }

func testSwappedWrappedKeys(t *testing.T, seal sealFunc) {
	patient := newParty(t, "did:medchain:patient1#enc-1", KEMMLKEM768X25519)
	org := newParty(t, "did:medchain:hospitalA#enc-1", KEMX25519)
	other := testAD()
	other.RecordID = "rec-0002"
	for name, ad2 := range map[string]AD{"other record": other, "same AD, sealed twice": testAD()} {
		e1 := seal(t, record, testAD(), patient, org)
		e2 := seal(t, []byte("CANARY other"), ad2, patient, org)
		e1.Wrapped, e2.Wrapped = e2.Wrapped, e1.Wrapped
		for _, p := range []party{patient, org} {
			pt, err := Open(e1, testAD(), p.rcpt.KeyID, p.priv)
			expectErr(t, pt, err, ErrTampered, name+": e1 with e2's keys, "+p.rcpt.KeyID)
			pt, err = Open(e2, ad2, p.rcpt.KeyID, p.priv)
			expectErr(t, pt, err, ErrTampered, name+": e2 with e1's keys, "+p.rcpt.KeyID)
		}
		// One recipient's key swapped: the others still open, the swapped
		// one fails (a malicious sealer's different-key-per-recipient
		// envelope is caught by the key commitment).
		e1.Wrapped, e2.Wrapped = e2.Wrapped, e1.Wrapped
		e1.Wrapped[0], e2.Wrapped[0] = e2.Wrapped[0], e1.Wrapped[0]
		for _, p := range []party{patient, org} {
			_, err1 := Open(e1, testAD(), p.rcpt.KeyID, p.priv)
			if (p.rcpt.KeyID == e1.Wrapped[0].KeyID) != errors.Is(err1, ErrTampered) {
				t.Fatalf("%s: one key swapped, %s: %v", name, p.rcpt.KeyID, err1)
			}
		}
	}
}

// A wrapped key relabelled as another key id of the same private key fails:
// the key id is bound into the HPKE info.
func TestWrappedKeyBoundToKeyID(t *testing.T) { forEachMode(t, testWrappedKeyBoundToKeyID) }

func testWrappedKeyBoundToKeyID(t *testing.T, seal sealFunc) {
	p := newParty(t, "did:medchain:patient1#enc-1", KEMMLKEM768X25519)
	env := seal(t, record, testAD(), p)
	env.Wrapped[0].KeyID = "did:medchain:patient1#enc-2"
	pt, err := Open(env, testAD(), "did:medchain:patient1#enc-2", p.priv)
	expectErr(t, pt, err, ErrTampered, "relabelled key id")
}

func TestWrongPrivateKey(t *testing.T) { forEachMode(t, testWrongPrivateKey) }

func testWrongPrivateKey(t *testing.T, seal sealFunc) {
	p := newParty(t, "did:medchain:patient1#enc-1", KEMMLKEM768X25519)
	env := seal(t, record, testAD(), p)
	mallory := newParty(t, "x", KEMMLKEM768X25519)
	pt, err := Open(env, testAD(), p.rcpt.KeyID, mallory.priv)
	expectErr(t, pt, err, ErrTampered, "another private key of the same KEM")
	pt, err = Open(env, testAD(), p.rcpt.KeyID, newParty(t, "x", KEMX25519).priv)
	expectErr(t, pt, err, ErrNoKey, "a private key of another KEM")
	pt, err = Open(env, testAD(), p.rcpt.KeyID, nil)
	expectErr(t, pt, err, ErrNoKey, "nil private key")
	pt, err = Open(env, testAD(), "did:medchain:patient1#enc-9", p.priv)
	expectErr(t, pt, err, ErrNoKey, "unknown key id")
}

// A flipped bit in another recipient's wrapped key cannot be seen by this
// recipient (documented): it still opens, and the other recipient fails.
func TestOtherRecipientsWrappedKeyIsTheirs(t *testing.T) {
	forEachMode(t, testOtherRecipientsWrappedKeyIsTheirs)
}

func testOtherRecipientsWrappedKeyIsTheirs(t *testing.T, seal sealFunc) {
	patient := newParty(t, "did:medchain:patient1#enc-1", KEMMLKEM768X25519)
	org := newParty(t, "did:medchain:hospitalA#enc-1", KEMMLKEM768X25519)
	env := seal(t, record, testAD(), patient, org)
	for i := range env.Wrapped {
		if env.Wrapped[i].KeyID == patient.rcpt.KeyID {
			env.Wrapped[i].Sealed[0] ^= 1
		}
	}
	mustOpen(t, env, testAD(), org)
	pt, err := Open(env, testAD(), patient.rcpt.KeyID, patient.priv)
	expectErr(t, pt, err, ErrTampered, "patient's flipped wrapped key")
}

func TestRewrap(t *testing.T) { forEachMode(t, testRewrap) }

func testRewrap(t *testing.T, seal sealFunc) {
	patient := newParty(t, "did:medchain:patient1#enc-1", KEMMLKEM768X25519)
	org := newParty(t, "did:medchain:hospitalA#enc-1", KEMMLKEM768X25519)
	env := seal(t, record, testAD(), patient, org)
	anchor := CiphertextHash(env)
	for _, kem := range allKEMs {
		requester := newParty(t, fmt.Sprintf("did:medchain:hospitalB#enc-%d", kem), kem)
		wk, err := Rewrap(env, testAD(), org.rcpt.KeyID, org.priv, requester.rcpt)
		if err != nil {
			t.Fatalf("Rewrap: %v", err)
		}
		if wk.Scheme != WrapHPKE {
			t.Fatalf("Rewrap wrapped with scheme %d, want single-shot HPKE", wk.Scheme)
		}
		if len(env.Wrapped) != 2 {
			t.Fatal("Rewrap modified the envelope")
		}
		// What the holding vault sends the requester.
		released := &Envelope{AD: env.AD, Nonce: env.Nonce, Ciphertext: env.Ciphertext, KeyCommitment: env.KeyCommitment, Wrapped: []WrappedKey{*wk}}
		b, err := released.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if CiphertextHash(got) != anchor {
			t.Fatal("released envelope does not match the anchor")
		}
		if pt := mustOpen(t, got, testAD(), requester); !bytes.Equal(pt, record) {
			t.Fatal("requester opened different plaintext")
		}
		// The requester's key is bound to this record's AD.
		other := testAD()
		other.Version++
		pt, err := Open(got, other, requester.rcpt.KeyID, requester.priv)
		expectErr(t, pt, err, ErrTampered, "released key under another AD")
		// Kept in the envelope, it opens there too.
		withNew := clone(env)
		withNew.Wrapped = append(withNew.Wrapped, *wk)
		if _, err := withNew.Marshal(); err != nil {
			t.Fatal(err)
		}
		mustOpen(t, withNew, testAD(), requester)
	}

	// Failures.
	bad := Recipient{KeyID: "did:medchain:hospitalB#enc-1", KEM: KEMX25519, PublicKey: []byte{1, 2, 3}}
	_, err := Rewrap(env, testAD(), org.rcpt.KeyID, org.priv, bad)
	expectErr(t, nil, err, ErrInvalidRecipient, "rewrap to an invalid key")
	_, err = Rewrap(env, testAD(), "did:medchain:nobody#enc-1", org.priv, patient.rcpt)
	expectErr(t, nil, err, ErrNoKey, "rewrap from an unknown key id")
	tampered := clone(env)
	tampered.KeyCommitment[5] ^= 0x10
	_, err = Rewrap(tampered, testAD(), org.rcpt.KeyID, org.priv, patient.rcpt)
	expectErr(t, nil, err, ErrTampered, "rewrap with a modified key commitment")
}

func TestShred(t *testing.T) { forEachMode(t, testShred) }

func testShred(t *testing.T, seal sealFunc) {
	patient := newParty(t, "did:medchain:patient1#enc-1", KEMMLKEM768X25519)
	org := newParty(t, "did:medchain:hospitalA#enc-1", KEMX25519)
	env := seal(t, record, testAD(), patient, org)
	anchor := CiphertextHash(env)
	enc, sealed := env.Wrapped[0].Enc, env.Wrapped[0].Sealed
	Shred(env)
	if len(env.Wrapped) != 0 {
		t.Fatal("wrapped keys left")
	}
	if !bytes.Equal(enc, make([]byte, len(enc))) || !bytes.Equal(sealed, make([]byte, len(sealed))) {
		t.Fatal("wrapped key bytes not zeroed")
	}
	for _, p := range []party{patient, org} {
		pt, err := Open(env, testAD(), p.rcpt.KeyID, p.priv)
		expectErr(t, pt, err, ErrNoKey, "open after shred")
		_, err = Rewrap(env, testAD(), p.rcpt.KeyID, p.priv, newParty(t, "did:medchain:x#enc-1", KEMX25519).rcpt)
		expectErr(t, nil, err, ErrNoKey, "rewrap after shred")
	}
	if CiphertextHash(env) != anchor {
		t.Fatal("Shred changed the ciphertext hash")
	}
	b, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := Open(got, testAD(), patient.rcpt.KeyID, patient.priv)
	expectErr(t, pt, err, ErrNoKey, "open of a decoded shredded envelope")
	Shred(nil)
}

func TestSealErrors(t *testing.T) {
	sealer := NewSealer()
	defer sealer.Close()
	p := newParty(t, "did:medchain:patient1#enc-1", KEMMLKEM768X25519)
	x := newParty(t, "did:medchain:patient1#enc-2", KEMX25519)
	badADs := map[string]func(*AD){
		"empty record id":       func(a *AD) { a.RecordID = "" },
		"long record id":        func(a *AD) { a.RecordID = strings.Repeat("r", MaxADFieldLength+1) },
		"invalid UTF-8":         func(a *AD) { a.RecordID = "r\xff" },
		"version 0":             func(a *AD) { a.Version = 0 },
		"patient not a DID":     func(a *AD) { a.Patient = "patient1" },
		"empty patient":         func(a *AD) { a.Patient = "" },
		"empty resource type":   func(a *AD) { a.ResourceType = "" },
		"resource type symbols": func(a *AD) { a.ResourceType = "Observation/1" },
		"resource type digit":   func(a *AD) { a.ResourceType = "1Observation" },
	}
	for name, change := range badADs {
		ad := testAD()
		change(&ad)
		_, err := Seal(record, ad, []Recipient{p.rcpt})
		expectErr(t, nil, err, ErrInvalidAD, name)
		_, err = sealer.Seal(record, ad, []Recipient{p.rcpt})
		expectErr(t, nil, err, ErrInvalidAD, "Sealer with "+name)
		env := seal(t, record, testAD(), p)
		pt, err := Open(env, ad, p.rcpt.KeyID, p.priv)
		expectErr(t, pt, err, ErrInvalidAD, "Open with "+name)
		if _, err := ad.Encode(); !errors.Is(err, ErrInvalidAD) {
			t.Fatalf("Encode with %s: %v", name, err)
		}
	}
	badRecipients := map[string][]Recipient{
		"none":               nil,
		"duplicate key id":   {p.rcpt, {KeyID: p.rcpt.KeyID, KEM: KEMX25519, PublicKey: x.rcpt.PublicKey}},
		"empty key id":       {{KEM: p.rcpt.KEM, PublicKey: p.rcpt.PublicKey}},
		"space in key id":    {{KeyID: "did:medchain:p #enc-1", PublicKey: p.rcpt.PublicKey}},
		"non-ASCII key id":   {{KeyID: "did:medchain:pé#enc-1", PublicKey: p.rcpt.PublicKey}},
		"long key id":        {{KeyID: strings.Repeat("k", 513), PublicKey: p.rcpt.PublicKey}},
		"unsupported KEM":    {{KeyID: "k", KEM: 0x0010, PublicKey: p.rcpt.PublicKey}},
		"key of another KEM": {{KeyID: "k", KEM: KEMMLKEM1024, PublicKey: p.rcpt.PublicKey}},
		"truncated key":      {{KeyID: "k", KEM: KEMX25519, PublicKey: x.rcpt.PublicKey[:31]}},
		"no key":             {{KeyID: "k", KEM: KEMX25519}},
	}
	for name, rs := range badRecipients {
		env, err := Seal(record, testAD(), rs)
		if env != nil {
			t.Fatalf("%s: envelope returned with error %v", name, err)
		}
		expectErr(t, nil, err, ErrInvalidRecipient, name)
		env, err = sealer.Seal(record, testAD(), rs)
		if env != nil {
			t.Fatalf("Sealer: %s: envelope returned with error %v", name, err)
		}
		expectErr(t, nil, err, ErrInvalidRecipient, "Sealer: "+name)
	}
	// The failures left the sealer usable.
	env, err := sealer.Seal(record, testAD(), []Recipient{p.rcpt, x.rcpt})
	if err != nil {
		t.Fatalf("Sealer after failures: %v", err)
	}
	mustOpen(t, env, testAD(), x)
}

func TestMalformedEnvelopes(t *testing.T) { forEachMode(t, testMalformedEnvelopes) }

func testMalformedEnvelopes(t *testing.T, seal sealFunc) {
	p := newParty(t, "did:medchain:patient1#enc-1", KEMX25519)
	good := seal(t, record, testAD(), p)
	cases := map[string]func(*Envelope){
		"short nonce":          func(e *Envelope) { e.Nonce = e.Nonce[:11] },
		"no ciphertext":        func(e *Envelope) { e.Ciphertext = e.Ciphertext[:TagSize-1] },
		"short commitment":     func(e *Envelope) { e.KeyCommitment = e.KeyCommitment[:31] },
		"invalid stored AD":    func(e *Envelope) { e.AD.Version = 0 },
		"unsupported KEM":      func(e *Envelope) { e.Wrapped[0].KEM = 0x0010 },
		"KEM with other enc":   func(e *Envelope) { e.Wrapped[0].KEM = KEMMLKEM768X25519 },
		"short enc":            func(e *Envelope) { e.Wrapped[0].Enc = e.Wrapped[0].Enc[:31] },
		"long sealed":          func(e *Envelope) { e.Wrapped[0].Sealed = append(e.Wrapped[0].Sealed, 0) },
		"empty key id":         func(e *Envelope) { e.Wrapped[0].KeyID = "" },
		"duplicate wrapped ID": func(e *Envelope) { e.Wrapped = append(e.Wrapped, e.Wrapped[0]) },
		"unknown wrap scheme":  func(e *Envelope) { e.Wrapped[0].Scheme = 2 },
		"max wrap scheme":      func(e *Envelope) { e.Wrapped[0].Scheme = 255 },
	}
	for name, change := range cases {
		env := clone(good)
		change(env)
		pt, err := Open(env, testAD(), p.rcpt.KeyID, p.priv)
		expectErr(t, pt, err, ErrMalformed, "Open: "+name)
		_, err = env.Marshal()
		expectErr(t, nil, err, ErrMalformed, "Marshal: "+name)
		if err := env.Validate(); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Validate: %s: %v", name, err)
		}
	}
	pt, err := Open(nil, testAD(), p.rcpt.KeyID, p.priv)
	expectErr(t, pt, err, ErrMalformed, "nil envelope")
	_, err = (*Envelope)(nil).Marshal()
	expectErr(t, nil, err, ErrMalformed, "Marshal of nil")
}

func TestUnmarshalIsStrict(t *testing.T) { forEachMode(t, testUnmarshalIsStrict) }

func testUnmarshalIsStrict(t *testing.T, seal sealFunc) {
	a := newParty(t, "did:medchain:a#enc-1", KEMX25519)
	b := newParty(t, "did:medchain:b#enc-1", KEMX25519)
	env := seal(t, record, testAD(), b, a)
	if env.Wrapped[0].KeyID != a.rcpt.KeyID {
		t.Fatal("Seal did not sort the wrapped keys")
	}
	enc, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Hand-built encodings: unsorted wrapped keys, an unknown field, a
	// wrong format version, trailing bytes, the AD's fields out of order.
	unsorted := clone(env)
	unsorted.Wrapped[0], unsorted.Wrapped[1] = unsorted.Wrapped[1], unsorted.Wrapped[0]
	if b2, _ := unsorted.Marshal(); !bytes.Equal(b2, enc) {
		t.Fatal("Marshal does not sort the wrapped keys")
	}
	wk0, wk1 := wrappedBytes(env.Wrapped[0]), wrappedBytes(env.Wrapped[1])
	build := func(format uint64, ad []byte, wks ...[]byte) []byte {
		var out []byte
		out = appendVarintField(out, 1, format)
		out = appendBytesField(out, 2, ad)
		out = appendBytesField(out, 3, env.Nonce)
		out = appendBytesField(out, 4, env.Ciphertext)
		out = appendBytesField(out, 5, env.KeyCommitment)
		for _, w := range wks {
			out = appendBytesField(out, 6, w)
		}
		return out
	}
	adBytes, _ := testAD().Encode()
	if got := build(1, adBytes, wk0, wk1); !bytes.Equal(got, enc) {
		t.Fatalf("hand-built encoding differs from Marshal:\n%x\n%x", got, enc)
	}
	var adSwapped []byte
	adSwapped = appendVarintField(adSwapped, 2, 3)
	adSwapped = appendBytesField(adSwapped, 1, []byte("rec-0001"))
	bad := map[string][]byte{
		"unsorted wrapped keys":  build(1, adBytes, wk1, wk0),
		"duplicate wrapped keys": build(1, adBytes, wk0, wk0),
		"format version 2":       build(2, adBytes, wk0, wk1),
		"no format version":      build(0, adBytes, wk0, wk1)[0:0],
		"trailing field":         appendVarintField(build(1, adBytes, wk0, wk1), 7, 1),
		"trailing garbage":       append(build(1, adBytes, wk0, wk1), 0),
		"AD fields out of order": build(1, adSwapped, wk0, wk1),
		"empty":                  nil,
	}
	for name, in := range bad {
		_, err := Unmarshal(in)
		expectErr(t, nil, err, ErrMalformed, name)
	}
	// A truncated encoding opens only if what was cut off is whole wrapped
	// keys of other recipients (they are not a's to authenticate), and then
	// to the original plaintext.
	for n := range len(enc) {
		e, err := Unmarshal(enc[:n])
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("truncated to %d: %v", n, err)
			}
			continue
		}
		pt, err := Open(e, testAD(), a.rcpt.KeyID, a.priv)
		if err == nil && (!bytes.Equal(pt, record) || len(e.Wrapped) != 1 || CiphertextHash(e) != CiphertextHash(env)) {
			t.Fatalf("encoding truncated to %d bytes opened to something else", n)
		}
		if err != nil && pt != nil {
			t.Fatalf("truncated to %d: plaintext with error", n)
		}
	}
	// The decoded envelope does not alias its input.
	in := slices.Clone(enc)
	got, err := Unmarshal(in)
	if err != nil {
		t.Fatal(err)
	}
	clear(in)
	mustOpen(t, got, testAD(), a)
}

func wrappedBytes(wk WrappedKey) []byte {
	var out []byte
	out = appendBytesField(out, 1, []byte(wk.KeyID))
	out = appendVarintField(out, 2, uint64(wk.KEM))
	out = appendBytesField(out, 3, wk.Enc)
	out = appendBytesField(out, 4, wk.Sealed)
	if wk.Scheme != 0 {
		out = appendVarintField(out, 5, uint64(wk.Scheme))
	}
	return out
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendVarintField(b []byte, num int, v uint64) []byte {
	return appendVarint(appendVarint(b, uint64(num)<<3), v)
}

func appendBytesField(b []byte, num int, v []byte) []byte {
	b = appendVarint(b, uint64(num)<<3|2)
	return append(appendVarint(b, uint64(len(v))), v...)
}

func TestCiphertextHash(t *testing.T) { forEachMode(t, testCiphertextHash) }

func testCiphertextHash(t *testing.T, seal sealFunc) {
	p := newParty(t, "did:medchain:patient1#enc-1", KEMX25519)
	env := seal(t, record, testAD(), p)
	h := CiphertextHash(env)
	again := seal(t, record, testAD(), p)
	if CiphertextHash(again) == h {
		t.Fatal("two seals of the same record have the same hash")
	}
	changes := map[string]func(*Envelope){
		"AD":             func(e *Envelope) { e.AD.Version++ },
		"nonce":          func(e *Envelope) { e.Nonce[0] ^= 1 },
		"ciphertext":     func(e *Envelope) { e.Ciphertext[len(e.Ciphertext)-1] ^= 0x80 },
		"key commitment": func(e *Envelope) { e.KeyCommitment[31] ^= 1 },
	}
	for name, change := range changes {
		c := clone(env)
		change(c)
		if CiphertextHash(c) == h {
			t.Fatalf("hash does not cover the %s", name)
		}
	}
	c := clone(env)
	c.Wrapped[0].Sealed[0] ^= 1
	c.Wrapped = append(c.Wrapped, WrappedKey{KeyID: "k"})
	if CiphertextHash(c) != h {
		t.Fatal("hash covers the wrapped keys")
	}
}

// Known-answer tests: they freeze the formats (AD encoding, hash and
// commitment formulas). A change here breaks every stored envelope and
// anchor.
func TestFormatsAreFrozen(t *testing.T) {
	adBytes, err := testAD().Encode()
	if err != nil {
		t.Fatal(err)
	}
	const wantAD = "0a087265632d3030303110031a156469643a6d6564636861696e3a70617469656e7431220b4f62736572766174696f6e"
	if got := fmt.Sprintf("%x", adBytes); got != wantAD {
		t.Errorf("AD encoding %s, want %s", got, wantAD)
	}
	env := &Envelope{
		AD:            testAD(),
		Nonce:         bytes.Repeat([]byte{1}, NonceSize),
		Ciphertext:    bytes.Repeat([]byte{2}, 20),
		KeyCommitment: bytes.Repeat([]byte{3}, KeyCommitmentSize),
	}
	if got, want := fmt.Sprintf("%x", CiphertextHash(env)), "d5278c89ade0907c53cb167a2b3454bd2469543bc888269542721aebde936310"; got != want {
		t.Errorf("CiphertextHash %s, want %s", got, want)
	}
	// Record encryption under a fixed data key 00 01 .. 1f and nonce 01..01
	// (computed independently with Python's hmac and cryptography).
	dataKey := make([]byte, DataKeySize)
	for i := range dataKey {
		dataKey[i] = byte(i)
	}
	aead, commit := deriveKeys(dataKey)
	if got, want := fmt.Sprintf("%x", commit), "4557fdce916005e5ab3730b73f96ff1a2820ea85fe34fc22abd0846fc009667c"; got != want {
		t.Errorf("key commitment %s, want %s", got, want)
	}
	ct := aead.Seal(nil, env.Nonce, []byte(`{"status":"final"}`), recordAAD(adBytes))
	if got, want := fmt.Sprintf("%x", ct), "816c0578204dfd9dbbc3dc526d7d27bbadd292e5436bf8b12e7d87957b82e90dd79f"; got != want {
		t.Errorf("record ciphertext %s, want %s", got, want)
	}
	// A batch-wrapped data key 20 21 .. 3f for that AD under the batch
	// secret 00 01 .. 1f, key id did:medchain:patient1#enc-1 and nonce
	// 01..01 (also computed by testdata/independent_check.py).
	secret := dataKey
	wrapKey := make([]byte, DataKeySize)
	for i := range wrapKey {
		wrapKey[i] = byte(0x20 + i)
	}
	binding := batchBinding(adBytes, "did:medchain:patient1#enc-1", env.Nonce)
	sealedKey := batchKEK(secret, binding).Seal(nil, batchWrapNonce[:], wrapKey, domainPrefixed(batchWrapDomain, binding))
	if got, want := fmt.Sprintf("%x", sealedKey), "6af021bc9082938ddc92cd4ae063611e032bd1ef639e7446351831a40423c34f1c66c33d9caf01cda9d266b7e4bfb747"; got != want {
		t.Errorf("batch-wrapped key %s, want %s", got, want)
	}
	if got, want := string(batchContextInfo("k")), "medchain/vault/batch-context/v1\x00\x0a\x01k"; got != want {
		t.Errorf("batch context info %q, want %q", got, want)
	}
	var salt [SaltSize]byte
	for i := range salt {
		salt[i] = byte(i)
	}
	if got, want := fmt.Sprintf("%x", Commitment(salt, []byte(`{"birthDate":"1987-02-14"}`))), "2f045ff83c73d0398d619f21671a01ebc572b4a9b5e0e40e4ad7efc0f722040d"; got != want {
		t.Errorf("Commitment %s, want %s", got, want)
	}
}

func TestCommitment(t *testing.T) {
	content := []byte(`{"birthDate":"1987-02-14"}`)
	s1, s2 := NewSalt(), NewSalt()
	if s1 == s2 || s1 == ([SaltSize]byte{}) {
		t.Fatal("NewSalt is not random")
	}
	c1, c2 := Commitment(s1, content), Commitment(s2, content)
	if c1 == c2 {
		t.Fatal("commitments with different salts are equal")
	}
	if Commitment(s1, content) != c1 {
		t.Fatal("Commitment is not deterministic")
	}
	if Commitment(s1, []byte(`{"birthDate":"1987-02-15"}`)) == c1 {
		t.Fatal("commitments to different content are equal")
	}
	if !VerifyCommitment(c1, s1, content) || VerifyCommitment(c1, s2, content) || VerifyCommitment(c1, s1, content[1:]) {
		t.Fatal("VerifyCommitment")
	}
	// Not a plain hash, and the salt is not simply appended to the content.
	var zero [SaltSize]byte
	if Commitment(zero, content) == Commitment(zero, append(content, 0)) {
		t.Fatal("trailing byte ignored")
	}
}

func FuzzUnmarshal(f *testing.F) {
	p := newParty(f, "did:medchain:p#enc-1", KEMX25519)
	env := seal(f, record, testAD(), p)
	b, _ := env.Marshal()
	f.Add(b)
	s := NewSealer()
	defer s.Close()
	b, _ = batchSeal(s)(f, record, testAD(), p).Marshal()
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte{8, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := Unmarshal(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		out, err := e.Marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("accepted a non-canonical encoding (err %v)", err)
		}
	})
}

// Envelopes sealed through one Sealer share one encapsulation per recipient
// key — the organization's across patients too — and nothing else: every
// envelope has its own data key, nonce, sealed keys and its own copy of
// the encapsulated key. Another Sealer encapsulates afresh.
func TestSealerOneEncapsulationPerKey(t *testing.T) {
	p1 := newParty(t, "did:medchain:patient1#enc-1", KEMMLKEM768X25519)
	p2 := newParty(t, "did:medchain:patient2#enc-1", KEMX25519)
	org := newParty(t, "did:medchain:hospitalA#enc-1", KEMMLKEM1024)
	s := NewSealer()
	defer s.Close()
	seal := batchSeal(s)
	type sealedRec struct {
		env *Envelope
		ad  AD
		pt  []byte
		ps  []party
	}
	var recs []sealedRec
	for i := range 8 {
		ad := testAD()
		ad.RecordID = fmt.Sprintf("rec-%d", i)
		ps := []party{p1, org}
		if i%3 == 2 {
			ad.Patient = "did:medchain:patient2"
			ps = []party{org, p2}
		}
		pt := fmt.Appendf(nil, "CANARY record %d", i)
		recs = append(recs, sealedRec{seal(t, pt, ad, ps...), ad, pt, ps})
	}
	encs := map[string][]byte{}
	seen := map[string]bool{}
	for _, r := range recs {
		for _, p := range r.ps {
			if got := mustOpen(t, r.env, r.ad, p); !bytes.Equal(got, r.pt) {
				t.Fatalf("%s opened different plaintext", p.rcpt.KeyID)
			}
		}
		for _, wk := range r.env.Wrapped {
			if first, ok := encs[wk.KeyID]; !ok {
				encs[wk.KeyID] = wk.Enc
			} else if !bytes.Equal(first, wk.Enc) {
				t.Fatalf("%s: two encapsulations in one batch", wk.KeyID)
			} else if &first[0] == &wk.Enc[0] {
				t.Fatalf("%s: envelopes share the Enc slice", wk.KeyID)
			}
			for _, b := range [][]byte{wk.Sealed} {
				if seen[string(b)] {
					t.Fatal("a sealed key repeats")
				}
				seen[string(b)] = true
			}
		}
		for _, b := range [][]byte{r.env.Nonce, r.env.KeyCommitment} {
			if seen[string(b)] {
				t.Fatal("a nonce or key commitment (so a data key) repeats")
			}
			seen[string(b)] = true
		}
	}
	if len(encs) != 3 || bytes.Equal(encs[p1.rcpt.KeyID], encs[org.rcpt.KeyID][:len(encs[p1.rcpt.KeyID])]) {
		t.Fatalf("%d recipients' encapsulations, want 3 distinct", len(encs))
	}
	// A second batch has its own encapsulations.
	env := batchSeal(NewSealer())(t, record, testAD(), p1, org)
	for _, wk := range env.Wrapped {
		if bytes.Equal(wk.Enc, encs[wk.KeyID]) {
			t.Fatalf("%s: two batches share an encapsulation", wk.KeyID)
		}
	}
}

// Many goroutines seal through one Sealer at once (run with -race): every
// envelope opens, and each recipient key was encapsulated to exactly once.
func TestSealerConcurrent(t *testing.T) {
	org := newParty(t, "did:medchain:hospitalA#enc-1", KEMMLKEM768X25519)
	var patients []party
	for i := range 4 {
		patients = append(patients, newParty(t, fmt.Sprintf("did:medchain:patient%d#enc-1", i), allKEMs[i%len(allKEMs)]))
	}
	s := NewSealer()
	defer s.Close()
	const goroutines, each = 32, 4
	envs := make([]*Envelope, goroutines*each)
	ads := make([]AD, len(envs))
	errs := make([]error, len(envs))
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for j := range each {
				i := g*each + j
				ads[i] = AD{RecordID: fmt.Sprintf("rec-%d", i), Version: 1, Patient: fmt.Sprintf("did:medchain:patient%d", i%4), ResourceType: "Observation"}
				envs[i], errs[i] = s.Seal(fmt.Appendf(nil, "record %d", i), ads[i], []Recipient{patients[i%4].rcpt, org.rcpt})
			}
		})
	}
	wg.Wait()
	encs := map[string]map[string]bool{}
	for i, env := range envs {
		if errs[i] != nil {
			t.Fatalf("seal %d: %v", i, errs[i])
		}
		checkScheme(t, env, WrapBatch)
		for _, p := range []party{patients[i%4], org} {
			if got := mustOpen(t, env, ads[i], p); string(got) != fmt.Sprintf("record %d", i) {
				t.Fatalf("record %d opened to %q", i, got)
			}
		}
		for _, wk := range env.Wrapped {
			if encs[wk.KeyID] == nil {
				encs[wk.KeyID] = map[string]bool{}
			}
			encs[wk.KeyID][string(wk.Enc)] = true
		}
	}
	if len(encs) != 5 {
		t.Fatalf("%d recipient keys, want 5", len(encs))
	}
	for id, m := range encs {
		if len(m) != 1 {
			t.Fatalf("%s: %d encapsulations, want 1", id, len(m))
		}
	}
}

// Close zeroes the exported secrets and refuses further Seals, including
// those racing with it; envelopes sealed before still open.
func TestSealerClose(t *testing.T) {
	p := newParty(t, "did:medchain:patient1#enc-1", KEMX25519)
	org := newParty(t, "did:medchain:hospitalA#enc-1", KEMMLKEM768X25519)
	s := NewSealer()
	env := batchSeal(s)(t, record, testAD(), p, org)
	var secrets [][]byte
	for _, k := range s.st.keys {
		if len(k.secret) != batchSecretSize || bytes.Equal(k.secret, make([]byte, batchSecretSize)) {
			t.Fatal("no secret before Close")
		}
		secrets = append(secrets, k.secret)
	}
	if len(secrets) != 2 {
		t.Fatalf("%d batch keys, want 2", len(secrets))
	}
	s.Close()
	for _, b := range secrets {
		if !bytes.Equal(b, make([]byte, batchSecretSize)) {
			t.Fatal("a secret survived Close")
		}
	}
	if s.st.keys != nil {
		t.Fatal("Close kept the batch keys")
	}
	got, err := s.Seal(record, testAD(), []Recipient{p.rcpt})
	if got != nil || !errors.Is(err, ErrSealerClosed) {
		t.Fatalf("Seal after Close: %v, %v; want ErrSealerClosed", got, err)
	}
	s.Close() // idempotent
	mustOpen(t, env, testAD(), p)
	mustOpen(t, env, testAD(), org)

	// Close while Seals run: each either succeeds (and opens) or fails with
	// ErrSealerClosed, and none succeeds after Close has returned.
	s = NewSealer()
	var wg sync.WaitGroup
	var closed atomic.Bool
	var ok, refused atomic.Int64
	for range 8 {
		wg.Go(func() {
			for {
				env, err := s.Seal(record, testAD(), []Recipient{p.rcpt})
				if err != nil {
					if !errors.Is(err, ErrSealerClosed) {
						t.Errorf("Seal: %v", err)
					}
					refused.Add(1)
					return
				}
				if closed.Load() {
					t.Error("a Seal succeeded after Close returned")
				}
				if _, err := Open(env, testAD(), p.rcpt.KeyID, p.priv); err != nil {
					t.Errorf("Open: %v", err)
				}
				ok.Add(1)
			}
		})
	}
	for ok.Load() < 16 {
		runtime.Gosched()
	}
	s.Close()
	closed.Store(true)
	wg.Wait()
	if refused.Load() != 8 {
		t.Fatalf("%d Seals refused, want 8", refused.Load())
	}
}

// A Sealer dropped without Close is wiped once the garbage collector finds
// it unreachable.
func TestSealerWipedWhenUnreachable(t *testing.T) {
	p := newParty(t, "did:medchain:patient1#enc-1", KEMX25519)
	s := NewSealer()
	batchSeal(s)(t, record, testAD(), p)
	var secret []byte
	for _, k := range s.st.keys {
		secret = k.secret
	}
	s = nil
	for range 200 {
		runtime.GC()
		if bytes.Equal(secret, make([]byte, batchSecretSize)) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the secret of an unreachable Sealer was not wiped")
}

// A batch-wrapped key is bound, by its key-encryption key and its GCM
// additional data, to the AD, the record nonce and the key id: unwrapping
// it for anything else fails at the wrap itself, before the key commitment
// is consulted.
func TestBatchWrapBinding(t *testing.T) {
	p := newParty(t, "did:medchain:patient1#enc-1", KEMMLKEM768X25519)
	s := NewSealer()
	defer s.Close()
	env := batchSeal(s)(t, record, testAD(), p)
	env2 := batchSeal(s)(t, record, testAD(), p) // same AD, same batch
	wk := &env.Wrapped[0]
	adBytes, _ := testAD().Encode()
	dataKey, err := unwrapBatch(wk, adBytes, env.Nonce, p.priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, commit := deriveKeys(dataKey); !bytes.Equal(commit, env.KeyCommitment) {
		t.Fatal("unwrapped key does not match the commitment")
	}
	for name, change := range map[string]func(*AD){
		"record id":     func(a *AD) { a.RecordID = "rec-0002" },
		"version":       func(a *AD) { a.Version++ },
		"patient":       func(a *AD) { a.Patient = "did:medchain:patient2" },
		"resource type": func(a *AD) { a.ResourceType = "Condition" },
	} {
		ad := testAD()
		change(&ad)
		b, _ := ad.Encode()
		k, err := unwrapBatch(wk, b, env.Nonce, p.priv)
		expectErr(t, k, err, ErrTampered, "unwrap for another "+name)
	}
	k, err := unwrapBatch(wk, adBytes, env2.Nonce, p.priv)
	expectErr(t, k, err, ErrTampered, "unwrap with another envelope's nonce")
	k, err = unwrapBatch(&env2.Wrapped[0], adBytes, env.Nonce, p.priv)
	expectErr(t, k, err, ErrTampered, "another envelope's wrapped key, same batch and AD")
	relabelled := *wk
	relabelled.KeyID = "did:medchain:patient1#enc-2"
	k, err = unwrapBatch(&relabelled, adBytes, env.Nonce, p.priv)
	expectErr(t, k, err, ErrTampered, "relabelled key id")
	k, err = unwrapBatch(wk, adBytes, env.Nonce, newParty(t, "x", KEMMLKEM768X25519).priv)
	expectErr(t, k, err, ErrTampered, "another private key")
}

// A wrapped key moved to another recipient's slot (same KEM, so the
// recipient tries to open it) fails, in one envelope and across two of one
// batch.
func TestWrappedKeySwappedBetweenRecipients(t *testing.T) {
	for _, kem := range []uint16{KEMX25519, KEMMLKEM768X25519} {
		t.Run(fmt.Sprintf("0x%04x", kem), func(t *testing.T) {
			forEachMode(t, func(t *testing.T, seal sealFunc) {
				patient := newParty(t, "did:medchain:patient1#enc-1", kem)
				org := newParty(t, "did:medchain:hospitalA#enc-1", kem)
				other := testAD()
				other.RecordID = "rec-0002"
				e1 := seal(t, record, testAD(), patient, org)
				e2 := seal(t, record, other, patient, org)
				find := func(e *Envelope, id string) *WrappedKey {
					i := slices.IndexFunc(e.Wrapped, func(w WrappedKey) bool { return w.KeyID == id })
					return &e.Wrapped[i]
				}
				for name, src := range map[string]*WrappedKey{
					"patient's key of the same envelope":     find(e1, patient.rcpt.KeyID),
					"patient's key of another envelope":      find(e2, patient.rcpt.KeyID),
					"organization's key of another envelope": find(e2, org.rcpt.KeyID),
				} {
					forged := clone(e1)
					dst := find(forged, org.rcpt.KeyID)
					dst.Enc, dst.Sealed, dst.Scheme = slices.Clone(src.Enc), slices.Clone(src.Sealed), src.Scheme
					pt, err := Open(forged, testAD(), org.rcpt.KeyID, org.priv)
					expectErr(t, pt, err, ErrTampered, name+" in the organization's slot")
					mustOpen(t, forged, testAD(), patient) // the control
				}
			})
		})
	}
}

// A wrapped key presented under the other scheme fails to authenticate.
func TestWrapSchemeRelabelled(t *testing.T) {
	forEachMode(t, func(t *testing.T, seal sealFunc) {
		p := newParty(t, "did:medchain:patient1#enc-1", KEMX25519)
		env := seal(t, record, testAD(), p)
		env.Wrapped[0].Scheme = 1 - env.Wrapped[0].Scheme
		pt, err := Open(env, testAD(), p.rcpt.KeyID, p.priv)
		expectErr(t, pt, err, ErrTampered, "scheme relabelled")
		b, err := env.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		e, err := Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		pt, err = Open(e, testAD(), p.rcpt.KeyID, p.priv)
		expectErr(t, pt, err, ErrTampered, "scheme relabelled, through the encoding")
	})
}

// The scheme field has one encoding per scheme: absent for WrapHPKE, 1
// for WrapBatch. An explicit 0, an unknown scheme or one that would
// truncate to a known one is malformed.
func TestWrapSchemeEncoding(t *testing.T) {
	p := newParty(t, "did:medchain:patient1#enc-1", KEMX25519)
	s := NewSealer()
	defer s.Close()
	for _, env := range []*Envelope{seal(t, record, testAD(), p), batchSeal(s)(t, record, testAD(), p)} {
		good, err := env.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		wk := env.Wrapped[0]
		plain := wk
		plain.Scheme = 0
		build := func(item []byte) []byte {
			var out []byte
			adBytes, _ := testAD().Encode()
			out = appendVarintField(out, 1, FormatVersion)
			out = appendBytesField(out, 2, adBytes)
			out = appendBytesField(out, 3, env.Nonce)
			out = appendBytesField(out, 4, env.Ciphertext)
			out = appendBytesField(out, 5, env.KeyCommitment)
			return appendBytesField(out, 6, item)
		}
		// wrappedBytes writes field 5 only for a non-zero scheme.
		if !bytes.Equal(build(wrappedBytes(wk)), good) {
			t.Fatalf("scheme %d: hand-built encoding differs from Marshal", wk.Scheme)
		}
		for _, v := range []uint64{0, 2, 3, 255, 256, 257, 1 << 40} {
			in := build(appendVarintField(wrappedBytes(plain), 5, v))
			_, err := Unmarshal(in)
			expectErr(t, nil, err, ErrMalformed, fmt.Sprintf("scheme field %d", v))
		}
	}
}

// Shredding one envelope of a batch leaves the others intact (their
// encapsulated keys are copies, not the batch's shared bytes), and leaves
// nothing of its own that opens.
func TestShredOneOfABatch(t *testing.T) {
	patient := newParty(t, "did:medchain:patient1#enc-1", KEMMLKEM768X25519)
	org := newParty(t, "did:medchain:hospitalA#enc-1", KEMMLKEM768X25519)
	s := NewSealer()
	defer s.Close()
	e1 := batchSeal(s)(t, record, testAD(), patient, org)
	e2 := batchSeal(s)(t, record, testAD(), patient, org)
	b2, _ := e2.Marshal()
	Shred(e1)
	for _, p := range []party{patient, org} {
		pt, err := Open(e1, testAD(), p.rcpt.KeyID, p.priv)
		expectErr(t, pt, err, ErrNoKey, "shredded envelope")
		mustOpen(t, e2, testAD(), p)
	}
	if after, _ := e2.Marshal(); !bytes.Equal(after, b2) {
		t.Fatal("shredding one envelope changed another of its batch")
	}
	// A new envelope from the same Sealer is unaffected too.
	mustOpen(t, batchSeal(s)(t, record, testAD(), patient, org), testAD(), org)
}

// vector is a stored envelope with what it must decode and open to.
type vector struct {
	AD         AD     `json:"ad"`
	Plaintext  string `json:"plaintext"`
	Recipients []struct {
		KeyID string `json:"key_id"`
		KEM   uint16 `json:"kem"`
		IKM   string `json:"ikm"`
	} `json:"recipients"`
	Blob       string `json:"blob"`
	BlobSHA256 string `json:"blob_sha256"`
	CTHash     string `json:"ciphertext_hash"`
}

// Stored envelopes keep decoding, re-encoding byte for byte (so the
// whole-blob hash the chain anchors, and CiphertextHash, are unchanged)
// and opening for every recipient:
//
//   - testdata/legacy-v1-envelopes.json was written by the code before
//     batch sealing existed (commit 2c6dbc9, Seal and Marshal), two
//     records to MLKEM768-X25519, X25519 and ML-KEM-1024 recipients;
//   - testdata/batch-v1-envelopes.json holds two records of one Sealer
//     batch; it freezes the batch scheme.
//
// Recipient keys are derived from the stored IKM (RFC 9180 DeriveKeyPair).
// testdata/independent_check.py opens the X25519 keys of both files with
// RFC 9180 and the formulas of doc.go written from scratch in Python.
func TestStoredEnvelopesStillOpen(t *testing.T) {
	for file, scheme := range map[string]WrapScheme{"legacy-v1-envelopes.json": WrapHPKE, "batch-v1-envelopes.json": WrapBatch} {
		raw, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		var vs []vector
		if err := json.Unmarshal(raw, &vs); err != nil {
			t.Fatal(err)
		}
		if len(vs) != 2 {
			t.Fatalf("%s: %d envelopes", file, len(vs))
		}
		encs := map[string]map[string]int{}
		for _, v := range vs {
			blob, _ := hex.DecodeString(v.Blob)
			if h := sha256.Sum256(blob); hex.EncodeToString(h[:]) != v.BlobSHA256 {
				t.Fatalf("%s: blob hash", file)
			}
			env, err := Unmarshal(blob)
			if err != nil {
				t.Fatalf("%s: %s: Unmarshal: %v", file, v.AD.RecordID, err)
			}
			checkScheme(t, env, scheme)
			again, err := env.Marshal()
			if err != nil || !bytes.Equal(again, blob) {
				t.Fatalf("%s: %s: re-encoding differs (err %v)", file, v.AD.RecordID, err)
			}
			if h := CiphertextHash(env); hex.EncodeToString(h[:]) != v.CTHash {
				t.Fatalf("%s: %s: ciphertext hash changed", file, v.AD.RecordID)
			}
			for _, r := range v.Recipients {
				ikm, _ := hex.DecodeString(r.IKM)
				k, _ := hpke.NewKEM(r.KEM)
				priv, err := k.DeriveKeyPair(ikm)
				if err != nil {
					t.Fatal(err)
				}
				pt, err := Open(env, v.AD, r.KeyID, priv)
				if err != nil || string(pt) != v.Plaintext {
					t.Fatalf("%s: %s: open as %s: %v", file, v.AD.RecordID, r.KeyID, err)
				}
				// And a release of it opens for the requester.
				req := newParty(t, "did:medchain:hospitalB#enc-1", KEMX25519)
				wk, err := Rewrap(env, v.AD, r.KeyID, priv, req.rcpt)
				if err != nil {
					t.Fatalf("%s: rewrap: %v", file, err)
				}
				rel := &Envelope{AD: env.AD, Nonce: env.Nonce, Ciphertext: env.Ciphertext, KeyCommitment: env.KeyCommitment, Wrapped: []WrappedKey{*wk}}
				if string(mustOpen(t, rel, v.AD, req)) != v.Plaintext {
					t.Fatalf("%s: released envelope opened to something else", file)
				}
			}
			for _, wk := range env.Wrapped {
				if encs[wk.KeyID] == nil {
					encs[wk.KeyID] = map[string]int{}
				}
				encs[wk.KeyID][string(wk.Enc)]++
			}
		}
		if scheme == WrapBatch {
			// One batch: each recipient's two keys share one encapsulation.
			for id, m := range encs {
				for _, n := range m {
					if len(m) != 1 || n != 2 {
						t.Fatalf("%s: %s: %d distinct encapsulations over the batch", file, id, len(m))
					}
				}
			}
		}
	}
}
