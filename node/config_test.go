package node_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/medchain/medchain/node"
)

// TestSettingsValidateStateBackend: the state settings accept the two
// backends (or none), and refuse anything else naming the field at fault.
func TestSettingsValidateStateBackend(t *testing.T) {
	for _, tc := range []struct {
		adjust func(*node.Settings)
		field  string // "" = valid
	}{
		{func(*node.Settings) {}, ""},
		{func(s *node.Settings) { s.StateBackend = "memtree"; s.KeepHeights = 10; s.SnapshotInterval = 5 }, ""},
		{func(s *node.Settings) { s.StateBackend = "iavl" }, ""},
		{func(s *node.Settings) { s.StateBackend = "rocksdb" }, "state_backend"},
		{func(s *node.Settings) { s.KeepHeights = -1 }, "keep_heights"},
		{func(s *node.Settings) { s.SnapshotInterval = -1 }, "snapshot_interval"},
	} {
		s := node.DefaultSettings()
		tc.adjust(&s)
		err := s.Validate()
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: %v, want valid", s, err)
		case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)):
			t.Errorf("%+v: %v, want an error naming %s", s, err, tc.field)
		}
	}
}

// TestSettingsIndexEvents: index_events defaults to tx.signer when absent
// or null, keeps an explicit empty list (index nothing) through a save and
// load, and refuses a malformed entry naming the field.
func TestSettingsIndexEvents(t *testing.T) {
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "config"), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(js string) {
		if err := os.WriteFile(filepath.Join(home, "config", "medchain.json"), []byte(js), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		file string
		want []string // nil: the app's default
	}{
		{`{"api_addr": "127.0.0.1:8080", "max_body_bytes": 4096, "commit_timeout": "1s"}`, []string{"tx.signer"}},
		{`{"api_addr": "127.0.0.1:8080", "max_body_bytes": 4096, "commit_timeout": "1s", "index_events": null}`, nil},
		{`{"api_addr": "127.0.0.1:8080", "max_body_bytes": 4096, "commit_timeout": "1s", "index_events": []}`, []string{}},
		{`{"api_addr": "127.0.0.1:8080", "max_body_bytes": 4096, "commit_timeout": "1s", "index_events": ["*"]}`, []string{"*"}},
	} {
		write(tc.file)
		s, err := node.LoadSettings(home)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if (s.IndexEvents == nil) != (tc.want == nil) || !slices.Equal(s.IndexEvents, tc.want) {
			t.Errorf("%s: index_events %#v, want %#v", tc.file, s.IndexEvents, tc.want)
		}
		if err := node.SaveSettings(home, s); err != nil {
			t.Fatal(err)
		}
		again, err := node.LoadSettings(home)
		if err != nil || (again.IndexEvents == nil) != (tc.want == nil) || !slices.Equal(again.IndexEvents, tc.want) {
			t.Errorf("%s: after a save, index_events %#v (%v), want %#v", tc.file, again.IndexEvents, err, tc.want)
		}
	}
	write(`{"api_addr": "127.0.0.1:8080", "max_body_bytes": 4096, "commit_timeout": "1s", "index_events": ["tx"]}`)
	if _, err := node.LoadSettings(home); err == nil || !strings.Contains(err.Error(), "index_events") {
		t.Errorf("a malformed entry: %v, want an error naming index_events", err)
	}
}
