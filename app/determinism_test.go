package app_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
)

// detSeed is the seed of the determinism stream; change it to explore.
const detSeed uint64 = 0x6d656463_6861696e

const (
	detOrgs   = 5
	detMinTxs = 1200
)

// streamGen builds a random but reproducible stream of transactions against
// a genesis of detOrgs organizations. It tracks what each signer's next
// sequence and key will be if its valid transactions are admitted, which
// they are by construction; handlers may still refuse them, which is part
// of what is being tested.
type streamGen struct {
	r         *rand.Rand
	chainID   string
	orgs      []*testutil.Org
	idents    []*testutil.Signer // registered, active, not org admins
	signers   []*testutil.Signer // everyone who can sign: admins and idents
	nIdent    int
	nKey      int
	nOrg      int
	proposals uint64 // upper bound on submitted proposal ids
}

func (g *streamGen) pick(n int) int { return g.r.IntN(n) }

func (g *streamGen) anyOrg() *testutil.Org { return g.orgs[g.pick(len(g.orgs))] }

// anyDID returns a DID that is usually a registered identity, never an
// organization's admin, so that the admins keep their role and their
// transactions mostly succeed.
func (g *streamGen) anyDID() string {
	if len(g.idents) > 0 && g.pick(10) != 0 {
		return g.idents[g.pick(len(g.idents))].DID
	}
	return testutil.NewSigner(fmt.Sprint("det/never/", g.pick(5))).DID
}

// roles returns a non-empty sorted set of roles other than admin.
func (g *streamGen) roles() []string {
	all := slices.DeleteFunc(slices.Clone(org.Roles), func(r string) bool { return r == org.RoleAdmin })
	var rs []string
	for _, r := range all {
		if g.pick(4) == 0 {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		rs = []string{all[g.pick(len(all))]}
	}
	return rs
}

// next returns one transaction.
func (g *streamGen) next() []byte {
	switch k := g.pick(100); {
	case k < 10: // registration of a new identity
		g.nIdent++
		s := testutil.NewSigner(fmt.Sprint("det/ident/", g.nIdent))
		bz := s.Sign(g.chainID, s.Register())
		g.idents = append(g.idents, s)
		g.signers = append(g.signers, s)
		return bz
	case k < 16: // key rotation by anyone
		s := g.signers[g.pick(len(g.signers))]
		g.nKey++
		nk := testutil.NewKey(fmt.Sprint("det/key/", g.nKey))
		bz := s.Sign(g.chainID, s.RotateMsg(g.chainID, nk))
		s.UseKey(nk)
		return bz
	case k < 40: // add or update a member
		o := g.anyOrg()
		return o.Admin.Sign(g.chainID, &org.MsgAddMember{Org: o.ID, Member: g.anyDID(), Roles: g.roles()})
	case k < 52: // remove a member
		o := g.anyOrg()
		return o.Admin.Sign(g.chainID, &org.MsgRemoveMember{Org: o.ID, Member: g.anyDID()})
	case k < 62: // a proposal
		o := g.anyOrg()
		m := &org.MsgSubmitProposal{ProposerOrg: o.ID}
		switch g.pick(6) {
		case 0, 1, 2:
			g.nOrg++
			m.Kind, m.Org, m.Name, m.OrgType, m.Admin = org.KindAdmitOrg, fmt.Sprintf("det-org-%d", g.nOrg), "Org", "clinic", g.anyDID()
			if g.pick(2) == 0 {
				m.ValidatorKey, m.Power = testutil.NewKey(fmt.Sprint("det/val/", g.nOrg)).Pub(), uint64(1+g.pick(12))
			}
		case 3, 4:
			t := g.anyOrg()
			m.Kind, m.Org, m.ValidatorKey, m.Power = org.KindSetValidator, t.ID, t.ValKey.Pub(), uint64(g.pick(16))
		default:
			m.Kind, m.Org = org.KindRemoveOrg, g.anyOrg().ID
		}
		g.proposals++
		return o.Admin.Sign(g.chainID, m)
	case k < 84: // a vote
		o := g.anyOrg()
		return o.Admin.Sign(g.chainID, &org.MsgVote{ProposalID: 1 + uint64(g.pick(int(g.proposals)+1)), Org: o.ID, Approve: g.pick(5) != 0})
	case k < 86: // deactivation of an ordinary identity
		if len(g.idents) == 0 {
			return []byte{0x00}
		}
		i := g.pick(len(g.idents))
		s := g.idents[i]
		g.idents = slices.Delete(g.idents, i, i+1)
		g.signers = slices.DeleteFunc(g.signers, func(x *testutil.Signer) bool { return x == s })
		return s.Sign(g.chainID, &identity.MsgDeactivate{DID: s.DID})
	default: // invalid transactions
		s := g.signers[g.pick(len(g.signers))]
		msg := &identity.MsgDeactivate{DID: s.DID}
		body := s.Body(g.chainID, msg)
		switch g.pick(5) {
		case 0: // reused sequence
			if body.Sequence == 0 {
				body.Sequence = 1 << 40
			} else {
				body.Sequence -= 1 + uint64(g.pick(int(body.Sequence)))
			}
			return s.SignTx(body).MarshalWire()
		case 1: // future sequence
			body.Sequence += 1 + uint64(g.pick(3))
			return s.SignTx(body).MarshalWire()
		case 2: // bad signature
			t := s.SignTx(body)
			t.Signature[g.pick(len(t.Signature))] ^= 1 << g.pick(8)
			return t.MarshalWire()
		case 3: // wrong chain
			body.ChainID += "-fork"
			return s.SignTx(body).MarshalWire()
		default: // garbage
			b := make([]byte, 1+g.pick(64))
			for i := range b {
				b[i] = byte(g.r.Uint32())
			}
			return b
		}
	}
}

// stream returns blocks of varying size with at least detMinTxs txs.
func detStream(seed uint64, orgs []*testutil.Org) [][][]byte {
	g := &streamGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), chainID: testutil.ChainID, orgs: orgs}
	for _, o := range orgs {
		g.signers = append(g.signers, o.Admin)
	}
	var blocks [][][]byte
	for n := 0; n < detMinTxs; {
		size := g.pick(25)
		switch g.pick(10) {
		case 0:
			size = 0
		case 1:
			size = 40 + g.pick(60)
		}
		blk := make([][]byte, size)
		for i := range blk {
			blk[i] = g.next()
		}
		blocks = append(blocks, blk)
		n += size
	}
	return blocks
}

