package app

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"sync/atomic"

	"github.com/medchain/medchain/internal/wire"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/tx"
	"github.com/medchain/medchain/x/identity"
)

// admitted is a transaction that passed admission.
type admitted struct {
	tx     tx.Tx
	msgs   []module.Msg
	signer string // DID
	seq    uint64
}

// decodedTx is the state-independent part of admission: a transaction that
// decodes canonically, is for this chain and whose messages are known and
// valid on their own. It depends only on the bytes (the chain id and the
// params are fixed in genesis), so CheckTx may reuse it for the same bytes.
type decodedTx struct {
	tx        tx.Tx
	msgs      []module.Msg
	signer    string // DID
	signBytes []byte
	// verifiedBy is the public key the transaction's signature verified
	// under on this node, once it has: the signature and the signed bytes
	// are those of the cached bytes, so it stays valid under that key, and
	// the recheck and FinalizeBlock skip hashing it into the
	// verified-signature cache again. The only field set after caching.
	verifiedBy atomic.Pointer[[]byte]
}

// seqSource gives the next expected sequence of a DID in some view of state.
type seqSource func(did string) uint64

// keySource resolves a signing key id in some view of state, as
// identity.Keeper.SignerKey does.
type keySource func(keyID string) ([]byte, error)

// admit runs the checks every transaction passes before any message runs:
// size, decoding, canonical form, chain id, message types and validation,
// signer resolution, signature and sequence. ids reads the identity store
// of the same view as seqs. It never writes.
//
// The decoded form comes from the check cache when the node decoded the
// same bytes before (CheckTx, prepare): decoding is a pure function of the
// bytes, and only successes are cached, so the answer is the same. The
// handlers then run on the cached messages; one that modified its message
// would change the cache, but the same bytes can never reach a handler
// again: their sequence is consumed on admission (ADR 0013).
func (a *App) admit(bz []byte, ids store.Reader, seqs seqSource) (*admitted, error) {
	d, err := a.check.decode(a, bz)
	if err != nil {
		return nil, err
	}
	return a.authorize(d, func(keyID string) ([]byte, error) { return a.Identity.Keeper.SignerKey(ids, keyID) }, seqs)
}

// decodeTx runs the state-independent checks of admission, in order: size,
// decoding, canonical form, chain id, message count, message types,
// decoding and validation, and the form of the signer key id.
func (a *App) decodeTx(bz []byte) (*decodedTx, error) {
	if len(bz) > a.params.MaxTxBytes {
		return nil, ErrTooLarge.Wrapf("%d bytes, limit %d", len(bz), a.params.MaxTxBytes)
	}
	t, signBytes, err := tx.DecodeSigned(bz)
	if err != nil {
		if errors.Is(err, tx.ErrNonCanonical) {
			return nil, ErrNonCanonical.Wrapf("re-encode and sign the canonical form")
		}
		return nil, ErrDecode.Wrapf("%v", err)
	}
	if t.Body.ChainID != a.chainID {
		return nil, ErrWrongChain.Wrapf("transaction is for %q, this chain is %q", t.Body.ChainID, a.chainID)
	}
	if len(t.Body.Msgs) == 0 {
		return nil, ErrNoMsgs
	}
	if len(t.Body.Msgs) > a.params.MaxMsgs {
		return nil, ErrTooManyMsgs.Wrapf("%d, limit %d", len(t.Body.Msgs), a.params.MaxMsgs)
	}
	d := &decodedTx{tx: t, msgs: make([]module.Msg, 0, len(t.Body.Msgs))}
	for i, any := range t.Body.Msgs {
		mt, ok := a.router[any.TypeURL]
		if !ok {
			return nil, ErrUnknownMsg.Wrapf("message %d: %q", i, any.TypeURL)
		}
		msg, err := mt.Decode(any.Value)
		if errors.Is(err, wire.ErrNonCanonical) {
			return nil, ErrNonCanonical.Wrapf("message %d (%s): %v", i, any.TypeURL, err)
		}
		if err != nil {
			return nil, ErrDecode.Wrapf("message %d (%s): %v", i, any.TypeURL, err)
		}
		if !bytes.Equal(msg.MarshalWire(), any.Value) {
			return nil, ErrNonCanonical.Wrapf("message %d (%s)", i, any.TypeURL)
		}
		if err := msg.ValidateBasic(); err != nil {
			return nil, ErrInvalidMsg.Wrapf("message %d (%s): %v", i, any.TypeURL, err)
		}
		d.msgs = append(d.msgs, msg)
	}
	did, _, err := identity.SplitKeyID(t.Body.Signer)
	if err != nil {
		return nil, ErrUnknownSigner.Wrapf("%v", err)
	}
	d.signer = did
	d.signBytes = signBytes
	return d, nil
}

