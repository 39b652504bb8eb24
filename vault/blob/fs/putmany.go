package fs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/medchain/medchain/vault/blob"
)

var _ blob.BatchPutter = (*Store)(nil)

// PutMany implements [blob.BatchPutter]: every blob is written to a
// temporary file in its directory; then one sync makes all of them
// durable; then each is renamed over its key's file; then a second sync
// makes the renames (and the directories made) durable. A crash at any
// point leaves each key with its previous blob or its new one, never a
// part, and at most temporary files, which Open's caller removes with
// RemoveTemp. On Linux a sync is one syncfs(2) of the store's file system;
// elsewhere, fsyncs of every file and directory involved.
func (s *Store) PutMany(ctx context.Context, keys []string, data [][]byte) error {
	if len(keys) != len(data) {
		return fmt.Errorf("blob/fs: put many: %d keys, %d blobs", len(keys), len(data))
	}
	for i, key := range keys {
		if err := check(ctx, key); err != nil {
			return err
		}
		if slices.Contains(keys[:i], key) {
			return fmt.Errorf("blob/fs: put many: key %q given twice", key)
		}
	}
	type file struct{ tmp, final string }
	files := make([]file, 0, len(keys))
	defer func() {
		for _, f := range files {
			if f.tmp != "" {
				os.Remove(f.tmp)
			}
		}
	}()
	var dirs []string // every directory written in, and the parents of those made
	for i, key := range keys {
		tmp, final, created, err := s.writeTemp(key, data[i], false)
		if err != nil {
			return err
		}
		files = append(files, file{tmp, final})
		dirs = append(dirs, filepath.Dir(final))
		for _, d := range created {
			dirs = append(dirs, filepath.Dir(d))
		}
	}
	slices.Sort(dirs)
	dirs = slices.Compact(dirs)
	tmps := make([]string, len(files))
	for i, f := range files {
		tmps[i] = f.tmp
	}
	if err := s.syncMany(tmps, nil); err != nil {
		return fmt.Errorf("blob/fs: put many: sync: %w", err)
	}
	for i := range files {
		if err := os.Rename(files[i].tmp, files[i].final); err != nil {
			return fmt.Errorf("blob/fs: put %q: %w", keys[i], err)
		}
		files[i].tmp = ""
	}
	if err := s.syncMany(nil, dirs); err != nil {
		return fmt.Errorf("blob/fs: put many: sync: %w", err)
	}
	return nil
}

// syncMany makes the given files and directories durable: with one
// syncfs where the platform has it (syncFS), else one fsync each.
func (s *Store) syncMany(files, dirs []string) error {
	if ok, err := syncFS(s.root); ok {
		return err
	}
	for _, f := range files {
		if err := syncFile(f); err != nil {
			return err
		}
	}
	for _, d := range dirs {
		if err := s.syncExisting(d); err != nil {
			return err
		}
	}
	return nil
}

func syncFile(name string) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
