package vault

import (
	"context"
	"time"

	"github.com/medchain/medchain/x/records"
)

// Run performs the vault's background duties until ctx ends: erasures this
// vault owes (crypto-shredding, then a signed receipt on chain) and the
// collection of orphan blobs (written, never anchored). Work interrupted by
// a crash is found again on the next sweep, since what is owed is read from
// the chain.
//
// Erasures are swept every period; orphans, whose collection lists every
// blob of the vault, every orphanSweepEvery at most. Wait returns once Run
// has returned, so that a node closes its database only after the last
// sweep's reads.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	s.running.Add(1)
	defer s.running.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	var lastOrphans time.Time
	for {
		s.SweepErasures(ctx)
		if time.Since(lastOrphans) >= orphanSweepEvery {
			s.SweepOrphans(ctx, 2*time.Minute)
			lastOrphans = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// orphanSweepEvery spaces orphan collections (each lists the whole blob
// store; an orphan must be seen twice, 2 minutes apart, to be deleted).
const orphanSweepEvery = 30 * time.Second

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
// blob write and its anchor's commit).
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
		id, v, ok := ParseBlobKey(key)
		if !ok {
			continue
		}
		a, err := records.Keeper{}.Anchor(r, id)
		if err == nil && a.HolderOrg == s.cfg.Org && v <= a.Version && a.Status == records.StatusActive {
			continue
		}
		if err == nil && a.Status == records.StatusErased {
			continue // the erasure sweep owns these
		}
		first, ok := s.orphanSeen[key]
		if !ok {
			seen[key] = now
			continue
		}
		if now.Sub(first) >= grace {
			if s.cfg.Blobs.Delete(ctx, key) == nil {
				removed++
			}
			continue
		}
		seen[key] = first
	}
	s.orphanSeen = seen
	return removed
}
