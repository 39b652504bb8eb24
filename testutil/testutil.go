// Package testutil builds medchain applications in memory for tests.
//
// New returns a Harness: a fresh app.App on a cosmos-db MemDB, initialised
// through InitChain from a genesis with N founding organizations, each with
// one admin identity and one validator, all from deterministic keys. Its
// Block method drives one block (FinalizeBlock, then Commit) and records
// the app hash of every height.
//
// A Signer is one identity's keys, DID, current key id and next sequence;
// Sign produces the canonical signed bytes of a transaction and advances the
// local sequence. Keys derive from a seed string, so the same seed gives the
// same identity in every run.
package testutil

import (
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	dbm "github.com/cosmos/cosmos-db"

	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/tx"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
)

// ChainID is the chain id of every Harness.
const ChainID = "medchain-test-1"

// GenesisTime is the genesis time; block h has time GenesisTime + h seconds.
var GenesisTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Key is a deterministic key set: an Ed25519 signing key and the public half
// of an HPKE MLKEM768-X25519 encryption key.
type Key struct {
	Signing ed25519.PrivateKey
	EncPub  []byte
}

// NewKey derives a Key from seed.
func NewKey(seed string) Key {
	s := sha256.Sum256([]byte("testutil/sign\x00" + seed))
	ikm := sha256.Sum256([]byte("testutil/enc\x00" + seed))
	ek, err := hpke.MLKEM768X25519().DeriveKeyPair(ikm[:])
	if err != nil {
		panic(fmt.Sprintf("testutil: derive encryption key: %v", err))
	}
	return Key{Signing: ed25519.NewKeyFromSeed(s[:]), EncPub: ek.PublicKey().Bytes()}
}

// Pub returns the Ed25519 public key.
func (k Key) Pub() ed25519.PublicKey { return k.Signing.Public().(ed25519.PublicKey) }

// Signer is an identity as its owner sees it: the current key, the DID, the
// current signing key id and the next sequence to use.
type Signer struct {
	Key   Key
	DID   string
	KeyID string
	Gen   int    // generation of the current key, 1 before any rotation
	Seq   uint64 // next sequence; Sign advances it
}

// NewSigner returns the (not yet registered) identity of NewKey(seed).
func NewSigner(seed string) *Signer {
	k := NewKey(seed)
	did := identity.DIDFromKey(k.Pub())
	return &Signer{Key: k, DID: did, KeyID: identity.SigningKeyID(did, 1), Gen: 1}
}

// Anys wraps messages for a transaction body.
func Anys(msgs ...module.Msg) []tx.Any {
	out := make([]tx.Any, len(msgs))
	for i, m := range msgs {
		out[i] = tx.Any{TypeURL: m.TypeURL(), Value: m.MarshalWire()}
	}
	return out
}

// Body returns the body of a transaction of msgs at the current sequence,
// without advancing it.
func (s *Signer) Body(chainID string, msgs ...module.Msg) tx.Body {
	return tx.Body{ChainID: chainID, Signer: s.KeyID, Sequence: s.Seq, Msgs: Anys(msgs...)}
}

// SignTx signs body with the current key.
func (s *Signer) SignTx(body tx.Body) tx.Tx {
	return tx.Tx{Body: body, Signature: ed25519.Sign(s.Key.Signing, body.SignBytes())}
}

// Sign returns the canonical signed bytes of a transaction of msgs at the
// current sequence and advances the sequence.
func (s *Signer) Sign(chainID string, msgs ...module.Msg) []byte {
	bz := s.SignTx(s.Body(chainID, msgs...)).MarshalWire()
	s.Seq++
	return bz
}

// Register returns the MsgRegister of the signer's first key.
func (s *Signer) Register() *identity.MsgRegister {
	return &identity.MsgRegister{SigningKey: s.Key.Pub(), EncryptionKey: s.Key.EncPub, KEM: uint64(identity.KEMMLKEM768X25519)}
}

// RotateMsg returns a MsgRotateKey to next, with next's proof of possession.
// Call UseKey(next) once it has executed.
func (s *Signer) RotateMsg(chainID string, next Key) *identity.MsgRotateKey {
	proof := ed25519.Sign(next.Signing, identity.RotationProofBytes(chainID, s.DID, next.Pub(), next.EncPub))
	return &identity.MsgRotateKey{DID: s.DID, NewSigningKey: next.Pub(), NewEncryptionKey: next.EncPub,
		KEM: uint64(identity.KEMMLKEM768X25519), Proof: proof}
}

