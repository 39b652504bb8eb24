package identity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
)

// Record is the on-chain state of one identity. It holds public keys and
// heights only, never personal data.
type Record struct {
	DID            string          `json:"did"`
	SigningKeys    []SigningKey    `json:"signing_keys"`
	EncryptionKeys []EncryptionKey `json:"encryption_keys"`
	CreatedHeight  int64           `json:"created_height"`
	Created        time.Time       `json:"created"`
	UpdatedHeight  int64           `json:"updated_height"`
	Updated        time.Time       `json:"updated"`
	// DeactivatedHeight is the height of deactivation, 0 while active.
	DeactivatedHeight int64 `json:"deactivated_height,omitempty"`
}

// SigningKey is one generation of an identity's Ed25519 key.
type SigningKey struct {
	ID        string `json:"id"` // DID URL, did#key-n
	PublicKey []byte `json:"public_key"`
	// AddedHeight is the first height at which the key may sign;
	// RevokedHeight (0: still active) the first at which it may not.
	AddedHeight   int64 `json:"added_height"`
	RevokedHeight int64 `json:"revoked_height,omitempty"`
}

// EncryptionKey is one generation of an identity's HPKE key.
type EncryptionKey struct {
	ID            string `json:"id"` // DID URL, did#enc-n
	KEM           uint16 `json:"kem"`
	PublicKey     []byte `json:"public_key"`
	AddedHeight   int64  `json:"added_height"`
	RevokedHeight int64  `json:"revoked_height,omitempty"`
}

// Active reports whether the identity has not been deactivated.
func (r *Record) Active() bool { return r.DeactivatedHeight == 0 }

// CurrentSigningKey returns the active signing key.
func (r *Record) CurrentSigningKey() SigningKey { return r.SigningKeys[len(r.SigningKeys)-1] }

// CurrentEncryptionKey returns the active encryption key.
func (r *Record) CurrentEncryptionKey() EncryptionKey {
	return r.EncryptionKeys[len(r.EncryptionKeys)-1]
}

// KeyAt returns the signing key keyID if it was valid at height h: added at
// or before h and not revoked at or before h. This is how a signature made
// at height h is checked after the key has been rotated away.
func (r *Record) KeyAt(keyID string, h int64) (SigningKey, bool) {
	for _, k := range r.SigningKeys {
		if k.ID == keyID && k.AddedHeight <= h && (k.RevokedHeight == 0 || h < k.RevokedHeight) {
			return k, true
		}
	}
	return SigningKey{}, false
}

// Keeper reads and writes identity state; the store comes from the caller.
// The zero Keeper works; New's also memoizes what SignerKey decodes.
type Keeper struct {
	signers *signerCache
}

// Get returns the record of did from r, or an error wrapping ErrNotFound.
func (Keeper) Get(r store.Reader, did string) (*Record, error) {
	bz := r.Get(recordKey(did))
	if bz == nil {
		return nil, ErrNotFound.Wrapf("%s", did)
	}
	rec := &Record{}
	if err := json.Unmarshal(bz, rec); err != nil {
		panic(fmt.Sprintf("identity: corrupt record for %s: %v", did, err))
	}
	return rec, nil
}

