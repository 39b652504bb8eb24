package memtree

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A snapshot is a saved version's nodes in post-order (children before
// their parent), which is all it takes to rebuild the exact tree — shape
// and node versions — and so its hash:
//
//	uvarint(number of nodes)
//	per node: height (1 byte), uvarint(version), then for a leaf
//	          uvarint(len(key)) key uvarint(len(value)) value
//
// Inner nodes' keys and sizes are not written: an inner node's key is the
// smallest key of its right subtree (an invariant of IAVL's insertion,
// removal and rotations) and its size the sum of its children's, so
// Import recomputes both. Everything else a node holds feeds its hash, so
// a snapshot damaged anywhere either fails to decode or imports to a tree
// whose root hash differs from the one recorded for its version.

// Export writes the view's tree to w as a snapshot.
func (v *View) Export(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	var count int64
	if v.root != nil {
		count = 2*v.root.size - 1
	}
	var buf []byte
	buf = binary.AppendUvarint(buf, uint64(count))
	if _, err := bw.Write(buf); err != nil {
		return err
	}
	if v.root != nil {
		if err := export(bw, v.root, buf[:0]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func export(w *bufio.Writer, n *node, buf []byte) error {
	if !n.isLeaf() {
		if err := export(w, n.left, buf); err != nil {
			return err
		}
		if err := export(w, n.right, buf); err != nil {
			return err
		}
	}
	buf = append(buf[:0], byte(n.height))
	buf = binary.AppendUvarint(buf, uint64(n.version))
	if n.isLeaf() {
		buf = binary.AppendUvarint(buf, uint64(len(n.key)))
		buf = append(buf, n.key...)
		buf = binary.AppendUvarint(buf, uint64(len(n.value)))
		buf = append(buf, n.value...)
	}
	_, err := w.Write(buf)
	return err
}

// ErrBadSnapshot wraps every reason Import refuses a snapshot.
var ErrBadSnapshot = errors.New("memtree: bad snapshot")

// maxSnapshotField bounds a key or value length read from a snapshot, so
// that a damaged length fails instead of allocating gigabytes.
const maxSnapshotField = 64 << 20

// Import reads a snapshot written by Export and returns a tree whose last
// saved version is version, with the snapshot's tree. It checks the
// structure (heights, node count, versions not above version); the caller
// checks the root hash against the one recorded for that version.
func Import(r io.Reader, version int64) (*Tree, error) {
	br, ok := r.(io.ByteReader)
	if !ok {
		bb := bufio.NewReaderSize(r, 1<<16)
		br, r = bb, bb
	}
	bad := func(format string, a ...any) (*Tree, error) {
		return nil, fmt.Errorf("%w: %s", ErrBadSnapshot, fmt.Sprintf(format, a...))
	}
	count, err := binary.ReadUvarint(br)
	if err != nil {
		return bad("node count: %v", err)
	}
	if count > 0 && count%2 == 0 {
		return bad("%d nodes cannot form a tree", count)
	}
	var stack []*node
	readBytes := func() ([]byte, error) {
		l, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, err
		}
		if l > maxSnapshotField {
			return nil, fmt.Errorf("length %d", l)
		}
		b := make([]byte, l)
		_, err = io.ReadFull(r, b)
		return b, err
	}
	for i := range count {
		h, err := br.ReadByte()
		if err != nil {
			return bad("node %d: %v", i, err)
		}
		ver, err := binary.ReadUvarint(br)
		if err != nil {
			return bad("node %d: version: %v", i, err)
		}
		if h > 127 {
			return bad("node %d: height %d", i, h)
		}
		if ver == 0 || ver > uint64(version) {
			return bad("node %d has version %d in a snapshot of version %d", i, ver, version)
		}
		n := &node{height: int8(h), version: int64(ver)}
		if h == 0 {
			if n.key, err = readBytes(); err != nil {
				return bad("node %d: key: %v", i, err)
			}
			if n.value, err = readBytes(); err != nil {
				return bad("node %d: value: %v", i, err)
			}
			n.size = 1
		} else {
			if len(stack) < 2 {
				return bad("inner node %d without two children", i)
			}
			n.left, n.right = stack[len(stack)-2], stack[len(stack)-1]
			stack = stack[:len(stack)-2]
			if int(h) != int(max(n.left.height, n.right.height))+1 {
				return bad("node %d has height %d over children of heights %d and %d", i, h, n.left.height, n.right.height)
			}
			n.size = n.left.size + n.right.size
			m := n.right
			for !m.isLeaf() {
				m = m.left
			}
			n.key = m.key
		}
		stack = append(stack, n)
	}
	if len(stack) > 1 {
		return bad("%d subtrees left over", len(stack))
	}
	t := &Tree{version: version}
	if len(stack) == 1 {
		t.root = stack[0]
		t.saved = stack[0]
	}
	return t, nil
}
