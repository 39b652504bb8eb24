package app

import "sync"

// sigCache remembers signatures this node has verified, so a transaction's
// signature is checked once even though CheckTx, recheck and FinalizeBlock
// all admit it. Entries are keyed by SHA-256(pub || sig || msg); a proposer
// cannot make a hit for a triple that never verified. It evicts in FIFO
// order once full. Results never depend on the cache, only speed does.
type sigCache struct {
	mu   sync.Mutex
	max  int
	set  map[[32]byte]struct{}
	ring [][32]byte
	next int
}

// keyCacheSize is the number of decompressed public keys a generation of
// App.keyCache holds (216 bytes each; at most two generations): more than
// the signers active in any few blocks of a consortium's traffic.
const keyCacheSize = 1 << 14

func newSigCache(max int) *sigCache {
	return &sigCache{max: max, set: make(map[[32]byte]struct{}, max)}
}

func (c *sigCache) has(k [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.set[k]
	return ok
}

func (c *sigCache) add(k [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.set[k]; ok {
		return
	}
	if len(c.ring) < c.max {
		c.ring = append(c.ring, k)
	} else {
		delete(c.set, c.ring[c.next])
		c.ring[c.next] = k
		c.next = (c.next + 1) % c.max
	}
	c.set[k] = struct{}{}
}
