package keyring

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Sentinel errors. Errors returned by this package wrap them (test with
// errors.Is) and carry a message that says what to do about them.
var (
	// ErrNotFound: no key of that name in the keyring.
	ErrNotFound = errors.New("key not found")
	// ErrExists: a key of that name already exists.
	ErrExists = errors.New("key already exists")
	// ErrBadPassphrase: the passphrase does not unlock the key (or export).
	ErrBadPassphrase = errors.New("wrong passphrase")
	// ErrInvalidName: the key name does not match [a-z0-9][a-z0-9_-]{0,63}.
	ErrInvalidName = errors.New("invalid key name")
	// ErrCorrupt: the key file (or export) is malformed, or the passphrase
	// is right but authentication failed, meaning its encrypted part or its
	// clear-text public keys or generation were modified.
	ErrCorrupt = errors.New("key file corrupt or modified")
)

// keyError is an error with a complete, actionable message that wraps a
// sentinel error.
type keyError struct {
	msg string
	err error
}

func (e *keyError) Error() string { return e.msg }
func (e *keyError) Unwrap() error { return e.err }

func wrapf(sentinel error, format string, args ...any) error {
	return &keyError{msg: fmt.Sprintf(format, args...), err: sentinel}
}

// PassphraseFunc supplies the keyring passphrase. confirm is true when the
// passphrase will protect a new secret and nothing can check it (the first
// key of an empty keyring), so an interactive implementation should ask
// twice. An empty passphrase is rejected by the keyring.
type PassphraseFunc func(confirm bool) ([]byte, error)

// Keyring is a directory of encrypted key files. Its methods are safe for
// concurrent use by goroutines of one process; separate processes writing
// the same key at the same time are not coordinated (the last write wins).
//
// A Keyring remembers the passphrase for its lifetime once it has asked for
// it, and caches the argon2id results per salt, so repeated Gets are cheap.
// The PassphraseFunc is called at most once per Keyring; if it fails, or the
// passphrase turns out to be wrong, every later operation that needs it
// fails the same way: open a new Keyring to ask again.
type Keyring struct {
	dir    string
	passFn PassphraseFunc
	cost   kdfCost // argon2id cost for new files; lowered by tests

	mu         sync.Mutex
	passCalled bool
	pass       []byte
	passErr    error
	cache      map[cacheKey]*fileKeys
}

type cacheKey struct {
	salt      string
	time, mem uint32
	threads   uint8
}

// Open opens the keyring in dir, creating the directory with mode 0700 if it
// does not exist (an existing directory's mode is left alone). pass is called
// only when an operation needs a secret (Add, Get, Export, Import, Rotate),
// and at most once; it may be nil for a keyring used only for List, Info,
// SetDID and Delete.
func Open(dir string, pass PassphraseFunc) (*Keyring, error) {
	if dir == "" {
		return nil, errors.New("keyring: no directory given")
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("keyring: creating %s: %w", dir, err)
		}
		// MkdirAll's mode is filtered by the umask; make sure of 0700.
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("keyring: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("keyring: %s is not a directory", dir)
	}
	return &Keyring{
		dir:    dir,
		passFn: pass,
		cost:   defaultCost,
		cache:  make(map[cacheKey]*fileKeys),
	}, nil
}

// Dir returns the keyring directory as an absolute path.
func (kr *Keyring) Dir() string { return kr.dir }

// Add creates a key named name from a new random seed (generation 1) and
// stores it, encrypted under the keyring passphrase. If the keyring already
// holds other keys the passphrase is first checked against one of them
// (ErrBadPassphrase if it does not match), so that all keys keep sharing one
// passphrase; otherwise the PassphraseFunc is called with confirm=true.
// It fails with ErrInvalidName for a bad name and ErrExists if the name is
// taken.
func (kr *Keyring) Add(name string) (*Key, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if err := kr.checkFree(name); err != nil {
		return nil, err
	}
	if err := kr.checkSharedPassphrase(name, nil); err != nil {
		return nil, err
	}
	gen, err := DeriveGeneration(1, randomBytes(SeedSize))
	if err != nil {
		return nil, err
	}
	gens := []*Generation{gen}
	r := &record{
		Name:    name,
		Created: time.Now().UTC().Truncate(time.Second),
	}
	if err := kr.sealNew(r, gens); err != nil {
		return nil, err
	}
	if err := kr.write(r, true); err != nil {
		return nil, err
	}
	return keyFromGenerations(r.Name, r.DID, r.Created, gens), nil
}

// Get decrypts and returns the key named name, with all its generations.
// It fails with ErrNotFound, ErrBadPassphrase, or ErrCorrupt if the file was
// modified (including its clear-text public keys or generation).
func (kr *Keyring) Get(name string) (*Key, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	r, gens, err := kr.decrypt(name)
	if err != nil {
		return nil, err
	}
	return keyFromGenerations(r.Name, r.DID, r.Created, gens), nil
}

// Info returns the public part of the key named name without asking for the
// passphrase. The public keys are as found on disk; only Get authenticates
// them.
func (kr *Keyring) Info(name string) (Info, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	r, err := kr.load(name)
	if err != nil {
		return Info{}, err
	}
	return r.info(), nil
}

// List returns the public part of every key, sorted by name, without asking
// for the passphrase. Files in the directory that are not named
// <valid-name>.json are ignored; a key file that cannot be parsed makes List
// fail with an error naming it.
func (kr *Keyring) List() ([]Info, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	names, err := kr.names()
	if err != nil {
		return nil, err
	}
	infos := make([]Info, 0, len(names))
	for _, n := range names {
		r, err := kr.load(n)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		infos = append(infos, r.info())
	}
	return infos, nil
}

// Delete removes the key named name (ErrNotFound if absent). It does not ask
// for the passphrase. The key is gone for good unless it was exported.
func (kr *Keyring) Delete(name string) error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if err := checkName(name); err != nil {
		return err
	}
	if err := os.Remove(kr.path(name)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return kr.notFound(name)
		}
		return fmt.Errorf("deleting key %q: %w", name, err)
	}
	syncDir(kr.dir)
	return nil
}

