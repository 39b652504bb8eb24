package memtree

import "bytes"

// View is a read-only tree: a saved version (Tree.Saved), safe for
// concurrent use, or the working tree (Tree.Working), valid until its
// tree's next write.
type View struct {
	root    *node
	version int64
}

// Version returns the version the view reads (for a working view, the
// version it would be saved as).
func (v *View) Version() int64 { return v.version }

// Hash returns the view's root hash.
func (v *View) Hash() []byte { return rootHash(v.root) }

// Size returns the number of keys.
func (v *View) Size() int64 {
	if v.root == nil {
		return 0
	}
	return v.root.size
}

// Get returns the value at key, or nil. The slice must not be modified.
func (v *View) Get(key []byte) []byte { return get(v.root, key) }

// Has reports whether key is present.
func (v *View) Has(key []byte) bool { return v.Get(key) != nil }

// Iterator ranges over [start, end) in ascending key order (descending if
// not ascending); nil bounds are open.
func (v *View) Iterator(start, end []byte, ascending bool) *Iterator {
	it := &Iterator{start: start, end: end, ascending: ascending}
	if v.root != nil {
		it.stack = append(it.stack, v.root)
	}
	it.step()
	return it
}

// Iterator walks a view's leaves in key order. It satisfies store.Iterator.
type Iterator struct {
	start, end []byte
	ascending  bool
	stack      []*node // subtrees still to visit, the next on top
	cur        *node   // the current leaf; nil when done
}

// Valid reports whether the iterator is at a key.
func (it *Iterator) Valid() bool { return it.cur != nil }

// Key returns the current key. It must not be modified.
func (it *Iterator) Key() []byte { return it.cur.key }

// Value returns the current value. It must not be modified.
func (it *Iterator) Value() []byte { return it.cur.value }

// Next moves to the next key in the iterator's order.
func (it *Iterator) Next() { it.step() }

// Close releases nothing; it is there for store.Iterator.
func (it *Iterator) Close() error { it.stack, it.cur = nil, nil; return nil }

// step moves cur to the next leaf in range, or to nil.
func (it *Iterator) step() {
	it.cur = nil
	for len(it.stack) > 0 {
		n := it.stack[len(it.stack)-1]
		it.stack = it.stack[:len(it.stack)-1]
		if !n.isLeaf() {
			it.descend(n)
			continue
		}
		below := it.start != nil && bytes.Compare(n.key, it.start) < 0
		above := it.end != nil && bytes.Compare(n.key, it.end) >= 0
		switch {
		case it.ascending && above, !it.ascending && below:
			it.stack = nil // every later key is out of range too
			return
		case below, above:
			continue
		}
		it.cur = n
		return
	}
}

// descend pushes the path from n towards its first leaf in the iterator's
// order, with each sibling subtree still to visit beneath it, skipping
// subtrees wholly outside the range.
func (it *Iterator) descend(n *node) {
	for !n.isLeaf() {
		if it.ascending {
			// Keys of n.left are < n.key: skip them all if start >= n.key.
			if it.start != nil && bytes.Compare(it.start, n.key) >= 0 {
				n = n.right
				continue
			}
			it.stack = append(it.stack, n.right)
			n = n.left
		} else {
			// Keys of n.right are >= n.key: skip them all if end <= n.key.
			if it.end != nil && bytes.Compare(it.end, n.key) <= 0 {
				n = n.left
				continue
			}
			it.stack = append(it.stack, n.left)
			n = n.right
		}
	}
	it.stack = append(it.stack, n)
}
