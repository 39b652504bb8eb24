// Package proof builds and verifies medchain's state proofs: CometBFT
// ProofOps that chain a value in a named store to the application hash.
//
// The app hash is the root of a CometBFT simple Merkle tree (RFC 6962
// hashing) whose leaves are the (store name, IAVL root) pairs in name order,
// encoded as CometBFT's ValueOp encodes them. A proof of key k in store s is
// two operators, innermost first:
//
//	ics23:iavl  key k   — an ICS-23 IAVL proof: value (or absence) → root of s
//	simple:v    key s   — a CometBFT ValueOp: root of s → app hash
//
// This is the layout Cosmos chains serve at /store/<s>/key, so CometBFT's
// light-client RPC (light/rpc.Client) verifies it once the ics23:iavl
// decoder from this package is registered (Runtime does that). The stock
// `cometbft light` proxy knows only simple:v; see docs/adr/0002.
//
// Verification returns typed errors, never a bool.
package proof

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cometbft/cometbft/crypto/merkle"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	ics23 "github.com/cosmos/ics23/go"
)

// OpIAVL is the ProofOp type of an ICS-23 IAVL commitment proof.
const OpIAVL = "ics23:iavl"

// Typed verification failures. Every error from Verify* wraps one of them.
var (
	// ErrMalformed: the proof cannot be decoded or has the wrong shape.
	ErrMalformed = errors.New("proof: malformed")
	// ErrRootMismatch: the proof computes a different root than the trusted app hash.
	ErrRootMismatch = errors.New("proof: root mismatch")
	// ErrKeyMismatch: the proof is about another key or store.
	ErrKeyMismatch = errors.New("proof: key mismatch")
	// ErrValueMismatch: the proof does not prove the claimed value (or absence).
	ErrValueMismatch = errors.New("proof: value mismatch")
)

// RootHash computes the app hash from store names (sorted) and their roots.
func RootHash(names []string, roots [][]byte) []byte {
	return merkle.HashFromByteSlices(leaves(names, roots))
}

func leaves(names []string, roots [][]byte) [][]byte {
	out := make([][]byte, len(names))
	for i, n := range names {
		vh := sha256.Sum256(roots[i])
		var b []byte
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
		b = binary.AppendUvarint(b, uint64(len(vh)))
		b = append(b, vh[:]...)
		out[i] = b
	}
	return out
}

// NewStoreOp returns the simple:v operator proving roots[i] under names[i].
func NewStoreOp(names []string, roots [][]byte, i int) cmtcrypto.ProofOp {
	_, proofs := merkle.ProofsFromByteSlices(leaves(names, roots))
	return merkle.NewValueOp([]byte(names[i]), proofs[i]).ProofOp()
}

// NewIAVLOp wraps an ICS-23 commitment proof for key as a ProofOp.
func NewIAVLOp(key []byte, p *ics23.CommitmentProof) (cmtcrypto.ProofOp, error) {
	bz, err := p.Marshal()
	if err != nil {
		return cmtcrypto.ProofOp{}, fmt.Errorf("proof: marshal: %w", err)
	}
	return cmtcrypto.ProofOp{Type: OpIAVL, Key: bytes.Clone(key), Data: bz}, nil
}

// IAVLOp is the decoded ics23:iavl operator; it implements
// merkle.ProofOperator.
type IAVLOp struct {
	key   []byte
	proof *ics23.CommitmentProof
}

var _ merkle.ProofOperator = IAVLOp{}

// DecodeIAVLOp is the merkle.OpDecoder for OpIAVL.
func DecodeIAVLOp(op cmtcrypto.ProofOp) (merkle.ProofOperator, error) {
	if op.Type != OpIAVL {
		return nil, fmt.Errorf("%w: op type %q, want %q", ErrMalformed, op.Type, OpIAVL)
	}
	p := &ics23.CommitmentProof{}
	if err := p.Unmarshal(op.Data); err != nil {
		return nil, fmt.Errorf("%w: ics23 proof: %v", ErrMalformed, err)
	}
	return IAVLOp{key: op.Key, proof: p}, nil
}

// GetKey implements merkle.ProofOperator.
func (o IAVLOp) GetKey() []byte { return o.key }

// ProofOp implements merkle.ProofOperator.
func (o IAVLOp) ProofOp() cmtcrypto.ProofOp {
	op, _ := NewIAVLOp(o.key, o.proof)
	return op
}

