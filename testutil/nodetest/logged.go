package nodetest

import (
	"context"
	"io"
	"testing"
	"time"

	cmtflags "github.com/cometbft/cometbft/libs/cli/flags"
	"github.com/cometbft/cometbft/libs/log"

	"github.com/medchain/medchain/node"
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
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *node.Node, 1)
	done := make(chan error, 1)
	go func() {
		done <- node.Run(ctx, home, node.RunOptions{Logger: logger, Ready: func(n *node.Node) { ready <- n }})
	}()
	select {
	case n := <-ready:
		stopped := false
		r := &Running{Node: n}
		r.stop = func() {
			if stopped {
				return
			}
			stopped = true
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("node stopped with error: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("node did not stop within 30s")
			}
		}
		return r
	case err := <-done:
		cancel()
		t.Fatalf("node did not start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("node did not start within 60s")
	}
	return nil
}
