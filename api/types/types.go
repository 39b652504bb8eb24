// Package types holds the JSON bodies of the REST API, shared by the server
// (package api) and the Go SDK (package client) so that both agree.
package types

import (
	"encoding/json"
	"time"

	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"

	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
)

// Status is GET /v1/status.
type Status struct {
	ChainID    string    `json:"chain_id"`
	Height     int64     `json:"height"`   // latest height committed by the application
	AppHash    string    `json:"app_hash"` // hex; state root after Height
	BlockHash  string    `json:"block_hash,omitempty"`
	BlockTime  time.Time `json:"block_time"`
	NodeID     string    `json:"node_id"`
	Moniker    string    `json:"moniker"`
	CatchingUp bool      `json:"catching_up"`
	Validator  string    `json:"validator_address"`
	Version    string    `json:"version"`
}

// SubmitTx is the body of POST /v1/txs.
type SubmitTx struct {
	Tx []byte `json:"tx"` // the encoded signed transaction, base64
}

// Event is a transaction event.
type Event struct {
	Type  string      `json:"type"`
	Attrs []EventAttr `json:"attributes"`
}

// EventAttr is one event attribute.
type EventAttr struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// TxResult is a transaction's outcome. Code 0 with Height > 0 means
// committed and executed; a non-zero code is a rejection, in Stage "check"
// (refused by the mempool, never in a block) or "deliver" (in a block at
// Height, state unchanged but the signer's sequence used).
type TxResult struct {
	Hash      string  `json:"tx_hash"`
	Height    int64   `json:"height"`
	Index     uint32  `json:"index,omitempty"`
	Code      uint32  `json:"code"`
	Codespace string  `json:"codespace,omitempty"`
	Log       string  `json:"log,omitempty"`
	Stage     string  `json:"stage"`
	Events    []Event `json:"events,omitempty"`
	Tx        *TxBody `json:"tx,omitempty"`
}

// Attr returns the value of attribute key of the first event of type typ
// that has it, or "" when none has.
func (r *TxResult) Attr(typ, key string) string {
	for _, ev := range r.Events {
		if ev.Type != typ {
			continue
		}
		for _, a := range ev.Attrs {
			if a.Key == key {
				return a.Value
			}
		}
	}
	return ""
}

// TxBody is the decoded envelope of a transaction.
type TxBody struct {
	ChainID  string   `json:"chain_id"`
	Signer   string   `json:"signer"`
	Sequence uint64   `json:"sequence"`
	Msgs     []string `json:"msgs"` // type URLs
}

// Block is GET /v1/blocks/{height}.
type Block struct {
	Height   int64     `json:"height"`
	Hash     string    `json:"hash"`
	Time     time.Time `json:"time"`
	ChainID  string    `json:"chain_id"`
	Proposer string    `json:"proposer_address"`
	// AppHash in a header is the state root after the previous height.
	AppHash  string   `json:"app_hash"`
	LastHash string   `json:"last_block_hash"`
	TxHashes []string `json:"tx_hashes"`
}

// Proof is a raw state value with the ProofOps chaining it to the app hash
// committed at Height (found in the header of Height+1).
type Proof struct {
	Store    string              `json:"store"`
	Key      []byte              `json:"key"`   // base64
	Value    []byte              `json:"value"` // base64; null when proving absence
	Height   int64               `json:"height"`
	ProofOps *cmtcrypto.ProofOps `json:"proof_ops"`
}

// Identity is GET /v1/identities/{did}.
type Identity struct {
	Height     int64               `json:"height"`
	DID        string              `json:"did"`
	Resolution identity.Resolution `json:"did_resolution"`
	Record     *identity.Record    `json:"record"`
	Proof      *Proof              `json:"proof,omitempty"`
}

// Sequence is GET /v1/identities/{did}/sequence.
type Sequence struct {
	Height   int64  `json:"height"`
	DID      string `json:"did"`
	Sequence uint64 `json:"sequence"` // the next one to use
}

// Memberships is GET /v1/identities/{did}/memberships.
type Memberships struct {
	Height  int64         `json:"height"`
	DID     string        `json:"did"`
	Members []*org.Member `json:"memberships"`
}

// OrgDetail is one organization with its members.
type OrgDetail struct {
	*org.Org
	Members []*org.Member `json:"members"`
}

// OrgList is GET /v1/orgs.
type OrgList struct {
	Height int64        `json:"height"`
	Orgs   []*OrgDetail `json:"orgs"`
}

// OrgResponse is GET /v1/orgs/{id}.
type OrgResponse struct {
	Height int64      `json:"height"`
	Org    *OrgDetail `json:"org"`
	Proof  *Proof     `json:"proof,omitempty"`
}

// ProposalList is GET /v1/proposals.
type ProposalList struct {
	Height    int64           `json:"height"`
	Proposals []*org.Proposal `json:"proposals"`
}

// ProposalResponse is GET /v1/proposals/{id}.
type ProposalResponse struct {
	Height   int64         `json:"height"`
	Proposal *org.Proposal `json:"proposal"`
	Proof    *Proof        `json:"proof,omitempty"`
}

// StoreValue is GET /v1/store/{store}/{key}.
type StoreValue struct {
	Height int64  `json:"height"`
	Store  string `json:"store"`
	Key    []byte `json:"key"`
	Value  []byte `json:"value"`
	Proof  *Proof `json:"proof,omitempty"`
}

// RawJSON is used by the OpenAPI document for free-form bodies.
type RawJSON = json.RawMessage
