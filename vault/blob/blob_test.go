package blob

import (
	"errors"
	"strings"
	"testing"
)

func TestValidKey(t *testing.T) {
	valid := []string{"a", "a/b", "a/.b", ".a", "a.", "did:medchain:x", "A-Z_0.9:x/y", strings.Repeat("k", MaxSegmentLength)}
	invalid := []string{"", "/", "/a", "a/", "a//b", ".", "./a", "a/.", "a/./b", "..", "a..b", "a/../b", "a b", "a@", "a\\b", "é",
		strings.Repeat("k", MaxSegmentLength+1), strings.Repeat("k/", MaxKeyLength/2+1)}
	for _, k := range valid {
		if err := ValidKey(k); err != nil {
			t.Errorf("ValidKey(%q) = %v", k, err)
		}
	}
	for _, k := range invalid {
		if err := ValidKey(k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidKey(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
}

func TestValidPrefix(t *testing.T) {
	valid := []string{"", "a", "a/", "a/b/", "a/.", ".", "records/did:medchain:", "a-"}
	invalid := []string{"/", "/a", "a//", "./", "a/./", "..", "a/..", "a@", "a b"}
	for _, p := range valid {
		if err := ValidPrefix(p); err != nil {
			t.Errorf("ValidPrefix(%q) = %v", p, err)
		}
	}
	for _, p := range invalid {
		if err := ValidPrefix(p); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidPrefix(%q) = %v, want ErrInvalidKey", p, err)
		}
	}
	// Every valid key is a valid prefix.
	for _, k := range []string{"a", "a/b", "a/.b"} {
		if ValidPrefix(k) != nil {
			t.Errorf("key %q is not a valid prefix", k)
		}
	}
}