// blockRecord is what must be identical on every node.
type blockRecord struct {
	appHash []byte
	results []*abci.ExecTxResult
	valUps  []abci.ValidatorUpdate
}

func runStream(t *testing.T, blocks [][][]byte) []blockRecord {
	t.Helper()
	h := testutil.New(t, testutil.Config{Orgs: detOrgs, Seed: "det"})
	out := []blockRecord{{appHash: h.AppHashes[0]}}
	for _, blk := range blocks {
		res := h.Block(blk...)
		out = append(out, blockRecord{appHash: h.Last.AppHash, results: res, valUps: h.Last.ValidatorUpdates})
	}
	return out
}

// TestDeterminism applies one seeded stream of mixed, partly invalid
// transactions to two fresh applications, the second with GOMAXPROCS(1),
// and requires identical app hashes, results and validator updates at every
// height.
func TestDeterminism(t *testing.T) {
	start := time.Now()
	t.Logf("seed %#x", detSeed)
	_, orgs := testutil.Genesis(testutil.Config{Orgs: detOrgs, Seed: "det"})
	blocks := detStream(detSeed, orgs)
	total := 0
	for _, b := range blocks {
		total += len(b)
	}
	t.Logf("%d transactions in %d blocks", total, len(blocks))

	a := runStream(t, blocks)
	prev := runtime.GOMAXPROCS(1)
	b := func() []blockRecord {
		defer runtime.GOMAXPROCS(prev)
		return runStream(t, blocks)
	}()
	if got := runtime.GOMAXPROCS(0); got != prev {
		t.Fatalf("GOMAXPROCS after the run: got %d, want %d restored", got, prev)
	}

	if len(a) != len(b) {
		t.Fatalf("heights: got %d and %d, want equal", len(a), len(b))
	}
	codes := map[string]int{}
	decided := map[string]int{}
	for h := range a {
		if !bytes.Equal(a[h].appHash, b[h].appHash) {
			t.Fatalf("height %d: app hash %X vs %X, want identical", h, a[h].appHash, b[h].appHash)
		}
		if h > 0 && bytes.Equal(a[h].appHash, a[h-1].appHash) && len(blocks[h-1]) > 0 && anyOK(a[h].results) {
			t.Fatalf("height %d: app hash unchanged after successful transactions", h)
		}
		for i := range a[h].results {
			ra, rb := a[h].results[i], b[h].results[i]
			if ra.Code != rb.Code || ra.Codespace != rb.Codespace || ra.Log != rb.Log || !reflect.DeepEqual(ra.Events, rb.Events) {
				t.Fatalf("height %d tx %d: results %s/%d %q vs %s/%d %q, want identical", h, i, ra.Codespace, ra.Code, ra.Log, rb.Codespace, rb.Code, rb.Log)
			}
			codes[fmt.Sprintf("%s/%d", ra.Codespace, ra.Code)]++
			for _, ev := range ra.Events {
				if ev.Type == "org.proposal_decided" {
					decided[attr(&ev, "status")]++
				}
			}
		}
		if !reflect.DeepEqual(a[h].valUps, b[h].valUps) {
			t.Fatalf("height %d: validator updates %v vs %v, want identical", h, a[h].valUps, b[h].valUps)
		}
	}
	t.Logf("result codes: %v; decided proposals: %v; took %v", codes, decided, time.Since(start))

	// The stream must exercise the state machine, not just admission.
	if ok := codes["/0"]; ok*2 < total {
		t.Errorf("successful txs: got %d of %d, want at least half", ok, total)
	}
	if len(codes) < 10 {
		t.Errorf("distinct result codes: got %d (%v), want at least 10", len(codes), codes)
	}
	if decided[org.ProposalPassed] == 0 || decided[org.ProposalRejected] == 0 {
		t.Errorf("decided proposals: got %v, want some passed and some rejected", decided)
	}
}

func anyOK(rs []*abci.ExecTxResult) bool {
	return slices.ContainsFunc(rs, func(r *abci.ExecTxResult) bool { return r.Code == 0 })
}
