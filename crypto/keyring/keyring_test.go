package keyring

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fastCost keeps argon2id cheap in tests; TestDefaultKDF covers defaultCost.
var fastCost = kdfCost{Time: 1, MemoryKiB: 64, Threads: 1}

// passCounter is a PassphraseFunc that returns a fixed passphrase and
// records how it was called.
type passCounter struct {
	pass     string
	calls    int
	confirms []bool
}

func (p *passCounter) fn(confirm bool) ([]byte, error) {
	p.calls++
	p.confirms = append(p.confirms, confirm)
	return []byte(p.pass), nil
}

func static(pass string) PassphraseFunc {
	return func(bool) ([]byte, error) { return []byte(pass), nil }
}

// mustNotAsk is a PassphraseFunc that fails the test if it is called.
func mustNotAsk(t *testing.T) PassphraseFunc {
	t.Helper()
	return func(bool) ([]byte, error) {
		t.Errorf("PassphraseFunc called, want no passphrase prompt")
		return nil, errors.New("unexpected passphrase prompt")
	}
}

// openFast opens a keyring in dir with a cheap argon2id cost.
func openFast(t *testing.T, dir string, pass PassphraseFunc) *Keyring {
	t.Helper()
	kr, err := Open(dir, pass)
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	kr.cost = fastCost
	return kr
}

func mustAdd(t *testing.T, kr *Keyring, name string) *Key {
	t.Helper()
	k, err := kr.Add(name)
	if err != nil {
		t.Fatalf("Add(%q): %v", name, err)
	}
	return k
}

