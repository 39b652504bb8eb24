package supplyapi

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/supply"
)

// The recall notice subscription, GET /supply/recalls/stream (issue 5 item
// 6): Server-Sent Events carrying the caller's organization's recall
// notices at connect, then one update each time a committed block changes
// them. Design and limits: supplyapi/README.md, "Recall notice stream".

// Defaults of the recall stream settings (Config).
const (
	DefaultStreamPoll         = 200 * time.Millisecond
	DefaultStreamHeartbeat    = 15 * time.Second
	DefaultStreamWriteTimeout = 10 * time.Second
	DefaultMaxStreams         = 256
	// streamCatchUp is the most heights a stream reads one by one after a
	// poll; a stream further behind folds the rest into one update.
	streamCatchUp = 64
)

// HistoryReader is implemented by a Chain that also reads state at a past
// committed height. A recall stream then reports each block's change at its
// own height; without it, blocks committed between two polls are folded
// into one update (RecallUpdate.FromHeight < Height).
type HistoryReader interface {
	// ReaderAt returns a reader of store name as committed at height, or an
	// error (store.ErrVersionUnavailable) when that height is not kept.
	ReaderAt(name string, height int64) (store.Reader, error)
}

// SSE event names of GET /supply/recalls/stream.
const (
	// EventNotices carries a RecallUpdate; its SSE id is the height.
	EventNotices = "notices"
	// EventEnd carries a StreamEnd, the last event of a stream the node
	// closes.
	EventEnd = "end"
)

// RecallUpdate is one "notices" event of GET /supply/recalls/stream. The
// first (Initial) carries the organization's whole notice list at connect,
// as GET /supply/recalls gives it (with every recall); each later one only
// what changed in the block at Height: Added (a new recall of units it
// holds, or recalled units it received), Removed (units that left its
// custody), Changed (the same unit under a different status, e.g. shipped
// and in transit, or under a wider recall), and Count, the length of the
// list after the change. Apply rebuilds the list.
type RecallUpdate struct {
	Org    string `json:"org"`
	Height int64  `json:"height"`
	// FromHeight is the first block the update covers: Height itself,
	// unless the node folded several blocks into one update (a stream
	// that fell behind, or a height no longer kept). 0 when Initial.
	FromHeight int64 `json:"from_height,omitempty"`
	Initial    bool  `json:"initial,omitempty"`
	// Count is the number of notices after this update.
	Count int `json:"count"`
	// Notices is the whole list: in the initial update only.
	Notices []supply.RecallNotice `json:"notices,omitempty"`
	Added   []supply.RecallNotice `json:"added,omitempty"`
	Removed []supply.RecallNotice `json:"removed,omitempty"`
	Changed []supply.RecallNotice `json:"changed,omitempty"`
	// Recalls lists every recall on the chain: in the initial update only.
	Recalls []*supply.Recall `json:"recalls,omitempty"`
}

// Apply returns the notice list after u, given the list before it (nil
// for an initial update, which replaces it): list without u's Removed,
// with its Changed replacing theirs and its Added, sorted by GTIN, lot and
// EPC. list is not modified.
func (u *RecallUpdate) Apply(list []supply.RecallNotice) []supply.RecallNotice {
	var out []supply.RecallNotice
	if u.Initial {
		out = slices.Clone(u.Notices)
	} else {
		drop := make(map[string]bool, len(u.Removed)+len(u.Changed)) // look-ups only
		for _, n := range u.Removed {
			drop[n.EPC] = true
		}
		for _, n := range u.Changed {
			drop[n.EPC] = true
		}
		for _, n := range list {
			if !drop[n.EPC] {
				out = append(out, n)
			}
		}
		out = append(append(out, u.Changed...), u.Added...)
	}
	slices.SortFunc(out, func(a, b supply.RecallNotice) int {
		return cmp.Or(strings.Compare(a.GTIN, b.GTIN), strings.Compare(a.Lot, b.Lot), strings.Compare(a.EPC, b.EPC))
	})
	return out
}

// Reasons a node ends a recall stream (StreamEnd.Reason).
const (
	EndNodeStopping    = "node_stopping"
	EndTokenExpired    = "token_expired"
	EndNotMember       = "not_a_member"
	EndStateUnreadable = "state_unreadable"
)

