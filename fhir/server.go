// Package fhir is a node's FHIR R4 REST API (under /fhir): patient
// records are validated with github.com/google/fhir/go, stored encrypted
// in the node's vault and anchored on chain; every read is an access
// request decided on chain against the patient's consents and logged as an
// access event; consents and access events read as FHIR Consent and
// AuditEvent resources.
//
// Callers authenticate with a short-lived JWT signed by their DID key
// (package auth). A medchain patient's FHIR id is the method-specific id
// of their DID: Patient/<id> is did:medchain:<id>. Every stored resource
// names its patient (its subject, patient or equivalent reference; a
// Patient resource by its own id), who must be a registered identity.
//
// Errors are OperationOutcome resources: 400 malformed, 401 no or bad
// token, 403 denied (a denied read is logged on chain), 404, 405, 410
// erased, 413 too large, 415, 422 invalid resource. Messages never quote
// resource content, and nothing here logs it.
package fhir

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/cometbft/cometbft/libs/log"

	"github.com/medchain/medchain/auth"
	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/vault"
	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/records"
)

// Config wires a Handler.
type Config struct {
	Vault   *vault.Service
	Chain   vault.Chain // committed state
	ChainID string
	Logger  log.Logger
	// Now is the clock (token checks, consent pre-filtering); default time.Now.
	Now func() time.Time
}

// Handler serves the FHIR API.
type Handler struct {
	cfg      Config
	org      string
	verifier *auth.Verifier
}

// New returns the FHIR API of a node whose vault is v.
func New(cfg Config) (*Handler, error) {
	if cfg.Vault == nil || cfg.Chain == nil || cfg.ChainID == "" {
		return nil, errors.New("fhir: incomplete configuration")
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewNopLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if _, err := defaultValidator.get(); err != nil {
		return nil, fmt.Errorf("fhir: validator: %w", err)
	}
	h := &Handler{cfg: cfg, org: cfg.Vault.Org()}
	h.verifier = &auth.Verifier{ChainID: cfg.ChainID, Now: cfg.Now, Identities: func() (store.Reader, error) {
		r, _, err := cfg.Chain.Reader(identity.StoreName)
		return r, err
	}}
	return h, nil
}

// Route is one route to mount on the node's API.
type Route struct {
	Method, Pattern, Summary string
	Handler                  http.Handler
}

// Routes returns the routes of the FHIR API.
func (h *Handler) Routes() []Route {
	routes := []Route{
		{"GET", "/fhir/metadata", "FHIR: the CapabilityStatement of this server (no token needed).", h.wrap(h.metadata, false)},
		{"POST", "/fhir", "FHIR: process a transaction Bundle (entries POST or PUT; all are validated and authorised before any is written).", h.wrap(h.transaction, true)},
		{"POST", "/fhir/{type}", "FHIR: create a patient record (validated, encrypted in this node's vault, anchored on chain); 201 with Location.", h.wrap(h.create, true)},
		{"GET", "/fhir/{type}", "FHIR: search one patient's records of a type the caller may read (patient, _id, _lastUpdated, code, category, date, _count, _offset); also Consent and AuditEvent from the chain.", h.wrap(h.search, true)},
		{"GET", "/fhir/{type}/{id}", "FHIR: read a record (an access request decided on chain for the X-Purpose-Of-Use, default TREAT, and logged).", h.wrap(h.read, true)},
		{"PUT", "/fhir/{type}/{id}", "FHIR: update a record held by this node's organization (a new version).", h.wrap(h.update, true)},
		{"GET", "/fhir/{type}/{id}/_history/{vid}", "FHIR: read the current version of a record by its version id.", h.wrap(h.read, true)},
		{"GET", "/fhir/Patient/{id}/$everything", "FHIR: every record of the patient the caller may read, as a searchset Bundle.", h.wrap(h.everything, true)},
	}
	fallback := h.wrap(h.fallback, false)
	for _, m := range []string{"GET", "POST", "PUT", "DELETE", "PATCH"} {
		routes = append(routes, Route{m, "/fhir/", "FHIR: any other path answers with an OperationOutcome (404, or 405 for a method the path does not allow; POST /fhir/ is a transaction).", fallback})
	}
	return routes
}

// caller is an authenticated requester.
type caller struct {
	DID   string
	Roles []string // roles in this node's organization; empty if not a member
}

func (c *caller) member() bool { return len(c.Roles) > 0 }

type handlerFunc func(w http.ResponseWriter, r *http.Request, c *caller) error

// wrap authenticates (when needed), recovers from panics and answers errors
// as OperationOutcomes.
func (h *Handler) wrap(f handlerFunc, authenticate bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if rec := recover(); rec != nil {
				h.cfg.Logger.Error("FHIR handler panic", "path", r.URL.Path, "panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
				writeError(w, errors.New("panic"))
			}
		}()
		var c *caller
		if authenticate {
			var err error
			if c, err = h.authenticate(r); err != nil {
				writeError(w, err)
				return
			}
		}
		if err := f(w, r, c); err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				// Errors here carry ids and DIDs at most, never content.
				h.cfg.Logger.Error("FHIR request failed", "method", r.Method, "path", r.URL.Path, "err", err.Error())
			}
			writeError(w, err)
		}
	})
}

