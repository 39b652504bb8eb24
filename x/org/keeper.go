package org

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/store"
)

// Keeper reads and writes organization state.
type Keeper struct {
	ids IdentityChecker
}

func getJSON(r store.Reader, key []byte, v any) bool { return store.GetJSON(r, StoreName, key, v) }

// Org returns organization id, or an error wrapping ErrOrgNotFound.
func (Keeper) Org(r store.Reader, id string) (*Org, error) {
	o := &Org{}
	if !getJSON(r, orgKey(id), o) {
		return nil, ErrOrgNotFound.Wrapf("%q", id)
	}
	return o, nil
}

// Orgs returns every organization (active and removed) in id order.
func (Keeper) Orgs(r store.Reader) []*Org {
	var out []*Org
	it := r.Iterator(prefixOrg, store.PrefixEnd(prefixOrg))
	defer it.Close()
	for ; it.Valid(); it.Next() {
		o := &Org{}
		if err := json.Unmarshal(it.Value(), o); err != nil {
			panic(fmt.Sprintf("org: corrupt org: %v", err))
		}
		out = append(out, o)
	}
	return out
}

// Members returns the members of org in DID order.
func (Keeper) Members(r store.Reader, org string) []*Member {
	var out []*Member
	p := memberPrefix(org)
	it := r.Iterator(p, store.PrefixEnd(p))
	defer it.Close()
	for ; it.Valid(); it.Next() {
		m := &Member{}
		if err := json.Unmarshal(it.Value(), m); err != nil {
			panic(fmt.Sprintf("org: corrupt member: %v", err))
		}
		out = append(out, m)
	}
	return out
}

// Member returns did's membership in org, or an error wrapping ErrMemberNotFound.
func (Keeper) Member(r store.Reader, org, did string) (*Member, error) {
	m := &Member{}
	if !getJSON(r, memberKey(org, did), m) {
		return nil, ErrMemberNotFound.Wrapf("%s in %q", did, org)
	}
	return m, nil
}

