package app

import (
	"crypto/sha256"
	"sync"

	"github.com/medchain/medchain/x/identity"
)

// checkCache holds what CheckTx may reuse between calls. It only speeds up
// admission: FinalizeBlock reads from it only decoded transactions (a pure
// function of their bytes) and whether a transaction was decoded before
// (to batch-verify the ones that were not, prepareBlock), so consensus
// results cannot depend on it. The decoded generations are guarded by decodedMu
// (Precheck fills them without App.mu); keys by App.mu.
//
//   - decoded remembers the state-independent part of admission by the
//     SHA-256 of the transaction bytes, so that the recheck CometBFT runs on
//     every transaction left in the mempool after each block, and a
//     re-submission, skip decoding and validation. Two generations: entries
//     not used since the previous Commit are dropped at the next one.
//   - keys remembers signing-key resolutions against the committed state
//     (a pure function of the DID's identity record there). A Commit keeps
//     them except for the DIDs the block may have changed (its signers and
//     the DIDs whose records it wrote): their records are unchanged, so
//     are the answers. Were that set ever incomplete, CheckTx could admit
//     a transaction signed with a key just rotated away; FinalizeBlock,
//     which resolves keys from its own working state, would still refuse
//     it (tx/15): the cache can cost a block slot, never a wrong result.
//   - seqs remembers, the same way and for the same DIDs, each signer's
//     next sequence in the committed state (NextSequence), which every
//     CheckTx and every recheck asks for: a DID's sequence changes only in
//     a block it signed in, or whose identity writes registered it. A
//     stale entry would likewise cost a block slot (tx/9 in
//     FinalizeBlock), never a wrong result.
type checkCache struct {
	decodedMu            sync.Mutex
	decoded, prevDecoded map[[32]byte]*decodedTx

	keysVersion int64
	keys        map[string]keyResult
	seqs        map[string]uint64
}

type keyResult struct {
	did string
	pub []byte
	err error
}

// maxDecoded bounds each generation of decoded transactions (the mempool
// holds at most mempool.size of them, 10000 by default).
const maxDecoded = 1 << 15

func newCheckCache() *checkCache {
	return &checkCache{decoded: map[[32]byte]*decodedTx{}, prevDecoded: map[[32]byte]*decodedTx{}, keys: map[string]keyResult{}, seqs: map[string]uint64{}}
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

// has reports whether bz's decoded form is cached (bz was decoded, by
// CheckTx or prepare, in this generation or the previous one).
func (c *checkCache) has(bz []byte) bool {
	h := sha256.Sum256(bz)
	c.decodedMu.Lock()
	defer c.decodedMu.Unlock()
	_, ok := c.decoded[h]
	if !ok {
		_, ok = c.prevDecoded[h]
	}
	return ok
}

// keySource returns a keySource for the committed state of version read
// through resolve, memoized for that version.
func (c *checkCache) keySource(version int64, resolve keySource) keySource {
	c.atVersion(version)
	if version == 0 { // the working state before block 1: not fixed, do not memoize
		return resolve
	}
	return func(keyID string) ([]byte, error) {
		if r, ok := c.keys[keyID]; ok {
			return r.pub, r.err
		}
		pub, err := resolve(keyID)
		if len(c.keys) < maxDecoded {
			did, _, _ := identity.SplitKeyID(keyID)
			c.keys[keyID] = keyResult{did, pub, err}
		}
		return pub, err
	}
}

// atVersion drops the memoized answers if they are not for version.
func (c *checkCache) atVersion(version int64) {
	if version != c.keysVersion {
		c.keysVersion = version
		clear(c.keys)
		clear(c.seqs)
	}
}

// committedSeq returns did's next sequence in the committed state of
// version, from the memo or from read.
func (c *checkCache) committedSeq(version int64, did string, read func() uint64) uint64 {
	c.atVersion(version)
	if version == 0 { // the working state before block 1: not fixed
		return read()
	}
	if s, ok := c.seqs[did]; ok {
		return s
	}
	s := read()
	if len(c.seqs) < maxDecoded {
		c.seqs[did] = s
	}
	return s
}

// committed starts a new generation after the Commit of version: it
// keeps the key resolutions of every DID not in changed (nil: all
// changed, as after a Commit of no executed block).
func (c *checkCache) committed(version int64, changed map[string]struct{}) {
	c.decodedMu.Lock()
	c.prevDecoded, c.decoded = c.decoded, c.prevDecoded
	clear(c.decoded)
	c.decodedMu.Unlock()
	if changed == nil || c.keysVersion != version-1 {
		clear(c.keys)
		clear(c.seqs)
	} else {
		for id, r := range c.keys {
			if _, ok := changed[r.did]; ok || r.did == "" {
				delete(c.keys, id)
			}
		}
		for did := range changed {
			delete(c.seqs, did)
		}
	}
	c.keysVersion = version
}
