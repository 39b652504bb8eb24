package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	cmtdb "github.com/cometbft/cometbft-db"
	"github.com/cometbft/cometbft/libs/log"
	"github.com/cometbft/cometbft/light"
	"github.com/cometbft/cometbft/light/provider"
	lighthttp "github.com/cometbft/cometbft/light/provider/http"
	lightdb "github.com/cometbft/cometbft/light/store/db"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/store/proof"
	"github.com/medchain/medchain/x/identity"
)

// Trust roots a Verifier can start from.
const (
	// TrustGenesis: the first header was checked against the validator set
	// of a genesis file the caller supplied.
	TrustGenesis = "genesis-file"
	// TrustFirstUse: the first header was checked against the genesis the
	// node served (trust on first use, like SSH's known_hosts); later reads
	// reuse the stored trusted headers when a store directory is given.
	TrustFirstUse = "first-use"
	// TrustHash: the caller supplied a trusted header height and hash.
	TrustHash = "trusted-hash"
	// TrustStore: a light-client store from an earlier session.
	TrustStore = "light-store"
)

// ErrVerification wraps every failure to verify a read.
var ErrVerification = errors.New("verification failed")

// VerifierOptions configure NewVerifier.
type VerifierOptions struct {
	// Genesis, if set, is the trust root: header 1 must be signed by its
	// validators. Otherwise the node's /genesis is used (first use).
	Genesis *cmttypes.GenesisDoc
	// TrustHeight and TrustHash, if set, are the trust root instead.
	TrustHeight int64
	TrustHash   []byte
	// StoreDir keeps the light client's trusted headers across sessions
	// (empty: in memory only).
	StoreDir string
	// TrustingPeriod bounds how old a trusted header may be (default 2 weeks).
	TrustingPeriod time.Duration
	// Witnesses are other nodes' API URLs used to cross-check headers
	// (default: the primary itself).
	Witnesses []string
}

// Verifier checks state reads against the app hash of headers that
// CometBFT's light client verified (validator signatures from a trust root
// on), never against what the node merely says.
type Verifier struct {
	c         *Client
	lc        *light.Client
	chainID   string
	TrustRoot string
}

// VerifiedRead describes what a verified read was checked against.
type VerifiedRead struct {
	Height     int64  `json:"height"`      // state height read
	HeaderHash string `json:"header_hash"` // hash of header Height+1, which commits the app hash
	AppHash    string `json:"app_hash"`
	TrustRoot  string `json:"trust_root"`
}

func rpcURL(api string) string { return api + "/rpc" }

