package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/tx"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
)

// smallParams keeps the oversized and too-many-messages cases cheap.
var smallParams = app.Params{MaxTxBytes: 4096, MaxMsgs: 8}

func newHarness(t *testing.T, orgs int) *testutil.Harness {
	t.Helper()
	return testutil.New(t, testutil.Config{Orgs: orgs, Params: smallParams})
}

// addAuditor is a message org's admin may send successfully.
func addAuditor(o *testutil.Org, member string) *org.MsgAddMember {
	return &org.MsgAddMember{Org: o.ID, Member: member, Roles: []string{org.RoleAuditor}}
}

// sign signs body with s's current key without touching s.Seq.
func sign(s *testutil.Signer, body tx.Body) []byte { return s.SignTx(body).MarshalWire() }

func field(num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), v)
}

func varint(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

// encodeBody writes a body field by field in the given order, writing the
// sequence even when it is zero if explicitZero is set.
func encodeBody(b tx.Body, order []int, explicitZero bool) []byte {
	var out []byte
	for _, f := range order {
		switch f {
		case 1:
			out = append(out, field(1, []byte(b.ChainID))...)
		case 2:
			out = append(out, field(2, []byte(b.Signer))...)
		case 3:
			if b.Sequence != 0 || explicitZero {
				out = append(out, varint(3, b.Sequence)...)
			}
		case 4:
			for _, m := range b.Msgs {
				out = append(out, field(4, m.MarshalWire())...)
			}
		}
	}
	return out
}

// signedRaw encodes a transaction whose body is written as bodyBytes but
// whose signature is over the canonical body, so that only the encoding is
// wrong.
func signedRaw(s *testutil.Signer, b tx.Body, bodyBytes []byte) []byte {
	sig := s.SignTx(b).Signature
	return append(field(1, bodyBytes), field(2, sig)...)
}

type admissionCase struct {
	name string
	want *module.Error
	// setup runs blocks as needed and returns the rejected bytes and the
	// signer whose next valid transaction must still be admitted at its
	// expected sequence (nil: the signer cannot send one).
	setup func(t *testing.T, h *testutil.Harness) (bad []byte, next *testutil.Signer)
}

func admissionCases() []admissionCase {
	admin := func(h *testutil.Harness) *testutil.Signer { return h.Orgs[0].Admin }
	validBody := func(h *testutil.Harness) tx.Body {
		return admin(h).Body(h.ChainID, addAuditor(h.Orgs[0], h.Orgs[1].Admin.DID))
	}
	return []admissionCase{
		{"undecodable bytes", app.ErrDecode, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			return []byte{0xff, 0x01, 0x02}, admin(h)
		}},
		{"non-canonical: body fields reordered", app.ErrNonCanonical, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			b := validBody(h)
			return signedRaw(admin(h), b, encodeBody(b, []int{2, 1, 3, 4}, false)), admin(h)
		}},
		{"non-canonical: explicit zero sequence", app.ErrNonCanonical, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			b := validBody(h)
			if b.Sequence != 0 {
				t.Fatalf("sequence: got %d, want 0", b.Sequence)
			}
			return signedRaw(admin(h), b, encodeBody(b, []int{1, 2, 3, 4}, true)), admin(h)
		}},
		{"non-canonical: message fields reordered", app.ErrNonCanonical, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			m := addAuditor(h.Orgs[0], h.Orgs[1].Admin.DID)
			value := append(append(field(2, []byte(m.Member)), field(1, []byte(m.Org))...), field(3, []byte(m.Roles[0]))...)
			b := admin(h).Body(h.ChainID)
			b.Msgs = []tx.Any{{TypeURL: m.TypeURL(), Value: value}}
			return sign(admin(h), b), admin(h)
		}},
		{"oversized", app.ErrTooLarge, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			// Valid in every other respect: MaxMsgs key rotations, each with a
			// 1216-byte MLKEM768-X25519 key, are well over MaxTxBytes.
			var msgs []module.Msg
			for i := range smallParams.MaxMsgs {
				msgs = append(msgs, admin(h).RotateMsg(h.ChainID, testutil.NewKey(fmt.Sprint("big/", i))))
			}
			bz := sign(admin(h), admin(h).Body(h.ChainID, msgs...))
			if len(bz) <= smallParams.MaxTxBytes {
				t.Fatalf("oversized tx: got %d bytes, want more than %d", len(bz), smallParams.MaxTxBytes)
			}
			return bz, admin(h)
		}},
		{"wrong chain id", app.ErrWrongChain, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			b := validBody(h)
			b.ChainID = "medchain-other"
			return sign(admin(h), b), admin(h)
		}},
		{"bad signature", app.ErrBadSignature, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			t2 := admin(h).SignTx(validBody(h))
			t2.Signature[5] ^= 0x01
			return t2.MarshalWire(), admin(h)
		}},
		{"signature by another key", app.ErrBadSignature, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			return h.Orgs[1].Admin.SignTx(validBody(h)).MarshalWire(), admin(h)
		}},
		{"unknown signer", app.ErrUnknownSigner, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			s := testutil.NewSigner("unknown")
			return sign(s, s.Body(h.ChainID, addAuditor(h.Orgs[0], s.DID))), s
		}},
		{"unknown signer registering another key", app.ErrUnknownSigner, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			s, other := testutil.NewSigner("unknown"), testutil.NewSigner("other")
			return sign(s, s.Body(h.ChainID, other.Register())), s
		}},
		{"malformed signer key id", app.ErrUnknownSigner, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			b := validBody(h)
			b.Signer = admin(h).DID // no #key-n
			return sign(admin(h), b), admin(h)
		}},
		{"deactivated signer", app.ErrSignerInactive, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			s := testutil.NewSigner("leaver")
			h.Register(s)
			h.MustBlock(s.Sign(h.ChainID, &identity.MsgDeactivate{DID: s.DID}))
			return sign(s, s.Body(h.ChainID, &identity.MsgDeactivate{DID: s.DID})), nil
		}},
		{"reused sequence", app.ErrSequenceReused, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			a := admin(h)
			h.MustBlock(a.Sign(h.ChainID, addAuditor(h.Orgs[0], h.Orgs[1].Admin.DID)))
			b := a.Body(h.ChainID, addAuditor(h.Orgs[0], h.Orgs[1].Admin.DID))
			b.Sequence = 0
			return sign(a, b), a
		}},
		{"future sequence", app.ErrSequenceFuture, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			b := validBody(h)
			b.Sequence = 5
			return sign(admin(h), b), admin(h)
		}},
		{"unknown message type", app.ErrUnknownMsg, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			b := validBody(h)
			b.Msgs = append(b.Msgs, tx.Any{TypeURL: "/medchain.nope.v1.MsgNope", Value: []byte{0x08, 0x01}})
			return sign(admin(h), b), admin(h)
		}},
		{"message fails ValidateBasic", app.ErrInvalidMsg, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			m := addAuditor(h.Orgs[0], h.Orgs[1].Admin.DID)
			m.Roles = []string{"surgeon-general"}
			return sign(admin(h), admin(h).Body(h.ChainID, m)), admin(h)
		}},
		{"no messages", app.ErrNoMsgs, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			return sign(admin(h), admin(h).Body(h.ChainID)), admin(h)
		}},
		{"too many messages", app.ErrTooManyMsgs, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			var msgs []module.Msg
			for range smallParams.MaxMsgs + 1 {
				msgs = append(msgs, &identity.MsgDeactivate{DID: admin(h).DID})
			}
			return sign(admin(h), admin(h).Body(h.ChainID, msgs...)), admin(h)
		}},
		{"rotated-away key", app.ErrSignerKeyRotated, func(t *testing.T, h *testutil.Harness) ([]byte, *testutil.Signer) {
			s := testutil.NewSigner("rotator")
			h.Register(s)
			next := testutil.NewKey("rotator/2")
			h.MustBlock(s.Sign(h.ChainID, s.RotateMsg(h.ChainID, next)))
			old := *s
			s.UseKey(next)
			return sign(&old, old.Body(h.ChainID, &identity.MsgDeactivate{DID: s.DID})), s
		}},
	}
}

