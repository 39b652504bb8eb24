package vault

import (
	"context"
	"fmt"
	"strconv"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/x/identity"
)

// Submit signs msgs with the vault's service key and submits them, as
// submit does; the node's other services that act for authenticated
// members (the supply-chain capture API) use it, so that every
// transaction of the vault key draws its sequence from one counter.
func (s *Service) Submit(ctx context.Context, msgs ...module.Msg) (*types.TxResult, error) {
	return s.submit(ctx, msgs...)
}

// submit signs msgs with the vault key, sends them and waits for the
// commit. Sequence numbers are assigned under a lock and advance only when
// the mempool accepts the transaction; waiting happens outside the lock, so
// many submissions can share a block.
func (s *Service) submit(ctx context.Context, msgs ...module.Msg) (*types.TxResult, error) {
	signer := client.KeySigner{Key: s.cfg.Key}
	s.seqMu.Lock()
	if !s.seqOK {
		auth, _, err := s.reader(app.AuthStore)
		if err != nil {
			s.seqMu.Unlock()
			return nil, err
		}
		// The vault's DID was registered before it first writes, so the
		// identity store's height does not matter here.
		ids, _, err := s.reader(identity.StoreName)
		if err != nil {
			s.seqMu.Unlock()
			return nil, err
		}
		s.seq, s.seqOK = app.NextSequence(auth, ids, s.did), true
	}
	bz, err := client.BuildTx(signer, s.cfg.ChainID, s.seq, msgs...)
	if err != nil {
		s.seqMu.Unlock()
		return nil, err
	}
	res, err := s.cfg.Tx.Broadcast(ctx, bz)
	if err == nil && res.Code == 0 {
		s.seq++
	} else {
		s.seqOK = false // resynchronise from the chain next time
	}
	s.seqMu.Unlock()
	if err != nil {
		return nil, err
	}
	if res.Code != 0 {
		return res, fmt.Errorf("vault transaction refused: %s/%d: %s", res.Codespace, res.Code, res.Log)
	}
	hash, _ := hexBytes(res.Hash)
	res, err = s.cfg.Tx.WaitCommitted(ctx, hash)
	if err != nil {
		return nil, err
	}
	if res.Code != 0 {
		return res, fmt.Errorf("vault transaction rejected: %s/%d: %s", res.Codespace, res.Code, res.Log)
	}
	return res, nil
}

func eventUint(res *types.TxResult, typ, key string) (uint64, error) {
	return strconv.ParseUint(res.Attr(typ, key), 10, 64)
}
