package auth_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/medchain/medchain/auth"
	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/x/identity"
)

// mapReader is a store.Reader over a map (SignerKey needs Get only).
type mapReader map[string][]byte

func (m mapReader) Get(k []byte) []byte                        { return m[string(k)] }
func (m mapReader) Has(k []byte) bool                          { _, ok := m[string(k)]; return ok }
func (m mapReader) Iterator(_, _ []byte) store.Iterator        { panic("unused") }
func (m mapReader) ReverseIterator(_, _ []byte) store.Iterator { panic("unused") }

type fixture struct {
	state mapReader
	keys  []ed25519.PrivateKey // generations, oldest first
	did   string
	v     *auth.Verifier
	now   time.Time
}

const chainID = "medchain-test"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	_, k1, _ := ed25519.GenerateKey(rand.Reader)
	did := identity.DIDFromKey(k1.Public().(ed25519.PublicKey))
	f := &fixture{state: mapReader{}, keys: []ed25519.PrivateKey{k1}, did: did, now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	f.put(identity.NewRecord(did, k1.Public().(ed25519.PublicKey), 0x647a, make([]byte, 32), 1, f.now))
	f.v = &auth.Verifier{ChainID: chainID, Identities: func() (store.Reader, error) { return f.state, nil }, Now: func() time.Time { return f.now }}
	return f
}

func (f *fixture) put(rec *identity.Record) {
	bz, _ := json.Marshal(rec)
	f.state[string(identity.RecordKey(rec.DID))] = bz
}

func (f *fixture) record(t *testing.T) *identity.Record {
	rec, err := identity.DecodeRecord(f.state[string(identity.RecordKey(f.did))])
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func (f *fixture) issue(t *testing.T, gen int, aud string, at time.Time, ttl time.Duration) string {
	t.Helper()
	iss, err := auth.IssueAt(at, f.keys[gen-1], f.did, identity.SigningKeyID(f.did, gen), aud, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return iss.Token
}

func wantUnauthorized(t *testing.T, err error, contains string) {
	t.Helper()
	if !errors.Is(err, auth.ErrUnauthorized) {
		t.Fatalf("got %v, want ErrUnauthorized", err)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %q does not say %q", err, contains)
	}
}

func TestIssueVerify(t *testing.T) {
	f := newFixture(t)
	iss, err := auth.IssueAt(f.now, f.keys[0], f.did, identity.SigningKeyID(f.did, 1), chainID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := iss.ExpiresAt.Sub(iss.IssuedAt); got != auth.DefaultTTL {
		t.Errorf("default lifetime %s, want %s", got, auth.DefaultTTL)
	}
	c, err := f.v.Verify(iss.Token)
	if err != nil {
		t.Fatal(err)
	}
	if c.DID != f.did || c.KeyID != identity.SigningKeyID(f.did, 1) || c.ID == "" || !c.ExpiresAt.Equal(iss.ExpiresAt) {
		t.Errorf("claims %+v", c)
	}
	// Header and claims as specified.
	msg, err := jws.Parse([]byte(iss.Token))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	if alg, _ := h.Algorithm(); alg.String() != "EdDSA" {
		t.Errorf("alg %v", alg)
	}
	var claims map[string]any
	if err := json.Unmarshal(msg.Payload(), &claims); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"iss", "sub", "aud", "iat", "exp", "jti"} {
		if claims[k] == nil {
			t.Errorf("claim %s missing: %v", k, claims)
		}
	}
	// Within the skew either side.
	f.now = iss.ExpiresAt.Add(auth.DefaultSkew / 2)
	if _, err := f.v.Verify(iss.Token); err != nil {
		t.Errorf("within skew after exp: %v", err)
	}
}

func TestIssueLimits(t *testing.T) {
	f := newFixture(t)
	if _, err := auth.Issue(f.keys[0], f.did, identity.SigningKeyID(f.did, 1), chainID, 16*time.Minute); err == nil {
		t.Error("a 16-minute token was issued")
	}
	if _, err := auth.Issue(f.keys[0], f.did, "did:medchain:aaaaaaaaaaaaaaaaaaaaaaaaaa#key-1", chainID, 0); err == nil {
		t.Error("a token was issued for a key of another DID")
	}
	if _, err := auth.Issue(f.keys[0], f.did, identity.SigningKeyID(f.did, 1), chainID, auth.MaxTTL); err != nil {
		t.Errorf("15 minutes: %v", err)
	}
}

func TestVerifyRefusals(t *testing.T) {
	f := newFixture(t)
	good := f.issue(t, 1, chainID, f.now, 5*time.Minute)

	_, err := f.v.Verify(f.issue(t, 1, chainID, f.now.Add(-20*time.Minute), 5*time.Minute))
	wantUnauthorized(t, err, "expired")
	_, err = f.v.Verify(f.issue(t, 1, chainID, f.now.Add(5*time.Minute), 5*time.Minute))
	wantUnauthorized(t, err, "future")
	_, err = f.v.Verify(f.issue(t, 1, "another-chain", f.now, 5*time.Minute))
	wantUnauthorized(t, err, "audience")
	_, err = f.v.Verify("")
	wantUnauthorized(t, err, "no bearer token")
	_, err = f.v.Verify("not.a.jwt")
	wantUnauthorized(t, err, "")

	// A flipped bit in the payload breaks the signature.
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = []byte(strings.Replace(string(payload), `"exp":`, `"exp":1`, 1))
	_, err = f.v.Verify(parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2])
	wantUnauthorized(t, err, "signature")

	// Signed by a stranger's key but claiming the DID's key id.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	forged, err := auth.IssueAt(f.now, other, f.did, identity.SigningKeyID(f.did, 1), chainID, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.v.Verify(forged.Token)
	wantUnauthorized(t, err, "signature")

	// A lifetime over 15 minutes, built by hand.
	tok, _ := jwt.NewBuilder().Issuer(f.did).Subject(f.did).Audience([]string{chainID}).IssuedAt(f.now).Expiration(f.now.Add(time.Hour)).Build()
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, identity.SigningKeyID(f.did, 1))
	long, _ := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), f.keys[0], jws.WithProtectedHeaders(hdr)))
	_, err = f.v.Verify(string(long))
	wantUnauthorized(t, err, "lifetime")

	// iss must be the key's DID.
	tok, _ = jwt.NewBuilder().Issuer("did:medchain:aaaaaaaaaaaaaaaaaaaaaaaaaa").Subject(f.did).Audience([]string{chainID}).IssuedAt(f.now).Expiration(f.now.Add(time.Minute)).Build()
	wrongIss, _ := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), f.keys[0], jws.WithProtectedHeaders(hdr)))
	_, err = f.v.Verify(string(wrongIss))
	wantUnauthorized(t, err, "iss")

	// No kid.
	noKid, _ := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), f.keys[0]))
	_, err = f.v.Verify(string(noKid))
	wantUnauthorized(t, err, "kid")

	// An unregistered DID.
	g := newFixture(t)
	_, err = f.v.Verify(g.issue(t, 1, chainID, f.now, time.Minute))
	wantUnauthorized(t, err, "no such identity")
}