// exportType is the PEM block type of an export.
const exportType = "MEDCHAIN ENCRYPTED KEY"

// Export returns the key named name as an armored text blob (a PEM block of
// type "MEDCHAIN ENCRYPTED KEY" holding a key file) that can be moved to
// another machine and given to [Keyring.Import]. The seeds in it are
// encrypted under the keyring passphrase, re-encrypted with a fresh salt
// and nonce; the plain seed is never exported. The key is decrypted first,
// so Export fails with ErrBadPassphrase or ErrCorrupt as Get does. The PEM
// headers are informational and not authenticated.
func (kr *Keyring) Export(name string) ([]byte, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	r, gens, err := kr.decrypt(name)
	if err != nil {
		return nil, err
	}
	out := &record{Name: r.Name, DID: r.DID, Created: r.Created}
	if err := kr.sealNew(out, gens); err != nil {
		return nil, err
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{
		Type: exportType,
		Headers: map[string]string{
			"Name":       out.Name,
			"Generation": strconv.Itoa(out.Generation),
			"Format":     "medchain-keyring-v" + strconv.Itoa(formatVersion),
		},
		Bytes: body,
	}), nil
}

// Import stores an export made by [Keyring.Export] under name (which may
// differ from the exported name; the DID and creation time are kept). The
// export must decrypt with this keyring's passphrase, and if the keyring
// already holds keys that passphrase must also unlock them; otherwise Import
// fails with ErrBadPassphrase. It fails with ErrExists if name is taken,
// ErrInvalidName for a bad name, and ErrCorrupt if the blob is not a valid
// or intact export.
func (kr *Keyring) Import(name string, armored []byte) error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if err := kr.checkFree(name); err != nil {
		return err
	}
	block, _ := pem.Decode(armored)
	if block == nil || block.Type != exportType {
		return wrapf(ErrCorrupt, "not a medchain key export: expected a block starting with \"-----BEGIN %s-----\" as written by Export", exportType)
	}
	r, err := parseRecord(block.Bytes)
	if err != nil {
		return wrapf(ErrCorrupt, "invalid medchain key export: %v", err)
	}
	fk, err := kr.fileKeys(r.KDF)
	if err != nil {
		return err
	}
	if !fk.matches(r) {
		return wrapf(ErrBadPassphrase, "cannot decrypt the export of key %q: wrong passphrase (an export is encrypted under the passphrase of the keyring it came from)", r.Name)
	}
	if _, err := r.open(fk); err != nil {
		return wrapf(ErrCorrupt, "export of key %q failed authentication: it was modified or damaged; export it again", r.Name)
	}
	if err := kr.checkSharedPassphrase(name, r); err != nil {
		return err
	}
	r.Name = name
	return kr.write(r, true)
}

