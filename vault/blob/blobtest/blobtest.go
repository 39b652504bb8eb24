// Package blobtest is the conformance suite of [blob.Store]: every backend
// runs [Run] from its tests, so that all backends behave the same way.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/medchain/medchain/vault/blob"
)

// InvalidKeys are keys every Store must reject with blob.ErrInvalidKey.
var InvalidKeys = []string{
	"",
	"/",
	"/a",
	"a/",
	"a//b",
	"..",
	"../a",
	"a/..",
	"a/../b",
	"a..b",
	".",
	"./a",
	"a/.",
	"a/./b",
	"a b",
	"a\\b",
	"a\x00b",
	"a\nb",
	"a@b",
	"a%2Fb",
	"é",
	"a*",
	"~",
	strings.Repeat("k", blob.MaxSegmentLength+1),
	strings.Repeat("a/", blob.MaxKeyLength/2) + "a",
}

// InvalidPrefixes are list prefixes every Store must reject with
// blob.ErrInvalidKey.
var InvalidPrefixes = []string{"/", "/a", "a//", "..", "a/../", "./", "a/./", "a b", "a@", strings.Repeat("k", blob.MaxSegmentLength+1)}

// ValidKeys are unusual keys every Store must accept.
var ValidKeys = []string{
	"a",
	"A.z_0-9:x",
	".hidden",
	"a/.b",
	"a.",
	"-",
	"_",
	":",
	"records/did:medchain:z6Mkf5rGMoatrSj1f4CyvuHBeXJELe9RPdzo2PKGNCKVtZxP/rec-0001/1",
	strings.Repeat("s", blob.MaxSegmentLength),
	strings.Repeat(strings.Repeat("s", 99)+"/", 10) + strings.Repeat("s", blob.MaxKeyLength-1000),
}

