// Package mem is an in-memory [blob.Store], for tests. It follows the
// [blob.Store] contract except durability: everything is lost with the
// process.
package mem

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/medchain/medchain/vault/blob"
)

// Store is an in-memory blob store. The zero value is not usable; use [New].
type Store struct {
	mu    sync.RWMutex
	blobs map[string][]byte
}

var _ blob.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{blobs: make(map[string][]byte)}
}

// Put implements [blob.Store.Put]; it stores a copy of data.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	v := append(make([]byte, 0, len(data)), data...)
	s.mu.Lock()
	s.blobs[key] = v
	s.mu.Unlock()
	return nil
}

// Get implements [blob.Store.Get]; it returns a copy.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := check(ctx, key); err != nil {
		return nil, err
	}
	s.mu.RLock()
	v, ok := s.blobs[key]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", blob.ErrNotFound, key)
	}
	return append(make([]byte, 0, len(v)), v...), nil
}

// Delete implements [blob.Store.Delete].
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.blobs, key)
	s.mu.Unlock()
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
	s.mu.RLock()
	keys := make([]string, 0)
	for k := range s.blobs {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	s.mu.RUnlock()
	slices.Sort(keys)
	return keys, nil
}

// Len returns the number of blobs stored.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.blobs)
}

func check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return blob.ValidKey(key)
}
