// Package memtree is an in-memory, versioned AVL+ tree whose node hashes —
// and therefore root hashes and ICS23 proofs — are exactly those of IAVL
// v1 (github.com/cosmos/iavl v1.2.6), the tree medchain's app hash is
// built from. It keeps child pointers, so reads and writes walk pointers
// instead of IAVL v1's node cache and database, and saving a version only
// hashes the changed nodes. Persistence is the caller's: store's memtree
// backend logs change sets and writes snapshots (Export, Import); see ADR
// 0015.
//
// Hash compatibility means the same tree shapes and node versions, not
// only the same hash function: Set and Remove follow IAVL v1's insertion,
// removal and rebalancing step for step, a node changed in a version
// carries that version, and an update of a key with the same value still
// makes a new leaf. The conformance test applies the same random
// operations to both trees and compares every working hash, saved hash,
// read and iteration.
//
// Concurrency: a Tree is driven by one goroutine. A View (of a saved
// version) may be read from any number of goroutines, concurrently with
// the Tree's writes: nodes reachable from a saved root are never modified
// again (a write copies them first), and their hashes were computed before
// the version was saved.
package memtree

import (
	"bytes"
	"errors"
	"fmt"
)

// node is a leaf (height 0: key and value) or an inner node (key: the
// smallest key of its right subtree; left and right non-nil), as in IAVL.
type node struct {
	key, value  []byte
	left, right *node
	hash        []byte // nil until computed; never changes once the node's version is saved
	size        int64  // leaves below (1 for a leaf)
	version     int64  // the version that created or last changed this node
	height      int8
}

func (n *node) isLeaf() bool { return n.height == 0 }

// Tree is the working state on top of the last saved version.
type Tree struct {
	root    *node // working root (nil: empty)
	saved   *node // root of the last saved version
	version int64 // last saved version; 0 before the first save
	initial int64 // version of the first save, if set (SetInitialVersion)
}

// New returns an empty tree whose first SaveVersion is version 1.
func New() *Tree { return &Tree{} }

// ErrNilValue is Set's answer for a nil value, which IAVL rejects too.
var ErrNilValue = errors.New("memtree: nil value")

// SetInitialVersion makes the first SaveVersion save version v (IAVL's
// InitialVersion option: a chain whose genesis starts at a later height).
// It fails once a version is saved.
func (t *Tree) SetInitialVersion(v int64) error {
	if t.version != 0 {
		return fmt.Errorf("memtree: initial version set after version %d was saved", t.version)
	}
	if v < 0 {
		return fmt.Errorf("memtree: negative initial version %d", v)
	}
	t.initial = v
	return nil
}

// Version returns the last saved version (0: none).
func (t *Tree) Version() int64 { return t.version }

// WorkingVersion returns the version the next SaveVersion saves.
func (t *Tree) WorkingVersion() int64 {
	if t.version == 0 && t.initial > 0 {
		return t.initial
	}
	return t.version + 1
}

// Size returns the number of keys in the working tree.
func (t *Tree) Size() int64 {
	if t.root == nil {
		return 0
	}
	return t.root.size
}

// Get returns the working value at key, or nil. The slice must not be
// modified.
func (t *Tree) Get(key []byte) []byte { return get(t.root, key) }

// Has reports whether key is in the working tree.
func (t *Tree) Has(key []byte) bool { return t.Get(key) != nil }

func get(n *node, key []byte) []byte {
	if n == nil {
		return nil
	}
	for !n.isLeaf() {
		if bytes.Compare(key, n.key) < 0 {
			n = n.left
		} else {
			n = n.right
		}
	}
	if bytes.Equal(n.key, key) {
		return n.value
	}
	return nil
}

// Set sets key to value in the working tree and reports whether the key
// existed. The tree keeps key and value: the caller must not modify them
// afterwards.
func (t *Tree) Set(key, value []byte) (updated bool, err error) {
	if value == nil {
		return false, ErrNilValue
	}
	if t.root == nil {
		t.root = t.leaf(key, value)
		return false, nil
	}
	t.root, updated = t.set(t.root, key, value)
	return updated, nil
}

func (t *Tree) leaf(key, value []byte) *node {
	return &node{key: key, value: value, size: 1, version: t.WorkingVersion()}
}

// set is IAVL v1's recursiveSet.
func (t *Tree) set(n *node, key, value []byte) (*node, bool) {
	if n.isLeaf() {
		switch bytes.Compare(key, n.key) {
		case -1:
			return &node{key: n.key, height: 1, size: 2, left: t.leaf(key, value), right: n, version: t.WorkingVersion()}, false
		case 1:
			return &node{key: key, height: 1, size: 2, left: n, right: t.leaf(key, value), version: t.WorkingVersion()}, false
		default:
			return t.leaf(key, value), true
		}
	}
	n = t.mutable(n)
	var updated bool
	if bytes.Compare(key, n.key) < 0 {
		n.left, updated = t.set(n.left, key, value)
	} else {
		n.right, updated = t.set(n.right, key, value)
	}
	if updated {
		return n, true
	}
	n.calcHeightAndSize()
	return t.balance(n), false
}