func TestVerifyRotationAndDeactivation(t *testing.T) {
	f := newFixture(t)
	old := f.issue(t, 1, chainID, f.now, 5*time.Minute)
	if _, err := f.v.Verify(old); err != nil {
		t.Fatal(err)
	}
	// Rotate: generation 2 becomes current; the old key's tokens stop working.
	_, k2, _ := ed25519.GenerateKey(rand.Reader)
	f.keys = append(f.keys, k2)
	rec := f.record(t)
	rec.SigningKeys[0].RevokedHeight = 5
	rec.SigningKeys = append(rec.SigningKeys, identity.SigningKey{ID: identity.SigningKeyID(f.did, 2), PublicKey: k2.Public().(ed25519.PublicKey), AddedHeight: 5})
	f.put(rec)
	_, err := f.v.Verify(old)
	wantUnauthorized(t, err, "rotated away")
	if _, err := f.v.Verify(f.issue(t, 2, chainID, f.now, time.Minute)); err != nil {
		t.Errorf("new key: %v", err)
	}
	// Deactivate: nothing works.
	rec.DeactivatedHeight = 9
	f.put(rec)
	_, err = f.v.Verify(f.issue(t, 2, chainID, f.now, time.Minute))
	wantUnauthorized(t, err, "deactivated")
}

func TestBearerToken(t *testing.T) {
	r, _ := http.NewRequest("GET", "/", nil)
	if _, err := auth.BearerToken(r); !errors.Is(err, auth.ErrUnauthorized) {
		t.Errorf("no header: %v", err)
	}
	r.Header.Set("Authorization", "Basic abc")
	if _, err := auth.BearerToken(r); !errors.Is(err, auth.ErrUnauthorized) {
		t.Errorf("basic: %v", err)
	}
	r.Header.Set("Authorization", "bearer  tok ")
	if tok, err := auth.BearerToken(r); err != nil || tok != "tok" {
		t.Errorf("bearer: %q %v", tok, err)
	}
	if c := auth.Challenge(errors.New(`unauthorized: say "x"`)); !strings.Contains(c, `error="invalid_token"`) || strings.Count(c, `"`) != 6 {
		t.Errorf("challenge %s", c)
	}
}