// Run runs the conformance suite, as subtests of t, against stores made by
// newStore. Each subtest gets a new, empty store.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, blob.Store)
	}{
		{"PutGet", testPutGet},
		{"EmptyBlob", testEmptyBlob},
		{"Overwrite", testOverwrite},
		{"GetMissing", testGetMissing},
		{"Delete", testDelete},
		{"KeysBelowKeys", testKeysBelowKeys},
		{"List", testList},
		{"ListPrefixes", testListPrefixes},
		{"InvalidKeys", testInvalidKeys},
		{"ValidKeys", testValidKeys},
		{"NoAliasing", testNoAliasing},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ConcurrentPutsOneKey", testConcurrentPutsOneKey},
		{"ConcurrentPutDelete", testConcurrentPutDelete},
		{"LargeBlob", testLargeBlob},
		{"DoneContext", testDoneContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

var ctx = context.Background()

func put(t *testing.T, s blob.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(ctx, key, data); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	b, err := s.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return b
}

func expectBlob(t *testing.T, s blob.Store, key string, want []byte) {
	t.Helper()
	if got := get(t, s, key); !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %d bytes %.32q, want %d bytes %.32q", key, len(got), got, len(want), want)
	}
}

func expectNotFound(t *testing.T, s blob.Store, key string) {
	t.Helper()
	b, err := s.Get(ctx, key)
	if !errors.Is(err, blob.ErrNotFound) || b != nil {
		t.Fatalf("Get(%q) = %d bytes, %v; want ErrNotFound", key, len(b), err)
	}
}

func list(t *testing.T, s blob.Store, prefix string) []string {
	t.Helper()
	keys, err := s.List(ctx, prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return keys
}

func expectList(t *testing.T, s blob.Store, prefix string, want ...string) {
	t.Helper()
	got := list(t, s, prefix)
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List(%q) = %q, want %q", prefix, got, want)
	}
}

func testPutGet(t *testing.T, s blob.Store) {
	blobs := map[string][]byte{
		"a":                               []byte("alpha"),
		"b/c":                             []byte("beta gamma"),
		"b/d/e/f/g":                       {0, 1, 2, 0xff},
		"records/did:medchain:p1/rec-1/1": []byte("ciphertext"),
	}
	for k, v := range blobs {
		put(t, s, k, v)
	}
	for k, v := range blobs {
		expectBlob(t, s, k, v)
	}
}

func testEmptyBlob(t *testing.T, s blob.Store) {
	put(t, s, "empty", nil)
	put(t, s, "empty2", []byte{})
	for _, k := range []string{"empty", "empty2"} {
		b, err := s.Get(ctx, k)
		if err != nil || len(b) != 0 {
			t.Fatalf("Get(%q) = %q, %v; want an empty blob", k, b, err)
		}
	}
	expectList(t, s, "", "empty", "empty2")
}

func testOverwrite(t *testing.T, s blob.Store) {
	put(t, s, "k", []byte("first version, longer than the second"))
	put(t, s, "k", []byte("second"))
	expectBlob(t, s, "k", []byte("second"))
	put(t, s, "k", nil)
	expectBlob(t, s, "k", nil)
	put(t, s, "k", []byte("third"))
	expectBlob(t, s, "k", []byte("third"))
	expectList(t, s, "", "k")
}

func testGetMissing(t *testing.T, s blob.Store) {
	expectNotFound(t, s, "missing")
	put(t, s, "a/b/c", []byte("x"))
	// Prefixes and neighbours of a key hold no blob.
	for _, k := range []string{"a", "a/b", "a/b/c/d", "a/b/cc", "a/b/", "a/b/c.", "a/b/c/"} {
		if blob.ValidKey(k) != nil {
			continue
		}
		expectNotFound(t, s, k)
	}
}

func testDelete(t *testing.T, s blob.Store) {
	put(t, s, "d/one", []byte("1"))
	put(t, s, "d/two", []byte("2"))
	if err := s.Delete(ctx, "d/one"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	expectNotFound(t, s, "d/one")
	expectBlob(t, s, "d/two", []byte("2"))
	expectList(t, s, "", "d/two")
	for _, k := range []string{"d/one", "never", "d", "x/y/z"} {
		if err := s.Delete(ctx, k); err != nil {
			t.Fatalf("Delete(%q) of a missing key: %v", k, err)
		}
	}
	if err := s.Delete(ctx, "d/two"); err != nil {
		t.Fatal(err)
	}
	expectList(t, s, "")
	// A deleted key can be put again.
	put(t, s, "d/one", []byte("again"))
	expectBlob(t, s, "d/one", []byte("again"))
	expectList(t, s, "", "d/one")
}

// A key is independent of the keys it is a prefix of.
func testKeysBelowKeys(t *testing.T, s blob.Store) {
	keys := []string{"a", "a/b", "a/b/c", "a.b", "ab", "a-b", "a:b", "a_b"}
	for _, k := range keys {
		put(t, s, k, []byte("v:"+k))
	}
	for _, k := range keys {
		expectBlob(t, s, k, []byte("v:"+k))
	}
	if err := s.Delete(ctx, "a/b"); err != nil {
		t.Fatal(err)
	}
	expectBlob(t, s, "a", []byte("v:a"))
	expectBlob(t, s, "a/b/c", []byte("v:a/b/c"))
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	expectBlob(t, s, "a/b/c", []byte("v:a/b/c"))
	if err := s.Delete(ctx, "a/b/c"); err != nil {
		t.Fatal(err)
	}
	put(t, s, "a", []byte("v:a2"))
	expectBlob(t, s, "a", []byte("v:a2"))
	expectList(t, s, "", "a", "a-b", "a.b", "a:b", "a_b", "ab")
}

func testList(t *testing.T, s blob.Store) {
	expectList(t, s, "")
	keys := []string{"z", "a/b", "a", "A", "0", "a/a/a", "b:c", "a-b", "a.b", "a_b", "m/n/o/p"}
	for _, k := range keys {
		put(t, s, k, []byte(k))
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	expectList(t, s, "", want...)
	if got := list(t, s, ""); !slices.IsSorted(got) {
		t.Fatalf("List not sorted: %q", got)
	}
}

func testListPrefixes(t *testing.T, s blob.Store) {
	keys := []string{
		"records/did:medchain:p1/r1/1",
		"records/did:medchain:p1/r1/2",
		"records/did:medchain:p1/r2/1",
		"records/did:medchain:p10/r1/1",
		"records/did:medchain:p2/r1/1",
		"records",
		"records.bak",
		"receipts/e1",
		".dot/x",
	}
	for _, k := range keys {
		put(t, s, k, []byte("x"))
	}
	cases := map[string][]string{
		"records/did:medchain:p1/": {"records/did:medchain:p1/r1/1", "records/did:medchain:p1/r1/2", "records/did:medchain:p1/r2/1"},
		"records/did:medchain:p1": {"records/did:medchain:p1/r1/1", "records/did:medchain:p1/r1/2", "records/did:medchain:p1/r2/1",
			"records/did:medchain:p10/r1/1"},
		"records/did:medchain:p1/r1/":   {"records/did:medchain:p1/r1/1", "records/did:medchain:p1/r1/2"},
		"records/did:medchain:p1/r1/1":  {"records/did:medchain:p1/r1/1"},
		"records/did:medchain:p3/":      {},
		"records/did:medchain:p2/r1/1/": {},
		"records/":                      {"records/did:medchain:p1/r1/1", "records/did:medchain:p1/r1/2", "records/did:medchain:p1/r2/1", "records/did:medchain:p10/r1/1", "records/did:medchain:p2/r1/1"},
		"rec":                           {"receipts/e1", "records", "records.bak", "records/did:medchain:p1/r1/1", "records/did:medchain:p1/r1/2", "records/did:medchain:p1/r2/1", "records/did:medchain:p10/r1/1", "records/did:medchain:p2/r1/1"},
		"records.":                      {"records.bak"},
		".":                             {".dot/x"},
		".dot/":                         {".dot/x"},
		"nothing/here/":                 {},
		"z":                             {},
	}
	for prefix, want := range cases {
		expectList(t, s, prefix, want...)
	}
}

func testInvalidKeys(t *testing.T, s blob.Store) {
	for _, k := range InvalidKeys {
		if err := blob.ValidKey(k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Fatalf("ValidKey(%q) = %v, want ErrInvalidKey", k, err)
		}
		if err := s.Put(ctx, k, []byte("x")); !errors.Is(err, blob.ErrInvalidKey) {
			t.Fatalf("Put(%q) = %v, want ErrInvalidKey", k, err)
		}
		if b, err := s.Get(ctx, k); !errors.Is(err, blob.ErrInvalidKey) || b != nil {
			t.Fatalf("Get(%q) = %v, want ErrInvalidKey", k, err)
		}
		if err := s.Delete(ctx, k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Fatalf("Delete(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
	for _, p := range InvalidPrefixes {
		if keys, err := s.List(ctx, p); !errors.Is(err, blob.ErrInvalidKey) || keys != nil {
			t.Fatalf("List(%q) = %q, %v; want ErrInvalidKey", p, keys, err)
		}
	}
	expectList(t, s, "")
}

func testValidKeys(t *testing.T, s blob.Store) {
	for _, k := range ValidKeys {
		if err := blob.ValidKey(k); err != nil {
			t.Fatalf("ValidKey(%q): %v", k, err)
		}
		put(t, s, k, []byte("v:"+k))
	}
	for _, k := range ValidKeys {
		expectBlob(t, s, k, []byte("v:"+k))
	}
	want := slices.Clone(ValidKeys)
	slices.Sort(want)
	expectList(t, s, "", want...)
	for _, k := range ValidKeys {
		if err := s.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	expectList(t, s, "")
}

func testNoAliasing(t *testing.T, s blob.Store) {
	in := []byte("original")
	put(t, s, "k", in)
	copy(in, "MODIFIED")
	out := get(t, s, "k")
	if string(out) != "original" {
		t.Fatalf("the store kept a reference to Put's data: %q", out)
	}
	copy(out, "CHANGED!")
	expectBlob(t, s, "k", []byte("original"))
}

func testConcurrentPuts(t *testing.T, s blob.Store) {
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				// Shared directories, so that backends with a tree create
				// them concurrently.
				k := fmt.Sprintf("c/%d/w%d", i%3, w*each+i)
				if err := s.Put(ctx, k, []byte(k)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	keys := list(t, s, "c/")
	if len(keys) != workers*each {
		t.Fatalf("%d keys after %d puts", len(keys), workers*each)
	}
	for _, k := range keys {
		expectBlob(t, s, k, []byte(k))
	}
}

// Concurrent Puts to one key, with concurrent Gets: every Get sees one
// whole value, and the last state is one whole value.
func testConcurrentPutsOneKey(t *testing.T, s blob.Store) {
	const writers, rounds, size = 4, 20, 64 << 10
	value := func(w, r int) []byte {
		v := bytes.Repeat([]byte{byte(w*rounds + r)}, size+w*r)
		return v
	}
	whole := func(b []byte) bool {
		if len(b) < size {
			return false
		}
		for _, c := range b {
			if c != b[0] {
				return false
			}
		}
		w, r := int(b[0])/rounds, int(b[0])%rounds
		return len(b) == size+w*r
	}
	put(t, s, "one", value(0, 0))
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds*2)
	stop := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				if err := s.Put(ctx, "one", value(w, r)); err != nil {
					errs <- err
				}
			}
		})
	}
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := s.Get(ctx, "one")
			if err != nil {
				errs <- err
				return
			}
			if !whole(b) {
				errs <- fmt.Errorf("Get saw a partial or mixed value (%d bytes)", len(b))
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if b := get(t, s, "one"); !whole(b) {
		t.Fatalf("final value is not whole (%d bytes)", len(b))
	}
	expectList(t, s, "", "one")
}

// Puts and Deletes racing in the same directories never fail.
func testConcurrentPutDelete(t *testing.T, s blob.Store) {
	const workers, rounds = 6, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*2)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				k := fmt.Sprintf("pd/x/y/%d", (w+r)%4)
				if err := s.Put(ctx, k, []byte(k)); err != nil {
					errs <- err
				}
				if err := s.Delete(ctx, k); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, k := range list(t, s, "") {
		expectBlob(t, s, k, []byte(k))
	}
	put(t, s, "pd/x/y/0", []byte("last"))
	expectBlob(t, s, "pd/x/y/0", []byte("last"))
}

func testLargeBlob(t *testing.T, s blob.Store) {
	big := make([]byte, 32<<20+7)
	rand.Read(big)
	put(t, s, "large/blob", big)
	expectBlob(t, s, "large/blob", big)
	smaller := big[:1<<20]
	put(t, s, "large/blob", smaller)
	expectBlob(t, s, "large/blob", smaller)
}

func testDoneContext(t *testing.T, s blob.Store) {
	put(t, s, "k", []byte("v"))
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(done, "k2", []byte("v")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a canceled context: %v", err)
	}
	if _, err := s.Get(done, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a canceled context: %v", err)
	}
	if err := s.Delete(done, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Delete with a canceled context: %v", err)
	}
	if _, err := s.List(done, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("List with a canceled context: %v", err)
	}
	expectBlob(t, s, "k", []byte("v"))
	expectList(t, s, "", "k")
}