// Remove removes key from the working tree and returns its value, or
// reports that it was absent (and changes nothing).
func (t *Tree) Remove(key []byte) (value []byte, removed bool) {
	if t.root == nil {
		return nil, false
	}
	root, _, value, removed := t.remove(t.root, key)
	if removed {
		t.root = root
	}
	return value, removed
}

// remove is IAVL v1's recursiveRemove: it returns the subtree that
// replaces n, the new smallest key of n's subtree when the removal changed
// it (for the ancestor whose key it is), and the removed value. Unlike
// IAVL it copies n only once the key is found, which changes no hash: IAVL
// drops its copies when the key is absent.
func (t *Tree) remove(n *node, key []byte) (newSelf *node, newKey, value []byte, removed bool) {
	if n.isLeaf() {
		if bytes.Equal(key, n.key) {
			return nil, nil, n.value, true
		}
		return n, nil, nil, false
	}
	if bytes.Compare(key, n.key) < 0 {
		newLeft, newKey, value, removed := t.remove(n.left, key)
		if !removed {
			return n, nil, nil, false
		}
		if newLeft == nil { // the left child was the leaf removed
			return n.right, n.key, value, true
		}
		n = t.mutable(n)
		n.left = newLeft
		n.calcHeightAndSize()
		return t.balance(n), newKey, value, true
	}
	newRight, newKey, value, removed := t.remove(n.right, key)
	if !removed {
		return n, nil, nil, false
	}
	if newRight == nil { // the right child was the leaf removed
		return n.left, nil, value, true
	}
	n = t.mutable(n)
	n.right = newRight
	if newKey != nil {
		n.key = newKey
	}
	n.calcHeightAndSize()
	return t.balance(n), nil, value, true
}

// mutable returns n ready to be changed in the working version: n itself
// if the working version created it (no saved version can reach it),
// else a copy stamped with the working version. Either way its hash is
// cleared.
func (t *Tree) mutable(n *node) *node {
	w := t.WorkingVersion()
	if n.version != w {
		c := *n
		c.version = w
		n = &c
	}
	n.hash = nil
	return n
}

func (n *node) calcHeightAndSize() {
	n.height = max(n.left.height, n.right.height) + 1
	n.size = n.left.size + n.right.size
}

func (n *node) balanceFactor() int { return int(n.left.height) - int(n.right.height) }

// balance is IAVL v1's balance; n is mutable.
func (t *Tree) balance(n *node) *node {
	switch b := n.balanceFactor(); {
	case b > 1:
		if n.left.balanceFactor() >= 0 {
			return t.rotateRight(n)
		}
		n.left = t.rotateLeft(n.left)
		return t.rotateRight(n)
	case b < -1:
		if n.right.balanceFactor() <= 0 {
			return t.rotateLeft(n)
		}
		n.right = t.rotateRight(n.right)
		return t.rotateLeft(n)
	}
	return n
}

func (t *Tree) rotateRight(n *node) *node {
	n = t.mutable(n)
	l := t.mutable(n.left)
	n.left = l.right
	l.right = n
	n.calcHeightAndSize()
	l.calcHeightAndSize()
	return l
}

func (t *Tree) rotateLeft(n *node) *node {
	n = t.mutable(n)
	r := t.mutable(n.right)
	n.right = r.left
	r.left = n
	n.calcHeightAndSize()
	r.calcHeightAndSize()
	return r
}

// WorkingHash returns the root hash the working tree would be saved with,
// hashing the nodes changed since the last save.
func (t *Tree) WorkingHash() []byte { return rootHash(t.root) }

// Hash returns the root hash of the last saved version.
func (t *Tree) Hash() []byte { return rootHash(t.saved) }

// SaveVersion saves the working tree as WorkingVersion and returns its
// root hash and version. From then on the saved nodes are never changed:
// the next version's writes copy them.
func (t *Tree) SaveVersion() (hash []byte, version int64) {
	hash = t.WorkingHash()
	t.version = t.WorkingVersion()
	t.saved = t.root
	return hash, t.version
}

// Saved returns a read-only view of the last saved version.
func (t *Tree) Saved() *View { return &View{root: t.saved, version: t.version} }

// Working returns a view of the working tree. It is valid only until the
// tree's next write, and only on the tree's goroutine.
func (t *Tree) Working() *View { return &View{root: t.root, version: t.WorkingVersion()} }