// followUp is a valid transaction body from s at its current sequence.
func followUp(h *testutil.Harness, s *testutil.Signer) []byte {
	if h.Sequence(s.DID) == 0 && !registered(h, s.DID) {
		return s.Sign(h.ChainID, s.Register())
	}
	if s == h.Orgs[0].Admin {
		return s.Sign(h.ChainID, addAuditor(h.Orgs[0], h.Orgs[1].Admin.DID))
	}
	return s.Sign(h.ChainID, &identity.MsgDeactivate{DID: s.DID})
}

func registered(h *testutil.Harness, did string) bool {
	return h.Get(identity.StoreName, identity.RecordKey(did)) != nil
}

// TestAdmissionRejections checks that every admission failure gets its own
// code in CheckTx and in FinalizeBlock, changes nothing, and leaves the
// signer's next sequence where it was.
func TestAdmissionRejections(t *testing.T) {
	seen := map[string]uint32{}
	for _, tc := range admissionCases() {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 2)
			h.Block() // state is committed, so CheckTx reads committed versions
			bad, next := tc.setup(t, h)

			before, lastBefore := h.App.Store().WorkingHash(), h.App.Store().LastCommit()
			var seqBefore uint64
			if next != nil {
				seqBefore = h.Sequence(next.DID)
				if next.Seq != seqBefore {
					t.Fatalf("test signer %s: local sequence %d, chain says %d", next.DID, next.Seq, seqBefore)
				}
			}

			res := h.CheckTx(bad)
			if res.Codespace != app.Codespace || res.Code != tc.want.Code {
				t.Fatalf("CheckTx: got %s/%d (%s), want %s/%d (%s)", res.Codespace, res.Code, res.Log, app.Codespace, tc.want.Code, tc.want.Desc)
			}
			if res.Log == "" {
				t.Errorf("CheckTx: got an empty log, want the reason")
			}
			if got := h.App.Store().WorkingHash(); !bytes.Equal(got, before) {
				t.Fatalf("CheckTx changed the working hash: got %X, want %X", got, before)
			}
			if got := h.App.Store().LastCommit(); got.Version != lastBefore.Version || !bytes.Equal(got.Hash, lastBefore.Hash) {
				t.Fatalf("CheckTx changed LastCommit: got %+v, want %+v", got, lastBefore)
			}

			// The same in a block: same code, app hash unchanged.
			results := h.Block(bad)
			if r := results[0]; r.Codespace != app.Codespace || r.Code != tc.want.Code {
				t.Fatalf("FinalizeBlock: got %s/%d (%s), want %s/%d", r.Codespace, r.Code, r.Log, app.Codespace, tc.want.Code)
			}
			if got := h.AppHashes[h.Height]; !bytes.Equal(got, lastBefore.Hash) {
				t.Fatalf("block with a rejected tx: app hash got %X, want unchanged %X", got, lastBefore.Hash)
			}
			if next == nil {
				return
			}
			if got := h.Sequence(next.DID); got != seqBefore {
				t.Fatalf("sequence after rejection: got %d, want %d", got, seqBefore)
			}

			// The signer's next valid transaction uses the expected sequence.
			good := followUp(h, next)
			if r := h.CheckTx(good); r.Code != abci.CodeTypeOK {
				t.Fatalf("CheckTx(follow-up at sequence %d): got %s/%d (%s), want 0", seqBefore, r.Codespace, r.Code, r.Log)
			}
			h.MustBlock(good)
			if got := h.Sequence(next.DID); got != seqBefore+1 {
				t.Fatalf("sequence after follow-up: got %d, want %d", got, seqBefore+1)
			}
		})
		if prev, dup := seen[tc.name]; dup {
			t.Fatalf("duplicate case %q (code %d)", tc.name, prev)
		}
		seen[tc.name] = tc.want.Code
	}
}