func mustGet(t *testing.T, kr *Keyring, name string) *Key {
	t.Helper()
	k, err := kr.Get(name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	return k
}

// editFile rewrites one JSON field of the key file of name.
func editFile(t *testing.T, kr *Keyring, name, field string, edit func(old json.RawMessage) json.RawMessage) {
	t.Helper()
	path := kr.path(name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	old, ok := m[field]
	if !ok {
		t.Fatalf("key file has no field %q", field)
	}
	m[field] = edit(old)
	data, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// flipByte returns an edit that flips one bit of byte i (negative: from the
// end) of a base64 []byte field.
func flipByte(i int) func(json.RawMessage) json.RawMessage {
	return func(old json.RawMessage) json.RawMessage {
		var b []byte
		if err := json.Unmarshal(old, &b); err != nil {
			panic(err)
		}
		b[(i%len(b)+len(b))%len(b)] ^= 0x01
		out, _ := json.Marshal(b)
		return out
	}
}

// setJSON returns an edit that replaces a field with v.
func setJSON(v any) func(json.RawMessage) json.RawMessage {
	out, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return func(json.RawMessage) json.RawMessage { return out }
}

func assertSameKey(t *testing.T, got, want *Key) {
	t.Helper()
	if got.Name != want.Name {
		t.Errorf("Name: got %v, want %v", got.Name, want.Name)
	}
	if got.DID != want.DID {
		t.Errorf("DID: got %v, want %v", got.DID, want.DID)
	}
	if got.Generation != want.Generation {
		t.Errorf("Generation: got %v, want %v", got.Generation, want.Generation)
	}
	if !bytes.Equal(got.Seed, want.Seed) {
		t.Errorf("Seed differs")
	}
	if !got.SigningKey.Equal(want.SigningKey) {
		t.Errorf("SigningKey differs")
	}
	if !bytes.Equal(got.EncryptionPublic(), want.EncryptionPublic()) {
		t.Errorf("EncryptionPublic differs")
	}
	gb, _ := got.EncryptionKey.Bytes()
	wb, _ := want.EncryptionKey.Bytes()
	if !bytes.Equal(gb, wb) {
		t.Errorf("EncryptionKey bytes differ")
	}
	if len(got.Previous) != len(want.Previous) {
		t.Fatalf("len(Previous): got %v, want %v", len(got.Previous), len(want.Previous))
	}
	for i := range got.Previous {
		g, w := got.Previous[i], want.Previous[i]
		if g.Generation != w.Generation || !bytes.Equal(g.Seed, w.Seed) || !g.SigningKey.Equal(w.SigningKey) {
			t.Errorf("Previous[%d] differs: got generation %v, want %v", i, g.Generation, w.Generation)
		}
	}
	if !got.Info().Created.Equal(want.Info().Created) {
		t.Errorf("Created: got %v, want %v", got.Info().Created, want.Info().Created)
	}
}

func TestDeriveGenerationMatchesDocumentedDerivation(t *testing.T) {
	seed := bytes.Repeat([]byte{0x42}, SeedSize)
	g, err := DeriveGeneration(1, seed)
	if err != nil {
		t.Fatal(err)
	}
	signSeed, _ := hkdf.Key(sha256.New, seed, nil, "medchain/keyring/sign/v1", 32)
	if want := ed25519.NewKeyFromSeed(signSeed); !g.SigningKey.Equal(want) {
		t.Errorf("signing key does not match ed25519.NewKeyFromSeed(HKDF(seed, sign/v1))")
	}
	ikm, _ := hkdf.Key(sha256.New, seed, nil, "medchain/keyring/enc/v1", 32)
	want, err := hpke.MLKEM768X25519().DeriveKeyPair(ikm)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.EncryptionKey.PublicKey().Bytes(), want.PublicKey().Bytes()) {
		t.Errorf("encryption key does not match MLKEM768X25519.DeriveKeyPair(HKDF(seed, enc/v1))")
	}
	// Deterministic: same seed, same keys.
	g2, _ := DeriveGeneration(1, seed)
	if !g2.SigningKey.Equal(g.SigningKey) {
		t.Errorf("derivation is not deterministic")
	}

	for _, tc := range []struct {
		gen  int
		seed []byte
	}{
		{1, make([]byte, 31)},
		{1, nil},
		{0, seed},
	} {
		if _, err := DeriveGeneration(tc.gen, tc.seed); err == nil {
			t.Errorf("DeriveGeneration(%d, %d bytes): got nil error, want error", tc.gen, len(tc.seed))
		}
	}
}

func TestAddGetRoundTrip(t *testing.T) {
	dir := t.TempDir()
	pc := &passCounter{pass: "correct horse"}
	kr := openFast(t, dir, pc.fn)
	added := mustAdd(t, kr, "alice")

	if added.Generation != 1 {
		t.Errorf("Generation: got %v, want %v", added.Generation, 1)
	}
	if len(added.Seed) != SeedSize {
		t.Errorf("len(Seed): got %v, want %v", len(added.Seed), SeedSize)
	}
	if len(added.Previous) != 0 {
		t.Errorf("len(Previous): got %v, want 0", len(added.Previous))
	}
	if added.DID != "" {
		t.Errorf("DID: got %q, want empty", added.DID)
	}

	// Same instance: no new prompt, argon2 result cached.
	for range 3 {
		assertSameKey(t, mustGet(t, kr, "alice"), added)
	}
	if pc.calls != 1 {
		t.Errorf("PassphraseFunc calls: got %v, want %v", pc.calls, 1)
	}
	if !slices.Equal(pc.confirms, []bool{true}) {
		t.Errorf("confirm on first key of empty keyring: got %v, want %v", pc.confirms, []bool{true})
	}
	if got := len(kr.cache); got != 1 {
		t.Errorf("cached argon2 keys: got %v, want %v", got, 1)
	}

	// Reopen: the keys derive the same.
	pc2 := &passCounter{pass: "correct horse"}
	kr2 := openFast(t, dir, pc2.fn)
	got := mustGet(t, kr2, "alice")
	assertSameKey(t, got, added)
	want, err := DeriveGeneration(1, got.Seed)
	if err != nil {
		t.Fatal(err)
	}
	if !got.SigningKey.Equal(want.SigningKey) {
		t.Errorf("SigningKey is not derived from Seed")
	}
	msg := []byte("prescription #1")
	if !ed25519.Verify(added.SigningPublic(), msg, ed25519.Sign(got.SigningKey, msg)) {
		t.Errorf("signature by reopened key does not verify under the original public key")
	}
	info, err := kr2.Info("alice")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(info.SigningPublic, added.SigningPublic()) || !bytes.Equal(info.EncryptionPublic, added.EncryptionPublic()) {
		t.Errorf("Info public keys do not match the added key")
	}
	if ki := got.Info(); ki.Name != info.Name || ki.Generation != info.Generation || !ki.Created.Equal(info.Created) {
		t.Errorf("Key.Info: got %+v, want %+v", ki, info)
	}

	// A second key in a keyring with keys is not a "new secret": confirm=false.
	mustAdd(t, kr2, "bob")
	if !slices.Equal(pc2.confirms, []bool{false}) {
		t.Errorf("confirms: got %v, want %v", pc2.confirms, []bool{false})
	}

	if _, err := kr2.Add("alice"); !errors.Is(err, ErrExists) {
		t.Errorf("Add existing: got %v, want %v", err, ErrExists)
	}
}

// TestDefaultKDF runs the real argon2id cost once.
func TestDefaultKDF(t *testing.T) {
	dir := t.TempDir()
	kr, err := Open(dir, static("default cost passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	added := mustAdd(t, kr, "default")
	var r record
	data, err := os.ReadFile(filepath.Join(dir, "default.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if r.KDF.Algorithm != "argon2id" || r.KDF.Time != 1 || r.KDF.MemoryKiB != 64*1024 || r.KDF.Threads != 2 || len(r.KDF.Salt) != 16 {
		t.Errorf("kdf: got %+v, want argon2id time=1 memory=65536 threads=2 with a 16-byte salt", r.KDF)
	}
	if r.Version != 1 || r.Cipher != "aes-256-gcm" {
		t.Errorf("version, cipher: got %v %v, want 1 aes-256-gcm", r.Version, r.Cipher)
	}
	kr2, err := Open(dir, static("default cost passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	assertSameKey(t, mustGet(t, kr2, "default"), added)
}

func TestWrongPassphrase(t *testing.T) {
	dir := t.TempDir()
	mustAdd(t, openFast(t, dir, static("right")), "alice")

	pc := &passCounter{pass: "wrong"}
	kr := openFast(t, dir, pc.fn)
	ops := []struct {
		name string
		do   func() error
	}{
		{"Get", func() error { _, err := kr.Get("alice"); return err }},
		{"Export", func() error { _, err := kr.Export("alice"); return err }},
		{"Rotate", func() error { _, err := kr.Rotate("alice"); return err }},
		{"Add another key", func() error { _, err := kr.Add("bob"); return err }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			if err := op.do(); !errors.Is(err, ErrBadPassphrase) {
				t.Errorf("got %v, want %v", err, ErrBadPassphrase)
			}
		})
	}
	if pc.calls != 1 {
		t.Errorf("PassphraseFunc calls: got %v, want %v", pc.calls, 1)
	}
	if _, err := os.Stat(filepath.Join(dir, "bob.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bob.json after a failed Add: got %v, want not exist", err)
	}
	// The file is untouched: the right passphrase still works.
	mustGet(t, openFast(t, dir, static("right")), "alice")
}

func TestPassphraseFuncProblems(t *testing.T) {
	boom := errors.New("no tty")
	tests := []struct {
		name    string
		pass    PassphraseFunc
		wantErr error
	}{
		{"error", func(bool) ([]byte, error) { return nil, boom }, boom},
		{"empty", static(""), nil},
		{"nil func", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			pass := tc.pass
			if pass != nil {
				pass = func(c bool) ([]byte, error) { calls++; return tc.pass(c) }
			}
			kr := openFast(t, t.TempDir(), pass)
			for range 2 {
				_, err := kr.Add("alice")
				if err == nil {
					t.Fatalf("Add: got nil error, want error")
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("Add: got %v, want %v", err, tc.wantErr)
				}
			}
			if tc.pass != nil && calls != 1 {
				t.Errorf("PassphraseFunc calls: got %v, want %v", calls, 1)
			}
		})
	}
}

func TestTamperDetected(t *testing.T) {
	dir := t.TempDir()
	kr := openFast(t, dir, static("pw"))
	mustAdd(t, kr, "alice")
	other := mustAdd(t, kr, "other")
	pristine, err := os.ReadFile(kr.path("alice"))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		field string
		edit  func(json.RawMessage) json.RawMessage
		want  error
	}{
		{"ciphertext", flipByte(0), ErrCorrupt},
		{"ciphertext", flipByte(-1), ErrCorrupt}, // the GCM tag
		{"nonce", flipByte(3), ErrCorrupt},
		{"signing_public_key", setJSON([]byte(other.SigningPublic())), ErrCorrupt},
		{"encryption_public_key", setJSON(other.EncryptionPublic()), ErrCorrupt},
		{"generation", setJSON(2), ErrCorrupt},
		{"version", setJSON(0), ErrCorrupt},
		{"name", setJSON("mallory"), ErrCorrupt},
		{"signing_public_key", setJSON([]byte("short")), ErrCorrupt},
		{"kdf", setJSON(map[string]any{"algorithm": "argon2id", "time": 1, "memory_kib": 1 << 30, "threads": 1, "salt": make([]byte, 16)}), ErrCorrupt},
		{"passphrase_check", flipByte(0), ErrBadPassphrase}, // indistinguishable from a wrong passphrase
		{"version", setJSON(99), nil},                       // newer format: plain error
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			if err := os.WriteFile(kr.path("alice"), pristine, 0o600); err != nil {
				t.Fatal(err)
			}
			editFile(t, kr, "alice", tc.field, tc.edit)
			// A fresh Keyring, so nothing is cached.
			_, err := openFast(t, dir, static("pw")).Get("alice")
			if err == nil {
				t.Fatalf("Get after tampering with %s: got nil error, want error", tc.field)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Get after tampering with %s: got %v, want %v", tc.field, err, tc.want)
			}
		})
	}

	if err := os.WriteFile(kr.path("alice"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Info("alice"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Info of malformed file: got %v, want %v", err, ErrCorrupt)
	}
	if _, err := kr.List(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "alice.json") {
		t.Errorf("List with a malformed file: got %v, want %v naming alice.json", err, ErrCorrupt)
	}
}

func TestExportImport(t *testing.T) {
	src := openFast(t, t.TempDir(), static("shared secret"))
	orig := mustAdd(t, src, "alice")
	if err := src.SetDID("alice", "did:medchain:alice"); err != nil {
		t.Fatal(err)
	}
	orig, err := src.Rotate("alice")
	if err != nil {
		t.Fatal(err)
	}

	blob, err := src.Export("alice")
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	if !bytes.HasPrefix(blob, []byte("-----BEGIN MEDCHAIN ENCRYPTED KEY-----\n")) {
		t.Errorf("export does not start with the PEM armor:\n%s", blob)
	}
	for _, g := range append([]*Generation{{Seed: orig.Seed}}, orig.Previous...) {
		for _, enc := range [][]byte{
			g.Seed,
			[]byte(base64.StdEncoding.EncodeToString(g.Seed)),
			[]byte(base64.RawStdEncoding.EncodeToString(g.Seed)),
			[]byte(hex.EncodeToString(g.Seed)),
		} {
			if bytes.Contains(blob, enc) {
				t.Errorf("export contains a plain seed")
			}
		}
	}

	dstDir := t.TempDir()
	dst := openFast(t, dstDir, static("shared secret"))
	if err := dst.Import("alice2", blob); err != nil {
		t.Fatalf("Import: %v", err)
	}
	got := mustGet(t, openFast(t, dstDir, static("shared secret")), "alice2")
	want := *orig
	want.Name = "alice2"
	assertSameKey(t, got, &want)

	if err := dst.Import("alice2", blob); !errors.Is(err, ErrExists) {
		t.Errorf("Import over existing: got %v, want %v", err, ErrExists)
	}

	truncated := blob[:len(blob)/2]
	tests := []struct {
		name  string
		pass  string
		blob  []byte
		setup func(t *testing.T, dir string)
		want  error
	}{
		{"wrong passphrase", "other secret", blob, nil, ErrBadPassphrase},
		{"not armored", "shared secret", []byte("hello"), nil, ErrCorrupt},
		{"truncated", "shared secret", truncated, nil, ErrCorrupt},
		{"wrong block type", "shared secret", bytes.ReplaceAll(blob, []byte("MEDCHAIN ENCRYPTED KEY"), []byte("PRIVATE KEY")), nil, ErrCorrupt},
		{"modified ciphertext", "shared secret", modifyExport(t, blob, "ciphertext"), nil, ErrCorrupt},
		{"swapped public key", "shared secret", modifyExport(t, blob, "signing_public_key"), nil, ErrCorrupt},
		{"invalid name", "shared secret", blob, nil, ErrInvalidName},
		{"keyring under another passphrase", "shared secret", blob, func(t *testing.T, dir string) {
			mustAdd(t, openFast(t, dir, static("different")), "existing")
		}, ErrBadPassphrase},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			name := "imported"
			if tc.want == ErrInvalidName {
				name = "Imported"
			}
			err := openFast(t, dir, static(tc.pass)).Import(name, tc.blob)
			if !errors.Is(err, tc.want) {
				t.Errorf("Import: got %v, want %v", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, name+".json")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("failed Import left a key file: %v", err)
			}
		})
	}
}

// modifyExport flips a bit of a []byte field in the JSON body of an export.
func modifyExport(t *testing.T, blob []byte, field string) []byte {
	t.Helper()
	dir := t.TempDir()
	// Round-trip through a throw-away file to reuse editFile.
	kr := openFast(t, dir, nil)
	body := exportBody(t, blob)
	if err := os.WriteFile(kr.path("x"), body, 0o600); err != nil {
		t.Fatal(err)
	}
	editFile(t, kr, "x", field, flipByte(5))
	body, err := os.ReadFile(kr.path("x"))
	if err != nil {
		t.Fatal(err)
	}
	return armor(body)
}

func exportBody(t *testing.T, blob []byte) []byte {
	t.Helper()
	s := string(blob)
	start := strings.Index(s, "\n\n")
	end := strings.Index(s, "-----END")
	if start < 0 || end < 0 {
		t.Fatalf("unexpected export layout:\n%s", s)
	}
	body, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(s[start+2:end], "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func armor(body []byte) []byte {
	return []byte("-----BEGIN MEDCHAIN ENCRYPTED KEY-----\n" + base64.StdEncoding.EncodeToString(body) + "\n-----END MEDCHAIN ENCRYPTED KEY-----\n")
}

func TestRotate(t *testing.T) {
	dir := t.TempDir()
	kr := openFast(t, dir, static("pw"))
	k1 := mustAdd(t, kr, "alice")
	if err := kr.SetDID("alice", "did:medchain:123"); err != nil {
		t.Fatal(err)
	}
	ct1 := hpkeSeal(t, k1.EncryptionPublic(), "lab result for gen 1")

	k2, err := kr.Rotate("alice")
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	k3, err := kr.Rotate("alice")
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if k3.Generation != 3 {
		t.Errorf("Generation: got %v, want %v", k3.Generation, 3)
	}
	if k3.DID != "did:medchain:123" {
		t.Errorf("DID after rotate: got %v, want %v", k3.DID, "did:medchain:123")
	}
	var gens []int
	for _, g := range k3.Previous {
		gens = append(gens, g.Generation)
	}
	if !slices.Equal(gens, []int{1, 2}) {
		t.Errorf("Previous generations: got %v, want %v", gens, []int{1, 2})
	}
	if !bytes.Equal(k3.Previous[0].Seed, k1.Seed) || !bytes.Equal(k3.Previous[1].Seed, k2.Seed) {
		t.Errorf("Previous seeds do not match the earlier generations")
	}
	pubs := map[string]bool{}
	for _, k := range []*Key{k1, k2, k3} {
		pubs[string(k.SigningPublic())] = true
		pubs[string(k.EncryptionPublic())] = true
	}
	if len(pubs) != 6 {
		t.Errorf("distinct public keys over 3 generations: got %v, want %v", len(pubs), 6)
	}

	// Persisted: reopen and compare; old data still decrypts.
	got := mustGet(t, openFast(t, dir, static("pw")), "alice")
	assertSameKey(t, got, k3)
	if pt := hpkeOpen(t, got.Previous[0].EncryptionKey, ct1); pt != "lab result for gen 1" {
		t.Errorf("old ciphertext: got %v, want %v", pt, "lab result for gen 1")
	}
	info, err := kr.Info("alice")
	if err != nil {
		t.Fatal(err)
	}
	if info.Generation != 3 || !bytes.Equal(info.SigningPublic, k3.SigningPublic()) || !bytes.Equal(info.EncryptionPublic, k3.EncryptionPublic()) {
		t.Errorf("Info after rotate: got generation %v, want 3 with the new public keys", info.Generation)
	}
	if _, err := kr.Rotate("nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Rotate missing: got %v, want %v", err, ErrNotFound)
	}
}

func TestDelete(t *testing.T) {
	dir := t.TempDir()
	kr := openFast(t, dir, static("pw"))
	mustAdd(t, kr, "alice")
	mustAdd(t, kr, "bob")

	if err := openFast(t, dir, mustNotAsk(t)).Delete("alice"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := kr.Get("alice")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Get deleted: got %v, want %v", err, ErrNotFound)
	}
	if msg := err.Error(); !strings.Contains(msg, `"alice"`) || !strings.Contains(msg, dir) || !strings.Contains(msg, "medchain keys list") {
		t.Errorf("not-found message %q should name the key, the directory and \"medchain keys list\"", msg)
	}
	if err := kr.Delete("alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete twice: got %v, want %v", err, ErrNotFound)
	}
	mustGet(t, kr, "bob")
}

func TestListAndInfoNeedNoPassphrase(t *testing.T) {
	dir := t.TempDir()
	kr := openFast(t, dir, static("pw"))
	for _, n := range []string{"charlie", "alice", "bob-2", "bob"} {
		mustAdd(t, kr, n)
	}
	// Files List must ignore.
	for _, f := range []string{"notes.txt", ".hidden.json", "Upper.json", ".alice.tmp-123"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.json"), 0o700); err != nil {
		t.Fatal(err)
	}

	ro := openFast(t, dir, mustNotAsk(t))
	infos, err := ro.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var names []string
	for _, in := range infos {
		names = append(names, in.Name)
	}
	if want := []string{"alice", "bob", "bob-2", "charlie"}; !slices.Equal(names, want) {
		t.Errorf("List: got %v, want %v", names, want)
	}
	if err := ro.SetDID("bob", "did:medchain:bob"); err != nil {
		t.Fatalf("SetDID: %v", err)
	}
	info, err := ro.Info("bob")
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.DID != "did:medchain:bob" || info.Generation != 1 || len(info.SigningPublic) != ed25519.PublicKeySize || info.Created.IsZero() {
		t.Errorf("Info: got %+v", info)
	}
	if _, err := ro.Info("nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Info missing: got %v, want %v", err, ErrNotFound)
	}
	// Info JSON uses the documented field names.
	js, _ := json.Marshal(info)
	for _, f := range []string{`"name"`, `"did"`, `"generation"`, `"signing_public_key"`, `"encryption_public_key"`, `"created"`} {
		if !bytes.Contains(js, []byte(f)) {
			t.Errorf("Info JSON %s lacks %s", js, f)
		}
	}

	empty, err := openFast(t, t.TempDir(), mustNotAsk(t)).List()
	if err != nil || len(empty) != 0 {
		t.Errorf("List of empty keyring: got %v, %v, want [], nil", empty, err)
	}
}

