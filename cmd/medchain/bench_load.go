package main

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
)

// The load is a set of lanes. A lane is a stream of transactions that go to
// one node in order; its mode says when its next transaction may be sent:
//
//	laneFree    at once (independent transactions: identity registrations)
//	laneSeq     once the previous one passed CheckTx (one signer's sequence:
//	            a genesis organization admin adding and removing members)
//	laneCommit  once the previous one is committed and one more block has
//	            been seen (key rotations: the next is signed by the new key,
//	            which CheckTx only knows from committed state)
//
// Scheduling classes interleave per node in the pattern benchPattern,
// falling back to whatever is ready. A laneSeq lane sends up to benchBatch
// consecutive transactions at once as one JSON-RPC batch. The kvstore load uses the same lanes, modes and pattern, with
// each transaction replaced by a "key=value" of the planned average size.
type laneMode uint8

const (
	laneFree laneMode = iota
	laneSeq
	laneCommit
)

type benchKind uint8

const (
	kindSetup benchKind = iota
	kindRegister
	kindRotate
	kindAddMember
	kindRemoveMember
	numBenchKinds
)

var benchKindNames = [numBenchKinds]string{"setup", "register", "rotate", "add_member", "remove_member"}

// Scheduling classes.
const (
	classReg = iota
	classOrg
	classRot
	numClasses
)

// benchPattern is the mix each node's workers aim for: half
// registrations, 3/8 member changes, 1/8 key rotations.
var benchPattern = []int{classReg, classOrg, classReg, classRot, classReg, classOrg, classReg, classOrg}

// benchBatch is the most transactions of one laneSeq lane sent in one
// JSON-RPC batch (which the node checks in order).
const benchBatch = 10 // CometBFT's rpc.max_request_batch_size default

type benchTx struct {
	bz        []byte
	hash      [32]byte
	kind      benchKind
	lane      *benchLane
	submitted time.Time
}

type benchLane struct {
	node  int
	mode  laneMode
	class int
	txs   []*benchTx
	next  int
	dead  bool
}

type benchPlan struct {
	setup   []*benchLane
	lanes   []*benchLane
	avgSize float64 // planned average transaction size (pattern-weighted)
}

func (p *benchPlan) setupCount() int { return countTxs(p.setup) }
func (p *benchPlan) mainCount() int  { return countTxs(p.lanes) }

func countTxs(ls []*benchLane) int {
	n := 0
	for _, l := range ls {
		n += len(l.txs)
	}
	return n
}

// benchSigner is an in-memory client.Signer. With priv nil it signs with a
// zero signature of the right length (to size transactions).
type benchSigner struct {
	did, keyID string
	priv       ed25519.PrivateKey
}

func (s benchSigner) DID() string   { return s.did }
func (s benchSigner) KeyID() string { return s.keyID }
func (s benchSigner) Sign(msg []byte) ([]byte, error) {
	if s.priv == nil {
		return make([]byte, ed25519.SignatureSize), nil
	}
	return ed25519.Sign(s.priv, msg), nil
}

// benchKey derives a deterministic signing key and X25519 encryption key.
func benchKey(label string) (ed25519.PrivateKey, []byte) {
	seed := sha256.Sum256([]byte("medchain/bench/sign\x00" + label))
	encSeed := sha256.Sum256([]byte("medchain/bench/enc\x00" + label))
	ek, err := ecdh.X25519().NewPrivateKey(encSeed[:])
	if err != nil {
		panic(err)
	}
	return ed25519.NewKeyFromSeed(seed[:]), ek.PublicKey().Bytes()
}

// benchMsgs builds the medchain transactions of the load. With dummy set no
// key is derived and nothing is signed: the transactions only have the
// right sizes.
type benchMsgs struct {
	chainID string
	dummy   bool
}

// dummyPub is a valid public key (registration refuses all-zero and other
// small-order ones) that nobody signs with.
var dummyPub = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)

func (b benchMsgs) key(label string) (ed25519.PrivateKey, ed25519.PublicKey, []byte) {
	if b.dummy {
		return nil, dummyPub, dummyPub
	}
	priv, enc := benchKey(label)
	return priv, priv.Public().(ed25519.PublicKey), enc
}

func (b benchMsgs) build(s benchSigner, seq uint64, msg module.Msg) []byte {
	bz, err := client.BuildTx(s, b.chainID, seq, msg)
	if err != nil {
		panic(fmt.Sprintf("bench: build %s: %v", msg.TypeURL(), err))
	}
	return bz
}

// register is the registration of identity label (signed by itself).
func (b benchMsgs) register(label string) []byte {
	priv, pub, enc := b.key(label + "/1")
	did := identity.DIDFromKey(pub)
	m := &identity.MsgRegister{SigningKey: pub, EncryptionKey: enc, KEM: uint64(identity.KEMX25519)}
	return b.build(benchSigner{did: did, keyID: identity.SigningKeyID(did, 1), priv: priv}, 0, m)
}

