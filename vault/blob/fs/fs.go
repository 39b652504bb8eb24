// Package fs is the file-system [blob.Store], the embedded default vault
// backend, rooted at a directory under the node's home.
//
// # Layout
//
// The key "a/b/c" is the file <root>/a/b/c@: every segment but the last is a
// directory, and the last is a file whose name is the segment followed by
// '@'. The suffix is a character keys cannot contain, so a key and the keys
// below it ("a" and "a/b") never collide as a file and a directory.
// Temporary files are named "@tmp-*" and are never mistaken for blobs. The
// root and every directory are created with mode 0700 and every file with
// mode 0600; an existing root's mode is left alone.
//
// # Atomicity and durability
//
// [Store.Put] writes a temporary file in the key's directory, fsyncs it,
// renames it over the key's file and fsyncs the directory, as well as the
// parent of every directory it created. [Store.Delete] unlinks the file,
// removes the directories it leaves empty and fsyncs the deepest remaining
// one. A crash during Put leaves either the old blob or the new one, and
// possibly a temporary file, which [Store.RemoveTemp] collects.
//
// A Store coordinates the goroutines of one process; two processes must not
// use the same root at the same time.
//
// # Deletion
//
// Deleting a file does not erase its bytes from the disk (see package
// vault/blob): the vault's erasure relies on crypto-shredding, not on this
// package.
package fs

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/medchain/medchain/vault/blob"
)

const (
	fileSuffix = "@"
	tempPrefix = "@tmp-"
	dirMode    = 0o700
)

// Store is a file-system blob store. Its methods are safe for concurrent
// use.
type Store struct {
	root string
	// mu orders directory creation (Put) against directory removal
	// (Delete), so that Delete never removes a directory that a Put is
	// about to create its temporary file in. Puts hold it shared: they
	// may create the same directories at once (mkdirs takes an existing
	// one as made), and many concurrent writes must not queue behind one
	// another's mkdir and create. Delete holds it exclusively. File
	// writes, fsyncs and reads run outside it.
	mu sync.RWMutex
}

var _ blob.Store = (*Store)(nil)

// Open returns the store rooted at dir, creating dir with mode 0700 if it
// does not exist. It does not scan the directory.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("blob/fs: no directory given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob/fs: %w", err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		if err := os.MkdirAll(abs, dirMode); err != nil {
			return nil, fmt.Errorf("blob/fs: creating %s: %w", abs, err)
		}
		// MkdirAll's mode is filtered by the umask; make sure of 0700.
		if err := os.Chmod(abs, dirMode); err != nil {
			return nil, fmt.Errorf("blob/fs: %w", err)
		}
		if err := syncDir(filepath.Dir(abs)); err != nil {
			return nil, fmt.Errorf("blob/fs: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("blob/fs: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("blob/fs: %s is not a directory", abs)
	}
	return &Store{root: abs}, nil
}

// Root returns the store's root directory, an absolute path.
func (s *Store) Root() string { return s.root }

// path returns the file of a valid key.
func (s *Store) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key)+fileSuffix)
}

// Put implements [blob.Store.Put].
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	tmp, final, created, err := s.writeTemp(key, data, true)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("blob/fs: put %q: %w", key, err)
	}
	dir := filepath.Dir(final)
	// The new file's directory entry, then those of the directories made.
	if err := s.syncExisting(dir); err != nil {
		return fmt.Errorf("blob/fs: put %q: %w", key, err)
	}
	for _, d := range created {
		if err := s.syncExisting(filepath.Dir(d)); err != nil {
			return fmt.Errorf("blob/fs: put %q: %w", key, err)
		}
	}
	return nil
}

// writeTemp writes data to a new temporary file, mode 0600, in the
// directory of key's file, making that directory and its missing parents
// first; with sync it also fsyncs the file. It returns the temporary
// file's name, key's file and the directories made, deepest first. On an
// error no temporary file is left.
func (s *Store) writeTemp(key string, data []byte, sync bool) (tmp, final string, created []string, err error) {
	final = s.path(key)
	dir := filepath.Dir(final)
	s.mu.RLock()
	created, err = s.mkdirs(dir)
	var f *os.File
	if err == nil {
		f, err = os.CreateTemp(dir, tempPrefix+"*")
	}
	s.mu.RUnlock()
	if err != nil {
		return "", "", nil, fmt.Errorf("blob/fs: put %q: %w", key, err)
	}
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", "", nil, fmt.Errorf("blob/fs: put %q: %w", key, err)
	}
	return f.Name(), final, created, nil
}