// DecodeRecord parses a record read from the identity store (for clients
// verifying a proof of the raw value).
func DecodeRecord(bz []byte) (*Record, error) {
	rec := &Record{}
	if err := json.Unmarshal(bz, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// RecordKey is the state key of did's record in the identity store.
func RecordKey(did string) []byte { return recordKey(did) }

func (Keeper) set(kv store.KV, rec *Record) {
	bz, err := json.Marshal(rec)
	if err != nil {
		panic(err)
	}
	kv.Set(recordKey(rec.DID), bz)
}

// SignerKey resolves a signing key id for transaction admission. It returns
// the public key, or ErrNotFound (no such DID or key), ErrDeactivated, or
// ErrUnauthorized (the key was rotated away).
func (k Keeper) SignerKey(r store.Reader, keyID string) ([]byte, error) {
	did, _, err := SplitKeyID(keyID)
	if err != nil {
		return nil, ErrNotFound.Wrapf("%v", err)
	}
	bz := r.Get(recordKey(did))
	if bz == nil {
		return nil, ErrNotFound.Wrapf("%s", did)
	}
	rec := k.signers.signingKeys(did, bz)
	if rec.DeactivatedHeight != 0 {
		return nil, ErrDeactivated.Wrapf("%s at height %d", did, rec.DeactivatedHeight)
	}
	cur := rec.CurrentSigningKey()
	if cur.ID != keyID {
		for _, sk := range rec.SigningKeys {
			if sk.ID == keyID {
				return nil, ErrUnauthorized.Wrapf("key %s was rotated away at height %d; sign with %s", keyID, sk.RevokedHeight, cur.ID)
			}
		}
		return nil, ErrNotFound.Wrapf("key %s", keyID)
	}
	return cur.PublicKey, nil
}

// signerCache memoizes, by the exact bytes of a record, the part of it
// SignerKey reads (deactivation and signing keys), so that the record of a
// busy signer is not decoded again for every transaction it signs. The
// bytes determine the result, so the cache cannot change an answer. A nil
// cache decodes every time.
type signerCache struct {
	mu sync.Mutex
	m  map[string]*signerRecord
}

// signerRecord is the part of a Record that SignerKey reads. Shared: never
// modify one.
type signerRecord struct {
	DeactivatedHeight int64        `json:"deactivated_height,omitempty"`
	SigningKeys       []SigningKey `json:"signing_keys"`
}

func (r *signerRecord) CurrentSigningKey() SigningKey { return r.SigningKeys[len(r.SigningKeys)-1] }

const maxSignerCache = 1 << 13

func newSignerCache() *signerCache { return &signerCache{m: map[string]*signerRecord{}} }

func (c *signerCache) signingKeys(did string, bz []byte) *signerRecord {
	if c != nil {
		c.mu.Lock()
		rec, ok := c.m[string(bz)]
		c.mu.Unlock()
		if ok {
			return rec
		}
	}
	rec := &signerRecord{}
	if err := json.Unmarshal(bz, rec); err != nil || len(rec.SigningKeys) == 0 {
		panic(fmt.Sprintf("identity: corrupt record for %s: %v", did, err))
	}
	if c != nil {
		c.mu.Lock()
		if len(c.m) >= maxSignerCache {
			clear(c.m)
		}
		c.m[string(bz)] = rec
		c.mu.Unlock()
	}
	return rec
}

// RegisteredDIDs returns the DID of every identity record in r, in key
// order.
func RegisteredDIDs(r store.Reader) []string {
	var out []string
	it := r.Iterator([]byte{0x01}, []byte{0x02})
	defer it.Close()
	for ; it.Valid(); it.Next() {
		out = append(out, string(it.Key()[1:]))
	}
	return out
}

// IsRegistered reports whether did has an identity record in r (active or
// deactivated), without decoding it.
func IsRegistered(r store.Reader, did string) bool { return r.Has(recordKey(did)) }

// IsActive reports whether did is registered and not deactivated.
// It decodes through the same memo as SignerKey.
func (k Keeper) IsActive(r store.Reader, did string) bool {
	bz := r.Get(recordKey(did))
	return bz != nil && k.signers.signingKeys(did, bz).DeactivatedHeight == 0
}

// Import writes a record at genesis.
func (k Keeper) Import(kv store.KV, rec *Record) { k.set(kv, rec) }

func (k Keeper) register(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgRegister)
	did := m.DID()
	if ctx.Signer != did {
		return ErrUnauthorized.Wrapf("a registration must be signed by the key it registers")
	}
	kv := ctx.Store(StoreName)
	if kv.Has(recordKey(did)) {
		return ErrExists.Wrapf("%s", did)
	}
	rec := NewRecord(did, m.SigningKey, uint16(m.KEM), m.EncryptionKey, ctx.Height, ctx.Time)
	k.set(kv, rec)
	ctx.Emit(module.NewEvent("identity.registered", "did", did, "key", rec.SigningKeys[0].ID))
	return nil
}

// NewRecord builds the record of a newly registered identity.
func NewRecord(did string, signingKey []byte, kem uint16, encKey []byte, height int64, t time.Time) *Record {
	return &Record{
		DID:            did,
		SigningKeys:    []SigningKey{{ID: SigningKeyID(did, 1), PublicKey: signingKey, AddedHeight: height}},
		EncryptionKeys: []EncryptionKey{{ID: EncryptionKeyID(did, 1), KEM: kem, PublicKey: encKey, AddedHeight: height}},
		CreatedHeight:  height, Created: t, UpdatedHeight: height, Updated: t,
	}
}

func (k Keeper) rotate(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgRotateKey)
	if ctx.Signer != m.DID {
		return ErrUnauthorized.Wrapf("only %s may rotate its keys", m.DID)
	}
	kv := ctx.Store(StoreName)
	rec, err := k.Get(kv, m.DID)
	if err != nil {
		return err
	}
	if !rec.Active() {
		return ErrDeactivated.Wrapf("%s", m.DID)
	}
	if !ctx.VerifySignature(m.NewSigningKey, RotationProofBytes(ctx.ChainID, m.DID, m.NewSigningKey, m.NewEncryptionKey), m.Proof) {
		return ErrBadProof.Wrapf("%s", m.DID)
	}
	for _, sk := range rec.SigningKeys {
		if bytes.Equal(sk.PublicKey, m.NewSigningKey) {
			return ErrKeyInUse.Wrapf("signing key was %s", sk.ID)
		}
	}
	n := len(rec.SigningKeys)
	rec.SigningKeys[n-1].RevokedHeight = ctx.Height
	rec.EncryptionKeys[len(rec.EncryptionKeys)-1].RevokedHeight = ctx.Height
	rec.SigningKeys = append(rec.SigningKeys, SigningKey{ID: SigningKeyID(m.DID, n+1), PublicKey: m.NewSigningKey, AddedHeight: ctx.Height})
	rec.EncryptionKeys = append(rec.EncryptionKeys, EncryptionKey{ID: EncryptionKeyID(m.DID, len(rec.EncryptionKeys)+1), KEM: uint16(m.KEM), PublicKey: m.NewEncryptionKey, AddedHeight: ctx.Height})
	rec.UpdatedHeight, rec.Updated = ctx.Height, ctx.Time
	k.set(kv, rec)
	ctx.Emit(module.NewEvent("identity.key_rotated", "did", m.DID, "key", SigningKeyID(m.DID, n+1), "revoked", SigningKeyID(m.DID, n)))
	return nil
}

func (k Keeper) deactivate(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgDeactivate)
	if ctx.Signer != m.DID {
		return ErrUnauthorized.Wrapf("only %s may deactivate itself", m.DID)
	}
	kv := ctx.Store(StoreName)
	rec, err := k.Get(kv, m.DID)
	if err != nil {
		return err
	}
	if !rec.Active() {
		return ErrDeactivated.Wrapf("%s", m.DID)
	}
	rec.DeactivatedHeight = ctx.Height
	rec.UpdatedHeight, rec.Updated = ctx.Height, ctx.Time
	k.set(kv, rec)
	ctx.Emit(module.NewEvent("identity.deactivated", "did", m.DID))
	return nil
}
