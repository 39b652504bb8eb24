package memtree

import (
	"crypto/sha256"
	"encoding/binary"
)

// emptyHash is the root hash of an empty tree: SHA-256 of nothing, as IAVL
// (following RFC 6962) has it.
var emptyHash = func() []byte { h := sha256.Sum256(nil); return h[:] }()

func rootHash(n *node) []byte {
	if n == nil {
		return append([]byte(nil), emptyHash...)
	}
	return n.computeHash()
}

// computeHash returns n's hash, computing it (and its unhashed
// descendants') first. The preimage is IAVL v1's writeHashBytes:
//
//	leaf:  varint(0) varint(1) varint(version) uvarint(len(key)) key 0x20 SHA-256(value)
//	inner: varint(height) varint(size) varint(version) 0x20 left-hash 0x20 right-hash
//
// with signed (zigzag) varints.
func (n *node) computeHash() []byte {
	if n.hash != nil {
		return n.hash
	}
	if !n.isLeaf() {
		n.left.computeHash()
		n.right.computeHash()
	}
	var buf [3*binary.MaxVarintLen64 + 2*(1+sha256.Size)]byte
	b := n.appendHashPrefix(buf[:0])
	if n.isLeaf() {
		// A key may be longer than the stack buffer; append grows it.
		b = binary.AppendUvarint(b, uint64(len(n.key)))
		b = append(b, n.key...)
		vh := sha256.Sum256(n.value)
		b = append(b, sha256.Size)
		b = append(b, vh[:]...)
	} else {
		b = append(b, sha256.Size)
		b = append(b, n.left.hash...)
		b = append(b, sha256.Size)
		b = append(b, n.right.hash...)
	}
	h := sha256.Sum256(b)
	n.hash = h[:]
	return n.hash
}

// appendHashPrefix appends the height, size and version varints that
// start every node's hash preimage (and ICS23 proof operations).
func (n *node) appendHashPrefix(b []byte) []byte {
	b = binary.AppendVarint(b, int64(n.height))
	b = binary.AppendVarint(b, n.size)
	return binary.AppendVarint(b, n.version)
}