func TestSetDID(t *testing.T) {
	kr := openFast(t, t.TempDir(), static("pw"))
	mustAdd(t, kr, "alice")
	tests := []struct {
		did   string
		valid bool
	}{
		{"did:medchain:abc123", true},
		{"", true},
		{"medchain:abc", false},
		{"did:medchain:a b", false},
		{"did:medchain:a\nb", false},
		{"did:" + strings.Repeat("x", 3000), false},
	}
	for _, tc := range tests {
		err := kr.SetDID("alice", tc.did)
		if (err == nil) != tc.valid {
			t.Errorf("SetDID(%q): got %v, want valid=%v", tc.did, err, tc.valid)
			continue
		}
		if tc.valid {
			if got := mustGet(t, kr, "alice").DID; got != tc.did {
				t.Errorf("DID: got %v, want %v", got, tc.did)
			}
		}
	}
	if err := kr.SetDID("nobody", "did:x:y"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetDID missing: got %v, want %v", err, ErrNotFound)
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		name  string
		valid bool
	}{
		{"a", true},
		{"0", true},
		{"alice", true},
		{"dr-smith_2", true},
		{strings.Repeat("a", 64), true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"Alice", false},
		{"-alice", false},
		{"_alice", false},
		{"al ice", false},
		{"al.ice", false},
		{"a/b", false},
		{"../etc", false},
		{"é", false},
	}
	kr := openFast(t, t.TempDir(), static("pw"))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kr.Add(tc.name)
			if tc.valid {
				if err != nil {
					t.Errorf("Add(%q): got %v, want nil", tc.name, err)
				}
				return
			}
			errs := map[string]error{"Add": err}
			_, errs["Get"] = kr.Get(tc.name)
			_, errs["Info"] = kr.Info(tc.name)
			_, errs["Rotate"] = kr.Rotate(tc.name)
			_, errs["Export"] = kr.Export(tc.name)
			errs["Delete"] = kr.Delete(tc.name)
			errs["SetDID"] = kr.SetDID(tc.name, "did:x:y")
			errs["Import"] = kr.Import(tc.name, nil)
			for op, err := range errs {
				if !errors.Is(err, ErrInvalidName) {
					t.Errorf("%s(%q): got %v, want %v", op, tc.name, err, ErrInvalidName)
				}
			}
		})
	}
}

func TestFilePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	dir := filepath.Join(t.TempDir(), "nested", "keyring")
	kr := openFast(t, dir, static("pw"))
	assertMode := func(t *testing.T, path string, want os.FileMode) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("mode of %s: got %v, want %v", path, got, want)
		}
	}
	assertMode(t, dir, 0o700)
	if kr.Dir() != dir {
		t.Errorf("Dir: got %v, want %v", kr.Dir(), dir)
	}

	mustAdd(t, kr, "alice")
	assertMode(t, kr.path("alice"), 0o600)
	if _, err := kr.Rotate("alice"); err != nil {
		t.Fatal(err)
	}
	assertMode(t, kr.path("alice"), 0o600)
	if err := kr.SetDID("alice", "did:medchain:1"); err != nil {
		t.Fatal(err)
	}
	assertMode(t, kr.path("alice"), 0o600)
	blob, err := kr.Export("alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.Import("bob", blob); err != nil {
		t.Fatal(err)
	}
	assertMode(t, kr.path("bob"), 0o600)

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	if want := []string{"alice.json", "bob.json"}; !slices.Equal(files, want) {
		t.Errorf("directory contents (no temp files left): got %v, want %v", files, want)
	}

	// Open refuses a file in place of the directory.
	if _, err := Open(kr.path("alice"), nil); err == nil {
		t.Errorf("Open(file): got nil error, want error")
	}
}

