package sigverify

import (
	"crypto/ed25519"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// KeyCache keeps public keys decompressed, so that verifying a signature
// of a signer seen before skips the point decompression (a field
// exponentiation) and the checks on the key: about 30 % of a batched
// signature's cost, 13 % of a single one's. A consortium's transactions come mostly from signers
// that signed before (clinicians, pharmacies, organization admins), so
// most verifications find their key here.
//
// A cached key verifies exactly as its bytes do: the cache changes the
// cost of Verify, never its answer (tested on the ZIP 215 vectors).
// Keys that do not decompress are not cached. It holds at most about
// twice its size in keys (216 bytes each): when the current generation is
// full it becomes the previous one and the one before is dropped; a key
// used at least once per generation survives any flood of one-off keys.
// Safe for concurrent use; the nil *KeyCache caches nothing.
type KeyCache struct {
	mu        sync.Mutex
	size      int
	cur, prev map[[32]byte]*voi.ExpandedPublicKey
}

// NewKeyCache returns a cache whose generations hold size keys each.
func NewKeyCache(size int) *KeyCache {
	return &KeyCache{size: max(size, 1), cur: map[[32]byte]*voi.ExpandedPublicKey{}}
}

// get returns pub decompressed, from the cache or computed and cached, or
// nil if pub is not a 32-byte encoding of a curve point (which verifies
// nothing).
func (c *KeyCache) get(pub []byte) *voi.ExpandedPublicKey {
	if len(pub) != ed25519.PublicKeySize {
		return nil
	}
	if c == nil {
		k, _ := voi.NewExpandedPublicKey(pub)
		return k
	}
	id := [32]byte(pub)
	c.mu.Lock()
	k, ok := c.cur[id]
	if !ok {
		if k, ok = c.prev[id]; ok {
			c.putLocked(id, k)
		}
	}
	c.mu.Unlock()
	if ok {
		return k
	}
	k, err := voi.NewExpandedPublicKey(pub)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	c.putLocked(id, k)
	c.mu.Unlock()
	return k
}

func (c *KeyCache) putLocked(id [32]byte, k *voi.ExpandedPublicKey) {
	if len(c.cur) >= c.size {
		c.prev, c.cur = c.cur, make(map[[32]byte]*voi.ExpandedPublicKey, c.size)
	}
	c.cur[id] = k
}

// Verify is the package's Verify with pub taken from the cache.
func (c *KeyCache) Verify(pub, msg, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize {
		return false
	}
	k := c.get(pub)
	if k == nil {
		return false
	}
	return voi.VerifyExpandedWithOptions(k, msg, sig, opts)
}
