package harness

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/module"
	"github.com/medchain/medchain/x/org"
)

// LoadOptions shape a Load.
type LoadOptions struct {
	// Signers is the number of identities sending transactions (default 24).
	Signers int
	// Rate is the target number of operations per second over all signers
	// (default 25). Each signer has one operation in flight at a time.
	Rate float64
	// OpTimeout bounds each operation (default 15 s); a timeout is an
	// unknown outcome.
	OpTimeout time.Duration
	// Targets are the nodes operations go to (default: every node that is
	// up when the operation starts).
	Targets []int
}

// Load is a steady stream of signed transactions from many signers. Each
// signer registers its identity, is made an admin of one founding
// organization, then repeatedly sets (85%) or removes (15%) the roles of
// members of that organization (other signers' identities), through the
// SDK against a random up node. Every operation goes into the testnet's
// History.
type Load struct {
	tn      *Testnet
	o       LoadOptions
	signers []*loadSigner
	tokens  chan struct{}
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

type loadSigner struct {
	s      *Signer
	orgIdx int
	seq    uint64
	rng    *rand.Rand
}

// Load kinds in the history.
const (
	KindRegister     = "load.register"
	KindAdminAdd     = "load.admin-add"
	KindAddMember    = "load.add-member"
	KindRemoveMember = "load.remove-member"
)

// nonAdminRoles are the roles load operations hand out: people's roles,
// never admin (load never changes who may govern) nor a node's service
// role.
var nonAdminRoles = []string{org.RoleAuditor, org.RoleBilling, org.RoleEmergency, org.RoleLabTech, org.RoleNurse,
	org.RolePharmacist, org.RolePractitioner, org.RoleResearcher, org.RoleStaff}

// StartLoad registers the signers, makes them organization admins (both
// recorded in the history), then starts the load in the background. It
// fails the test if the set-up does not complete. Stop it with Stop (the
// testnet's teardown also does).
func (tn *Testnet) StartLoad(o LoadOptions) *Load {
	tn.T.Helper()
	if o.Signers == 0 {
		o.Signers = 24
	}
	if o.Rate == 0 {
		o.Rate = 25
	}
	if o.OpTimeout == 0 {
		o.OpTimeout = 15 * time.Second
	}
	l := &Load{tn: tn, o: o, tokens: make(chan struct{}), stop: make(chan struct{})}
	for i := range o.Signers {
		l.signers = append(l.signers, &loadSigner{
			s:      NewSigner(fmt.Sprintf("load/%d/%d", tn.Seed, i)),
			orgIdx: i % tn.Founders(),
			rng:    rand.New(rand.NewPCG(uint64(tn.Seed), uint64(i)+1)),
		})
	}
	start := time.Now()
	if err := l.setup(); err != nil {
		tn.T.Fatalf("harness: load set-up: %v", err)
	}
	tn.T.Logf("harness: load of %d signers at %.0f ops/s set up in %s", o.Signers, o.Rate, time.Since(start).Round(time.Millisecond))
	tn.mu.Lock()
	tn.load = l
	tn.mu.Unlock()
	l.wg.Add(1)
	go l.tick()
	for _, ls := range l.signers {
		l.wg.Add(1)
		go l.run(ls)
	}
	return l
}

func (tn *Testnet) currentLoad() *Load {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return tn.load
}

// setup registers every signer and adds it as an admin of its organization.
func (l *Load) setup() error {
	tn := l.tn
	errs := make(chan error, len(l.signers))
	var wg sync.WaitGroup
	for _, ls := range l.signers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bz, err := client.BuildTx(ls.s, tn.ChainID, 0, ls.s.Register())
			if err == nil {
				err = tn.SendUntilCommitted(KindRegister, bz, l.o.OpTimeout, 5)
			}
			if err != nil {
				errs <- fmt.Errorf("register %s: %w", ls.s.DID(), err)
				return
			}
			ls.seq = 1
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	for k := range tn.Founders() {
		var msgs []module.Msg
		for _, ls := range l.signers {
			if ls.orgIdx == k {
				msgs = append(msgs, &org.MsgAddMember{Org: tn.Manifest().Nodes[k].OrgID, Member: ls.s.DID(), Roles: []string{org.RoleAdmin}})
			}
		}
		if len(msgs) == 0 {
			continue
		}
		if _, err := tn.SubmitMsgs(tn.Admin(k), KindAdminAdd, msgs...); err != nil {
			return fmt.Errorf("admin of org %d adds load signers: %w", k, err)
		}
	}
	return nil
}

// Stop stops the load and waits (bounded) for operations in flight.
func (l *Load) Stop() {
	l.once.Do(func() { close(l.stop) })
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(l.o.OpTimeout + 15*time.Second):
		l.tn.T.Errorf("harness: load did not stop within %s", l.o.OpTimeout+15*time.Second)
	}
}

