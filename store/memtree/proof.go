package memtree

import (
	"bytes"
	"crypto/sha256"
	"errors"

	ics23 "github.com/cosmos/ics23/go"
)

// ErrEmptyTree is GetProof's answer on an empty tree, which has no node to
// prove anything against (IAVL refuses the same).
var ErrEmptyTree = errors.New("memtree: no proof from an empty tree")

// GetProof returns an ICS23 proof, checkable against the view's root hash
// with ics23.IavlSpec, that key has its value (key present) or is absent
// (key absent: existence proofs of its neighbours). The proofs are the
// ones IAVL v1's ImmutableTree.GetProof builds, byte for byte.
func (v *View) GetProof(key []byte) (*ics23.CommitmentProof, error) {
	if v.root == nil {
		return nil, ErrEmptyTree
	}
	v.root.computeHash() // a working view may have unhashed nodes
	if ex := existence(v.root, key); ex != nil {
		return &ics23.CommitmentProof{Proof: &ics23.CommitmentProof_Exist{Exist: ex}}, nil
	}
	non := &ics23.NonExistenceProof{Key: key}
	if it := v.Iterator(nil, key, false); it.Valid() {
		non.Left = existence(v.root, it.Key())
	}
	if it := v.Iterator(key, nil, true); it.Valid() {
		non.Right = existence(v.root, it.Key())
	}
	return &ics23.CommitmentProof{Proof: &ics23.CommitmentProof_Nonexist{Nonexist: non}}, nil
}

// existence returns the proof that key is in the (hashed) tree under
// root, or nil if it is not: the leaf operation, then one inner operation
// per ancestor from the leaf's parent up to the root.
func existence(root *node, key []byte) *ics23.ExistenceProof {
	var path []*node // root first
	n := root
	for !n.isLeaf() {
		path = append(path, n)
		if bytes.Compare(key, n.key) < 0 {
			n = n.left
		} else {
			n = n.right
		}
	}
	if !bytes.Equal(n.key, key) {
		return nil
	}
	ops := make([]*ics23.InnerOp, 0, len(path))
	for i := len(path) - 1; i >= 0; i-- {
		p := path[i]
		prefix := p.appendHashPrefix(nil)
		var suffix []byte
		if bytes.Compare(key, p.key) < 0 { // the leaf is on the left: the right hash follows
			prefix = append(prefix, sha256.Size)
			suffix = append([]byte{sha256.Size}, p.right.hash...)
		} else {
			prefix = append(prefix, sha256.Size)
			prefix = append(prefix, p.left.hash...)
			prefix = append(prefix, sha256.Size)
		}
		ops = append(ops, &ics23.InnerOp{Hash: ics23.HashOp_SHA256, Prefix: prefix, Suffix: suffix})
	}
	return &ics23.ExistenceProof{
		Key:   n.key,
		Value: n.value,
		Leaf: &ics23.LeafOp{
			Hash:         ics23.HashOp_SHA256,
			PrehashValue: ics23.HashOp_SHA256,
			Length:       ics23.LengthOp_VAR_PROTO,
			Prefix:       n.appendHashPrefix(nil),
		},
		Path: ops,
	}
}
