package org

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
)

// orgPower is one organization's voting power after a proposed change.
type orgPower struct {
	org   string
	power int64
}

// powersAfter returns each active organization's voting power as it would be
// after p executes, in organization order.
func (k Keeper) powersAfter(r store.Reader, p *Proposal) []orgPower {
	var out []orgPower
	for _, o := range k.Orgs(r) {
		if o.Status != StatusActive {
			continue
		}
		pw := o.Power()
		if o.ID == p.Org {
			switch p.Kind {
			case KindRemoveOrg:
				continue
			case KindSetValidator:
				for _, v := range o.Validators {
					if bytes.Equal(v.PubKey, p.ValidatorKey) {
						pw -= v.Power
					}
				}
				pw += p.Power
			}
		}
		out = append(out, orgPower{o.ID, pw})
	}
	if p.Kind == KindAdmitOrg {
		out = append(out, orgPower{p.Org, p.Power})
	}
	return out
}

// CheckPowerCap enforces the consortium's power rule on a distribution: the
// network must keep some voting power, and once four or more organizations
// run validators none may hold a third or more of the total.
func CheckPowerCap(powers []orgPower) error {
	var total int64
	running := 0
	for _, op := range powers {
		total += op.power
		if op.power > 0 {
			running++
		}
	}
	if total <= 0 {
		return ErrNoValidators.Wrapf("total voting power would be 0")
	}
	if running < 4 {
		return nil
	}
	for _, op := range powers {
		if 3*op.power >= total {
			return ErrPowerCap.Wrapf("%q would hold %d of %d", op.org, op.power, total)
		}
	}
	return nil
}

// check validates that p can execute against the current state, without
// writing anything.
func (k Keeper) check(ctx *module.Context, p *Proposal) error {
	kv := ctx.Store(StoreName)
	switch p.Kind {
	case KindAdmitOrg:
		if _, err := k.Org(kv, p.Org); err == nil {
			return ErrOrgExists.Wrapf("%q (organization ids are never reused)", p.Org)
		}
		if !k.ids.IsActive(ctx.Store(IdentityStore), p.Admin) {
			return ErrUnknownIdentity.Wrapf("admin %s", p.Admin)
		}
		if len(p.ValidatorKey) > 0 && kv.Has(valOwnerKey(p.ValidatorKey)) {
			return ErrValidatorKey.Wrapf("key already belongs to %q", kv.Get(valOwnerKey(p.ValidatorKey)))
		}
	case KindSetPrefixes:
		o, err := k.Org(kv, p.Org)
		if err != nil {
			return err
		}
		if o.Status != StatusActive {
			return ErrOrgInactive.Wrapf("%q", p.Org)
		}
		return k.checkPrefixes(kv, p.Org, p.Prefixes)
	case KindRemoveOrg, KindSetValidator:
		o, err := k.Org(kv, p.Org)
		if err != nil {
			return err
		}
		if o.Status != StatusActive {
			return ErrOrgInactive.Wrapf("%q", p.Org)
		}
		if p.Kind == KindRemoveOrg && len(k.activeOrgIDs(kv)) < 2 {
			return ErrInvalidMsg.Wrapf("the last organization cannot be removed")
		}
		if p.Kind == KindSetValidator {
			owner := kv.Get(valOwnerKey(p.ValidatorKey))
			if owner != nil && string(owner) != p.Org {
				return ErrValidatorKey.Wrapf("key belongs to %q", owner)
			}
			if owner == nil && p.Power == 0 {
				return ErrValidatorKey.Wrapf("%q runs no validator with that key", p.Org)
			}
		}
	}
	return CheckPowerCap(k.powersAfter(kv, p))
}

// execute checks p and, if it can run, applies it. Nothing is written when
// it returns an error.
func (k Keeper) execute(ctx *module.Context, p *Proposal) error {
	if err := k.check(ctx, p); err != nil {
		return err
	}
	kv := ctx.Store(StoreName)
	switch p.Kind {
	case KindAdmitOrg:
		o := &Org{ID: p.Org, Name: p.Name, Type: p.OrgType, Status: StatusActive, AdmittedHeight: ctx.Height, Validators: []Validator{}}
		if len(p.ValidatorKey) > 0 {
			o.Validators = []Validator{{PubKey: p.ValidatorKey, Power: p.Power}}
			kv.Set(valOwnerKey(p.ValidatorKey), []byte(o.ID))
			ctx.UpdateValidator(module.ValidatorUpdate{PubKey: p.ValidatorKey, Power: p.Power})
		}
		store.SetJSON(kv, orgKey(o.ID), o)
		k.putMember(kv, &Member{DID: p.Admin, Org: o.ID, Roles: []string{RoleAdmin}, AddedHeight: ctx.Height, AddedBy: "governance"})
		ctx.Emit(module.NewEvent("org.admitted", "org", o.ID, "type", o.Type))
	case KindRemoveOrg:
		o, _ := k.Org(kv, p.Org)
		for _, v := range o.Validators {
			kv.Delete(valOwnerKey(v.PubKey))
			ctx.UpdateValidator(module.ValidatorUpdate{PubKey: v.PubKey, Power: 0})
		}
		o.Validators = []Validator{}
		o.Status, o.RemovedHeight = StatusRemoved, ctx.Height
		store.SetJSON(kv, orgKey(o.ID), o)
		ctx.Emit(module.NewEvent("org.removed", "org", o.ID))
	case KindSetPrefixes:
		o, _ := k.Org(kv, p.Org)
		k.setPrefixes(kv, o, p.Prefixes)
		store.SetJSON(kv, orgKey(o.ID), o)
		ctx.Emit(module.NewEvent("org.gs1_prefixes_set", "org", o.ID, "prefixes", fmt.Sprint(o.GS1Prefixes)))
	case KindSetValidator:
		o, _ := k.Org(kv, p.Org)
		o.Validators = slices.DeleteFunc(o.Validators, func(v Validator) bool { return bytes.Equal(v.PubKey, p.ValidatorKey) })
		if p.Power > 0 {
			o.Validators = append(o.Validators, Validator{PubKey: p.ValidatorKey, Power: p.Power})
			slices.SortFunc(o.Validators, func(a, b Validator) int { return bytes.Compare(a.PubKey, b.PubKey) })
			kv.Set(valOwnerKey(p.ValidatorKey), []byte(o.ID))
		} else {
			kv.Delete(valOwnerKey(p.ValidatorKey))
		}
		store.SetJSON(kv, orgKey(o.ID), o)
		ctx.UpdateValidator(module.ValidatorUpdate{PubKey: p.ValidatorKey, Power: p.Power})
		ctx.Emit(module.NewEvent("org.validator_set", "org", o.ID, "power", itoa(p.Power)))
	}
	return nil
}
