package vault

import (
	"context"
	"time"

	"github.com/medchain/medchain/store"

	"github.com/medchain/medchain/x/records"
)

// Run performs the vault's background duties until ctx ends: erasures this
// vault owes (crypto-shredding, then a signed receipt on chain) and the
// collection of orphan blobs (written, never anchored). Work interrupted by
// a crash is found again on the next sweep, since what is owed is read from
// the chain.
//
// Erasures are swept every period. Orphans come from a crash between a
// blob's write and its anchor's commit, or from a blob whose anchoring
// failed and whose deletion failed too: the whole blob store is swept
// twice after start (at start, and once more orphanGrace later to delete
// what was then still unaccounted for), and afterwards only the blobs this
// process failed to delete (SweepSuspects), every orphanSweepEvery. A full
// sweep reads the anchor of every blob, which at 10^5–10^6 records costs
// tens of seconds of CPU: swept every 30 s it took a third of a loaded
// node's CPU. Wait returns once Run has returned, so that a node closes its
// database only after the last sweep's reads.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	s.running.Add(1)
	defer s.running.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	var lastOrphans time.Time
	full := 0
	for {
		s.SweepErasures(ctx)
		switch {
		case full == 0, full == 1 && time.Since(lastOrphans) >= orphanGrace:
			s.SweepOrphans(ctx, orphanGrace)
			full++
			lastOrphans = time.Now()
		case full >= 2 && time.Since(lastOrphans) >= orphanSweepEvery:
			s.SweepSuspects(ctx, orphanGrace)
			lastOrphans = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// orphanSweepEvery spaces the sweeps of suspect blobs; orphanGrace is how
// long a blob must stay unaccounted for before it is deleted (a write may
// be between its blob and its anchor's commit).
const (
	orphanSweepEvery = 30 * time.Second
	orphanGrace      = 2 * time.Minute
)

// Wait blocks until every Run of the service has returned.
func (s *Service) Wait() { s.running.Wait() }

// SweepErasures destroys the records of every patient whose erasure this
// vault owes and confirms each on chain. It returns how many erasures it
// confirmed.
func (s *Service) SweepErasures(ctx context.Context) int {
	r, _, err := s.reader(records.StoreName)
	if err != nil {
		return 0
	}
	k := records.Keeper{}
	done := 0
	for _, patient := range k.OwedErasures(r, s.cfg.Org) {
		e := k.Erasure(r, patient)
		if e == nil {
			continue
		}
		ok := true
		for _, o := range e.Orgs {
			if o.Org != s.cfg.Org || o.Done {
				continue
			}
			for _, id := range o.Records {
				if err := s.shred(ctx, id); err != nil {
					s.cfg.Logger.Error("vault erasure: shred failed", "record", id, "err", err.Error())
					ok = false
				}
			}
		}
		if !ok {
			continue
		}
		if _, err := s.submit(ctx, &records.MsgErasureReceipt{Patient: patient, Org: s.cfg.Org}); err != nil {
			s.cfg.Logger.Error("vault erasure: receipt failed", "err", err.Error())
			continue
		}
		done++
	}
	return done
}

// shred deletes every stored version of a record: ciphertext and wrapped
// keys go together, and the data key never existed unwrapped at rest.
func (s *Service) shred(ctx context.Context, id string) error {
	keys, err := s.listBlobs(ctx, id)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.haltHook(ctx); err != nil {
			return err
		}
		if err := s.cfg.Blobs.Delete(ctx, k); err != nil {
			return err
		}
		s.shredded.Add(1)
	}
	return nil
}

// haltHook implements Config.HaltAfterShreds: once that many blobs were
// shredded, it logs once and blocks until ctx ends.
func (s *Service) haltHook(ctx context.Context) error {
	n := s.cfg.HaltAfterShreds
	if n <= 0 || s.shredded.Load() < int64(n) {
		return nil
	}
	s.haltOnce.Do(func() {
		s.cfg.Logger.Info("vault erasure halted by the test hook", "shredded", n)
	})
	<-ctx.Done()
	return ctx.Err()
}

// SweepOrphans deletes blobs that no anchor accounts for, once they have
// been seen unaccounted for at least grace apart (a Put may be between its
// blob write and its anchor's commit). It lists and checks every blob.
func (s *Service) SweepOrphans(ctx context.Context, grace time.Duration) int {
	keys, err := s.listAllBlobs(ctx)
	if err != nil {
		return 0
	}
	r, _, err := s.reader(records.StoreName)
	if err != nil {
		return 0
	}
	now := s.cfg.Now()
	removed := 0
	s.orphanMu.Lock()
	defer s.orphanMu.Unlock()
	seen := map[string]time.Time{}
	for _, key := range keys {
		switch s.orphanCheck(ctx, r, key, now, grace, seen) {
		case orphanRemoved:
			removed++
			delete(s.suspects, key)
		case orphanAccounted:
			delete(s.suspects, key)
		}
	}
	s.orphanSeen = seen
	return removed
}

// SweepSuspects is SweepOrphans restricted to the blobs this process wrote
// and then failed to delete when their anchoring failed.
func (s *Service) SweepSuspects(ctx context.Context, grace time.Duration) int {
	s.orphanMu.Lock()
	defer s.orphanMu.Unlock()
	if len(s.suspects) == 0 {
		return 0
	}
	r, _, err := s.reader(records.StoreName)
	if err != nil {
		return 0
	}
	now := s.cfg.Now()
	removed := 0
	for key := range s.suspects { // the order does not matter: each key is decided on its own
		switch s.orphanCheck(ctx, r, key, now, grace, s.orphanSeen) {
		case orphanRemoved:
			removed++
			delete(s.suspects, key)
			delete(s.orphanSeen, key)
		case orphanAccounted:
			delete(s.suspects, key)
			delete(s.orphanSeen, key)
		}
	}
	return removed
}

type orphanVerdict int

const (
	orphanAccounted orphanVerdict = iota // anchored, erased (the erasure sweep's), or not a record blob
	orphanWaiting                        // unaccounted for, not yet for grace
	orphanRemoved
)

// orphanCheck decides one blob: seen (written into) holds when each
// unaccounted blob was first seen. s.orphanMu must be held.
func (s *Service) orphanCheck(ctx context.Context, r store.Reader, key string, now time.Time, grace time.Duration, seen map[string]time.Time) orphanVerdict {
	id, v, ok := ParseBlobKey(key)
	if !ok {
		return orphanAccounted
	}
	a, err := records.Keeper{}.Anchor(r, id)
	if err == nil && a.HolderOrg == s.cfg.Org && v <= a.Version && a.Status == records.StatusActive {
		return orphanAccounted
	}
	if err == nil && a.Status == records.StatusErased {
		return orphanAccounted // the erasure sweep owns these
	}
	first, ok := s.orphanSeen[key]
	if !ok {
		seen[key] = now
		return orphanWaiting
	}
	if now.Sub(first) >= grace {
		if err := s.cfg.Blobs.Delete(ctx, key); err == nil {
			return orphanRemoved
		}
	}
	seen[key] = first
	return orphanWaiting
}
