// Package node runs a medchain node: CometBFT v0.38 in-process with the
// medchain application as a local ABCI client, plus the REST API. It also
// creates node homes (a single-validator development chain, or one node of
// a testnet).
//
// Home layout:
//
//	<home>/config/config.toml        CometBFT configuration
//	<home>/config/genesis.json       genesis, with medchain's app_state
//	<home>/config/medchain.json      medchain node settings (API address, limits)
//	<home>/config/node_key.json      p2p identity
//	<home>/config/priv_validator_key.json
//	<home>/data/                     CometBFT databases, application.db (state), state-snapshots/ (memtree)
//	<home>/keyring/                  encrypted keys (package crypto/keyring)
//	<home>/medchain.pid              PID of the running node
package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/medchain/medchain/app"
)

// Settings are medchain's own node settings, stored in config/medchain.json.
// They are local to the node; anything that must agree across nodes is in
// genesis instead.
type Settings struct {
	// APIAddr is the REST API listen address.
	APIAddr string `json:"api_addr"`
	// MaxBodyBytes caps REST request bodies.
	MaxBodyBytes int64 `json:"max_body_bytes"`
	// CommitTimeout bounds how long POST /v1/txs waits for a block.
	CommitTimeout Duration `json:"commit_timeout"`
	// Peers maps organization ids to the API base URLs of their nodes, where
	// this node's vault fetches records those organizations hold.
	Peers map[string]string `json:"peers,omitempty"`
	// StateBackend is where the authenticated state lives: "memtree" (in
	// memory, the change sets on disk, the last KeepHeights heights
	// readable; ADR 0015) or "iavl" (every height kept on disk, for archive
	// nodes). Empty: the backend that wrote the database, or memtree for a
	// new one. A node's database is written by one backend and opened only
	// by it.
	StateBackend string `json:"state_backend,omitempty"`
	// KeepHeights is how many recent heights the memtree backend keeps
	// readable and provable (default app.DefaultKeepHeights).
	KeepHeights int `json:"keep_heights,omitempty"`
	// SnapshotInterval is how often (in heights) the memtree backend writes
	// a snapshot of the state to data/state-snapshots, which bounds what a
	// restart replays (default app.DefaultSnapshotInterval).
	SnapshotInterval int64 `json:"snapshot_interval,omitempty"`
	// IndexEvents names the event attributes CometBFT's transaction
	// indexer indexes, for tx_search: "*" (all), "<type>.*" or
	// "<type>.<key>", such as "identity.key_rotated.did" (ADR 0016).
	// Absent (null): app.DefaultIndexEvents, ["tx.signer"]; []: none.
	// Transactions are always found by hash and height, and subscriptions
	// and block_results see every attribute whatever this says.
	IndexEvents []string `json:"index_events"`
}

// Duration is a time.Duration that reads and writes as "1.5s" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// DefaultSettings returns the defaults: loopback API on port 8080.
func DefaultSettings() Settings {
	return Settings{APIAddr: "127.0.0.1:8080", MaxBodyBytes: 1 << 20, CommitTimeout: Duration(30 * time.Second),
		IndexEvents: slices.Clone(app.DefaultIndexEvents)}
}

// Validate checks the settings and names the field at fault.
func (s Settings) Validate() error {
	if err := checkAddr(s.APIAddr); err != nil {
		return fmt.Errorf("medchain.json: api_addr: %w", err)
	}
	if s.MaxBodyBytes < 1024 {
		return errors.New("medchain.json: max_body_bytes must be at least 1024")
	}
	if s.CommitTimeout <= 0 {
		return errors.New("medchain.json: commit_timeout must be positive")
	}
	switch s.StateBackend {
	case "", app.StateIAVL, app.StateMemTree:
	default:
		return fmt.Errorf("medchain.json: state_backend %q: use %q or %q", s.StateBackend, app.StateIAVL, app.StateMemTree)
	}
	if s.KeepHeights < 0 {
		return errors.New("medchain.json: keep_heights must not be negative")
	}
	if s.SnapshotInterval < 0 {
		return errors.New("medchain.json: snapshot_interval must not be negative")
	}
	if err := app.ValidateIndexEvents(s.IndexEvents); err != nil {
		return fmt.Errorf("medchain.json: %w", err)
	}
	return nil
}

func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if host == "" {
		return fmt.Errorf("%q has no host; use 127.0.0.1 or an explicit interface address", addr)
	}
	if port == "" {
		return fmt.Errorf("%q has no port", addr)
	}
	return nil
}

func settingsPath(home string) string { return filepath.Join(home, "config", "medchain.json") }

// LoadSettings reads config/medchain.json, with defaults for absent fields.
func LoadSettings(home string) (Settings, error) {
	s := DefaultSettings()
	bz, err := os.ReadFile(settingsPath(home))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(bz, &s); err != nil {
		return s, fmt.Errorf("%s: %w", settingsPath(home), err)
	}
	return s, s.Validate()
}

// SaveSettings writes config/medchain.json.
func SaveSettings(home string, s Settings) error {
	bz, _ := json.MarshalIndent(s, "", "  ")
	return os.WriteFile(settingsPath(home), append(bz, '\n'), 0o644)
}

// VaultDir is where a home's vault keeps its encrypted blobs.
func VaultDir(home string) string { return filepath.Join(home, "data", "vault") }

// KeyringDir is where a home keeps its keyring.
func KeyringDir(home string) string { return filepath.Join(home, "keyring") }

// PIDFile is where a running node writes its PID.
func PIDFile(home string) string { return filepath.Join(home, "medchain.pid") }