func TestEnvOrPrompt(t *testing.T) {
	t.Setenv(PassphraseEnv, "from env")
	for _, confirm := range []bool{false, true} {
		p, err := EnvOrPrompt()(confirm)
		if err != nil || string(p) != "from env" {
			t.Errorf("EnvOrPrompt()(%v): got %q, %v, want %q, nil", confirm, p, err, "from env")
		}
	}

	// Works as the keyring's PassphraseFunc.
	dir := t.TempDir()
	mustAdd(t, openFast(t, dir, EnvOrPrompt()), "alice")
	mustGet(t, openFast(t, dir, static("from env")), "alice")

	t.Setenv(PassphraseEnv, "")
	if _, err := EnvOrPrompt()(false); err == nil || !strings.Contains(err.Error(), PassphraseEnv) {
		t.Errorf("empty %s: got %v, want an error naming it", PassphraseEnv, err)
	}

	// Unset and no terminal: an error telling to set the variable.
	notTTY, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	defer notTTY.Close()
	unset := func(string) (string, bool) { return "", false }
	_, err = envOrPrompt(unset, notTTY, io.Discard)(true)
	if err == nil || !strings.Contains(err.Error(), PassphraseEnv) {
		t.Errorf("no terminal: got %v, want an error naming %s", err, PassphraseEnv)
	}
}

