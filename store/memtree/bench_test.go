package memtree

import (
	"math/rand/v2"
	"testing"

	dbm "github.com/cosmos/cosmos-db"
	"github.com/cosmos/iavl"
	iavldb "github.com/cosmos/iavl/db"
)

// The benchmarks compare memtree with IAVL v1 as store.MultiStore runs it
// (goleveldb on disk, 200,000 cached nodes, 1 MB flush threshold) on the
// bench load's shape: a tree of benchKeys identities, then blocks of
// benchBlock writes, half new keys at random positions and half updates
// of random existing keys, each block hashed and saved. ns/op is per
// write, hashing and saving included.
const (
	benchKeys  = 100_000
	benchBlock = 2_000
)

func benchKey(rng *rand.Rand) []byte {
	k := make([]byte, 1+16)
	k[0] = 0x01
	for i := 1; i < len(k); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < len(k); j++ {
			k[i+j] = byte(v >> (8 * j))
		}
	}
	return k
}

var benchValue = make([]byte, 300) // about an identity record's JSON

// tree is what the benchmarks drive: memtree or IAVL v1.
type tree interface {
	Set(key, value []byte) (bool, error)
	SaveVersion() ([]byte, int64, error)
}

type memAdapter struct{ *Tree }

func (m memAdapter) SaveVersion() ([]byte, int64, error) {
	h, v := m.Tree.SaveVersion()
	return h, v, nil
}

func newIAVLOnDisk(b *testing.B) *iavl.MutableTree {
	db, err := dbm.NewGoLevelDB("bench", b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return iavl.NewMutableTree(iavldb.NewWrapper(db), 200_000, true, iavl.NewNopLogger(), iavl.FlushThresholdOption(1<<20))
}

// fill preloads benchKeys keys in blocks and returns them.
func fill(b *testing.B, tr tree, rng *rand.Rand) [][]byte {
	keys := make([][]byte, 0, benchKeys)
	for len(keys) < benchKeys {
		for range benchBlock * 5 {
			k := benchKey(rng)
			keys = append(keys, k)
			if _, err := tr.Set(k, benchValue); err != nil {
				b.Fatal(err)
			}
		}
		if _, _, err := tr.SaveVersion(); err != nil {
			b.Fatal(err)
		}
	}
	return keys
}

func benchBlocks(b *testing.B, tr tree) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := fill(b, tr, rng)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := keys[rng.IntN(len(keys))]
		if i%2 == 0 {
			k = benchKey(rng)
			keys = append(keys, k)
		}
		if _, err := tr.Set(k, benchValue); err != nil {
			b.Fatal(err)
		}
		if i%benchBlock == benchBlock-1 {
			if _, _, err := tr.SaveVersion(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkWriteBlocksMemtree(b *testing.B) { benchBlocks(b, memAdapter{New()}) }
func BenchmarkWriteBlocksIAVL(b *testing.B)    { benchBlocks(b, newIAVLOnDisk(b)) }

// The read benchmarks: Get of random present keys at the latest saved
// version, as CheckTx's look-ups do.
func BenchmarkGetMemtree(b *testing.B) {
	tr := New()
	rng := rand.New(rand.NewPCG(1, 2))
	keys := fill(b, memAdapter{tr}, rng)
	v := tr.Saved()
	b.ResetTimer()
	for range b.N {
		if v.Get(keys[rng.IntN(len(keys))]) == nil {
			b.Fatal("missing key")
		}
	}
}

func BenchmarkGetIAVL(b *testing.B) {
	tr := newIAVLOnDisk(b)
	rng := rand.New(rand.NewPCG(1, 2))
	keys := fill(b, tr, rng)
	it, err := tr.GetImmutable(tr.Version())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if v, err := it.Get(keys[rng.IntN(len(keys))]); err != nil || v == nil {
			b.Fatal("missing key", err)
		}
	}
}
