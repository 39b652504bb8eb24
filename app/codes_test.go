package app_test

import (
	"fmt"
	"testing"

	dbm "github.com/cosmos/cosmos-db"

	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/module"
)

// TestCodesUnique checks that every (codespace, code) pair the application
// can return means one thing: across the admission errors, the query errors
// and every wired module's errors.
func TestCodesUnique(t *testing.T) {
	a, err := app.New(dbm.NewMemDB(), app.Options{})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	type source struct {
		name string
		errs []*module.Error
	}
	sources := []source{
		{"app admission", app.AdmissionErrors()},
		{"app query", []*module.Error{app.ErrQueryPath, app.ErrQueryStore, app.ErrQueryHeight}},
	}
	mods := a.Modules()
	if len(mods) < 2 {
		t.Fatalf("Modules(): got %d modules, want at least identity and org", len(mods))
	}
	for _, m := range mods {
		if len(m.Errors()) == 0 {
			t.Errorf("module %s: got no errors, want its error list", m.Name())
		}
		for _, e := range m.Errors() {
			if e.Codespace != m.Name() {
				t.Errorf("module %s error %d (%s): got codespace %q, want %q", m.Name(), e.Code, e.Desc, e.Codespace, m.Name())
			}
		}
		if m.Name() == app.Codespace || m.Name() == "query" {
			t.Errorf("module %s: codespace collides with the app's", m.Name())
		}
		sources = append(sources, source{"module " + m.Name(), m.Errors()})
	}
	seen := map[string]string{}
	total := 0
	for _, s := range sources {
		for _, e := range s.errs {
			if e.Code == 0 {
				t.Errorf("%s: %q has code 0, which means success", s.name, e.Desc)
			}
			k := fmt.Sprintf("%s/%d", e.Codespace, e.Code)
			desc := fmt.Sprintf("%s: %q", s.name, e.Desc)
			if prev, dup := seen[k]; dup {
				t.Errorf("code %s: got both %s and %s, want one meaning per code", k, prev, desc)
			}
			seen[k] = desc
			total++
		}
	}
	if total < 30 {
		t.Fatalf("checked %d codes, want at least 30 (admission 15 + identity + org)", total)
	}
}