func hpkeSeal(t *testing.T, pub []byte, msg string) []byte {
	t.Helper()
	pk, err := hpke.MLKEM768X25519().NewPublicKey(pub)
	if err != nil {
		t.Fatalf("NewPublicKey: %v", err)
	}
	ct, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte("medchain test"), []byte(msg))
	if err != nil {
		t.Fatalf("hpke.Seal: %v", err)
	}
	return ct
}

func hpkeOpen(t *testing.T, k hpke.PrivateKey, ct []byte) string {
	t.Helper()
	pt, err := hpke.Open(k, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte("medchain test"), ct)
	if err != nil {
		t.Fatalf("hpke.Open: %v", err)
	}
	return string(pt)
}

func TestHPKERoundTrip(t *testing.T) {
	dir := t.TempDir()
	k := mustAdd(t, openFast(t, dir, static("pw")), "alice")
	if got, want := len(k.EncryptionPublic()), 1216; got != want {
		t.Errorf("len(EncryptionPublic): got %v, want %v", got, want)
	}
	ct := hpkeSeal(t, k.EncryptionPublic(), "diagnosis: healthy")
	reopened := mustGet(t, openFast(t, dir, static("pw")), "alice")
	if got := hpkeOpen(t, reopened.EncryptionKey, ct); got != "diagnosis: healthy" {
		t.Errorf("hpke.Open: got %v, want %v", got, "diagnosis: healthy")
	}
	other := mustAdd(t, openFast(t, t.TempDir(), static("pw")), "bob")
	if _, err := hpke.Open(other.EncryptionKey, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte("medchain test"), ct); err == nil {
		t.Errorf("hpke.Open with another key: got nil error, want error")
	}
}

func TestConcurrentUse(t *testing.T) {
	pc := &passCounter{pass: "pw"}
	var mu sync.Mutex
	kr := openFast(t, t.TempDir(), func(c bool) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		return pc.fn(c)
	})
	want := mustAdd(t, kr, "alice")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			k, err := kr.Get("alice")
			if err != nil {
				t.Errorf("Get: %v", err)
				return
			}
			if !bytes.Equal(k.Seed, want.Seed) {
				t.Errorf("Get: seed differs")
			}
			if _, err := kr.List(); err != nil {
				t.Errorf("List: %v", err)
			}
		})
	}
	wg.Wait()
	if pc.calls != 1 {
		t.Errorf("PassphraseFunc calls: got %v, want %v", pc.calls, 1)
	}
}
