package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/cometbft/cometbft/libs/log"

	"github.com/medchain/medchain/api"
	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/vault"
	"github.com/medchain/medchain/vault/blob/fs"
	"github.com/medchain/medchain/x/org"
)

// VaultHaltEnv names a test-only environment variable: set to k, the
// node's vault stops its erasure sweep after deleting k blobs, before any
// receipt (vault.Config.HaltAfterShreds), so that a test can crash the node
// mid-erasure.
const VaultHaltEnv = "MEDCHAIN_TEST_VAULT_HALT_AFTER_SHREDS"

// chainReader adapts the app's multistore to vault.Chain.
type chainReader struct{ a *app.App }

func (c chainReader) Reader(name string) (store.Reader, int64, error) {
	return c.a.Store().Reader(name, 0)
}

// startVault starts the node's vault when the home has a vault key: it
// mounts the node-to-node release route on the API and runs the background
// sweeps until ctx ends. The vault's organization is the one in which its
// identity holds the vault role; it is looked up once the chain has a
// committed height.
func startVault(ctx context.Context, home string, a *app.App, srv *api.Server, s Settings, logger log.Logger) (*vault.Service, error) {
	kr, err := keyring.Open(KeyringDir(home), keyring.EnvOrPrompt())
	if err != nil {
		return nil, err
	}
	if _, err := kr.Info(VaultKey); errors.Is(err, keyring.ErrNotFound) {
		logger.Info("no vault key in the keyring; this node serves no records", "key", VaultKey)
		return nil, nil
	}
	key, err := kr.Get(VaultKey)
	if err != nil {
		return nil, fmt.Errorf("vault key: %w", err)
	}
	blobs, err := fs.Open(VaultDir(home))
	if err != nil {
		return nil, fmt.Errorf("vault store: %w", err)
	}
	// A crash during a write can leave a temporary copy of an envelope.
	if n, err := blobs.RemoveTemp(ctx); err != nil {
		return nil, fmt.Errorf("vault store: %w", err)
	} else if n > 0 {
		logger.Info("removed temporary blobs left by a crash", "count", n)
	}
	// The vault's organization, from genesis or later state.
	var orgID string
	deadline := time.Now().Add(2 * time.Minute)
	for orgID == "" {
		if a.Store().LastCommit().Version > 0 {
			r, _, err := a.Store().Reader(org.StoreName, 0)
			if err == nil {
				// On a development chain the one node's service identity is
				// also the vault of the supply-chain demo organizations
				// (which run no validator); its records belong to the
				// organization that runs validators.
				for _, m := range a.Org.Keeper.Memberships(r, key.DID) {
					if !m.HasRole(org.RoleVault) {
						continue
					}
					if orgID == "" {
						orgID = m.Org
					}
					if o, err := a.Org.Keeper.Org(r, m.Org); err == nil && len(o.Validators) > 0 {
						orgID = m.Org
						break
					}
				}
			}
			if orgID == "" {
				logger.Info("the vault key holds the vault role in no organization; this node serves no records", "did", key.DID)
				return nil, nil
			}
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("vault: no committed block within 2 minutes")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	halt := 0
	if v := os.Getenv(VaultHaltEnv); v != "" {
		if halt, err = strconv.Atoi(v); err != nil || halt < 1 {
			return nil, fmt.Errorf("%s=%q: want a positive number of blobs", VaultHaltEnv, v)
		}
		logger.Info("test hook: the vault halts erasure after deleting some blobs", "env", VaultHaltEnv, "blobs", halt)
	}
	svc, err := vault.New(vault.Config{
		ChainID: a.ChainID(), Org: orgID, Key: key, Chain: chainReader{a}, Tx: srv, Blobs: blobs,
		Peers: s.Peers, Logger: logger, HaltAfterShreds: halt,
	})
	if err != nil {
		return nil, err
	}
	if err := svc.CheckReady(); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	srv.Mount("POST", vault.ReleasePath, "Node-to-node: release one record to another organization's vault under a committed access event (signed by that vault).", svc.ReleaseHandler())
	go svc.Run(ctx, time.Second)
	logger.Info("vault ready", "org", orgID, "did", key.DID, "dir", VaultDir(home))
	return svc, nil
}
