// Package nodetest starts real in-process medchain nodes (CometBFT and the
// app, with the REST API) for tests.
package nodetest

import (
	"context"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cometbft/cometbft/libs/log"

	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/node"
)

// FreeAddrs returns loopback API, RPC and P2P addresses on ports that
// were free just now. They come from node.FreeTestnetBasePort's range,
// below Linux's ephemeral ports: a port the kernel handed out (port 0) and
// the test closed again can become the local port of another test's
// outgoing connection before the node binds it.
func FreeAddrs(t testing.TB) node.Addrs {
	t.Helper()
	base, err := node.FreeTestnetBasePort(rand.IntN, 1)
	if err != nil {
		t.Fatal(err)
	}
	p2p, rpc, api, _ := node.TestnetPorts(base, 0)
	addr := func(p int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)) }
	return node.Addrs{API: addr(api), RPC: addr(rpc), P2P: addr(p2p)}
}

// Logger returns a no-op logger, or one writing to stderr when
// MEDCHAIN_TEST_LOG is set.
func Logger() log.Logger {
	if os.Getenv("MEDCHAIN_TEST_LOG") != "" {
		return log.NewTMLogger(log.NewSyncWriter(os.Stderr))
	}
	return log.NewNopLogger()
}

// Dev is a development chain home with its keyring.
type Dev struct {
	Home    string
	Addrs   node.Addrs
	Keyring *keyring.Keyring
}

// NewDev initialises a development chain in a temporary home with free
// ports. It sets MEDCHAIN_PASSPHRASE for the test.
func NewDev(t testing.TB) *Dev {
	t.Helper()
	t.Setenv("MEDCHAIN_PASSPHRASE", "nodetest")
	home := t.TempDir()
	kr, err := keyring.Open(node.KeyringDir(home), keyring.EnvOrPrompt())
	if err != nil {
		t.Fatal(err)
	}
	d := &Dev{Home: home, Keyring: kr, Addrs: FreeAddrs(t)}
	if _, err := node.InitDev(home, node.InitOptions{Keyring: kr, Addrs: d.Addrs}); err != nil {
		t.Fatal(err)
	}
	return d
}

// Client returns an SDK client for the home's API.
func (d *Dev) Client(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.New("http://" + d.Addrs.API)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Running is a node started by Start.
type Running struct {
	Node *node.Node
	stop func()
}

// Stop stops the node and waits (at most 30 s) for it to finish.
func (r *Running) Stop() { r.stop() }

// Start runs the node in home until Stop, and returns once its API listens.
func Start(t testing.TB, home string) *Running {
	t.Helper()
	return start(t, home, Logger())
}

// start runs the node in home with logger until Stop, and returns once its
// API listens.
func start(t testing.TB, home string, logger log.Logger) *Running {
	t.Helper()
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

// WaitHeight waits (at most 30 s) until the node has committed height min
// and returns its height.
func WaitHeight(t testing.TB, c *client.Client, min int64) int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := c.Status(context.Background()); err == nil && st.Height >= min {
			return st.Height
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("height %d not reached within 30s", min)
	return 0
}
