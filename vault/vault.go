// Package vault is a node's off-chain record service. It keeps each FHIR
// record version encrypted under its own data key (package envelope), the
// key wrapped to the patient and to the holding organization's vault, in a
// blob store (package blob); it anchors the ciphertext hash and a salted
// commitment on chain; it releases records only against an access decision
// committed on chain, either from its own store or, over an authenticated
// node-to-node call, from the vault of the organization that holds them;
// and it carries out erasure requests by crypto-shredding and posts a signed
// receipt.
//
// The vault acts on chain with its node's service identity (keyring key
// "vault", role "vault" in its organization), on behalf of the members and
// patients who authenticated to the node's API.
package vault

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cometbft/cometbft/libs/log"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/vault/blob"
	"github.com/medchain/medchain/x/identity"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/records"
)

// Errors a caller maps to responses (the FHIR layer: 403, 410, 404, 502).
var (
	ErrDenied      = errors.New("vault: access denied by consent")
	ErrErased      = errors.New("vault: record erased")
	ErrNotFound    = errors.New("vault: record not found")
	ErrTampered    = errors.New("vault: stored record failed its integrity check")
	ErrUnavailable = errors.New("vault: the holding vault could not be reached")
	ErrInvalid     = errors.New("vault: invalid request")
)

// Chain is the committed chain state the vault reads.
type Chain interface {
	// Reader returns a reader of the named store at the latest committed
	// height, and that height.
	Reader(name string) (store.Reader, int64, error)
}

// TxSender submits transactions to the node's mempool and waits for them.
type TxSender interface {
	Broadcast(ctx context.Context, tx []byte) (*types.TxResult, error)
	WaitCommitted(ctx context.Context, hash []byte) (*types.TxResult, error)
}

// Config wires a Service.
type Config struct {
	ChainID string
	Org     string       // the organization whose vault this is
	Key     *keyring.Key // the node's service identity (registered, role "vault" in Org)
	Chain   Chain
	Tx      TxSender
	Blobs   blob.Store
	// Peers maps organization ids to their nodes' API base URLs, for
	// fetching records other organizations hold.
	Peers  map[string]string
	HTTP   *http.Client
	Logger log.Logger
	// Now is the wall clock (expiry checks of releases); default time.Now.
	Now func() time.Time
	// HaltAfterShreds is a test hook (0: off). Once erasure sweeps have
	// deleted this many blobs, the vault stops before deleting more or
	// posting any receipt and waits until its context ends, as a node that
	// crashed mid-erasure would; a test then kills the process and checks
	// that the erasure completes after a restart without the hook. Nodes
	// set it from MEDCHAIN_TEST_VAULT_HALT_AFTER_SHREDS.
	HaltAfterShreds int
}

// Service is a node's vault. It is safe for concurrent use.
type Service struct {
	cfg Config
	did string

	seqMu sync.Mutex
	seq   uint64
	seqOK bool

	orphanMu   sync.Mutex
	orphanSeen map[string]time.Time
	suspects   map[string]struct{} // blobs whose deletion failed (SweepSuspects)

	shredded atomic.Int64 // blobs deleted by erasure sweeps (for HaltAfterShreds)
	haltOnce sync.Once

	running sync.WaitGroup // Run loops (Wait)
}

// New returns the vault service.
func New(cfg Config) (*Service, error) {
	if cfg.Key == nil || cfg.Chain == nil || cfg.Tx == nil || cfg.Blobs == nil || cfg.Org == "" || cfg.ChainID == "" {
		return nil, fmt.Errorf("vault: incomplete configuration")
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewNopLogger()
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	did := cfg.Key.DID
	if did == "" {
		did = identity.DIDFromKey(cfg.Key.SigningPublic())
	}
	return &Service{cfg: cfg, did: did, orphanSeen: map[string]time.Time{}, suspects: map[string]struct{}{}}, nil
}

// DID returns the vault's service identity.
func (s *Service) DID() string { return s.did }

// Org returns the vault's organization.
func (s *Service) Org() string { return s.cfg.Org }

func (s *Service) reader(name string) (store.Reader, int64, error) { return s.cfg.Chain.Reader(name) }

// CheckReady verifies that the vault's identity is registered and holds the
// vault role in its organization, so a misconfigured node says so at start.
func (s *Service) CheckReady() error {
	ids, _, err := s.reader(identity.StoreName)
	if err != nil {
		return err
	}
	rec, err := identity.Keeper{}.Get(ids, s.did)
	if err != nil {
		return fmt.Errorf("vault identity %s is not registered", s.did)
	}
	if !ed25519.PublicKey(rec.CurrentSigningKey().PublicKey).Equal(s.cfg.Key.SigningPublic()) {
		return fmt.Errorf("vault key does not match %s's current key on chain", s.did)
	}
	orgs, _, err := s.reader(org.StoreName)
	if err != nil {
		return err
	}
	if !(org.Keeper{}).HasRole(orgs, s.did, s.cfg.Org, org.RoleVault) {
		return fmt.Errorf("vault identity %s does not hold the vault role in %q", s.did, s.cfg.Org)
	}
	return nil
}

// Anchor returns a record's anchor from committed state.
func (s *Service) Anchor(id string) (*records.Anchor, error) {
	r, _, err := s.reader(records.StoreName)
	if err != nil {
		return nil, err
	}
	return records.Keeper{}.Anchor(r, id)
}

// encKey returns did's current encryption key from committed state.
func (s *Service) encKey(did string) (identity.EncryptionKey, error) {
	ids, _, err := s.reader(identity.StoreName)
	if err != nil {
		return identity.EncryptionKey{}, err
	}
	rec, err := identity.Keeper{}.Get(ids, did)
	if err != nil || !rec.Active() {
		return identity.EncryptionKey{}, fmt.Errorf("%w: %s is not an active identity", ErrInvalid, did)
	}
	return rec.CurrentEncryptionKey(), nil
}
