package types

import (
	"time"

	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/records"
)

// Effective states of a consent, judged at a block time.
const (
	ConsentActive  = "active"
	ConsentRevoked = "revoked"
	ConsentExpired = "expired" // past not_after
	ConsentPending = "pending" // before not_before
)

// ConsentState returns c's effective state at block time t: revoked, then
// pending (t before not_before), expired (t at or after not_after), active.
// A zero t (block time unknown) gives the stored status.
func ConsentState(c *consent.Consent, t time.Time) string {
	switch {
	case c.Status == consent.StatusRevoked:
		return ConsentRevoked
	case t.IsZero():
		return c.Status
	case t.Before(c.NotBefore):
		return ConsentPending
	case !c.NotAfter.IsZero() && !t.Before(c.NotAfter):
		return ConsentExpired
	}
	return ConsentActive
}

// ConsentView is a consent with its effective state.
type ConsentView struct {
	*consent.Consent
	State string `json:"state"` // active, revoked, expired or pending, at BlockTime
}

// ConsentList is GET /v1/patients/{did}/consents.
type ConsentList struct {
	Height int64 `json:"height"`
	// BlockTime is the time of the block at Height, at which each consent's
	// state is judged (the next block decides with its own time).
	BlockTime time.Time      `json:"block_time"`
	Patient   string         `json:"patient"`
	Guardians []string       `json:"guardians"`
	Consents  []*ConsentView `json:"consents"` // oldest first, every status
}

// ConsentResponse is GET /v1/consents/{id}.
type ConsentResponse struct {
	Height    int64        `json:"height"`
	BlockTime time.Time    `json:"block_time"`
	Consent   *ConsentView `json:"consent"`
	Proof     *Proof       `json:"proof,omitempty"` // of the raw consent
}

// AccessLog is GET /v1/patients/{did}/access-log: one page of the events on
// a patient's records, oldest first.
type AccessLog struct {
	Height  int64                  `json:"height"`
	Patient string                 `json:"patient"`
	After   uint64                 `json:"after"` // the page starts after this event id
	Limit   int                    `json:"limit"`
	Events  []*records.AccessEvent `json:"events"`
	// Next, when non-zero, is the ?after= of the next page.
	Next uint64 `json:"next,omitempty"`
}

// AccessEventResponse is GET /v1/access-events/{id}.
type AccessEventResponse struct {
	Height int64                `json:"height"`
	Event  *records.AccessEvent `json:"event"`
	Proof  *Proof               `json:"proof,omitempty"` // of the raw event
}

// RecordList is GET /v1/patients/{did}/records.
type RecordList struct {
	Height  int64             `json:"height"`
	Patient string            `json:"patient"`
	Records []*records.Anchor `json:"records"` // record id order
}

// RecordResponse is GET /v1/records/{id}.
type RecordResponse struct {
	Height int64           `json:"height"`
	Record *records.Anchor `json:"record"`
	Proof  *Proof          `json:"proof,omitempty"` // of the raw anchor
}

// ErasureStatus is GET /v1/patients/{did}/erasure.
type ErasureStatus struct {
	Height    int64  `json:"height"`
	Patient   string `json:"patient"`
	Requested bool   `json:"requested"`
	// Complete: every holding organization has confirmed (true when nothing
	// was owed).
	Complete bool             `json:"complete"`
	Erasure  *records.Erasure `json:"erasure"` // null when none was requested
}
