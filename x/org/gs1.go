package org

import (
	"slices"
	"strings"

	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
)

// GS1 identifiers an organization carries: company prefixes it owns (set
// at genesis or by a governance proposal, so that no member can claim
// another's prefix), a party GLN and location GLNs (set by its admin).

// GS1CheckDigit returns the GS1 mod-10 check digit of the digits s (all but
// the check digit): weights 3 and 1 alternate from the right, starting
// with 3. It returns 0xFF when s is empty or not all digits.
func GS1CheckDigit(s string) byte {
	if s == "" {
		return 0xFF
	}
	sum := 0
	for i := 0; i < len(s); i++ {
		c := s[len(s)-1-i]
		if c < '0' || c > '9' {
			return 0xFF
		}
		d := int(c - '0')
		if i%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// ValidGS1Number reports whether s is n digits whose last is the check digit.
func ValidGS1Number(s string, n int) bool {
	return len(s) == n && GS1CheckDigit(s[:n-1]) == s[n-1]
}

// ValidGLN reports whether s is a Global Location Number: 13 digits with a
// valid GS1 check digit.
func ValidGLN(s string) bool { return ValidGS1Number(s, 13) }

// ValidCompanyPrefix reports whether s is a GS1 company prefix: 6 to 12 digits.
func ValidCompanyPrefix(s string) bool {
	if len(s) < 6 || len(s) > 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MaxLocationGLNs bounds an organization's location GLNs.
const MaxLocationGLNs = 64

// MaxPrefixes bounds an organization's GS1 company prefixes.
const MaxPrefixes = 64

// PrefixOwnerOf returns the organization owning a GS1 company prefix that
// starts p or that p starts (overlapping prefixes), or "".
func (Keeper) PrefixOwnerOf(r store.Reader, p string) string {
	for l := 6; l <= len(p); l++ {
		if bz := r.Get(gs1PrefixKey(p[:l])); bz != nil {
			return string(bz)
		}
	}
	// A longer owned prefix that extends p.
	start := gs1PrefixKey(p)
	it := r.Iterator(start, store.PrefixEnd(start))
	defer it.Close()
	if it.Valid() {
		return string(it.Value())
	}
	return ""
}

// PrefixOwner returns the organization owning the GS1 company prefix that
// begins digits (a GTIN-14 without its indicator digit, an SSCC without its
// extension digit, or a GLN) and that prefix, or "", "".
func (Keeper) PrefixOwner(r store.Reader, digits string) (orgID, prefix string) {
	for l := 6; l <= 12 && l <= len(digits); l++ {
		if bz := r.Get(gs1PrefixKey(digits[:l])); bz != nil {
			return string(bz), digits[:l]
		}
	}
	return "", ""
}

// OrgByGLN returns the organization whose party or location GLN gln is, or "".
func (Keeper) OrgByGLN(r store.Reader, gln string) string {
	return string(r.Get(glnKey(gln)))
}

// putGLNs replaces o's GLNs by m's (o is then saved by the caller).
func (k Keeper) putGLNs(kv store.KV, o *Org, m *MsgSetGLNs) error {
	next := append([]string{}, m.LocationGLNs...)
	if m.PartyGLN != "" {
		next = append(next, m.PartyGLN)
	}
	for _, g := range next {
		if owner := k.OrgByGLN(kv, g); owner != "" && owner != o.ID {
			return ErrGS1Taken.Wrapf("GLN %s belongs to %q", g, owner)
		}
		if owner, _ := k.PrefixOwner(kv, g); owner != "" && owner != o.ID {
			return ErrGS1Taken.Wrapf("GLN %s is under a GS1 company prefix of %q", g, owner)
		}
	}
	old := append([]string{}, o.LocationGLNs...)
	if o.PartyGLN != "" {
		old = append(old, o.PartyGLN)
	}
	for _, g := range old {
		kv.Delete(glnKey(g))
	}
	for _, g := range next {
		kv.Set(glnKey(g), []byte(o.ID))
	}
	o.PartyGLN = m.PartyGLN
	o.LocationGLNs = slices.Clone(m.LocationGLNs)
	if len(o.LocationGLNs) == 0 {
		o.LocationGLNs = nil
	}
	return nil
}

func (k Keeper) setGLNs(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgSetGLNs)
	o, err := k.requireAdmin(ctx, m.Org)
	if err != nil {
		return err
	}
	kv := ctx.Store(StoreName)
	if err := k.putGLNs(kv, o, m); err != nil {
		return err
	}
	store.SetJSON(kv, orgKey(o.ID), o)
	ctx.Emit(module.NewEvent("org.glns_set", "org", o.ID, "party_gln", o.PartyGLN, "location_glns", strings.Join(o.LocationGLNs, ",")))
	return nil
}

// setPrefixes executes a set_gs1_prefixes proposal on o (saved by the caller).
func (k Keeper) setPrefixes(kv store.KV, o *Org, prefixes []string) {
	for _, p := range o.GS1Prefixes {
		kv.Delete(gs1PrefixKey(p))
	}
	for _, p := range prefixes {
		kv.Set(gs1PrefixKey(p), []byte(o.ID))
	}
	o.GS1Prefixes = slices.Clone(prefixes)
	if len(o.GS1Prefixes) == 0 {
		o.GS1Prefixes = nil
	}
}

// checkPrefixes refuses prefixes that overlap another organization's.
func (k Keeper) checkPrefixes(r store.Reader, orgID string, prefixes []string) error {
	for _, p := range prefixes {
		if owner := k.PrefixOwnerOf(r, p); owner != "" && owner != orgID {
			return ErrGS1Taken.Wrapf("GS1 company prefix %s overlaps one of %q", p, owner)
		}
	}
	return nil
}