func (b benchMsgs) did(label string) string {
	if b.dummy {
		return identity.DIDFromKey(dummyPub)
	}
	_, pub, _ := b.key(label + "/1")
	return identity.DIDFromKey(pub)
}

// rotate is the gen-th rotation of identity label (from key gen to gen+1),
// which uses sequence gen.
func (b benchMsgs) rotate(label string, gen int) []byte {
	did := b.did(label)
	priv, _, _ := b.key(label + "/" + strconv.Itoa(gen))
	bz, _ := b.rotateFrom(did, label, gen, priv)
	return bz
}

// rotateFrom is rotate with the DID and the current private key given; it
// derives only the new key, which it also returns.
func (b benchMsgs) rotateFrom(did, label string, gen int, priv ed25519.PrivateKey) ([]byte, ed25519.PrivateKey) {
	npriv, npub, nenc := b.key(label + "/" + strconv.Itoa(gen+1))
	m := &identity.MsgRotateKey{DID: did, NewSigningKey: npub, NewEncryptionKey: nenc, KEM: uint64(identity.KEMX25519)}
	m.Proof = make([]byte, ed25519.SignatureSize)
	if npriv != nil {
		m.Proof = ed25519.Sign(npriv, identity.RotationProofBytes(b.chainID, did, npub, nenc))
	}
	return b.build(benchSigner{did: did, keyID: identity.SigningKeyID(did, gen), priv: priv}, uint64(gen), m), npriv
}

// orgOp is operation j of an admin's lane over members: add m0, add m1,
// remove m0, add m2, remove m1, ... so that every removal names a member
// the lane added before and every addition one it removed (or never added).
func orgOp(j int, orgID string, members []string) (benchKind, module.Msg) {
	nonAdmin := org.Roles[1:] // Roles is sorted; "admin" is first
	if j == 0 || j%2 == 1 {
		i := (j + 1) / 2
		sum := sha256.Sum256([]byte(strconv.Itoa(j)))
		h := binary.BigEndian.Uint32(sum[:4])
		roles := []string{nonAdmin[int(h)%len(nonAdmin)]}
		if h%3 == 0 {
			roles = append(roles, nonAdmin[int(h/7)%len(nonAdmin)])
		}
		return kindAddMember, &org.MsgAddMember{Org: orgID, Member: members[i%len(members)], Roles: org.SortRoles(roles)}
	}
	return kindRemoveMember, &org.MsgRemoveMember{Org: orgID, Member: members[(j/2-1)%len(members)]}
}

// benchBudget is how many load transactions to pre-sign.
func benchBudget(o benchOptions) int {
	if o.presign > 0 {
		return o.presign
	}
	secs := (o.warmup + o.duration + 5*time.Second).Seconds()
	// Signing is slow and kvstore transactions are cheap to make.
	perSec := 7000.0
	if o.app == benchAppKVStore {
		perSec = 12000
	}
	if o.validators > 1 {
		perSec /= 2
	}
	if o.rate > 0 {
		perSec = o.rate * 1.2
	}
	return int(perSec*secs) + o.inflight
}