// Memberships returns every membership of did, in organization order.
func (k Keeper) Memberships(r store.Reader, did string) []*Member {
	var out []*Member
	p := memberOfPrefix(did)
	it := r.Iterator(p, store.PrefixEnd(p))
	defer it.Close()
	for ; it.Valid(); it.Next() {
		org := string(it.Key()[len(p):])
		if m, err := k.Member(r, org, did); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// IsActiveOrg reports whether org exists and has not been removed.
func (k Keeper) IsActiveOrg(r store.Reader, org string) bool {
	o, err := k.Org(r, org)
	return err == nil && o.Status == StatusActive
}

// HasRole is the role check every module uses: it reports whether did is a
// member of an active organization org holding role. The caller checks that
// the DID itself is active (admission does so for transaction signers).
func (k Keeper) HasRole(r store.Reader, did, org, role string) bool {
	o, err := k.Org(r, org)
	if err != nil || o.Status != StatusActive {
		return false
	}
	m, err := k.Member(r, org, did)
	return err == nil && m.HasRole(role)
}

// HasAnyRole reports whether did is a member of an active organization org
// holding at least one of roles: HasRole for several roles at the cost of
// one look-up.
func (k Keeper) HasAnyRole(r store.Reader, did, org string, roles ...string) bool {
	o, err := k.Org(r, org)
	if err != nil || o.Status != StatusActive {
		return false
	}
	m, err := k.Member(r, org, did)
	return err == nil && slices.ContainsFunc(roles, m.HasRole)
}

// OrgsWithRole returns the active organizations in which did holds role.
func (k Keeper) OrgsWithRole(r store.Reader, did, role string) []string {
	var out []string
	for _, m := range k.Memberships(r, did) {
		if m.HasRole(role) && k.HasRole(r, did, m.Org, role) {
			out = append(out, m.Org)
		}
	}
	return out
}

// Proposal returns proposal id, or an error wrapping ErrProposalNotFound.
func (Keeper) Proposal(r store.Reader, id uint64) (*Proposal, error) {
	p := &Proposal{}
	if !getJSON(r, proposalKey(id), p) {
		return nil, ErrProposalNotFound.Wrapf("%d", id)
	}
	return p, nil
}

// Proposals returns every proposal, newest first.
func (Keeper) Proposals(r store.Reader) []*Proposal {
	var out []*Proposal
	it := r.ReverseIterator(prefixProposal, store.PrefixEnd(prefixProposal))
	defer it.Close()
	for ; it.Valid(); it.Next() {
		p := &Proposal{}
		if err := json.Unmarshal(it.Value(), p); err != nil {
			panic(fmt.Sprintf("org: corrupt proposal: %v", err))
		}
		out = append(out, p)
	}
	return out
}

// Params returns the module parameters.
func (Keeper) Params(r store.Reader) Params {
	p := DefaultParams()
	getJSON(r, keyParams, &p)
	return p
}

// Validators returns the validator set implied by organization state: every
// validator of every active organization, in organization then key order.
func (k Keeper) Validators(r store.Reader) []Validator {
	var out []Validator
	for _, o := range k.Orgs(r) {
		if o.Status == StatusActive {
			out = append(out, o.Validators...)
		}
	}
	return out
}

func (k Keeper) putMember(kv store.KV, m *Member) {
	store.SetJSON(kv, memberKey(m.Org, m.DID), m)
	kv.Set(memberOfKey(m.DID, m.Org), []byte{1})
}

func (k Keeper) requireAdmin(ctx *module.Context, org string) (*Org, error) {
	kv := ctx.Store(StoreName)
	o, err := k.Org(kv, org)
	if err != nil {
		return nil, err
	}
	if o.Status != StatusActive {
		return nil, ErrOrgInactive.Wrapf("%q", org)
	}
	// HasRole, without reading the organization a second time.
	if m, err := k.Member(kv, org, ctx.Signer); err != nil || !m.HasRole(RoleAdmin) {
		return nil, ErrNotAdmin.Wrapf("%s is not an admin of %q", ctx.Signer, org)
	}
	return o, nil
}

func (k Keeper) addMember(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgAddMember)
	if _, err := k.requireAdmin(ctx, m.Org); err != nil {
		return err
	}
	if !k.ids.IsActive(ctx.Store(IdentityStore), m.Member) {
		return ErrUnknownIdentity.Wrapf("%s", m.Member)
	}
	kv := ctx.Store(StoreName)
	mem, err := k.Member(kv, m.Org, m.Member)
	if err != nil {
		mem = &Member{DID: m.Member, Org: m.Org, AddedHeight: ctx.Height, AddedBy: ctx.Signer}
	} else if mem.HasRole(RoleAdmin) && !slices.Contains(m.Roles, RoleAdmin) {
		if err := k.checkOtherAdmin(kv, m.Org, m.Member); err != nil {
			return err
		}
	}
	mem.Roles = slices.Clone(m.Roles)
	k.putMember(kv, mem)
	ctx.Emit(module.NewEvent("org.member_set", "org", m.Org, "member", m.Member, "roles", fmt.Sprint(m.Roles)))
	return nil
}

func (k Keeper) checkOtherAdmin(r store.Reader, org, leaving string) error {
	for _, o := range k.Members(r, org) {
		if o.DID != leaving && o.HasRole(RoleAdmin) {
			return nil
		}
	}
	return ErrLastAdmin.Wrapf("%q", org)
}

func (k Keeper) removeMember(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgRemoveMember)
	if _, err := k.requireAdmin(ctx, m.Org); err != nil {
		return err
	}
	kv := ctx.Store(StoreName)
	mem, err := k.Member(kv, m.Org, m.Member)
	if err != nil {
		return err
	}
	if mem.HasRole(RoleAdmin) {
		if err := k.checkOtherAdmin(kv, m.Org, m.Member); err != nil {
			return err
		}
	}
	kv.Delete(memberKey(m.Org, m.Member))
	kv.Delete(memberOfKey(m.Member, m.Org))
	ctx.Emit(module.NewEvent("org.member_removed", "org", m.Org, "member", m.Member))
	return nil
}

func (k Keeper) nextProposalID(kv store.KV) uint64 {
	id := uint64(1)
	if bz := kv.Get(keyNextProp); bz != nil {
		id = binary.BigEndian.Uint64(bz)
	}
	kv.Set(keyNextProp, binary.BigEndian.AppendUint64(nil, id+1))
	return id
}

