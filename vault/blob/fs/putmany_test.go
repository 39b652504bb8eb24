package fs

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestPutMany stores a batch (new keys, a replaced one, keys sharing and
// not sharing directories), reads every blob back, leaves no temporary
// file, and refuses duplicate or invalid keys before writing anything.
func TestPutMany(t *testing.T) {
	s := open(t)
	if err := s.Put(ctx, "records/a/1", []byte("old")); err != nil {
		t.Fatal(err)
	}
	var keys []string
	var data [][]byte
	for i := range 40 {
		keys = append(keys, fmt.Sprintf("records/r%d/%d", i/2, i%2+1))
		data = append(data, bytes.Repeat([]byte{byte(i)}, 100+i))
	}
	keys = append(keys, "records/a/1", "top")
	data = append(data, []byte("new"), []byte("t"))
	if err := s.PutMany(ctx, keys, data); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		got, err := s.Get(ctx, k)
		if err != nil || !bytes.Equal(got, data[i]) {
			t.Fatalf("%s: %q %v", k, got, err)
		}
	}
	for p := range walk(t, s.Root()) {
		if strings.Contains(p, tempPrefix) {
			t.Errorf("temporary file left: %s", p)
		}
	}
	// Reopened, the same.
	s2, err := Open(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s2.Get(ctx, "records/r19/2"); !bytes.Equal(got, data[39]) {
		t.Errorf("after reopening: %q", got)
	}
	before := walk(t, s.Root())
	for _, tc := range []struct {
		keys []string
		data [][]byte
	}{
		{[]string{"x/1", "x/1"}, [][]byte{{1}, {2}}},
		{[]string{"x/1", "../x"}, [][]byte{{1}, {2}}},
		{[]string{"x/1"}, nil},
	} {
		if err := s.PutMany(ctx, tc.keys, tc.data); err == nil {
			t.Errorf("PutMany(%v) succeeded", tc.keys)
		}
	}
	if after := walk(t, s.Root()); len(after) != len(before) {
		t.Errorf("a refused PutMany changed the store: %d paths, then %d", len(before), len(after))
	}
}

// BenchmarkPutMany1KiB stores batches of 32 blobs of 1 KiB (one record
// directory each, as the vault does); ns/op is per blob.
func BenchmarkPutMany1KiB(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 1024)
	const batch = 32
	keys := make([]string, batch)
	bufs := make([][]byte, batch)
	n := 0
	b.ReportAllocs()
	for i := 0; i < b.N; i += batch {
		for j := range batch {
			keys[j] = fmt.Sprintf("records/r%d/1", n)
			bufs[j] = data
			n++
		}
		if err := s.PutMany(ctx, keys, bufs); err != nil {
			b.Fatal(err)
		}
	}
}