// Rotate adds a new generation to the key named name: a fresh random seed
// becomes current (Generation+1, new public keys) and the previous current
// generation is appended to Previous. The file is re-encrypted with a fresh
// salt. The returned Key is the rotated one.
func (kr *Keyring) Rotate(name string) (*Key, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	r, gens, err := kr.decrypt(name)
	if err != nil {
		return nil, err
	}
	next, err := DeriveGeneration(gens[len(gens)-1].Generation+1, randomBytes(SeedSize))
	if err != nil {
		return nil, err
	}
	gens = append(gens, next)
	if err := kr.sealNew(r, gens); err != nil {
		return nil, err
	}
	if err := kr.write(r, false); err != nil {
		return nil, err
	}
	return keyFromGenerations(r.Name, r.DID, r.Created, gens), nil
}

// SetDID records did as the DID of the key named name, replacing any
// previous one; "" clears it. A non-empty did must start with "did:" and
// contain no spaces or control characters. It does not ask for the
// passphrase: the DID is public and not authenticated by the key file.
func (kr *Keyring) SetDID(name, did string) error {
	if err := checkDID(did); err != nil {
		return err
	}
	kr.mu.Lock()
	defer kr.mu.Unlock()
	r, err := kr.load(name)
	if err != nil {
		return err
	}
	r.DID = did
	return kr.write(r, false)
}

// ---- internals ----

const fileExt = ".json"

func (kr *Keyring) path(name string) string {
	return filepath.Join(kr.dir, name+fileExt)
}

func (kr *Keyring) notFound(name string) error {
	return wrapf(ErrNotFound, "key %q not found in %s; list keys with \"medchain keys list\"", name, kr.dir)
}

func (kr *Keyring) exists(name string) error {
	return wrapf(ErrExists, "key %q already exists in %s; choose another name or delete the existing key first", name, kr.dir)
}

// checkName validates a key name: [a-z0-9][a-z0-9_-]{0,63}.
func checkName(name string) error {
	if !validName(name) {
		return wrapf(ErrInvalidName, "invalid key name %q: use 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit", name)
	}
	return nil
}

func validName(name string) bool {
	if len(name) < 1 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

func checkDID(did string) error {
	if did == "" {
		return nil
	}
	if !strings.HasPrefix(did, "did:") || len(did) > 2048 {
		return fmt.Errorf("invalid DID %q: a DID starts with \"did:\" (e.g. did:medchain:...) and is at most 2048 characters", did)
	}
	for _, c := range did {
		if c <= ' ' || c == 0x7f {
			return fmt.Errorf("invalid DID %q: it must not contain spaces or control characters", did)
		}
	}
	return nil
}

// checkFree validates name and fails with ErrExists if it is taken.
func (kr *Keyring) checkFree(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if _, err := os.Lstat(kr.path(name)); err == nil {
		return kr.exists(name)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checking key %q: %w", name, err)
	}
	return nil
}

// names returns the valid key names with a file in the directory, sorted.
func (kr *Keyring) names() ([]string, error) {
	entries, err := os.ReadDir(kr.dir)
	if err != nil {
		return nil, fmt.Errorf("reading keyring %s: %w", kr.dir, err)
	}
	var names []string
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), fileExt)
		if !ok || e.IsDir() || !validName(n) {
			continue
		}
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// load reads and parses the key file of name, without decrypting it.
func (kr *Keyring) load(name string) (*record, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	p := kr.path(name)
	data, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, kr.notFound(name)
		}
		return nil, fmt.Errorf("reading key %q: %w", name, err)
	}
	r, err := parseRecord(data)
	if err != nil {
		if errors.Is(err, errFormat) {
			return nil, wrapf(ErrCorrupt, "key file %s is damaged: %v; restore it from a backup or an export", p, err)
		}
		return nil, fmt.Errorf("key file %s: %w", p, err)
	}
	if r.Name != name {
		return nil, wrapf(ErrCorrupt, "key file %s holds key %q, not %q; rename the file back to %s%s", p, r.Name, name, r.Name, fileExt)
	}
	return r, nil
}

// decrypt loads and decrypts the key file of name.
func (kr *Keyring) decrypt(name string) (*record, []*Generation, error) {
	r, err := kr.load(name)
	if err != nil {
		return nil, nil, err
	}
	fk, err := kr.fileKeys(r.KDF)
	if err != nil {
		return nil, nil, err
	}
	if !fk.matches(r) {
		return nil, nil, wrapf(ErrBadPassphrase, "wrong passphrase for key %q in %s; enter it again (or check MEDCHAIN_PASSPHRASE if it is set)", name, kr.dir)
	}
	gens, err := r.open(fk)
	if err != nil {
		return nil, nil, wrapf(ErrCorrupt, "key file %s failed authentication: its encrypted part, public keys or generation were modified, or it is damaged; restore it from a backup or an export", kr.path(name))
	}
	return r, gens, nil
}