// Committed returns how many load operations have committed so far.
func (l *Load) Committed() int {
	n := 0
	for _, op := range l.tn.history.Ops() {
		if strings.HasPrefix(op.Kind, "load.") && op.Outcome == Committed {
			n++
		}
	}
	return n
}

func (l *Load) tick() {
	defer l.wg.Done()
	t := time.NewTicker(time.Duration(float64(time.Second) / l.o.Rate))
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			select {
			case l.tokens <- struct{}{}:
			default: // every signer is busy: the load is saturated
			}
		}
	}
}

func (l *Load) targets() []int {
	up := l.tn.Up()
	if l.o.Targets == nil {
		return up
	}
	return slices.DeleteFunc(slices.Clone(l.o.Targets), func(i int) bool { return !slices.Contains(up, i) })
}

func (l *Load) run(ls *loadSigner) {
	defer l.wg.Done()
	tn := l.tn
	for {
		select {
		case <-l.stop:
			return
		case <-l.tokens:
		}
		targets := l.targets()
		if len(targets) == 0 {
			continue
		}
		i := targets[ls.rng.IntN(len(targets))]
		kind, msg := l.nextMsg(ls)
		bz, err := client.BuildTx(ls.s, tn.ChainID, ls.seq, msg)
		if err != nil {
			tn.T.Errorf("harness: build load tx: %v", err)
			return
		}
		op := tn.Send(i, kind, bz, l.o.OpTimeout)
		switch {
		case op.Outcome == Committed:
			ls.seq++
		case op.Outcome == Rejected && op.Stage == "deliver" && op.Codespace != app.Codespace:
			ls.seq++ // executed and refused by the module: the sequence is used
		case op.Outcome == Unknown, op.Is(app.ErrSequenceReused), op.Is(app.ErrSequenceFuture):
			l.resync(ls)
		}
	}
}

// resync reads the signer's next sequence from the chain.
func (l *Load) resync(ls *loadSigner) {
	select {
	case <-l.stop:
		return
	case <-time.After(500 * time.Millisecond):
	}
	up := l.targets()
	if len(up) == 0 {
		return
	}
	ctx, cancel := ctxFor(3 * time.Second)
	defer cancel()
	if seq, err := l.tn.Node(up[ls.rng.IntN(len(up))]).Client.NextSequence(ctx, ls.s.DID()); err == nil {
		ls.seq = seq
	}
}

// nextMsg picks the signer's next operation.
func (l *Load) nextMsg(ls *loadSigner) (string, module.Msg) {
	orgID := l.tn.Manifest().Nodes[ls.orgIdx].OrgID
	var others []*loadSigner
	for _, o := range l.signers {
		if o.orgIdx != ls.orgIdx {
			others = append(others, o)
		}
	}
	if len(others) == 0 { // one organization: members are only ever removed
		return KindRemoveMember, &org.MsgRemoveMember{Org: orgID, Member: NewSigner(fmt.Sprint("nobody/", ls.rng.Int())).DID()}
	}
	member := others[ls.rng.IntN(len(others))].s.DID()
	if ls.rng.IntN(100) < 15 {
		return KindRemoveMember, &org.MsgRemoveMember{Org: orgID, Member: member}
	}
	var roles []string
	for range 1 + ls.rng.IntN(3) {
		roles = append(roles, nonAdminRoles[ls.rng.IntN(len(nonAdminRoles))])
	}
	return KindAddMember, &org.MsgAddMember{Org: orgID, Member: member, Roles: org.SortRoles(roles)}
}