// buildBenchPlan pre-signs (medchain) or generates (kvstore) every
// transaction of the run, in parallel.
func buildBenchPlan(o benchOptions, tn *node.Testnet) (*benchPlan, error) {
	n := len(tn.Nodes)
	real := benchMsgs{chainID: tn.ChainID, dummy: o.app != benchAppMedchain}
	sizer := benchMsgs{chainID: tn.ChainID, dummy: true}

	// Identities registered in setup: they rotate keys and are the members
	// the admins add and remove.
	members := make([]string, o.signers)
	for i := range members {
		members[i] = real.did("id/" + strconv.Itoa(i))
	}
	admins := make([]benchSigner, n)
	for k, nd := range tn.Nodes {
		admins[k] = benchSigner{did: nd.AdminDID, keyID: identity.SigningKeyID(nd.AdminDID, 1)}
		if real.dummy {
			continue
		}
		kr, err := keyring.Open(node.KeyringDir(nd.Home), keyring.EnvOrPrompt())
		if err != nil {
			return nil, err
		}
		key, err := kr.Get(node.TestnetAdminKey)
		if err != nil {
			return nil, fmt.Errorf("%s admin key: %w", nd.Name, err)
		}
		admins[k].priv = key.SigningKey
	}

	// Planned average size, weighted like benchPattern.
	regSize := float64(len(sizer.register("size")))
	rotSize := float64(len(sizer.rotate("size", 20)))
	var orgSize float64
	for j := 1000; j < 1100; j++ {
		_, m := orgOp(j, tn.Nodes[0].OrgID, members)
		orgSize += float64(len(sizer.build(admins[0], uint64(j), m)))
	}
	orgSize /= 100
	var weights [numClasses]float64
	for _, c := range benchPattern {
		weights[c]++
	}
	plan := &benchPlan{avgSize: (weights[classReg]*regSize + weights[classOrg]*orgSize + weights[classRot]*rotSize) / float64(len(benchPattern))}
	// A kvstore transaction has the size of the medchain transaction it
	// stands for (--tx-size: a fixed size), so both loads have the same
	// sizes whatever mix the lanes deliver.
	kv := func(tag string, lane, i int, medchain func() []byte) []byte {
		size := o.txSize
		if size == 0 {
			size = len(medchain())
		}
		b := make([]byte, 0, size)
		b = fmt.Appendf(b, "%s%d.%d=", tag, lane, i)
		for len(b) < size {
			b = append(b, 'v')
		}
		return b
	}
	regBytes := func() []byte { return sizer.register("size") }

	// Lanes and jobs: each job fills a range of one lane.
	type job struct {
		lane   *benchLane
		lo, hi int
		fill   func(i int) (benchKind, []byte)
	}
	var jobs []job
	chunk := 2000
	addLane := func(l *benchLane, count int, fill func(i int) (benchKind, []byte)) {
		l.txs = make([]*benchTx, count)
		for lo := 0; lo < count; lo += chunk {
			jobs = append(jobs, job{lane: l, lo: lo, hi: min(lo+chunk, count), fill: fill})
		}
	}
	laneID := 0
	newLane := func(nodeIdx int, mode laneMode, class int) *benchLane {
		laneID++
		return &benchLane{node: nodeIdx, mode: mode, class: class}
	}

	// Setup: register the identities, round-robin over the nodes.
	for k := range n {
		l := newLane(k, laneFree, classReg)
		var idx []int
		for i := k; i < o.signers; i += n {
			idx = append(idx, i)
		}
		id := laneID
		addLane(l, len(idx), func(i int) (benchKind, []byte) {
			if real.dummy {
				return kindSetup, kv("s", id, i, regBytes)
			}
			return kindSetup, real.register("id/" + strconv.Itoa(idx[i]))
		})
		plan.setup = append(plan.setup, l)
	}

	budget := benchBudget(o)
	// Registrations of fresh identities: one free lane per node.
	regPer := int(0.6*float64(budget))/n + 1
	for k := range n {
		l := newLane(k, laneFree, classReg)
		id := laneID
		addLane(l, regPer, func(i int) (benchKind, []byte) {
			if real.dummy {
				return kindRegister, kv("r", id, i, regBytes)
			}
			return kindRegister, real.register("reg/" + strconv.Itoa(k) + "/" + strconv.Itoa(i))
		})
		plan.lanes = append(plan.lanes, l)
	}
	// Member management by each genesis admin, on its own node.
	orgPer := int(0.35*float64(budget))/n + 1
	for k := range n {
		l := newLane(k, laneSeq, classOrg)
		id := laneID
		orgID := tn.Nodes[k].OrgID
		addLane(l, orgPer, func(i int) (benchKind, []byte) {
			kind, m := orgOp(i, orgID, members)
			if real.dummy {
				return kind, kv("o", id, i, func() []byte { return sizer.build(admins[k], uint64(i), m) })
			}
			return kind, real.build(admins[k], uint64(i), m)
		})
		plan.lanes = append(plan.lanes, l)
	}
	// Key rotations: each setup identity rotates at most once every other
	// block, a few times over the run.
	maxRot := int((o.warmup+o.duration+5*time.Second)/(600*time.Millisecond)) + 2
	rotPer := min(int(0.15*float64(budget))/o.signers+1, maxRot)
	for r := range o.signers {
		l := newLane(r%n, laneCommit, classRot)
		id := laneID
		l.txs = make([]*benchTx, rotPer)
		label := "id/" + strconv.Itoa(r)
		var did string
		var cur ed25519.PrivateKey
		// One job per lane: fill runs for i = 0, 1, ... in order.
		jobs = append(jobs, job{lane: l, lo: 0, hi: rotPer, fill: func(i int) (benchKind, []byte) {
			if real.dummy {
				return kindRotate, kv("k", id, i, func() []byte { return sizer.rotate(label, i+1) })
			}
			if i == 0 {
				did = real.did(label)
				cur, _, _ = real.key(label + "/1")
			}
			var bz []byte
			bz, cur = real.rotateFrom(did, label, i+1, cur)
			return kindRotate, bz
		}})
		plan.lanes = append(plan.lanes, l)
	}

	var wg sync.WaitGroup
	jc := make(chan job)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jc {
				for i := j.lo; i < j.hi; i++ {
					kind, bz := j.fill(i)
					j.lane.txs[i] = &benchTx{bz: bz, hash: sha256.Sum256(bz), kind: kind, lane: j.lane}
				}
			}
		}()
	}
	for _, j := range jobs {
		jc <- j
	}
	close(jc)
	wg.Wait()
	return plan, nil
}