// NewVerifier starts a light client against the node behind c.
func NewVerifier(ctx context.Context, c *Client, o VerifierOptions) (*Verifier, error) {
	if o.TrustingPeriod == 0 {
		o.TrustingPeriod = 14 * 24 * time.Hour
	}
	rpc, err := rpchttp.New(rpcURL(c.base), "/websocket")
	if err != nil {
		return nil, err
	}
	gen := o.Genesis
	root := TrustGenesis
	if gen == nil {
		res, err := rpc.Genesis(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: fetch genesis: %v", ErrUnreachable, err)
		}
		gen, root = res.Genesis, TrustFirstUse
	}
	chainID := gen.ChainID
	primary, err := lighthttp.New(chainID, rpcURL(c.base))
	if err != nil {
		return nil, err
	}
	var witnesses []provider.Provider
	for _, w := range o.Witnesses {
		p, err := lighthttp.New(chainID, rpcURL(w))
		if err != nil {
			return nil, err
		}
		witnesses = append(witnesses, p)
	}
	if len(witnesses) == 0 {
		witnesses = []provider.Provider{primary}
	}
	var db cmtdb.DB = cmtdb.NewMemDB()
	if o.StoreDir != "" {
		if db, err = cmtdb.NewGoLevelDB("light-"+chainID, o.StoreDir); err != nil {
			return nil, fmt.Errorf("open light store: %w", err)
		}
	}
	st := lightdb.New(db, chainID)
	opts := []light.Option{light.Logger(log.NewNopLogger()), light.MaxRetryAttempts(3)}

	var lc *light.Client
	if h, _ := st.LastLightBlockHeight(); h > 0 && o.TrustHash == nil {
		lc, err = light.NewClientFromTrustedStore(chainID, o.TrustingPeriod, primary, witnesses, st, opts...)
		root = TrustStore
	} else {
		th, hash := o.TrustHeight, o.TrustHash
		if hash == nil {
			th, hash, err = trustFromGenesis(ctx, rpc, gen)
			if err != nil {
				return nil, err
			}
		} else {
			root = TrustHash
		}
		lc, err = light.NewClient(ctx, chainID, light.TrustOptions{Period: o.TrustingPeriod, Height: th, Hash: hash}, primary, witnesses, st, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: light client: %v", ErrVerification, err)
	}
	return &Verifier{c: c, lc: lc, chainID: chainID, TrustRoot: root}, nil
}

// trustFromGenesis checks the first header's commit against the genesis
// validator set and returns its height and hash as the trust root.
func trustFromGenesis(ctx context.Context, rpc *rpchttp.HTTP, gen *cmttypes.GenesisDoc) (int64, []byte, error) {
	vals := make([]*cmttypes.Validator, len(gen.Validators))
	for i, v := range gen.Validators {
		vals[i] = cmttypes.NewValidator(v.PubKey, v.Power)
	}
	vset := cmttypes.NewValidatorSet(vals)
	h := gen.InitialHeight
	var commit *cmttypes.SignedHeader
	var lastErr error
	for i := 0; i < 50; i++ {
		res, err := rpc.Commit(ctx, &h)
		if err == nil {
			commit = &res.SignedHeader
			break
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if commit == nil {
		return 0, nil, fmt.Errorf("%w: no commit for the first block: %v", ErrVerification, lastErr)
	}
	if commit.ChainID != gen.ChainID {
		return 0, nil, fmt.Errorf("%w: first header is for chain %q, genesis says %q", ErrVerification, commit.ChainID, gen.ChainID)
	}
	if !bytes.Equal(commit.ValidatorsHash, vset.Hash()) {
		return 0, nil, fmt.Errorf("%w: first header's validator set is not the genesis validator set", ErrVerification)
	}
	if err := vset.VerifyCommitLight(gen.ChainID, commit.Commit.BlockID, h, commit.Commit); err != nil {
		return 0, nil, fmt.Errorf("%w: first block not signed by the genesis validators: %v", ErrVerification, err)
	}
	if !bytes.Equal(commit.Commit.BlockID.Hash, commit.Header.Hash()) {
		return 0, nil, fmt.Errorf("%w: first header does not match its commit", ErrVerification)
	}
	return h, commit.Header.Hash(), nil
}

// ChainID returns the verified chain id.
func (v *Verifier) ChainID() string { return v.chainID }

// VerifyProof checks p against the app hash committed in the verified
// header at p.Height+1, waiting (up to ctx) for that header to exist.
func (v *Verifier) VerifyProof(ctx context.Context, p *types.Proof) (*VerifiedRead, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: the node sent no proof", ErrVerification)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	// Wait until the node has committed the header that carries the app
	// hash, so the light client never asks its primary for a height it does
	// not have yet (which makes CometBFT's light client drop the primary).
	for {
		st, err := v.c.Status(ctx)
		if err != nil {
			return nil, err
		}
		if st.Height >= p.Height+1 {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: header %d not produced in time (node at %d)", ErrVerification, p.Height+1, st.Height)
		case <-time.After(100 * time.Millisecond):
		}
	}
	lb, err := v.lc.VerifyLightBlockAtHeight(ctx, p.Height+1, time.Now())
	if err != nil {
		return nil, fmt.Errorf("%w: header %d: %v", ErrVerification, p.Height+1, err)
	}
	if err := proof.Verify(p.ProofOps, lb.AppHash, p.Store, p.Key, p.Value); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVerification, err)
	}
	return &VerifiedRead{Height: p.Height, HeaderHash: lb.Hash().String(), AppHash: lb.AppHash.String(), TrustRoot: v.TrustRoot}, nil
}

// Identity resolves did with a proof and verifies it. The returned record
// is decoded from the proven bytes, not from the node's JSON rendering.
func (v *Verifier) Identity(ctx context.Context, did string, height int64) (*identity.Record, *VerifiedRead, error) {
	res, err := v.c.Identity(ctx, did, height, true)
	if err != nil {
		return nil, nil, err
	}
	if res.Proof == nil || !bytes.Equal(res.Proof.Key, identity.RecordKey(did)) || res.Proof.Store != identity.StoreName {
		return nil, nil, fmt.Errorf("%w: the node's proof is not for %s", ErrVerification, did)
	}
	vr, err := v.VerifyProof(ctx, res.Proof)
	if err != nil {
		return nil, nil, err
	}
	rec, err := identity.DecodeRecord(res.Proof.Value)
	if err != nil || rec.DID != did {
		return nil, nil, fmt.Errorf("%w: proven value is not the record of %s", ErrVerification, did)
	}
	return rec, vr, nil
}
