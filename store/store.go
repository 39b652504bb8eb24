// Package store holds medchain's state: named, versioned, Merkle-ized
// key-value stores (one IAVL tree per module) whose roots are committed
// together into the application hash, plus the transaction-scoped write
// cache that makes every transaction atomic. Besides them, a module may keep
// index stores (index.go): unauthenticated, unversioned namespaces of the same
// database for lookup data it derives from its authenticated state.
//
// Errors from the underlying database are not returned through KV: a store
// that cannot read or write its own database is a broken node, so those
// paths panic and the node stops, as the ABCI contract requires for
// application failures. Callers never see partial writes.
package store

// Reader reads one store. Returned slices must not be modified.
type Reader interface {
	// Get returns the value at key, or nil when absent.
	Get(key []byte) []byte
	// Has reports whether key is present.
	Has(key []byte) bool
	// Iterator ranges over [start, end) in ascending key order; nil bounds
	// are open. The caller must Close it.
	Iterator(start, end []byte) Iterator
	// ReverseIterator is Iterator in descending order.
	ReverseIterator(start, end []byte) Iterator
}

// KV is a readable and writable store. Values must not be nil or empty.
// Set may keep key and value (both backends do): the caller must not
// modify them afterwards.
type KV interface {
	Reader
	Set(key, value []byte)
	Delete(key []byte)
}

// Iterator walks keys in order.
type Iterator interface {
	Valid() bool
	Next()
	Key() []byte
	Value() []byte
	Close() error
}

// PrefixEnd returns the smallest key greater than every key with the given
// prefix, or nil when there is none; Iterator(p, PrefixEnd(p)) ranges over a
// prefix.
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