func (h *Handler) authenticate(r *http.Request) (*caller, error) {
	tok, err := auth.BearerToken(r)
	if err == nil {
		var cl *auth.Claims
		if cl, err = h.verifier.Verify(tok); err == nil {
			c := &caller{DID: cl.DID}
			if orgs, _, err := h.cfg.Chain.Reader(org.StoreName); err == nil {
				if m, err := (org.Keeper{}).Member(orgs, h.org, c.DID); err == nil && (org.Keeper{}).IsActiveOrg(orgs, h.org) {
					c.Roles = m.Roles
				}
			}
			return c, nil
		}
	}
	if !errors.Is(err, auth.ErrUnauthorized) {
		return nil, err
	}
	fe := errorf(http.StatusUnauthorized, "login", "%s", strings.TrimPrefix(err.Error(), auth.ErrUnauthorized.Error()+": "))
	fe.Challenge = auth.Challenge(err)
	return nil, fe
}

func (h *Handler) fallback(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p := strings.TrimSuffix(r.URL.Path, "/")
	if p == "/fhir" && r.Method == http.MethodPost {
		c, err := h.authenticate(r)
		if err != nil {
			return err
		}
		return h.transaction(w, r, c)
	}
	segs := strings.Split(strings.TrimPrefix(p, "/fhir/"), "/")
	allow := ""
	switch {
	case p == "/fhir":
		allow = "POST"
	case len(segs) == 1 && segs[0] == "metadata":
		allow = "GET"
	case len(segs) == 1:
		allow = "GET, POST"
	case len(segs) == 2:
		allow = "GET, PUT"
	case len(segs) == 4 && segs[2] == "_history", len(segs) == 3 && segs[0] == "Patient" && segs[2] == "$everything":
		allow = "GET"
	}
	if allow != "" {
		fe := errorf(http.StatusMethodNotAllowed, "not-supported", "%s is not supported on %s; use %s", r.Method, r.URL.Path, allow)
		fe.Headers = map[string]string{"Allow": allow}
		return fe
	}
	return notFound("no FHIR interaction at %s; see /fhir/metadata", clip(r.URL.Path, 120))
}

// readers returns committed-state readers of the named stores (all at the
// latest height).
func (h *Handler) reader(name string) (store.Reader, error) {
	r, _, err := h.cfg.Chain.Reader(name)
	return r, err
}

// patientDID turns a FHIR Patient id into a DID ("" if it is not one).
func patientDID(id string) string {
	did := identity.Method + id
	if identity.ValidDID(did) {
		return did
	}
	return ""
}

// fhirID returns the FHIR id of a DID.
func fhirID(did string) string { return strings.TrimPrefix(did, identity.Method) }

// activePatient checks that did is a registered, active identity.
func (h *Handler) activePatient(did string) error {
	ids, err := h.reader(identity.StoreName)
	if err != nil {
		return err
	}
	if !(identity.Keeper{}).IsActive(ids, did) {
		return unprocessable("Patient/%s does not name a registered patient (no active identity %s on chain)", fhirID(did), did)
	}
	return nil
}