// TestAdmissionCodesDistinct checks that the cases above exercise every
// admission code except ErrInternal, each one its own.
func TestAdmissionCodesDistinct(t *testing.T) {
	covered := map[uint32]bool{}
	for _, tc := range admissionCases() {
		covered[tc.want.Code] = true
	}
	for _, e := range app.AdmissionErrors() {
		if e == app.ErrInternal {
			continue
		}
		if !covered[e.Code] {
			t.Errorf("admission error %d (%s): got no test case, want one", e.Code, e.Desc)
		}
	}
}

// TestCheckTxTracksMempoolSequence checks that CheckTx expects the next
// sequence after the transactions it already admitted, and forgets them at
// Commit.
func TestCheckTxTracksMempoolSequence(t *testing.T) {
	h := newHarness(t, 2)
	h.Block()
	a := h.Orgs[0].Admin
	tx0 := a.Sign(h.ChainID, addAuditor(h.Orgs[0], h.Orgs[1].Admin.DID))
	tx1 := a.Sign(h.ChainID, addAuditor(h.Orgs[0], h.Orgs[1].Admin.DID))
	for i, bz := range [][]byte{tx0, tx1} {
		if r := h.CheckTx(bz); r.Code != 0 {
			t.Fatalf("CheckTx(tx%d): got %d (%s), want 0", i, r.Code, r.Log)
		}
	}
	if r := h.CheckTx(tx0); r.Code != app.ErrSequenceReused.Code {
		t.Fatalf("CheckTx(tx0 again): got %d, want %d", r.Code, app.ErrSequenceReused.Code)
	}
	h.MustBlock(tx0)
	// After Commit the mempool view restarts from committed state: tx1 is next.
	if r := h.CheckTx(tx1); r.Code != 0 {
		t.Fatalf("CheckTx(tx1 after commit): got %d (%s), want 0", r.Code, r.Log)
	}
}

