package store

import (
	"encoding/json"
	"fmt"
)

// GetJSON decodes the JSON value at key of the store called name into v
// and reports whether the key was present. A value that does not decode is
// corrupt state, not a bad transaction: GetJSON panics, naming the store
// and the key (see the package comment).
func GetJSON(r Reader, name string, key []byte, v any) bool {
	bz := r.Get(key)
	if bz == nil {
		return false
	}
	if err := json.Unmarshal(bz, v); err != nil {
		panic(fmt.Sprintf("%s: corrupt state at %X: %v", name, key, err))
	}
	return true
}

// SetJSON writes v, JSON-encoded, at key. Module state types always encode,
// so a failure is a programming error and panics.
func SetJSON(kv KV, key []byte, v any) {
	bz, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	kv.Set(key, bz)
}
