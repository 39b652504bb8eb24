// Package auth issues and checks the bearer tokens callers present to a
// node's FHIR API: short-lived JWTs (RFC 7519) signed with EdDSA by the
// caller's DID signing key. The header's kid is the DID URL of the key
// (did:medchain:<id>#key-<n>); the claims are iss = sub = the DID, aud = the
// chain id, iat, exp (at most 15 minutes after iat), optional nbf, and a
// random jti.
//
// A Verifier accepts a token only if, in the committed chain state, the
// DID is active and kid is its current signing key (a token signed with a
// key rotated away stops working at once), the signature verifies, the
// audience is this chain, and the token is within its validity window,
// allowing a small clock skew.
package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/x/identity"
)

// Token lifetimes.
const (
	DefaultTTL = 5 * time.Minute
	MaxTTL     = 15 * time.Minute
	// DefaultSkew is the clock difference tolerated between the caller and
	// the node when checking iat, nbf and exp.
	DefaultSkew = 30 * time.Second
	// maxTokenBytes bounds what the Verifier parses.
	maxTokenBytes = 4096
)

// ErrUnauthorized is wrapped by every verification failure; the message
// says what was wrong (never anything secret). The HTTP status is 401.
var ErrUnauthorized = errors.New("unauthorized")

func unauthorized(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnauthorized, fmt.Sprintf(format, args...))
}

// Issued is a signed token and what it says.
type Issued struct {
	Token     string    `json:"token"`
	DID       string    `json:"did"`
	KeyID     string    `json:"key_id"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Issue signs a token for did with its signing key keyID (the key's DID
// URL), for the chain chainID, valid for ttl (0: DefaultTTL; at most
// MaxTTL) from now.
func Issue(key ed25519.PrivateKey, did, keyID, chainID string, ttl time.Duration) (*Issued, error) {
	return IssueAt(time.Now(), key, did, keyID, chainID, ttl)
}

// IssueAt is Issue with the issuing time given (for tests and for callers
// with their own clock).
func IssueAt(now time.Time, key ed25519.PrivateKey, did, keyID, chainID string, ttl time.Duration) (*Issued, error) {
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < 0 || ttl > MaxTTL {
		return nil, fmt.Errorf("token lifetime %s: must be positive and at most %s", ttl, MaxTTL)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("auth: not an Ed25519 private key")
	}
	kdid, _, err := identity.SplitKeyID(keyID)
	if err != nil {
		return nil, err
	}
	if kdid != did {
		return nil, fmt.Errorf("key %s is not a key of %s", keyID, did)
	}
	if chainID == "" {
		return nil, errors.New("auth: chain id is empty")
	}
	now = now.UTC().Truncate(time.Second)
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return nil, err
	}
	tok, err := jwt.NewBuilder().
		Issuer(did).Subject(did).Audience([]string{chainID}).
		IssuedAt(now).Expiration(now.Add(ttl)).JwtID(hex.EncodeToString(jti)).
		Build()
	if err != nil {
		return nil, err
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, keyID); err != nil {
		return nil, err
	}
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		return nil, err
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return nil, fmt.Errorf("sign token: %w", err)
	}
	return &Issued{Token: string(signed), DID: did, KeyID: keyID, IssuedAt: now, ExpiresAt: now.Add(ttl)}, nil
}

// Claims is what a verified token establishes.
type Claims struct {
	DID       string
	KeyID     string
	ID        string // jti
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// IdentityState returns a reader of the identity store at the latest
// committed height.
type IdentityState func() (store.Reader, error)

// Verifier checks tokens against committed chain state.
type Verifier struct {
	ChainID    string
	Identities IdentityState
	// Skew is the tolerated clock difference (default DefaultSkew).
	Skew time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Verify checks a token and returns its claims, or an error wrapping
// ErrUnauthorized that says why it was refused.
func (v *Verifier) Verify(token string) (*Claims, error) {
	if token == "" {
		return nil, unauthorized("no bearer token")
	}
	if len(token) > maxTokenBytes {
		return nil, unauthorized("token too long")
	}
	msg, err := jws.Parse([]byte(token), jws.WithCompact())
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, unauthorized("token is not a compact JWS")
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	if alg, ok := hdr.Algorithm(); !ok || alg.String() != jwa.EdDSA().String() {
		return nil, unauthorized("token must be signed with alg EdDSA")
	}
	kid, ok := hdr.KeyID()
	if !ok || kid == "" {
		return nil, unauthorized("token header has no kid (the DID URL of the signing key)")
	}
	did, _, err := identity.SplitKeyID(kid)
	if err != nil {
		return nil, unauthorized("token kid %q is not a medchain DID key id", trunc(kid))
	}
	ids, err := v.Identities()
	if err != nil {
		return nil, fmt.Errorf("auth: read chain state: %w", err)
	}
	pub, err := identity.Keeper{}.SignerKey(ids, kid)
	switch {
	case errors.Is(err, identity.ErrDeactivated):
		return nil, unauthorized("%s is deactivated", did)
	case errors.Is(err, identity.ErrUnauthorized):
		return nil, unauthorized("key %s has been rotated away; sign with the DID's current key", kid)
	case err != nil:
		return nil, unauthorized("no such identity or key %s on chain", kid)
	}
	tok, err := jwt.Parse([]byte(token), jwt.WithKey(jwa.EdDSA(), ed25519.PublicKey(pub)), jwt.WithValidate(false))
	if err != nil {
		return nil, unauthorized("bad token signature or encoding")
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	skew := v.Skew
	if skew <= 0 {
		skew = DefaultSkew
	}
	iss, _ := tok.Issuer()
	sub, _ := tok.Subject()
	if iss != did || sub != did {
		return nil, unauthorized("token iss and sub must both be %s, the DID of its key", did)
	}
	aud, _ := tok.Audience()
	if len(aud) != 1 || aud[0] != v.ChainID {
		return nil, unauthorized("token audience is not this chain (%s)", v.ChainID)
	}
	iat, okIat := tok.IssuedAt()
	exp, okExp := tok.Expiration()
	if !okIat || !okExp {
		return nil, unauthorized("token must carry iat and exp")
	}
	switch {
	case exp.Sub(iat) > MaxTTL:
		return nil, unauthorized("token lifetime exceeds %s", MaxTTL)
	case !exp.After(iat):
		return nil, unauthorized("token expires before it was issued")
	case iat.After(now.Add(skew)):
		return nil, unauthorized("token issued in the future (check the clock)")
	case !now.Before(exp.Add(skew)):
		return nil, unauthorized("token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if nbf, ok := tok.NotBefore(); ok && nbf.After(now.Add(skew)) {
		return nil, unauthorized("token not valid before %s", nbf.UTC().Format(time.RFC3339))
	}
	jti, _ := tok.JwtID()
	return &Claims{DID: did, KeyID: kid, ID: jti, IssuedAt: iat, ExpiresAt: exp}, nil
}

// BearerToken returns the token of an "Authorization: Bearer" header, or
// an error wrapping ErrUnauthorized.
func BearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", unauthorized("no Authorization header; send \"Authorization: Bearer <token>\" (medchain auth token --from NAME)")
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", unauthorized("Authorization must be \"Bearer <token>\"")
	}
	return strings.TrimSpace(tok), nil
}

// Challenge is the WWW-Authenticate value for a 401 caused by err.
func Challenge(err error) string {
	msg := strings.TrimPrefix(err.Error(), ErrUnauthorized.Error()+": ")
	msg = strings.ReplaceAll(msg, `"`, "'")
	return fmt.Sprintf(`Bearer realm="medchain", error="invalid_token", error_description="%s"`, msg)
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