// Run takes [value] (membership) or [] (absence) and returns [root].
func (o IAVLOp) Run(args [][]byte) ([][]byte, error) {
	root, err := o.proof.Calculate()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch len(args) {
	case 0:
		// ics23 ignores the key a NonExistenceProof names; require it to be
		// ours, so that no byte of the proof can change without failing it.
		if ne := o.proof.GetNonexist(); ne != nil && !bytes.Equal(ne.Key, o.key) {
			return nil, fmt.Errorf("%w: absence proof names key %X, not %X", ErrKeyMismatch, ne.Key, o.key)
		}
		if !ics23.VerifyNonMembership(ics23.IavlSpec, root, o.proof, o.key) {
			return nil, fmt.Errorf("%w: absence of key %X not proven", ErrValueMismatch, o.key)
		}
	case 1:
		if !ics23.VerifyMembership(ics23.IavlSpec, root, o.proof, o.key, args[0]) {
			return nil, fmt.Errorf("%w: key %X", ErrValueMismatch, o.key)
		}
	default:
		return nil, fmt.Errorf("%w: %d arguments", ErrMalformed, len(args))
	}
	return [][]byte{root}, nil
}

// Runtime returns a CometBFT proof runtime that decodes simple:v and
// ics23:iavl operators.
func Runtime() *merkle.ProofRuntime {
	prt := merkle.DefaultProofRuntime()
	prt.RegisterOpDecoder(OpIAVL, DecodeIAVLOp)
	return prt
}

// KeyPath returns the CometBFT key path for key in store, as CometBFT's
// light/rpc.DefaultMerkleKeyPathFn builds it for path /store/<store>/key.
func KeyPath(store string, key []byte) string {
	return merkle.KeyPath{}.AppendKey([]byte(store), merkle.KeyEncodingURL).AppendKey(key, merkle.KeyEncodingHex).String()
}

// Verify checks that ops prove value (nil: absence) at key in store against
// appHash. It returns nil or an error wrapping one of the typed errors.
func Verify(ops *cmtcrypto.ProofOps, appHash []byte, store string, key, value []byte) error {
	if ops == nil || len(ops.Ops) != 2 {
		return fmt.Errorf("%w: want 2 proof operators", ErrMalformed)
	}
	if ops.Ops[0].Type != OpIAVL || ops.Ops[1].Type != merkle.ProofOpValue {
		return fmt.Errorf("%w: operator types %q, %q", ErrMalformed, ops.Ops[0].Type, ops.Ops[1].Type)
	}
	if !bytes.Equal(ops.Ops[0].Key, key) {
		return fmt.Errorf("%w: proof is for key %X, not %X", ErrKeyMismatch, ops.Ops[0].Key, key)
	}
	if string(ops.Ops[1].Key) != store {
		return fmt.Errorf("%w: proof is for store %q, not %q", ErrKeyMismatch, ops.Ops[1].Key, store)
	}
	// CometBFT's simple:v decoder takes the key from ProofOp.Key and ignores
	// the copy inside Data; require the copies to agree, so that no byte of
	// the proof can change without failing it.
	var vo cmtcrypto.ValueOp
	if err := vo.Unmarshal(ops.Ops[1].Data); err != nil {
		return fmt.Errorf("%w: store operator: %v", ErrMalformed, err)
	}
	if !bytes.Equal(vo.Key, ops.Ops[1].Key) {
		return fmt.Errorf("%w: store operator data names store %q, not %q", ErrKeyMismatch, vo.Key, ops.Ops[1].Key)
	}
	poz, err := Runtime().DecodeProof(ops)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var args [][]byte
	if value != nil {
		args = [][]byte{value}
	}
	for _, op := range poz {
		args, err = op.Run(args)
		if err != nil {
			if errors.Is(err, ErrMalformed) || errors.Is(err, ErrValueMismatch) || errors.Is(err, ErrKeyMismatch) {
				return err
			}
			return fmt.Errorf("%w: %v", ErrValueMismatch, err)
		}
	}
	if len(args) != 1 || !bytes.Equal(args[0], appHash) {
		return fmt.Errorf("%w: proof computes %X, trusted app hash is %X", ErrRootMismatch, args[0], appHash)
	}
	return nil
}
