package store

import (
	"bytes"

	"github.com/google/btree"
)

// Cache buffers writes over a parent KV. Reads see the buffered writes.
// Write flushes them to the parent in ascending key order, so that the
// parent (an IAVL tree, whose shape depends on insertion order) ends up the
// same on every node; dropping the Cache discards them. A Cache is not safe
// for concurrent use.
type Cache struct {
	parent KV
	items  *btree.BTreeG[entry]
}

type entry struct {
	key   []byte
	value []byte // nil: deleted
}

func lessEntry(a, b entry) bool { return bytes.Compare(a.key, b.key) < 0 }

// NewCache returns an empty write buffer over parent.
func NewCache(parent KV) *Cache {
	return &Cache{parent: parent, items: btree.NewG(16, lessEntry)}
}

var _ KV = (*Cache)(nil)

// Get implements Reader.
func (c *Cache) Get(key []byte) []byte {
	if e, ok := c.items.Get(entry{key: key}); ok {
		return e.value
	}
	return c.parent.Get(key)
}

// Has implements Reader.
func (c *Cache) Has(key []byte) bool { return c.Get(key) != nil }

// Set implements KV. It panics on an empty value, a programming error.
func (c *Cache) Set(key, value []byte) {
	if len(value) == 0 {
		panic("store: empty value")
	}
	c.items.ReplaceOrInsert(entry{key: bytes.Clone(key), value: bytes.Clone(value)})
}

// Delete implements KV.
func (c *Cache) Delete(key []byte) {
	c.items.ReplaceOrInsert(entry{key: bytes.Clone(key)})
}

// WrittenKeys calls f with the key of every buffered write (set or
// delete), in key order. f must not modify the cache or keep the key.
func (c *Cache) WrittenKeys(f func(key []byte)) {
	c.items.Ascend(func(e entry) bool {
		f(e.key)
		return true
	})
}

// Write flushes the buffered writes to the parent in key order and empties
// the cache.
func (c *Cache) Write() {
	c.items.Ascend(func(e entry) bool {
		if e.value == nil {
			c.parent.Delete(e.key)
		} else {
			c.parent.Set(e.key, e.value)
		}
		return true
	})
	c.items.Clear(false)
}

// Iterator implements Reader.
func (c *Cache) Iterator(start, end []byte) Iterator {
	return c.merged(start, end, false)
}

// ReverseIterator implements Reader.
func (c *Cache) ReverseIterator(start, end []byte) Iterator {
	return c.merged(start, end, true)
}

func (c *Cache) merged(start, end []byte, reverse bool) Iterator {
	var buf []entry
	in := func(k []byte) bool {
		return (start == nil || bytes.Compare(k, start) >= 0) && (end == nil || bytes.Compare(k, end) < 0)
	}
	collect := func(e entry) bool {
		if !in(e.key) {
			// Ascending we start at start, so leaving the range means we passed
			// end; descending we start at the top, so skip until inside.
			if reverse && end != nil && bytes.Compare(e.key, end) >= 0 {
				return true
			}
			return false
		}
		buf = append(buf, e)
		return true
	}
	if reverse {
		c.items.Descend(collect)
	} else if start != nil {
		c.items.AscendGreaterOrEqual(entry{key: start}, collect)
	} else {
		c.items.Ascend(collect)
	}
	var p Iterator
	if reverse {
		p = c.parent.ReverseIterator(start, end)
	} else {
		p = c.parent.Iterator(start, end)
	}
	it := &mergeIter{parent: p, cache: buf, reverse: reverse}
	it.skip()
	return it
}

// mergeIter merges a parent iterator with a sorted snapshot of cache
// entries; cache entries win, deleted entries hide parent keys.
type mergeIter struct {
	parent  Iterator
	cache   []entry
	reverse bool
	// current
	key, value []byte
	valid      bool
}

func (m *mergeIter) cmp(a, b []byte) int {
	c := bytes.Compare(a, b)
	if m.reverse {
		return -c
	}
	return c
}

// skip advances to the next visible entry and loads it.
func (m *mergeIter) skip() {
	for {
		pv := m.parent.Valid()
		cv := len(m.cache) > 0
		switch {
		case !pv && !cv:
			m.valid = false
			return
		case pv && (!cv || m.cmp(m.parent.Key(), m.cache[0].key) < 0):
			m.key, m.value, m.valid = m.parent.Key(), m.parent.Value(), true
			return
		default:
			e := m.cache[0]
			if pv && m.cmp(m.parent.Key(), e.key) == 0 {
				m.parent.Next() // the cache shadows this parent key
			}
			if e.value == nil {
				m.cache = m.cache[1:]
				continue
			}
			m.key, m.value, m.valid = e.key, e.value, true
			return
		}
	}
}

func (m *mergeIter) Valid() bool   { return m.valid }
func (m *mergeIter) Key() []byte   { return m.key }
func (m *mergeIter) Value() []byte { return m.value }
func (m *mergeIter) Close() error  { return m.parent.Close() }

func (m *mergeIter) Next() {
	if !m.valid {
		return
	}
	// Consume the current entry from whichever side it came from.
	if len(m.cache) > 0 && bytes.Equal(m.cache[0].key, m.key) {
		m.cache = m.cache[1:]
	} else {
		m.parent.Next()
	}
	m.skip()
}
