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
	count, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, fmt.Errorf("%w: node count: %v", ErrBadSnapshot, err)
	}
	if count > 0 && count%2 == 0 {
		return nil, fmt.Errorf("%w: %d nodes cannot form a tree", ErrBadSnapshot, count)
	}
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
	im := NewImporter(version)
	for i := range count {
		h, err := br.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("%w: node %d: %v", ErrBadSnapshot, i, err)
		}
		if h > 127 {
			return nil, fmt.Errorf("%w: node %d: height %d", ErrBadSnapshot, i, h)
		}
		ver, err := binary.ReadUvarint(br)
		if err != nil || ver > uint64(version) {
			return nil, fmt.Errorf("%w: node %d: version %d: %v", ErrBadSnapshot, i, ver, err)
		}
		var key, value []byte
		if h == 0 {
			if key, err = readBytes(); err != nil {
				return nil, fmt.Errorf("%w: node %d: key: %v", ErrBadSnapshot, i, err)
			}
			if value, err = readBytes(); err != nil {
				return nil, fmt.Errorf("%w: node %d: value: %v", ErrBadSnapshot, i, err)
			}
		}
		if err := im.Add(int8(h), int64(ver), key, value); err != nil {
			return nil, err
		}
	}
	return im.Done()
}

// Importer builds a tree from its nodes in post-order, as Export writes
// them and IAVL v1's Exporter yields them (ExportNode: height, version,
// and a leaf's key and value). Inner nodes' keys and sizes are recomputed.
type Importer struct {
	version int64
	stack   []*node
	n       int
}

// NewImporter returns an Importer of a tree saved at version.
func NewImporter(version int64) *Importer { return &Importer{version: version} }

// Add adds the next node in post-order; key and value only for a leaf
// (height 0), and the tree keeps them.
func (im *Importer) Add(height int8, version int64, key, value []byte) error {
	i := im.n
	im.n++
	if height < 0 {
		return fmt.Errorf("%w: node %d: height %d", ErrBadSnapshot, i, height)
	}
	if version <= 0 || version > im.version {
		return fmt.Errorf("%w: node %d has version %d in a tree of version %d", ErrBadSnapshot, i, version, im.version)
	}
	n := &node{height: height, version: version}
	if height == 0 {
		if value == nil {
			value = []byte{}
		}
		n.key, n.value, n.size = key, value, 1
	} else {
		if len(im.stack) < 2 {
			return fmt.Errorf("%w: inner node %d without two children", ErrBadSnapshot, i)
		}
		n.left, n.right = im.stack[len(im.stack)-2], im.stack[len(im.stack)-1]
		im.stack = im.stack[:len(im.stack)-2]
		if int(height) != int(max(n.left.height, n.right.height))+1 {
			return fmt.Errorf("%w: node %d has height %d over children of heights %d and %d", ErrBadSnapshot, i, height, n.left.height, n.right.height)
		}
		n.size = n.left.size + n.right.size
		m := n.right
		for !m.isLeaf() {
			m = m.left
		}
		n.key = m.key
	}
	im.stack = append(im.stack, n)
	return nil
}

// Done returns the tree; it fails unless the nodes added form one tree.
func (im *Importer) Done() (*Tree, error) {
	if len(im.stack) > 1 {
		return nil, fmt.Errorf("%w: %d subtrees left over", ErrBadSnapshot, len(im.stack))
	}
	t := &Tree{version: im.version}
	if len(im.stack) == 1 {
		t.root = im.stack[0]
		t.saved = im.stack[0]
	}
	return t, nil
}
