package harness

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	dbm "github.com/cosmos/cosmos-db"
)

// Corruption modes of CorruptAppDB.
const (
	// CorruptFlip inverts one byte in every 512 of every table file.
	CorruptFlip = "flip"
	// CorruptTruncate cuts every table file to half its size.
	CorruptTruncate = "truncate"
)

// AppDBDir is the directory of node i's application database.
func (tn *Testnet) AppDBDir(i int) string {
	return filepath.Join(tn.Node(i).DataDir(), "application.db")
}

// CorruptAppDB damages the application database of node i, which must be
// stopped. It first compacts the database (as a long-running node's would
// be) so that the whole state lives in table (.ldb) files, then corrupts
// every table file according to mode. It returns the files it changed.
func (tn *Testnet) CorruptAppDB(i int, mode string) ([]string, error) {
	n := tn.Node(i)
	if n.Running() {
		return nil, fmt.Errorf("%s is running; stop it before corrupting its database", n.Info.Name)
	}
	db, err := dbm.NewGoLevelDB("application", n.DataDir(), nil)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", tn.AppDBDir(i), err)
	}
	err = db.ForceCompact(nil, nil)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("compact %s: %w", tn.AppDBDir(i), err)
	}
	tables, err := filepath.Glob(filepath.Join(tn.AppDBDir(i), "*.ldb"))
	if err != nil {
		return nil, err
	}
	if len(tables) == 0 {
		return nil, fmt.Errorf("%s has no table files", tn.AppDBDir(i))
	}
	for _, f := range tables {
		switch mode {
		case CorruptFlip:
			bz, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			for off := 0; off < len(bz); off += 512 {
				bz[off] ^= 0xff
			}
			if err := os.WriteFile(f, bz, 0o644); err != nil {
				return nil, err
			}
		case CorruptTruncate:
			fi, err := os.Stat(f)
			if err != nil {
				return nil, err
			}
			if err := os.Truncate(f, fi.Size()/2); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown corruption mode %q (flip or truncate)", mode)
		}
	}
	tn.T.Logf("harness: corrupted (%s) %d table files of %s", mode, len(tables), tn.AppDBDir(i))
	return tables, nil
}

// BackupData copies node i's data directory (which must not be running)
// into the testnet directory and returns the copy's path.
func (tn *Testnet) BackupData(i int, name string) (string, error) {
	n := tn.Node(i)
	if n.Running() {
		return "", fmt.Errorf("%s is running; stop it first", n.Info.Name)
	}
	dst := filepath.Join(tn.Dir, "backup-"+n.Info.Name+"-"+name)
	if err := copyDir(n.DataDir(), dst); err != nil {
		return "", err
	}
	return dst, nil
}

// RestoreData replaces node i's data directory (which must not be
// running) with a copy made by BackupData.
func (tn *Testnet) RestoreData(i int, backup string) error {
	n := tn.Node(i)
	if n.Running() {
		return fmt.Errorf("%s is running; stop it first", n.Info.Name)
	}
	if !strings.HasPrefix(backup, tn.Dir) {
		return errors.New("not a backup of this testnet")
	}
	if err := os.RemoveAll(n.DataDir()); err != nil {
		return err
	}
	return copyDir(backup, n.DataDir())
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