// StreamEnd is the "end" event: why the node closed the stream. A client
// may reconnect (with a fresh token for token_expired); the first update
// of the new stream is the whole notice list again.
type StreamEnd struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// DiffNotices returns the notices of next that prev lacks (added), those
// of prev that next lacks (removed), and those in both whose status or
// recall differs (changed, as in next). A unit is named by its EPC (it has
// at most one notice: a product-wide recall replaces the lot's). The
// results keep the order of their list.
func DiffNotices(prev, next []supply.RecallNotice) (added, removed, changed []supply.RecallNotice) {
	old := make(map[string]*supply.RecallNotice, len(prev)) // look-ups only
	for i := range prev {
		old[prev[i].EPC] = &prev[i]
	}
	seen := make(map[string]bool, len(next))
	for _, n := range next {
		seen[n.EPC] = true
		o, ok := old[n.EPC]
		switch {
		case !ok:
			added = append(added, n)
		case o.Status != n.Status || !sameRecall(o.Recall, n.Recall):
			changed = append(changed, n)
		}
	}
	for _, o := range prev {
		if !seen[o.EPC] {
			removed = append(removed, o)
		}
	}
	return added, removed, changed
}

func sameRecall(a, b supply.Recall) bool {
	return a.GTIN == b.GTIN && a.Lot == b.Lot && a.By == b.By && a.Height == b.Height && a.Signer == b.Signer && a.Reason == b.Reason
}

// Streams returns the number of open recall streams.
func (h *Handler) Streams() int { return int(h.streams.Load()) }

// Close ends every open stream (each gets an "end" event, node_stopping)
// and refuses new ones; the node calls it when it starts shutting down.
// It does not wait for the streams to finish. Safe to call more than once.
func (h *Handler) Close() { h.closeOnce.Do(func() { close(h.done) }) }

// sse writes Server-Sent Events, each under a write deadline.
type sse struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (s *sse) write(b []byte) error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.rc.Flush()
}

// event writes one event; data is JSON on one line.
func (s *sse) event(name string, id int64, v any) error {
	bz, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b := make([]byte, 0, len(bz)+64)
	if id > 0 {
		b = append(append(append(b, "id: "...), strconv.FormatInt(id, 10)...), '\n')
	}
	b = append(append(append(b, "event: "...), name...), '\n')
	b = append(append(append(b, "data: "...), bz...), "\n\n"...)
	return s.write(b)
}