// UseKey switches the signer to its next key generation after a rotation.
func (s *Signer) UseKey(next Key) {
	s.Key = next
	s.Gen++
	s.KeyID = identity.SigningKeyID(s.DID, s.Gen)
}

// Org is a founding organization of a Harness genesis.
type Org struct {
	ID     string
	Admin  *Signer
	ValKey Key // its validator's key
	Power  int64
}

// Config configures a genesis. The zero Config is one organization with
// validator power 10 and default app params.
type Config struct {
	Orgs   int    // founding organizations (default 1), ids org-01, org-02, ...
	Power  int64  // validator power of each (default 10)
	Seed   string // key seed prefix (default "testutil")
	Params app.Params
	// Identities are registered in genesis besides the admins.
	Identities []*Signer
	// OrgTypes[i] is the type of organization i+1 (default "hospital").
	OrgTypes []string
	// Modules are further genesis sections by module name (e.g. "records").
	Modules map[string]json.RawMessage
	// OrgGenesis, if set, adjusts the org section before it is encoded
	// (e.g. to give organizations GS1 company prefixes and GLNs).
	OrgGenesis func(*org.Genesis)
}

// Genesis returns the app_state JSON of cfg and its organizations.
func Genesis(cfg Config) ([]byte, []*Org) {
	if cfg.Orgs == 0 {
		cfg.Orgs = 1
	}
	if cfg.Power == 0 {
		cfg.Power = 10
	}
	if cfg.Seed == "" {
		cfg.Seed = "testutil"
	}
	var ids identity.Genesis
	var og org.Genesis
	var orgs []*Org
	for i := 1; i <= cfg.Orgs; i++ {
		o := &Org{
			ID:     fmt.Sprintf("org-%02d", i),
			Admin:  NewSigner(fmt.Sprintf("%s/admin/%d", cfg.Seed, i)),
			ValKey: NewKey(fmt.Sprintf("%s/validator/%d", cfg.Seed, i)),
			Power:  cfg.Power,
		}
		orgs = append(orgs, o)
		ids.Identities = append(ids.Identities, genesisIdentity(o.Admin))
		typ := "hospital"
		if i <= len(cfg.OrgTypes) && cfg.OrgTypes[i-1] != "" {
			typ = cfg.OrgTypes[i-1]
		}
		og.Orgs = append(og.Orgs, org.GenesisOrg{ID: o.ID, Name: "Organization " + o.ID, Type: typ,
			Admins: []string{o.Admin.DID}, Validators: []org.Validator{{PubKey: o.ValKey.Pub(), Power: o.Power}}})
	}
	for _, s := range cfg.Identities {
		ids.Identities = append(ids.Identities, genesisIdentity(s))
	}
	if cfg.OrgGenesis != nil {
		cfg.OrgGenesis(&og)
	}
	gs := app.GenesisState{Params: cfg.Params, Modules: map[string]json.RawMessage{
		identity.StoreName: mustJSON(ids),
		org.StoreName:      mustJSON(og),
	}}
	for name, raw := range cfg.Modules {
		gs.Modules[name] = raw
	}
	return mustJSON(gs), orgs
}

func genesisIdentity(s *Signer) identity.GenesisIdentity {
	return identity.GenesisIdentity{SigningKey: s.Key.Pub(), EncryptionKey: s.Key.EncPub, KEM: identity.KEMMLKEM768X25519}
}

func mustJSON(v any) []byte {
	bz, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return bz
}

// Harness is an App with a block driver.
type Harness struct {
	T       testing.TB
	App     *app.App
	ChainID string
	Orgs    []*Org
	// Height is the last committed height (0 before the first block).
	Height int64
	// AppHashes[h] is the app hash after block h; AppHashes[0] is InitChain's.
	AppHashes [][]byte
	// InitChain is InitChain's response; Last is the last FinalizeBlock response.
	InitChain *abci.ResponseInitChain
	Last      *abci.ResponseFinalizeBlock
}

// NewApp returns a fresh App on an in-memory database.
func NewApp(t testing.TB) *app.App {
	t.Helper()
	a, err := app.New(dbm.NewMemDB(), app.Options{})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	return a
}