// managesFor reports whether the caller is the patient or a guardian.
func (h *Handler) managesFor(c *caller, patient string) (bool, error) {
	if c.DID == patient {
		return true, nil
	}
	cons, err := h.reader(consent.StoreName)
	if err != nil {
		return false, err
	}
	return slices.Contains((consent.Keeper{}).Guardians(cons, patient), c.DID), nil
}

// actingOrg is the organization the caller reads for: none as the patient
// or a guardian, this node's organization as one of its members, else none
// (as themselves).
func (h *Handler) actingOrg(c *caller, patient string) (string, error) {
	self, err := h.managesFor(c, patient)
	if err != nil || self || !c.member() {
		return "", err
	}
	return h.org, nil
}

// purposeOf reads the purpose of use of a read: the X-Purpose-Of-Use
// header or _purpose parameter, default TREAT; and break-glass, asked with
// X-Break-Glass: <reason code>.
func purposeOf(r *http.Request) (purpose, breakGlass string, err error) {
	purpose = r.Header.Get("X-Purpose-Of-Use")
	if q := r.URL.Query().Get("_purpose"); q != "" {
		purpose = q
	}
	if purpose == "" {
		purpose = consent.PurposeTreatment
	}
	// Accept a coded form such as "http://terminology.hl7.org/CodeSystem/v3-ActReason|TREAT".
	if i := strings.LastIndex(purpose, "|"); i >= 0 {
		purpose = purpose[i+1:]
	}
	purpose = strings.ToUpper(strings.TrimSpace(purpose))
	if !consent.ValidPurpose(purpose) {
		return "", "", badRequest("purpose of use %q: one of %s", clip(purpose, 20), strings.Join(consent.Purposes, ", "))
	}
	breakGlass = strings.TrimSpace(r.Header.Get("X-Break-Glass"))
	if breakGlass != "" {
		if !slices.Contains(records.BreakGlassReasons, breakGlass) {
			return "", "", badRequest("X-Break-Glass reason %q: one of %s", clip(breakGlass, 30), strings.Join(records.BreakGlassReasons, ", "))
		}
		if purpose != consent.PurposeEmergencyTreatment {
			if r.Header.Get("X-Purpose-Of-Use") != "" || r.URL.Query().Get("_purpose") != "" {
				return "", "", badRequest("break-glass access is for purpose ETREAT")
			}
			purpose = consent.PurposeEmergencyTreatment
		}
	}
	return purpose, breakGlass, nil
}

// writeContext detaches writes from the client's connection (a client
// hanging up mid-transaction must not leave half of it unwritten), with a
// bound.
func writeContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Minute)
}

// vaultError maps a vault error to a response.
func vaultError(err error) error {
	var fe *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		return err
	case errors.Is(err, vault.ErrDenied):
		return forbidden("access denied: %s (the attempt is recorded in the patient's access log)", strings.TrimPrefix(err.Error(), vault.ErrDenied.Error()+": "))
	case errors.Is(err, vault.ErrErased):
		return gone("the record has been erased at the patient's request")
	case errors.Is(err, vault.ErrNotFound):
		return notFound("record not found")
	case errors.Is(err, vault.ErrForbidden):
		return forbidden("the chain refused the write: %s", chainReason(err))
	case errors.Is(err, vault.ErrTampered):
		return errorf(http.StatusInternalServerError, "exception", "the stored record failed its integrity check against its on-chain anchor; nothing was released")
	case errors.Is(err, vault.ErrUnavailable):
		return errorf(http.StatusBadGateway, "transient", "the vault holding the record could not be reached; try again")
	case errors.Is(err, vault.ErrInvalid):
		return unprocessable("%s", chainReason(err))
	case errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusGatewayTimeout, "timeout", "the chain did not commit in time; the request may still complete")
	}
	return err
}

// chainReason shortens a vault or chain error to its last clause (ids and
// DIDs, never content).
func chainReason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && i+2 < len(msg) {
		msg = msg[i+2:]
	}
	return clip(msg, 200)
}