// checkSharedPassphrase makes sure the keyring passphrase unlocks an
// existing key other than skip, so that all keys share one passphrase. With
// no other key, it only obtains the passphrase: with confirm=true unless
// incoming (an import already decrypted with it) is non-nil.
func (kr *Keyring) checkSharedPassphrase(skip string, incoming *record) error {
	names, err := kr.names()
	if err != nil {
		return err
	}
	for _, n := range names {
		if n == skip {
			continue
		}
		r, err := kr.load(n)
		if err != nil {
			continue // unreadable files are reported by List and Get
		}
		fk, err := kr.fileKeys(r.KDF)
		if err != nil {
			return err
		}
		if !fk.matches(r) {
			if incoming != nil {
				return wrapf(ErrBadPassphrase, "the passphrase decrypts the export but not the existing key %q in %s; all keys in a keyring share one passphrase", n, kr.dir)
			}
			return wrapf(ErrBadPassphrase, "wrong passphrase: it does not unlock the existing key %q in %s, and all keys in a keyring share one passphrase", n, kr.dir)
		}
		return nil
	}
	_, err = kr.passphrase(incoming == nil)
	return err
}

// passphrase returns the keyring passphrase, calling the PassphraseFunc the
// first time only.
func (kr *Keyring) passphrase(confirm bool) ([]byte, error) {
	if kr.passCalled {
		return kr.pass, kr.passErr
	}
	kr.passCalled = true
	switch {
	case kr.passFn == nil:
		kr.passErr = errors.New("a passphrase is needed but this keyring was opened without a way to ask for it")
	default:
		p, err := kr.passFn(confirm)
		switch {
		case err != nil:
			kr.passErr = fmt.Errorf("reading keyring passphrase: %w", err)
		case len(p) == 0:
			kr.passErr = errors.New("empty passphrase: the keyring needs a non-empty passphrase")
		default:
			kr.pass = bytes.Clone(p)
		}
	}
	return kr.pass, kr.passErr
}

// fileKeys returns the (cached) keys for the passphrase and parameters p.
// If the passphrase was not asked for yet, it is asked with confirm=false.
func (kr *Keyring) fileKeys(p kdfParams) (*fileKeys, error) {
	pass, err := kr.passphrase(false)
	if err != nil {
		return nil, err
	}
	ck := cacheKey{salt: string(p.Salt), time: p.Time, mem: p.MemoryKiB, threads: p.Threads}
	if fk, ok := kr.cache[ck]; ok {
		return fk, nil
	}
	fk, err := deriveFileKeys(pass, p)
	if err != nil {
		return nil, err
	}
	kr.cache[ck] = fk
	return fk, nil
}

// sealNew encrypts gens into r under fresh argon2id parameters.
func (kr *Keyring) sealNew(r *record, gens []*Generation) error {
	r.KDF = newKDFParams(kr.cost)
	fk, err := kr.fileKeys(r.KDF)
	if err != nil {
		return err
	}
	return r.seal(fk, gens)
}

// write stores r atomically in its file. With exclusive it fails with
// ErrExists instead of replacing an existing file.
func (kr *Keyring) write(r *record, exclusive bool) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	final := kr.path(r.Name)
	tmp, err := os.CreateTemp(kr.dir, "."+r.Name+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing key %q: %w", r.Name, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmpName != "" {
			os.Remove(tmpName)
		}
	}()
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing key %q: %w", r.Name, err)
	}
	if exclusive {
		// A hard link creates final only if it does not exist, atomically.
		err := os.Link(tmpName, final)
		switch {
		case err == nil:
			// tmpName is removed by the deferred function.
			syncDir(kr.dir)
			return nil
		case errors.Is(err, fs.ErrExist):
			return kr.exists(r.Name)
		}
		// No hard links on this file system: check, then rename.
		if _, err := os.Lstat(final); err == nil {
			return kr.exists(r.Name)
		}
	}
	if err := os.Rename(tmpName, final); err != nil {
		return fmt.Errorf("writing key %q: %w", r.Name, err)
	}
	tmpName = ""
	syncDir(kr.dir)
	return nil
}

// syncDir flushes a directory entry change to disk, where supported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