// New returns a Harness whose App has run InitChain with Genesis(cfg).
func New(t testing.TB, cfg Config) *Harness {
	t.Helper()
	state, orgs := Genesis(cfg)
	h := &Harness{T: t, App: NewApp(t), ChainID: ChainID, Orgs: orgs}
	resp, err := h.App.InitChain(context.Background(), &abci.RequestInitChain{
		Time: GenesisTime, ChainId: ChainID, AppStateBytes: state, InitialHeight: 1,
	})
	if err != nil {
		t.Fatalf("InitChain: %v", err)
	}
	h.InitChain = resp
	h.AppHashes = [][]byte{resp.AppHash}
	return h
}

// BlockTime is the time of block height.
func BlockTime(height int64) time.Time { return GenesisTime.Add(time.Duration(height) * time.Second) }

// Block finalizes and commits the next block with txs and returns the
// results. It fails the test if the app errors or if the committed app hash
// differs from the one FinalizeBlock returned.
func (h *Harness) Block(txs ...[]byte) []*abci.ExecTxResult {
	h.T.Helper()
	height := h.Height + 1
	resp, err := h.App.FinalizeBlock(context.Background(), &abci.RequestFinalizeBlock{
		Txs: txs, Height: height, Time: BlockTime(height),
	})
	if err != nil {
		h.T.Fatalf("FinalizeBlock(%d): %v", height, err)
	}
	if len(resp.TxResults) != len(txs) {
		h.T.Fatalf("FinalizeBlock(%d): got %d results, want %d", height, len(resp.TxResults), len(txs))
	}
	if _, err := h.App.Commit(context.Background(), &abci.RequestCommit{}); err != nil {
		h.T.Fatalf("Commit(%d): %v", height, err)
	}
	last := h.App.Store().LastCommit()
	if last.Version != height || string(last.Hash) != string(resp.AppHash) {
		h.T.Fatalf("after Commit(%d): LastCommit is (%d, %X), want (%d, %X)", height, last.Version, last.Hash, height, resp.AppHash)
	}
	h.Height, h.Last = height, resp
	h.AppHashes = append(h.AppHashes, resp.AppHash)
	return resp.TxResults
}

// MustBlock is Block that also fails the test unless every tx succeeded.
func (h *Harness) MustBlock(txs ...[]byte) []*abci.ExecTxResult {
	h.T.Helper()
	res := h.Block(txs...)
	for i, r := range res {
		if r.Code != abci.CodeTypeOK {
			h.T.Fatalf("block %d tx %d: got code %s/%d (%s), want 0", h.Height, i, r.Codespace, r.Code, r.Log)
		}
	}
	return res
}

// CheckTx runs CheckTx on bz.
func (h *Harness) CheckTx(bz []byte) *abci.ResponseCheckTx {
	h.T.Helper()
	resp, err := h.App.CheckTx(context.Background(), &abci.RequestCheckTx{Tx: bz, Type: abci.CheckTxType_New})
	if err != nil {
		h.T.Fatalf("CheckTx: %v", err)
	}
	return resp
}

// Get returns the value at key in the named store at the last committed height.
func (h *Harness) Get(storeName string, key []byte) []byte {
	h.T.Helper()
	r, _, err := h.App.Store().Reader(storeName, 0)
	if err != nil {
		h.T.Fatalf("Reader(%s): %v", storeName, err)
	}
	return r.Get(key)
}

// Sequence returns did's next sequence in committed state.
func (h *Harness) Sequence(did string) uint64 {
	h.T.Helper()
	r, v, err := h.App.Store().Reader(app.AuthStore, 0)
	if err != nil {
		h.T.Fatalf("Reader(auth): %v", err)
	}
	ids, _, err := h.App.Store().Reader(identity.StoreName, v)
	if err != nil {
		h.T.Fatalf("Reader(identity): %v", err)
	}
	return app.NextSequence(r, ids, did)
}

// Proposal returns governance proposal id from committed state.
func (h *Harness) Proposal(id uint64) *org.Proposal {
	h.T.Helper()
	r, _, err := h.App.Store().Reader(org.StoreName, 0)
	if err != nil {
		h.T.Fatalf("Reader(org): %v", err)
	}
	p, err := h.App.Org.Keeper.Proposal(r, id)
	if err != nil {
		h.T.Fatalf("proposal %d: %v", id, err)
	}
	return p
}

// Register registers s in a block of its own and fails the test if it is
// refused.
func (h *Harness) Register(signers ...*Signer) {
	h.T.Helper()
	txs := make([][]byte, len(signers))
	for i, s := range signers {
		txs[i] = s.Sign(h.ChainID, s.Register())
	}
	h.MustBlock(txs...)
}
