package node_test

import (
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