// authorize runs the state-dependent checks of admission on a decoded
// transaction, in order: signer resolution (keys resolves key ids in the
// view of state that seqs also reads), signature and sequence.
func (a *App) authorize(d *decodedTx, keys keySource, seqs seqSource) (*admitted, error) {
	t := d.tx
	pub, err := keys(t.Body.Signer)
	switch {
	case err == nil:
	case errors.Is(err, identity.ErrNotFound):
		// An unknown signer is admissible only to register itself.
		b, ok := d.msgs[0].(module.Bootstrapper)
		if len(d.msgs) != 1 || !ok {
			return nil, ErrUnknownSigner.Wrapf("%s is not registered", t.Body.Signer)
		}
		if pub, ok = b.BootstrapKey(t.Body.Signer); !ok {
			return nil, ErrUnknownSigner.Wrapf("%s is not registered and the registration is for another key", t.Body.Signer)
		}
	case errors.Is(err, identity.ErrDeactivated):
		return nil, ErrSignerInactive.Wrapf("%v", err)
	case errors.Is(err, identity.ErrUnauthorized):
		return nil, ErrSignerKeyRotated.Wrapf("%v", err)
	default:
		return nil, ErrUnknownSigner.Wrapf("%v", err)
	}

	if vb := d.verifiedBy.Load(); vb != nil && bytes.Equal(*vb, pub) {
		a.metrics.sigCached.Inc() // answered from what this node verified before
	} else {
		if !a.verify(pub, d.signBytes, t.Signature) {
			return nil, ErrBadSignature.Wrapf("signer %s", t.Body.Signer)
		}
		pub := bytes.Clone(pub)
		d.verifiedBy.Store(&pub)
	}
	want := seqs(d.signer)
	switch {
	case t.Body.Sequence < want:
		return nil, ErrSequenceReused.Wrapf("%s sent sequence %d, next is %d", d.signer, t.Body.Sequence, want)
	case t.Body.Sequence > want:
		return nil, ErrSequenceFuture.Wrapf("%s sent sequence %d, next is %d", d.signer, t.Body.Sequence, want)
	}
	return &admitted{tx: t, msgs: d.msgs, signer: d.signer, seq: t.Body.Sequence}, nil
}

// verify checks an Ed25519 signature under the chain's rule (ZIP 215,
// package sigverify), consulting the verified-signature cache first. The
// cache key binds the public key, the message and the signature, so a hit
// means exactly this triple verified before.
func (a *App) verify(pub, msg, sig []byte) bool {
	key, ok := sigKey(pub, msg, sig)
	if !ok {
		return false
	}
	if a.sigCache.has(key) {
		a.metrics.sigCached.Inc()
		return true
	}
	if !a.keyCache.Verify(pub, msg, sig) {
		a.metrics.sigInvalid.Inc()
		return false
	}
	a.metrics.sigVerified.Inc()
	a.sigCache.add(key)
	return true
}

// sigKey is the verified-signature cache's key of a triple, SHA-256(pub ||
// sig || msg); ok is false when pub or sig has the wrong size.
func sigKey(pub, msg, sig []byte) (key [32]byte, ok bool) {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return key, false
	}
	h := sha256.New()
	h.Write(pub)
	h.Write(sig)
	h.Write(msg)
	h.Sum(key[:0])
	return key, true
}
