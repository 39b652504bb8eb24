package testutil

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/x/consent"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/records"
)

// Helpers for tests of the consent and records modules (and of anything
// built on them): members with roles, record anchors with deterministic
// hashes, reads of committed state through the modules' keepers, and the
// typed events of a transaction result.

// Reader returns a reader of the named store at the last committed height.
func (h *Harness) Reader(storeName string) store.Reader {
	h.T.Helper()
	r, _, err := h.App.Store().Reader(storeName, 0)
	if err != nil {
		h.T.Fatalf("Reader(%s): %v", storeName, err)
	}
	return r
}

// AddMember makes s a member of o with roles (signed by o's admin) in a
// block of its own and fails the test if it is refused.
func (h *Harness) AddMember(o *Org, s *Signer, roles ...string) {
	h.T.Helper()
	h.MustBlock(o.Admin.Sign(h.ChainID, &org.MsgAddMember{Org: o.ID, Member: s.DID, Roles: org.SortRoles(roles)}))
}

// Hash32 returns a deterministic 32-byte value derived from seed, for
// ciphertext hashes and commitments in tests.
func Hash32(seed string) []byte {
	s := sha256.Sum256([]byte("testutil/hash\x00" + seed))
	return s[:]
}

// AnchorMsg returns a MsgAnchor of record id (version v) for patient held by
// org, with hashes derived from the id and version.
func AnchorMsg(id, patient, orgID, resourceType, category string, v uint64) *records.MsgAnchor {
	seed := fmt.Sprintf("%s/%d", id, v)
	return &records.MsgAnchor{ID: id, Patient: patient, Org: orgID, ResourceType: resourceType, Category: category,
		Version: v, CiphertextHash: Hash32("ct/" + seed), Commitment: Hash32("cm/" + seed)}
}

// AccessLog returns every access event on patient's records, oldest first.
func (h *Harness) AccessLog(patient string) []*records.AccessEvent {
	h.T.Helper()
	return h.App.Records.Keeper.AccessLog(h.Reader(records.StoreName), patient, 0, 0)
}

// Anchor returns record id's anchor, or nil.
func (h *Harness) Anchor(id string) *records.Anchor {
	h.T.Helper()
	a, err := h.App.Records.Keeper.Anchor(h.Reader(records.StoreName), id)
	if err != nil {
		return nil
	}
	return a
}

// Erasure returns patient's erasure, or nil.
func (h *Harness) Erasure(patient string) *records.Erasure {
	h.T.Helper()
	return h.App.Records.Keeper.Erasure(h.Reader(records.StoreName), patient)
}

// Consent returns consent id, or nil.
func (h *Harness) Consent(id uint64) *consent.Consent {
	h.T.Helper()
	c, err := h.App.Consent.Keeper.Get(h.Reader(consent.StoreName), id)
	if err != nil {
		return nil
	}
	return c
}

// Consents returns patient's consents, oldest first.
func (h *Harness) Consents(patient string) []*consent.Consent {
	h.T.Helper()
	return h.App.Consent.Keeper.ByPatient(h.Reader(consent.StoreName), patient)
}

// Events returns the attributes of each event of type typ in r, in order.
func Events(r *abci.ExecTxResult, typ string) []map[string]string {
	var out []map[string]string
	for _, ev := range r.Events {
		if ev.Type != typ {
			continue
		}
		m := map[string]string{}
		for _, a := range ev.Attributes {
			m[a.Key] = a.Value
		}
		out = append(out, m)
	}
	return out
}

// WantCode fails the test unless r has codespace and code (0: success).
// When the code is an admission code it also checks, if want is non-empty,
// that the log contains want (ValidateBasic failures are all tx/12; their
// log names the module's reason).
func WantCode(t testing.TB, what string, r *abci.ExecTxResult, codespace string, code uint32, want ...string) {
	t.Helper()
	if r.Codespace != codespace || r.Code != code {
		t.Fatalf("%s: got %s/%d (%s), want %s/%d", what, r.Codespace, r.Code, r.Log, codespace, code)
	}
	for _, w := range want {
		if !strings.Contains(r.Log, w) {
			t.Fatalf("%s: log %q does not contain %q", what, r.Log, w)
		}
	}
}

// Exec signs msgs with s, runs them in a block of their own and returns the
// result. When admission refuses the transaction (codespace "tx"), the
// chain did not use the sequence, so s's local sequence is rolled back.
func (h *Harness) Exec(s *Signer, msgs ...module.Msg) *abci.ExecTxResult {
	h.T.Helper()
	r := h.Block(s.Sign(h.ChainID, msgs...))[0]
	if r.Codespace == app.Codespace {
		s.Seq--
	}
	return r
}

// Resync sets each signer's local sequence to the committed one (after a
// block in which admission refused some of their transactions).
func (h *Harness) Resync(signers ...*Signer) {
	h.T.Helper()
	for _, s := range signers {
		s.Seq = h.Sequence(s.DID)
	}
}
