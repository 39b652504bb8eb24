package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/medchain/medchain/store/memtree"
	"github.com/medchain/medchain/store/proof"
)

// Snapshots of the memtree backend (MemTreeConfig.SnapshotDir). A snapshot
// file "snapshot-<height>" holds
//
//	snapshotMagic, uvarint(height), uvarint(number of stores), then per
//	store in name order: uvarint(len(name)) name, memtree snapshot
//
// It is written as "<name>.tmp", synced, renamed, and the directory
// synced; only then does "m/snapshot" point at it, and only after that
// are older snapshot files and the change sets up to its height deleted.
// A crash at any step leaves the previous snapshot and every change set
// after it.

const snapshotMagic = "medchain memtree snapshot 1\n"

func snapshotPath(dir string, v int64) string {
	return filepath.Join(dir, fmt.Sprintf("snapshot-%020d", v))
}

// writeSnapshot writes the saved views of version v (one per store) as
// the latest snapshot, then deletes what it makes redundant.
func (m *MultiStore) writeSnapshot(v int64, views []*memtree.View) error {
	dir := m.mem.cfg.SnapshotDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	final := snapshotPath(dir, v)
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // a no-op once renamed
	w := bufio.NewWriterSize(f, 1<<16)
	hdr := append([]byte(snapshotMagic), binary.AppendUvarint(nil, uint64(v))...)
	hdr = binary.AppendUvarint(hdr, uint64(len(m.names)))
	_, err = w.Write(hdr)
	for i, name := range m.names {
		if err != nil {
			break
		}
		b := binary.AppendUvarint(nil, uint64(len(name)))
		if _, err = w.Write(append(b, name...)); err == nil {
			err = views[i].Export(w)
		}
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write snapshot of height %d: %w", v, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	if err := m.db.SetSync(snapshotMeta, binary.BigEndian.AppendUint64(nil, uint64(v))); err != nil {
		return fmt.Errorf("record snapshot of height %d: %w", v, err)
	}
	// What the snapshot makes redundant: older snapshots, and the change
	// sets up to its height.
	old, _ := filepath.Glob(filepath.Join(dir, "snapshot-*"))
	for _, p := range old {
		if p != final && filepath.Ext(p) != ".tmp" {
			_ = os.Remove(p)
		}
	}
	return m.deleteChangeSets(v)
}

func (m *MultiStore) deleteChangeSets(upTo int64) error {
	it, err := m.db.Iterator(changeKey(0), changeKey(upTo+1))
	if err != nil {
		return err
	}
	var keys [][]byte
	for ; it.Valid(); it.Next() {
		keys = append(keys, slices.Clone(it.Key()))
	}
	err = it.Error()
	it.Close()
	if err != nil {
		return err
	}
	b := m.db.NewBatch()
	defer b.Close()
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return b.Write()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// loadSnapshot loads the snapshot "m/snapshot" points at, if any, into the
// trees, checks it against the hash recorded for its height, and returns
// that height (0: no snapshot).
func (m *MultiStore) loadSnapshot() (int64, error) {
	raw, err := m.db.Get(snapshotMeta)
	if err != nil {
		return 0, fmt.Errorf("store: read metadata: %w", err)
	}
	if raw == nil {
		return 0, nil
	}
	if len(raw) != 8 {
		return 0, fmt.Errorf("store: snapshot height has %d bytes: the application database is corrupt", len(raw))
	}
	v := int64(binary.BigEndian.Uint64(raw))
	dir := m.mem.cfg.SnapshotDir
	if dir == "" {
		return 0, fmt.Errorf("store: the state has a snapshot at height %d but no snapshot directory is configured", v)
	}
	stale, _ := filepath.Glob(filepath.Join(dir, "snapshot-*.tmp"))
	for _, p := range stale {
		_ = os.Remove(p)
	}
	f, err := os.Open(snapshotPath(dir, v))
	if err != nil {
		return 0, fmt.Errorf("store: snapshot of height %d: %w: the application state is corrupt", v, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	corrupt := func(format string, a ...any) (int64, error) {
		return 0, fmt.Errorf("store: snapshot of height %d: %s: the application state is corrupt", v, fmt.Sprintf(format, a...))
	}
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != snapshotMagic {
		return corrupt("not a snapshot file")
	}
	hv, err := binary.ReadUvarint(r)
	if err != nil || int64(hv) != v {
		return corrupt("it says height %d", hv)
	}
	n, err := binary.ReadUvarint(r)
	if err != nil || n != uint64(len(m.names)) {
		return corrupt("it holds %d stores, the application has %d", n, len(m.names))
	}
	roots := make([][]byte, len(m.names))
	for i, name := range m.names {
		l, err := binary.ReadUvarint(r)
		if err != nil || l != uint64(len(name)) {
			return corrupt("store %d is not %q", i, name)
		}
		got := make([]byte, l)
		if _, err := io.ReadFull(r, got); err != nil || string(got) != name {
			return corrupt("store %d is not %q", i, name)
		}
		t, err := memtree.Import(r, v)
		if err != nil {
			return corrupt("store %q: %v", name, err)
		}
		m.mem.trees[i] = t
		roots[i] = t.Hash()
	}
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		return corrupt("trailing data")
	}
	id := CommitID{Version: v, Hash: proof.RootHash(m.names, roots)}
	want, err := m.db.Get(hashKey(v))
	if err != nil {
		return 0, fmt.Errorf("store: read stored hash: %w", err)
	}
	if string(want) != string(id.Hash) {
		return 0, fmt.Errorf("store: snapshot of height %d hashes to %X but %X was committed: the application state is corrupt", v, id.Hash, want)
	}
	m.last = id
	m.mem.retain(v)
	return v, nil
}
