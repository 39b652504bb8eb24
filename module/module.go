// Package module defines the contract between the medchain application
// (package app) and its domain modules (identity, org, and later records,
// supply chain, ...).
//
// A module is a value that names its state store, lists the message types it
// handles and initialises itself from genesis. Package app wires modules
// together explicitly in app.New; there is no global registry. Modules never
// import CometBFT's ABCI types: they see a Context, emit Events and return
// coded Errors, and package app translates.
//
// Determinism contract for everything reachable from a Handler: take time and
// height only from the Context, never range over a Go map, never use floats,
// goroutines, randomness or I/O beyond the Context's stores.
package module

import (
	"encoding/json"
	"time"

	"github.com/medchain/medchain/crypto/sigverify"
	"github.com/medchain/medchain/store"
)

// Msg is one typed message inside a transaction.
type Msg interface {
	// TypeURL names the message type, e.g. "/medchain.identity.v1.MsgRegister".
	TypeURL() string
	// MarshalWire returns the canonical encoding (package internal/wire).
	MarshalWire() []byte
	// ValidateBasic checks the message on its own, without state. It returns
	// an *Error (usually wrapping the module's ErrInvalidMsg) when it fails.
	ValidateBasic() error
}

// Handler executes one message against the Context's stores. A returned
// error rejects the whole transaction; its writes are discarded.
type Handler func(ctx *Context, msg Msg) error

// MsgType describes one message type a module handles.
type MsgType struct {
	TypeURL string
	// Decode parses the canonical encoding. It must reject unknown fields.
	Decode  func([]byte) (Msg, error)
	Handler Handler
}

// Module is one domain module.
type Module interface {
	// Name is the module's store name and error codespace ("identity").
	Name() string
	// MsgTypes lists the messages the module handles.
	MsgTypes() []MsgType
	// InitGenesis loads the module's genesis section (may be null).
	InitGenesis(ctx *Context, raw json.RawMessage) error
	// Errors lists every coded error the module can return, for the
	// code-uniqueness check and the documentation.
	Errors() []*Error
}

// IndexUser is implemented by a module that keeps, besides its
// authenticated store, index stores: unauthenticated, unversioned
// namespaces for lookup data derived from its authenticated state, which it
// must confirm against that state on every use (see package store, index
// stores). Its handlers reach them through Context.Store like any store.
type IndexUser interface {
	IndexStores() []string
}

// Bootstrapper is implemented by a message that introduces its own signer's
// key, such as an identity registration: a transaction whose signer is not
// yet known is admissible when its only message is a Bootstrapper that vouches
// for the signer.
type Bootstrapper interface {
	Msg
	// BootstrapKey returns the Ed25519 public key for signer key id keyID,
	// or ok=false when the message does not introduce that key.
	BootstrapKey(keyID string) (pub []byte, ok bool)
}

// SignatureCarrier is implemented by a message that carries Ed25519
// signatures besides the transaction's own, such as a proof of possession
// of a new key, which its handler checks with Context.VerifySignature.
// Mempool admission verifies them ahead of execution so that the handler
// finds them in the node's verified-signature cache; admission does not
// refuse a message whose signature fails (the handler does).
type SignatureCarrier interface {
	Msg
	// Signatures returns the signatures the handler will check on chainID,
	// signed by signer (a DID).
	Signatures(chainID, signer string) []Signature
}

// KeyAnnouncer is implemented by a message that, when it succeeds, gives
// its signer a new signing key, such as a key rotation. The node uses the
// announcement only as a hint, to verify the signer's next transactions'
// signatures ahead of CheckTx; admission and execution resolve keys from
// state and never trust it.
type KeyAnnouncer interface {
	Msg
	// AnnouncedKey returns the key id and Ed25519 public key the signer
	// whose current key id is signerKeyID will sign with next, or
	// ok=false when it cannot tell.
	AnnouncedKey(signerKeyID string) (keyID string, pub []byte, ok bool)
}

// Signature is one Ed25519 signature: the public key, the signed bytes and
// the signature.
type Signature struct {
	PubKey, Msg, Sig []byte
}

// Context is what a message handler sees: the block it runs in, who signed
// the transaction, the transaction's state stores, and sinks for events and
// validator updates. It is valid only during the call it is passed to.
type Context struct {
	ChainID string
	Height  int64
	Time    time.Time // block header time, UTC
	// Signer is the DID of the transaction's signer and SignerKey the key id
	// (DID URL) that signed it. Empty during genesis.
	Signer    string
	SignerKey string
	// Store returns the (transaction-scoped) store of the named module.
	Store func(name string) store.KV
	// Verify, if set, checks an Ed25519 signature exactly as
	// sigverify.Verify does (the chain's rule, ZIP 215); package app sets
	// it to its verifier, which remembers signatures the node has already
	// verified. Handlers call VerifySignature.
	Verify func(pub, msg, sig []byte) bool

	events     []Event
	valUpdates []ValidatorUpdate
	facts      map[string]bool
	factsOf    string // the type URL the facts were read for
}

// Fact returns f(), remembered under key for the following messages of the
// same transaction that have the same type URL as the current one: a
// transaction of many messages of one type (a vault's 32 record anchors)
// checks the same signer, organization and patient once instead of once per
// message. The memory is dropped as soon as a message of another type runs,
// so a fact is reused only while nothing but messages of this type has run
// since it was read. A handler may therefore remember only facts its own
// message type never changes; key must name everything f depends on.
func (c *Context) Fact(key string, f func() bool) bool {
	if v, ok := c.facts[key]; ok {
		return v
	}
	v := f()
	if c.facts == nil {
		c.facts = make(map[string]bool)
	}
	c.facts[key] = v
	return v
}

// BeginMsg tells the context that a message of type typeURL is about to
// run; package app calls it before every message. It drops the facts
// remembered for another type (see Fact).
func (c *Context) BeginMsg(typeURL string) {
	if typeURL != c.factsOf {
		clear(c.facts)
		c.factsOf = typeURL
	}
}

// VerifySignature checks an Ed25519 signature under the chain's rule
// (sigverify.Verify), through Verify when it is set.
func (c *Context) VerifySignature(pub, msg, sig []byte) bool {
	if c.Verify != nil {
		return c.Verify(pub, msg, sig)
	}
	return sigverify.Verify(pub, msg, sig)
}

// Emit records an event of the current transaction.
func (c *Context) Emit(ev Event) { c.events = append(c.events, ev) }

// Events returns the events emitted so far.
func (c *Context) Events() []Event { return c.events }

// UpdateValidator schedules a validator power change (0 removes) to be
// returned to CometBFT at the end of the block, if the transaction succeeds.
func (c *Context) UpdateValidator(u ValidatorUpdate) { c.valUpdates = append(c.valUpdates, u) }

// ValidatorUpdates returns the updates scheduled so far.
func (c *Context) ValidatorUpdates() []ValidatorUpdate { return c.valUpdates }

// ValidatorUpdate is a change of one Ed25519 validator's voting power.
type ValidatorUpdate struct {
	PubKey []byte
	Power  int64
}

// Event is a typed event: Type is "<module>.<what>", attributes keep order.
type Event struct {
	Type  string
	Attrs []Attr
}

// Attr is one event attribute.
type Attr struct {
	Key, Value string
}

// NewEvent builds an event from key, value pairs.
func NewEvent(typ string, kv ...string) Event {
	ev := Event{Type: typ}
	for i := 0; i+1 < len(kv); i += 2 {
		ev.Attrs = append(ev.Attrs, Attr{Key: kv[i], Value: kv[i+1]})
	}
	return ev
}
