package store

import (
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
)

// keyFilter is a Bloom filter over the keys of one store: it answers
// "certainly absent" without walking the IAVL tree, which otherwise costs a
// root-to-leaf walk (~17 node-cache lookups in a tree of 10⁵ keys) for every
// read of a key that does not exist — the signer record and sequence of
// every identity registration, read in CheckTx and again in FinalizeBlock.
//
// It holds every key present in the version the store was opened at plus
// every key set since (deleted keys stay in it), so a negative answer is
// exact for the working tree and for every committed version at or after
// the opening version; a positive answer only means "walk the tree". The
// answers of reads therefore never depend on it, only their cost does.
//
// It is a split-block Bloom filter (as in Apache Parquet): a key sets one
// bit in each of the eight 32-bit words of one 32-byte block, so a lookup
// touches one cache line. At 16 bits per key the false-positive rate is
// about 0.1 %. When a layer is full a new one of twice the total capacity
// is added; lookups check every layer (a handful at most).
//
// add is called by the goroutine that writes the working trees (and by
// Open); mayContain may run concurrently with it (queries), so the bits are
// atomic and the layer list is replaced, never modified in place.
type keyFilter struct {
	seed   maphash.Seed // per process: answers do not depend on it
	mu     sync.Mutex   // serialises add
	layers atomic.Pointer[[]*bloomLayer]
}

type bloomLayer struct {
	words  []atomic.Uint32
	blocks uint64 // len(words)/8, a power of two
	cap    int    // keys this layer takes before the next one is added
	n      int    // keys added (under keyFilter.mu)
}

const (
	bloomBitsPerKey = 16
	bloomMinKeys    = 1 << 16
)

// bloomSalt are the odd multipliers of Parquet's split-block filter.
var bloomSalt = [8]uint32{0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31}

func newBloomLayer(keys int) *bloomLayer {
	keys = max(keys, bloomMinKeys)
	blocks := uint64(1) << bits.Len64(uint64(keys*bloomBitsPerKey/256-1))
	return &bloomLayer{words: make([]atomic.Uint32, blocks*8), blocks: blocks, cap: int(blocks * 256 / bloomBitsPerKey)}
}

func (l *bloomLayer) block(h uint64) []atomic.Uint32 {
	b := (h >> 32) & (l.blocks - 1)
	return l.words[b*8 : b*8+8]
}

func (l *bloomLayer) set(h uint64) {
	blk, x := l.block(h), uint32(h)
	for i := range blk {
		blk[i].Or(1 << ((x * bloomSalt[i]) >> 27))
	}
}

func (l *bloomLayer) has(h uint64) bool {
	blk, x := l.block(h), uint32(h)
	for i := range blk {
		if blk[i].Load()&(1<<((x*bloomSalt[i])>>27)) == 0 {
			return false
		}
	}
	return true
}

// newKeyFilter returns a filter holding the keys whose hashes are given
// (see hash), sized for at least twice as many.
func newKeyFilter(seed maphash.Seed, hashes []uint64) *keyFilter {
	f := &keyFilter{seed: seed}
	l := newBloomLayer(2 * len(hashes))
	for _, h := range hashes {
		l.set(h)
	}
	l.n = len(hashes)
	f.layers.Store(&[]*bloomLayer{l})
	return f
}

func (f *keyFilter) hash(key []byte) uint64 { return maphash.Bytes(f.seed, key) }

// add records key as (possibly) present.
func (f *keyFilter) add(key []byte) {
	h := f.hash(key)
	f.mu.Lock()
	defer f.mu.Unlock()
	ls := *f.layers.Load()
	for _, l := range ls {
		if l.has(h) {
			return // already (or indistinguishably) present
		}
	}
	top := ls[len(ls)-1]
	if top.n >= top.cap {
		total := 0
		for _, l := range ls {
			total += l.cap
		}
		top = newBloomLayer(2 * total)
		next := append(append(make([]*bloomLayer, 0, len(ls)+1), ls...), top)
		f.layers.Store(&next)
	}
	top.set(h)
	top.n++
}

// mayContain reports false only for keys certainly absent.
func (f *keyFilter) mayContain(key []byte) bool {
	h := f.hash(key)
	for _, l := range *f.layers.Load() {
		if l.has(h) {
			return true
		}
	}
	return false
}
