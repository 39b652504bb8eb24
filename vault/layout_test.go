package vault

import (
	"testing"
	"time"

	"github.com/medchain/medchain/vault/blob"
)

func TestBlobKeyLayout(t *testing.T) {
	for _, id := range []string{"a", "abc123", "Ab-9.x", NewRecordID()} {
		for _, v := range []uint64{1, 2, 18446744073709551615} {
			for _, key := range []string{blobKey(id, v), legacyBlobKey(id, v)} {
				if err := blob.ValidKey(key); err != nil {
					t.Fatalf("%q: %v", key, err)
				}
				gotID, gotV, ok := ParseBlobKey(key)
				if !ok || gotID != id || gotV != v {
					t.Errorf("parse %q = %q %d %v", key, gotID, gotV, ok)
				}
			}
		}
	}
	// A record's prefix covers its versions and no other record's.
	p := RecordBlobPrefixes("ab")[0]
	if k := blobKey("ab", 7); k[:len(p)] != p {
		t.Errorf("%q is not under %q", k, p)
	}
	if k := blobKey("abc", 7); len(k) >= len(p) && k[:len(p)] == p {
		t.Errorf("record abc's blob %q is under record ab's prefix %q", k, p)
	}
	for _, bad := range []string{"rec/00/x:1", "rec/" + shard("x") + "/x", "rec/" + shard("x") + "/x:y", "records/x/1/2", "records/x", "other/x/1", "rec/" + shard("x") + "/:1"} {
		if id, v, ok := ParseBlobKey(bad); ok {
			t.Errorf("parse %q = %q %d, want not a record blob", bad, id, v)
		}
	}
}

func TestNewRecordIDsSortByTime(t *testing.T) {
	prev := NewRecordID()
	for range 3 {
		time.Sleep(2 * time.Millisecond)
		id := NewRecordID()
		if len(id) != 26 || id <= prev {
			t.Fatalf("id %q after %q: want 26 characters, sorting after", id, prev)
		}
		if _, _, ok := ParseBlobKey(blobKey(id, 1)); !ok {
			t.Fatalf("id %q makes an invalid blob key", id)
		}
		prev = id
	}
	if a, b := NewRecordID(), NewRecordID(); a == b {
		t.Fatal("two ids alike")
	}
}