func (h *Handler) recallStream(w http.ResponseWriter, r *http.Request) {
	cl, orgID, _, ok := h.member(w, r)
	if !ok {
		return
	}
	select {
	case <-h.done:
		fail(w, http.StatusServiceUnavailable, "unavailable", "the node is stopping")
		return
	default:
	}
	if n := h.streams.Add(1); n > int64(h.cfg.MaxStreams) {
		h.streams.Add(-1)
		w.Header().Set("Retry-After", "30")
		fail(w, http.StatusServiceUnavailable, "too_many_streams", "this node serves at most %d recall streams; retry later", h.cfg.MaxStreams)
		return
	}
	defer h.streams.Add(-1)

	rs, height, ok := h.supplyState(w)
	if !ok {
		return
	}
	// A reconnecting client names the last height it has (SSE's
	// Last-Event-ID): it gets the changes since, when this node can still
	// read that height, and the whole list otherwise.
	since, resumed := h.resumeHeight(r, height)
	var prev []supply.RecallNotice
	if resumed {
		prev, resumed = h.noticesAt(orgID, since, height, rs)
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // reverse proxies: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	s := &sse{w: w, rc: http.NewResponseController(w), timeout: h.cfg.StreamWriteTimeout}
	if resumed {
		var err error
		if _, prev, err = h.advance(s, orgID, since, height, rs, prev); err != nil {
			return // the client is gone or too slow: dropped
		}
	} else {
		prev = h.cfg.Keeper.RecallNotices(rs, orgID)
		first := RecallUpdate{Org: orgID, Height: height, Initial: true, Count: len(prev), Notices: prev, Recalls: h.cfg.Keeper.Recalls(rs.State)}
		if s.event(EventNotices, height, first) != nil {
			return // the client is gone or too slow: dropped
		}
	}

	poll := time.NewTicker(h.cfg.StreamPoll)
	defer poll.Stop()
	beat := time.NewTicker(h.cfg.StreamHeartbeat)
	defer beat.Stop()
	expiry := time.NewTimer(cl.ExpiresAt.Sub(h.cfg.Now()))
	defer expiry.Stop()
	end := func(reason, format string, args ...any) {
		_ = s.event(EventEnd, 0, StreamEnd{Reason: reason, Message: fmt.Sprintf(format, args...)})
	}
	last := height // advance reached it when resuming
	for {
		select {
		case <-r.Context().Done():
			return // the client went away
		case <-h.done:
			end(EndNodeStopping, "the node is stopping")
			return
		case <-expiry.C:
			end(EndTokenExpired, "the bearer token expired at %s; reconnect with a fresh one", cl.ExpiresAt.UTC().Format(time.RFC3339))
			return
		case <-beat.C:
			if s.write([]byte(": keep-alive\n\n")) != nil {
				return
			}
		case <-poll.C:
			rd, latest, err := h.cfg.Chain.Reader(supply.StoreName)
			if err != nil || latest <= last {
				continue
			}
			idx, err := h.unitIndex()
			if err != nil {
				continue
			}
			orgs, _, err := h.cfg.Chain.Reader(org.StoreName)
			if err != nil {
				h.cfg.Logger.Error("recall stream: org state unreadable", "height", latest, "err", err.Error())
				end(EndStateUnreadable, "state not readable now; reconnect later")
				return
			}
			if !isActiveMember(orgs, cl.DID, orgID) {
				end(EndNotMember, "the caller is no longer a member of organization %s", orgID)
				return
			}
			var err2 error
			last, prev, err2 = h.advance(s, orgID, last, latest, supply.Readers{State: rd, Index: idx}, prev)
			if err2 != nil {
				return // the client is gone or too slow: dropped
			}
		}
	}
}

// advance reads the organization's notices at each height after last up
// to latest (rs reads latest; its unit index serves every height) and
// writes an update for each height where they changed; heights the chain
// no longer keeps, or more than streamCatchUp of them, fold into one
// update at latest. It returns the height and notices reached, or the
// write error.
func (h *Handler) advance(s *sse, orgID string, last, latest int64, rs supply.Readers, prev []supply.RecallNotice) (int64, []supply.RecallNotice, error) {
	hist, _ := h.cfg.Chain.(HistoryReader)
	from := last + 1
	for ht := from; ht <= latest; ht++ {
		at := rs
		if ht < latest {
			if hist == nil || latest-last > streamCatchUp {
				ht = latest // fold the rest
			} else if r, err := hist.ReaderAt(supply.StoreName, ht); err == nil {
				at.State = r
			} else {
				ht = latest
			}
		}
		next := h.cfg.Keeper.RecallNotices(at, orgID)
		added, removed, changed := DiffNotices(prev, next)
		if len(added)+len(removed)+len(changed) > 0 {
			u := RecallUpdate{Org: orgID, Height: ht, FromHeight: from, Count: len(next), Added: added, Removed: removed, Changed: changed}
			if err := s.event(EventNotices, ht, u); err != nil {
				return ht, next, err
			}
		}
		prev, from = next, ht+1
	}
	return latest, prev, nil
}

// resumeHeight reads the request's Last-Event-ID: a height in 1..latest
// that the client has the organization's notices of. Anything else (none,
// not a number, a height this node has not reached) is no resumption.
func (h *Handler) resumeHeight(r *http.Request, latest int64) (int64, bool) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		return 0, false
	}
	since, err := strconv.ParseInt(v, 10, 64)
	if err != nil || since < 1 || since > latest {
		return 0, false
	}
	return since, true
}

// noticesAt returns the organization's notices at height since (rs reads
// latest; its unit index serves every height), or false if the chain no
// longer keeps that height.
func (h *Handler) noticesAt(orgID string, since, latest int64, rs supply.Readers) ([]supply.RecallNotice, bool) {
	at := rs
	if since < latest {
		hist, ok := h.cfg.Chain.(HistoryReader)
		if !ok {
			return nil, false
		}
		r, err := hist.ReaderAt(supply.StoreName, since)
		if err != nil {
			return nil, false
		}
		at.State = r
	}
	return h.cfg.Keeper.RecallNotices(at, orgID), true
}

// isActiveMember reports whether did is a member of orgID and orgID is an
// active organization.
func isActiveMember(orgs store.Reader, did, orgID string) bool {
	if !(org.Keeper{}).IsActiveOrg(orgs, orgID) {
		return false
	}
	for _, m := range (org.Keeper{}).Memberships(orgs, did) {
		if m.Org == orgID {
			return true
		}
	}
	return false
}
