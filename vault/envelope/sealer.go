package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/sha256"
	"runtime"
	"slices"
	"sync"

	"github.com/medchain/medchain/internal/wire"
)

// batchSecretSize is the size of the secret a batch exports from each
// recipient's HPKE context.
const batchSecretSize = 32

// batchWrapNonce is the AES-GCM nonce of every batch-wrapped key. A
// key-encryption key is derived for one record's nonce, AD and recipient
// and encrypts exactly one data key, so a fixed nonce never repeats under
// one key (the record nonce is fresh and random per envelope, see
// batchBinding).
var batchWrapNonce [NonceSize]byte

// batchExportAEAD is the AEAD of a batch's HPKE contexts: they are only
// used to export a secret (RFC 9180 §5.3, AEAD id 0xFFFF).
var batchExportAEAD = hpke.ExportOnly()

// A Sealer seals a batch of records, wrapping each record's data key with
// [WrapBatch]: it performs one HPKE encapsulation per distinct recipient
// key over its whole life, instead of one per recipient per record as
// [Seal] does, and derives each record's key-encryption key from a secret
// exported from that recipient's HPKE context. Every record still gets its
// own fresh random data key and nonce; envelopes from a Sealer open with
// [Open], re-wrap with [Rewrap] and shred with [Shred] exactly like those
// from Seal.
//
// A Sealer is meant for one batch (the records of one write request). It
// holds each recipient's exported secret, which unwraps the data key of
// every record it sealed to that recipient, until [Sealer.Close]: close it
// as soon as the batch is sealed. A Sealer that becomes unreachable
// without Close is wiped by a cleanup when the garbage collector finds it,
// which may be much later.
//
// A Sealer is safe for concurrent use by multiple goroutines. The zero
// value is not usable; call [NewSealer].
type Sealer struct {
	st      *sealerState
	cleanup runtime.Cleanup // wipes st if the Sealer is dropped without Close
}

// sealerState is the part of a Sealer that its cleanup wipes (it must not
// point back to the Sealer).
type sealerState struct {
	// rw is held shared by every Seal while it uses secrets, and
	// exclusively by wipe.
	rw     sync.RWMutex
	closed bool // guarded by rw

	mu   sync.Mutex // guards keys (Seals add to it concurrently)
	keys map[batchKeyRef]*batchKey
}

// batchKeyRef names one recipient key: the same key id with other key
// bytes (or another KEM) is another key.
type batchKeyRef struct {
	keyID string
	kem   uint16
	pub   string
}

// batchKey is one recipient's share of a batch: the encapsulated key of
// its HPKE context and the secret exported from it.
type batchKey struct {
	once   sync.Once
	keyID  string
	kem    uint16
	enc    []byte
	secret []byte
	err    error
}

// NewSealer returns an empty Sealer. It does no encapsulation: each
// recipient's HPKE context is set up by the first [Sealer.Seal] that names
// that recipient.
func NewSealer() *Sealer {
	st := &sealerState{keys: map[batchKeyRef]*batchKey{}}
	s := &Sealer{st: st}
	s.cleanup = runtime.AddCleanup(s, (*sealerState).wipe, st)
	return s
}

// Seal encrypts plaintext, one version of one record, for the given
// recipients, as [Seal] does — a fresh random data key and nonce, the
// record encrypted with AES-256-GCM bound to ad, the same key commitment —
// but wraps the data key with [WrapBatch] under the Sealer's context for
// each recipient, setting that context up (one HPKE encapsulation) if this
// is the first record sealed to that recipient key. The data key is zeroed
// before Seal returns.
//
// Errors are those of [Seal] ([ErrInvalidAD], [ErrInvalidRecipient]) and
// [ErrSealerClosed] after [Sealer.Close]. Seal does not keep references to
// its arguments, and the envelope shares no memory with the Sealer or with
// other envelopes, so it may be modified or shredded freely.
func (s *Sealer) Seal(plaintext []byte, ad AD, recipients []Recipient) (*Envelope, error) {
	adBytes, pubs, err := checkSealArgs(ad, recipients)
	if err != nil {
		return nil, err
	}
	st := s.st
	st.rw.RLock()
	defer st.rw.RUnlock()
	if st.closed {
		return nil, errorf(ErrSealerClosed, "seal after Close")
	}
	keys := make([]*batchKey, len(recipients))
	for i, r := range recipients {
		if keys[i], err = st.key(r.KeyID, pubs[i], r.PublicKey); err != nil {
			return nil, err
		}
	}
	return sealRecord(plaintext, ad, adBytes, len(keys), func(i int, dataKey, nonce []byte) (*WrappedKey, error) {
		return keys[i].wrap(dataKey, adBytes, nonce), nil
	})
}

// Close zeroes every secret the Sealer holds and drops its HPKE contexts'
// state; later calls to [Sealer.Seal] fail with [ErrSealerClosed]. It
// waits for Seals in progress to return. Envelopes already sealed are not
// affected. Close is idempotent.
//
// What Close cannot reach: the copies crypto/hpke made inside the HPKE
// contexts while exporting (the contexts are dropped right after export
// and left to the garbage collector), and AES key schedules, as elsewhere
// in this package.
func (s *Sealer) Close() {
	s.st.wipe()
	s.cleanup.Stop()
}