// TestFailedTxRevertsButAdvancesSequence checks transaction atomicity: the
// first message's writes are discarded when the second fails, but the
// sequence is used up.
func TestFailedTxRevertsButAdvancesSequence(t *testing.T) {
	h := newHarness(t, 2)
	a, other := h.Orgs[0].Admin, h.Orgs[1].Admin
	first := addAuditor(h.Orgs[0], other.DID)
	second := addAuditor(h.Orgs[1], a.DID) // a is not an admin of org-02
	res := h.Block(a.Sign(h.ChainID, first, second))[0]
	if res.Codespace != org.StoreName || res.Code != org.ErrNotAdmin.Code {
		t.Fatalf("two-message tx: got %s/%d (%s), want %s/%d", res.Codespace, res.Code, res.Log, org.StoreName, org.ErrNotAdmin.Code)
	}
	if v := h.Get(org.StoreName, org.MemberKey(h.Orgs[0].ID, other.DID)); v != nil {
		t.Fatalf("first message's membership: got %s, want absent", v)
	}
	if got := h.Sequence(a.DID); got != 1 {
		t.Fatalf("sequence after failed tx: got %d, want 1", got)
	}
	for _, ev := range res.Events {
		if ev.Type != "tx" {
			t.Fatalf("failed tx events: got %q, want only the tx event", ev.Type)
		}
	}
	// A replay of the failed transaction is refused.
	replay := a.SignTx(tx.Body{ChainID: h.ChainID, Signer: a.KeyID, Sequence: 0, Msgs: testutil.Anys(first)}).MarshalWire()
	if r := h.Block(replay)[0]; r.Code != app.ErrSequenceReused.Code {
		t.Fatalf("replay: got %d, want %d", r.Code, app.ErrSequenceReused.Code)
	}

	// The first message alone succeeds, with events.
	res = h.Block(a.Sign(h.ChainID, first))[0]
	if res.Code != abci.CodeTypeOK {
		t.Fatalf("single message: got %s/%d (%s), want 0", res.Codespace, res.Code, res.Log)
	}
	bz := h.Get(org.StoreName, org.MemberKey(h.Orgs[0].ID, other.DID))
	var m org.Member
	if err := json.Unmarshal(bz, &m); err != nil || len(m.Roles) != 1 || m.Roles[0] != org.RoleAuditor {
		t.Fatalf("membership: got %s (%v), want roles [auditor]", bz, err)
	}
	want := map[string]map[string]string{
		"tx":             {"signer": a.DID, "sequence": "1", "msgs": org.TypeAddMember},
		"org.member_set": {"org": h.Orgs[0].ID, "member": other.DID},
	}
	for typ, attrs := range want {
		ev := findEvent(res.Events, typ)
		if ev == nil {
			t.Fatalf("events: got %v, want one of type %q", res.Events, typ)
		}
		for k, v := range attrs {
			if got := attr(ev, k); got != v {
				t.Errorf("event %s attribute %s: got %q, want %q", typ, k, got, v)
			}
		}
	}
}

func findEvent(evs []abci.Event, typ string) *abci.Event {
	for i := range evs {
		if evs[i].Type == typ {
			return &evs[i]
		}
	}
	return nil
}

func attr(ev *abci.Event, key string) string {
	for _, a := range ev.Attributes {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

// A successful registration leaves the new identity's next sequence implied
// (no write to the auth store); its replay is refused all the same, and the
// identity's next transaction stores the sequence as usual.
func TestRegistrationImpliesSequence(t *testing.T) {
	h := newHarness(t, 1)
	s := testutil.NewSigner("implied")
	reg := s.Sign(h.ChainID, s.Register())
	h.Block()
	if got := h.Sequence(s.DID); got != 0 {
		t.Fatalf("before registering: next sequence %d, want 0", got)
	}
	h.MustBlock(reg)
	if got := h.Sequence(s.DID); got != 1 {
		t.Fatalf("after registering: next sequence %d, want 1", got)
	}
	if v := h.Get(app.AuthStore, app.SeqKey(s.DID)); v != nil {
		t.Fatalf("a registration stored the sequence %x; it should be implied", v)
	}
	if r := h.Block(reg)[0]; r.Code != app.ErrSequenceReused.Code {
		t.Fatalf("replayed registration: got %s/%d (%s), want sequence reused", r.Codespace, r.Code, r.Log)
	}
	if r := h.CheckTx(reg); r.Code != app.ErrSequenceReused.Code {
		t.Fatalf("replayed registration in CheckTx: got %d (%s)", r.Code, r.Log)
	}
	next := testutil.NewKey("implied/2")
	h.MustBlock(s.SignTx(tx.Body{ChainID: h.ChainID, Signer: s.KeyID, Sequence: 1, Msgs: testutil.Anys(s.RotateMsg(h.ChainID, next))}).MarshalWire())
	if got := h.Sequence(s.DID); got != 2 {
		t.Fatalf("after a second transaction: next sequence %d, want 2", got)
	}
	if v := h.Get(app.AuthStore, app.SeqKey(s.DID)); len(v) != 8 || v[7] != 2 {
		t.Fatalf("stored sequence after a second transaction: %x, want 2", v)
	}
}
