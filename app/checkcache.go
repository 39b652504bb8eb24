package app

import (
	"crypto/sha256"
	"sync"
)

// checkCache holds what CheckTx may reuse between calls. It only speeds up
// mempool admission: FinalizeBlock never reads it, so consensus results
// cannot depend on it. The decoded generations are guarded by decodedMu
// (Precheck fills them without App.mu); keys by App.mu.
//
//   - decoded remembers the state-independent part of admission by the
//     SHA-256 of the transaction bytes, so that the recheck CometBFT runs on
//     every transaction left in the mempool after each block, and a
//     re-submission, skip decoding and validation. Two generations: entries
//     not used since the previous Commit are dropped at the next one.
//   - keys remembers signing-key resolutions against the committed state of
//     one height (a pure function of that state); it is emptied when the
//     committed height changes.
type checkCache struct {
	decodedMu            sync.Mutex
	decoded, prevDecoded map[[32]byte]*decodedTx

	keysVersion int64
	keys        map[string]keyResult
}

type keyResult struct {
	pub []byte
	err error
}

// maxDecoded bounds each generation of decoded transactions (the mempool
// holds at most mempool.size of them, 10000 by default).
const maxDecoded = 1 << 15

func newCheckCache() *checkCache {
	return &checkCache{decoded: map[[32]byte]*decodedTx{}, prevDecoded: map[[32]byte]*decodedTx{}, keys: map[string]keyResult{}}
}

// decode returns the decoded form of bz, from the cache or from a.decodeTx.
// Only successes are cached. It is safe for concurrent use; a decodedTx
// is never modified once cached.
func (c *checkCache) decode(a *App, bz []byte) (*decodedTx, error) {
	h := sha256.Sum256(bz)
	c.decodedMu.Lock()
	if d, ok := c.decoded[h]; ok {
		c.decodedMu.Unlock()
		return d, nil
	}
	if d, ok := c.prevDecoded[h]; ok {
		delete(c.prevDecoded, h)
		c.decoded[h] = d
		c.decodedMu.Unlock()
		return d, nil
	}
	c.decodedMu.Unlock()
	d, err := a.decodeTx(bz)
	if err == nil {
		c.decodedMu.Lock()
		if len(c.decoded) < maxDecoded {
			c.decoded[h] = d
		}
		c.decodedMu.Unlock()
	}
	return d, err
}

// keySource returns a keySource for the committed state of version read
// through resolve, memoized for that version.
func (c *checkCache) keySource(version int64, resolve keySource) keySource {
	if version != c.keysVersion {
		c.keysVersion = version
		clear(c.keys)
	}
	if version == 0 { // the working state before block 1: not fixed, do not memoize
		return resolve
	}
	return func(keyID string) ([]byte, error) {
		if r, ok := c.keys[keyID]; ok {
			return r.pub, r.err
		}
		pub, err := resolve(keyID)
		if len(c.keys) < maxDecoded {
			c.keys[keyID] = keyResult{pub, err}
		}
		return pub, err
	}
}

// committed starts a new generation after a Commit.
func (c *checkCache) committed() {
	c.decodedMu.Lock()
	c.prevDecoded, c.decoded = c.decoded, c.prevDecoded
	clear(c.decoded)
	c.decodedMu.Unlock()
	clear(c.keys)
}