// mkdirs creates dir and its missing parents below the root, mode 0700, and
// returns the directories it created, deepest first (or that a
// concurrent Put created meanwhile). s.mu must be held, shared or not.
func (s *Store) mkdirs(dir string) ([]string, error) {
	var missing []string
	for d := dir; d != s.root; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return nil, fmt.Errorf("%s is not a directory", d)
			}
			break
		}
		if !errors.Is(err, iofs.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], dirMode); err != nil && !errors.Is(err, iofs.ErrExist) {
			return nil, err
		}
	}
	return missing, nil
}

// Get implements [blob.Store.Get].
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := check(ctx, key); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(s.path(key))
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %q", blob.ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("blob/fs: get %q: %w", key, err)
	}
	return data, nil
}

// Delete implements [blob.Store.Delete]. It also removes the directories
// the deletion leaves empty, so that no empty directory keeps a deleted
// key's name.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	file := s.path(key)
	s.mu.Lock()
	err := os.Remove(file)
	if errors.Is(err, iofs.ErrNotExist) {
		s.mu.Unlock()
		return nil
	}
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("blob/fs: delete %q: %w", key, err)
	}
	// Remove the directories left empty; os.Remove fails on a non-empty one.
	dir := filepath.Dir(file)
	for dir != s.root && os.Remove(dir) == nil {
		dir = filepath.Dir(dir)
	}
	s.mu.Unlock()
	if err := s.syncExisting(dir); err != nil {
		return fmt.Errorf("blob/fs: delete %q: %w", key, err)
	}
	return nil
}

// List implements [blob.Store.List].
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := blob.ValidPrefix(prefix); err != nil {
		return nil, err
	}
	// Start at the deepest directory the prefix names in full.
	start := s.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = filepath.Join(s.root, filepath.FromSlash(prefix[:i]))
	}
	keys := make([]string, 0)
	err := filepath.WalkDir(start, func(path string, d iofs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, iofs.ErrNotExist) {
				return nil // the prefix's directory, or one removed meanwhile
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(s.root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if path == start {
				return nil
			}
			// Descend only where keys can begin with prefix.
			if p := rel + "/"; !strings.HasPrefix(p, prefix) && !strings.HasPrefix(prefix, p) {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if !d.Type().IsRegular() || strings.HasPrefix(name, tempPrefix) || !strings.HasSuffix(name, fileSuffix) {
			return nil
		}
		key := strings.TrimSuffix(rel, fileSuffix)
		if strings.HasPrefix(key, prefix) && blob.ValidKey(key) == nil {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blob/fs: list %q: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// RemoveTemp removes the temporary files that interrupted Puts left behind
// (a crash between creating and renaming one) and returns how many it
// removed. Call it when no Put is in progress, such as at startup: it would
// also remove the temporary file of a running Put, which would then fail.
func (s *Store) RemoveTemp(ctx context.Context) (int, error) {
	n := 0
	err := filepath.WalkDir(s.root, func(path string, d iofs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, iofs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), tempPrefix) {
			if err := os.Remove(path); err != nil && !errors.Is(err, iofs.ErrNotExist) {
				return err
			}
			n++
			return syncDir(filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("blob/fs: removing temporary files: %w", err)
	}
	return n, nil
}

func check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return blob.ValidKey(key)
}

// syncExisting fsyncs dir or, if a concurrent Delete removed it meanwhile,
// its deepest remaining ancestor (the removal is then that Delete's to
// flush, and it does).
func (s *Store) syncExisting(dir string) error {
	for {
		err := syncDir(dir)
		if errors.Is(err, iofs.ErrNotExist) && dir != s.root {
			dir = filepath.Dir(dir)
			continue
		}
		return err
	}
}

// syncDir flushes a directory's entries to stable storage.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