func (st *sealerState) wipe() {
	st.rw.Lock()
	defer st.rw.Unlock()
	st.closed = true
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, k := range st.keys {
		clear(k.secret)
		k.secret = nil
	}
	st.keys = nil
}

// key returns the batch key of a recipient, setting it up on first use.
// The caller holds st.rw shared.
func (st *sealerState) key(keyID string, pub hpke.PublicKey, pubBytes []byte) (*batchKey, error) {
	ref := batchKeyRef{keyID: keyID, kem: pub.KEM().ID(), pub: string(pubBytes)}
	st.mu.Lock()
	k := st.keys[ref]
	if k == nil {
		k = &batchKey{keyID: keyID, kem: ref.kem}
		st.keys[ref] = k
	}
	st.mu.Unlock()
	k.once.Do(func() { k.err = k.setUp(pub) })
	return k, k.err
}

// setUp performs the batch's one encapsulation to pub and exports the
// batch secret.
func (k *batchKey) setUp(pub hpke.PublicKey) error {
	enc, sender, err := hpke.NewSender(pub, wrapKDF, batchExportAEAD, batchContextInfo(k.keyID))
	if err != nil {
		return errorf(ErrInvalidRecipient, "key %q: %v", k.keyID, err)
	}
	secret, err := sender.Export(batchExporterLabel, batchSecretSize)
	if err != nil {
		return errorf(ErrInvalidRecipient, "key %q: %v", k.keyID, err)
	}
	k.enc, k.secret = enc, secret
	return nil
}

// wrap seals dataKey for one record (adBytes, nonce) under the record's
// key-encryption key for this recipient.
func (k *batchKey) wrap(dataKey, adBytes, nonce []byte) *WrappedKey {
	binding := batchBinding(adBytes, k.keyID, nonce)
	aead := batchKEK(k.secret, binding)
	return &WrappedKey{
		KeyID:  k.keyID,
		KEM:    k.kem,
		Scheme: WrapBatch,
		Enc:    slices.Clone(k.enc), // Shred zeroes it in place: never share it
		Sealed: aead.Seal(nil, batchWrapNonce[:], dataKey, domainPrefixed(batchWrapDomain, binding)),
	}
}

// unwrapBatch opens a [WrapBatch] wrapped key: it decapsulates the batch
// context, exports the batch secret, derives the record's key-encryption
// key and decrypts.
func unwrapBatch(wk *WrappedKey, adBytes, nonce []byte, priv hpke.PrivateKey) ([]byte, error) {
	r, err := hpke.NewRecipient(wk.Enc, priv, wrapKDF, batchExportAEAD, batchContextInfo(wk.KeyID))
	if err != nil {
		return nil, errorf(ErrTampered, "wrapped key for %q does not decapsulate", wk.KeyID)
	}
	secret, err := r.Export(batchExporterLabel, batchSecretSize)
	if err != nil {
		return nil, errorf(ErrTampered, "wrapped key for %q: no batch secret", wk.KeyID)
	}
	defer clear(secret)
	binding := batchBinding(adBytes, wk.KeyID, nonce)
	dataKey, err := batchKEK(secret, binding).Open(nil, batchWrapNonce[:], wk.Sealed, domainPrefixed(batchWrapDomain, binding))
	if err != nil {
		return nil, errorf(ErrTampered, "wrapped key for %q does not authenticate", wk.KeyID)
	}
	return dataKey, nil
}

// batchContextInfo is the HPKE info of a recipient's batch context:
// "medchain/vault/batch-context/v1" 0x00 || message { string key_id = 1; }.
func batchContextInfo(keyID string) []byte {
	var e wire.Encoder
	e.String(1, keyID)
	return domainPrefixed(batchContextDomain, e.Bytes())
}

// batchBinding is what a batch-wrapped key is bound to:
// message { bytes ad = 1; string key_id = 2; bytes nonce = 3; }, with the
// canonical AD encoding and the envelope's record nonce. The nonce makes
// the key-encryption key unique per envelope even when one Sealer seals
// the same AD twice.
func batchBinding(adBytes []byte, keyID string, nonce []byte) []byte {
	var e wire.Encoder
	e.Blob(1, adBytes)
	e.String(2, keyID)
	e.Blob(3, nonce)
	return e.Bytes()
}

// batchKEK returns AES-256-GCM under the key-encryption key
// HKDF-SHA256(secret, salt = none, info = "medchain/vault/batch-kek/v1" 0x00 || binding).
func batchKEK(secret, binding []byte) cipher.AEAD {
	kek, err := hkdf.Key(sha256.New, secret, nil, string(domainPrefixed(batchKEKDomain, binding)), DataKeySize)
	if err != nil {
		panic("envelope: " + err.Error())
	}
	defer clear(kek)
	block, err := aes.NewCipher(kek)
	if err != nil {
		panic("envelope: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("envelope: " + err.Error())
	}
	return aead
}
