package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// BinaryEnv names an environment variable that, when set, is the medchain
// binary to use instead of building one.
const BinaryEnv = "MEDCHAIN_E2E_BIN"

var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// Binary returns the path of the medchain binary: $MEDCHAIN_E2E_BIN if set,
// else one built once per test process ("go build ./cmd/medchain" in this
// module) into a temporary directory that RemoveBinary deletes.
func Binary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		if b := os.Getenv(BinaryEnv); b != "" {
			built.bin = b
			return
		}
		built.bin, built.dir, built.err = buildBinary()
	})
	if built.err != nil {
		t.Fatalf("harness: %v", built.err)
	}
	return built.bin
}

func buildBinary() (bin, dir string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", "", fmt.Errorf("not inside the medchain module (go env GOMOD is empty)")
	}
	dir, err = os.MkdirTemp("", "medchain-e2e-bin-")
	if err != nil {
		return "", "", err
	}
	bin = filepath.Join(dir, "medchain")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/medchain")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("go build ./cmd/medchain: %v\n%s", err, out)
	}
	return bin, dir, nil
}

// RemoveBinary deletes the binary Binary built, if any. Call it from
// TestMain after m.Run.
func RemoveBinary() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}