// activeOrgIDs returns the ids of the active organizations, sorted.
func (k Keeper) activeOrgIDs(r store.Reader) []string {
	var ids []string
	for _, o := range k.Orgs(r) {
		if o.Status == StatusActive {
			ids = append(ids, o.ID)
		}
	}
	return ids
}

func (k Keeper) submitProposal(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgSubmitProposal)
	if _, err := k.requireAdmin(ctx, m.ProposerOrg); err != nil {
		return err
	}
	kv := ctx.Store(StoreName)
	p := &Proposal{
		Kind: m.Kind, ProposerOrg: m.ProposerOrg, Proposer: ctx.Signer, Org: m.Org,
		Name: m.Name, OrgType: m.OrgType, Admin: m.Admin, ValidatorKey: m.ValidatorKey, Power: int64(m.Power), Prefixes: m.Prefixes,
		Electorate: k.activeOrgIDs(kv), Status: ProposalVoting,
		SubmittedHeight: ctx.Height, Submitted: ctx.Time, Deadline: ctx.Time.Add(k.Params(kv).VotingPeriod),
	}
	// Refuse now what could never execute, so voters only see viable proposals.
	if err := k.check(ctx, p); err != nil {
		return err
	}
	p.ID = k.nextProposalID(kv)
	ctx.Emit(module.NewEvent("org.proposal_submitted", "id", fmt.Sprint(p.ID), "kind", p.Kind, "org", p.Org, "proposer_org", p.ProposerOrg))
	return k.castVote(ctx, p, m.ProposerOrg, true)
}

func (k Keeper) vote(ctx *module.Context, msg module.Msg) error {
	m := msg.(*MsgVote)
	if _, err := k.requireAdmin(ctx, m.Org); err != nil {
		return err
	}
	p, err := k.Proposal(ctx.Store(StoreName), m.ProposalID)
	if err != nil {
		return err
	}
	if p.Status != ProposalVoting {
		return ErrNotVoting.Wrapf("proposal %d is %s", p.ID, p.Status)
	}
	if !ctx.Time.Before(p.Deadline) {
		p.Status, p.DecidedHeight, p.Result = ProposalExpired, ctx.Height, "voting period ended"
		store.SetJSON(ctx.Store(StoreName), proposalKey(p.ID), p)
		ctx.Emit(module.NewEvent("org.proposal_decided", "id", fmt.Sprint(p.ID), "status", p.Status))
		return nil
	}
	if !slices.Contains(p.Electorate, m.Org) {
		return ErrNotElector.Wrapf("%q was not a member when proposal %d was submitted", m.Org, p.ID)
	}
	for _, v := range p.Votes {
		if v.Org == m.Org {
			return ErrAlreadyVoted.Wrapf("%q on proposal %d", m.Org, p.ID)
		}
	}
	return k.castVote(ctx, p, m.Org, m.Approve)
}

// castVote records a vote, decides the proposal if the outcome is settled,
// executes it if it passed, and saves it.
func (k Keeper) castVote(ctx *module.Context, p *Proposal, org string, approve bool) error {
	kv := ctx.Store(StoreName)
	p.Votes = append(p.Votes, Vote{Org: org, Voter: ctx.Signer, Approve: approve, Height: ctx.Height})
	ctx.Emit(module.NewEvent("org.vote", "id", fmt.Sprint(p.ID), "org", org, "approve", fmt.Sprint(approve)))
	yes, no := p.Tally()
	n := len(p.Electorate)
	switch {
	case Passes(yes, n):
		p.DecidedHeight = ctx.Height
		// Execute on a scratch cache so a refused execution leaves no trace.
		if err := k.execute(ctx, p); err != nil {
			p.Status, p.Result = ProposalFailed, err.Error()
		} else {
			p.Status = ProposalPassed
		}
		ctx.Emit(module.NewEvent("org.proposal_decided", "id", fmt.Sprint(p.ID), "status", p.Status))
	case !Passes(n-no, n):
		p.Status, p.DecidedHeight = ProposalRejected, ctx.Height
		ctx.Emit(module.NewEvent("org.proposal_decided", "id", fmt.Sprint(p.ID), "status", p.Status))
	}
	store.SetJSON(kv, proposalKey(p.ID), p)
	return nil
}
