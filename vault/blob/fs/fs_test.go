package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/medchain/medchain/vault/blob"
	"github.com/medchain/medchain/vault/blob/blobtest"
)

var ctx = context.Background()

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "vault", "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return open(t) })
}

// walk returns every path under root, relative, with its mode.
func walk(t *testing.T, root string) map[string]iofs.FileMode {
	t.Helper()
	out := map[string]iofs.FileMode{}
	err := filepath.WalkDir(root, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = fi.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLayoutAndModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	s := open(t)
	for _, k := range []string{"a", "a/b", "a/b/c", "records/did:medchain:p1/r1/1"} {
		if err := s.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	got := walk(t, s.Root())
	want := map[string]iofs.FileMode{
		".":                             iofs.ModeDir | 0o700,
		"a@":                            0o600,
		"a":                             iofs.ModeDir | 0o700,
		"a/b@":                          0o600,
		"a/b":                           iofs.ModeDir | 0o700,
		"a/b/c@":                        0o600,
		"records":                       iofs.ModeDir | 0o700,
		"records/did:medchain:p1":       iofs.ModeDir | 0o700,
		"records/did:medchain:p1/r1":    iofs.ModeDir | 0o700,
		"records/did:medchain:p1/r1/1@": 0o600,
	}
	if len(got) != len(want) {
		t.Fatalf("layout %v, want %v", got, want)
	}
	for p, m := range want {
		if got[p] != m {
			t.Errorf("%s: mode %v, want %v", p, got[p], m)
		}
	}
}

func TestOpen(t *testing.T) {
	if _, err := Open(""); err == nil {
		t.Fatal("Open(\"\") succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := Open(file); err == nil {
		t.Fatal("Open of a file succeeded")
	}
	// An existing root's mode is left alone; a relative root is made absolute.
	dir := t.TempDir()
	os.Chmod(dir, 0o750)
	t.Chdir(filepath.Dir(dir))
	s, err := Open(filepath.Base(dir))
	if err != nil {
		t.Fatal(err)
	}
	if s.Root() != dir {
		t.Fatalf("Root() = %s, want %s", s.Root(), dir)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o750 {
		t.Fatalf("existing root's mode changed to %v", fi.Mode())
	}
}

func TestReopen(t *testing.T) {
	s := open(t)
	if err := s.Put(ctx, "x/y", []byte("durable")); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	b, err := s2.Get(ctx, "x/y")
	if err != nil || string(b) != "durable" {
		t.Fatalf("after reopen: %q, %v", b, err)
	}
}

func TestNoTemporaryFilesLeft(t *testing.T) {
	s := open(t)
	for i := range 20 {
		if err := s.Put(ctx, "t/k", bytes.Repeat([]byte{byte(i)}, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	for p := range walk(t, s.Root()) {
		if strings.Contains(p, tempPrefix) {
			t.Fatalf("temporary file left: %s", p)
		}
	}
}

// A crash between writing the temporary file and renaming it leaves the old
// blob intact and a temporary file that List ignores and RemoveTemp
// collects.
func TestInterruptedPut(t *testing.T) {
	s := open(t)
	if err := s.Put(ctx, "r/k", []byte("old")); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(s.Root(), "r", tempPrefix+"123456")
	if err := os.WriteFile(stale, []byte("half-written new"), 0o600); err != nil {
		t.Fatal(err)
	}
	staleTop := filepath.Join(s.Root(), tempPrefix+"9")
	os.WriteFile(staleTop, nil, 0o600)
	if b, err := s.Get(ctx, "r/k"); err != nil || string(b) != "old" {
		t.Fatalf("Get: %q, %v", b, err)
	}
	if keys, _ := s.List(ctx, ""); !slices.Equal(keys, []string{"r/k"}) {
		t.Fatalf("List = %q", keys)
	}
	// Deleting the key leaves the directory, which still holds the
	// temporary file; RemoveTemp then removes it.
	if err := s.Delete(ctx, "r/k"); err != nil {
		t.Fatal(err)
	}
	n, err := s.RemoveTemp(ctx)
	if err != nil || n != 2 {
		t.Fatalf("RemoveTemp = %d, %v; want 2", n, err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatal("temporary file still there")
	}
	if n, err := s.RemoveTemp(ctx); n != 0 || err != nil {
		t.Fatalf("second RemoveTemp = %d, %v", n, err)
	}
}

// Foreign files and directories under the root are not keys.
func TestForeignFilesIgnored(t *testing.T) {
	s := open(t)
	if err := s.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(s.Root(), "README"), nil, 0o600)
	os.WriteFile(filepath.Join(s.Root(), "bad name@"), nil, 0o600)
	os.Mkdir(filepath.Join(s.Root(), "emptydir"), 0o700)
	os.Symlink("/etc/passwd", filepath.Join(s.Root(), "link@"))
	keys, err := s.List(ctx, "")
	if err != nil || !slices.Equal(keys, []string{"k"}) {
		t.Fatalf("List = %q, %v", keys, err)
	}
}

// Delete removes the directories it empties, so that no directory name
// outlives the keys that named it (record ids and patient DIDs), and keeps
// the root.
func TestDeleteRemovesEmptyDirectories(t *testing.T) {
	s := open(t)
	keys := []string{"records/did:medchain:p1/r1/1", "records/did:medchain:p1/r1/2", "records/did:medchain:p2/r1/1"}
	for _, k := range keys {
		if err := s.Put(ctx, k, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range keys[:2] {
		if err := s.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	for p := range walk(t, s.Root()) {
		if strings.Contains(p, "p1") {
			t.Fatalf("%s left after deleting every key below it", p)
		}
	}
	if err := s.Delete(ctx, keys[2]); err != nil {
		t.Fatal(err)
	}
	if got := walk(t, s.Root()); len(got) != 1 {
		t.Fatalf("root not empty after deleting everything: %v", got)
	}
}

// Keys cannot reach outside the root, whatever they contain.
func TestKeysStayInsideRoot(t *testing.T) {
	parent := t.TempDir()
	s, err := Open(filepath.Join(parent, "root"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range blobtest.InvalidKeys {
		_ = s.Put(ctx, k, []byte("x"))
	}
	for _, k := range blobtest.ValidKeys {
		if err := s.Put(ctx, k, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 || entries[0].Name() != "root" {
		t.Fatalf("files written outside the root: %v", entries)
	}
	for p := range walk(t, s.Root()) {
		if p == "." {
			continue
		}
		if strings.HasPrefix(p, "..") || filepath.IsAbs(p) {
			t.Fatalf("path outside the root: %s", p)
		}
	}
}

func BenchmarkPut1KiB(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 1024)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "records/did:medchain:p" + string(rune('a'+i%26)) + "/r" + strings.Repeat("x", i%7) + "/1"
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Put(ctx, keys[i%len(keys)], data); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkGet1KiB(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Put(ctx, "records/did:medchain:p/r/1", make([]byte, 1024)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, "records/did:medchain:p/r/1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPut1KiBParallel measures Put throughput with 16 concurrent
// writers (fsyncs of concurrent Puts overlap).
func BenchmarkPut1KiBParallel(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 1024)
	var n atomic.Int64
	b.SetParallelism(8)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			k := fmt.Sprintf("records/did:medchain:p%d/r%d/1", i%100, i)
			if err := s.Put(ctx, k, data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
