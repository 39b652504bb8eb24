package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/medchain/medchain/testnet/harness"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if s := harness.Summary(); s != "" {
		fmt.Println(s)
	}
	harness.RemoveBinary()
	os.Exit(code)
}

// newTestnet skips in -short mode and starts a 4-validator testnet.
func newTestnet(t *testing.T, o harness.Options) *harness.Testnet {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: runs node processes for tens of seconds")
	}
	return harness.New(t, o)
}

func ctxFor(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
