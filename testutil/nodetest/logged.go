package nodetest

import (
	"io"
	"testing"

	cmtflags "github.com/cometbft/cometbft/libs/cli/flags"
	"github.com/cometbft/cometbft/libs/log"
)

// StartLogged is Start with the node's whole log (CometBFT and medchain,
// filtered by level such as "*:info") written to w, for tests that inspect
// what a node logs.
func StartLogged(t testing.TB, home string, w io.Writer, level string) *Running {
	t.Helper()
	logger, err := cmtflags.ParseLogLevel(level, log.NewTMLogger(log.NewSyncWriter(w)), "info")
	if err != nil {
		t.Fatal(err)
	}
	return start(t, home, logger)
}
