package supplyapi_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/auth"
	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/supplyapi"
	"github.com/medchain/medchain/testutil"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/supply"
)

// watcher follows one recall stream through the SDK (Client.WatchRecalls)
// and collects its updates.
type watcher struct {
	updates chan *supplyapi.RecallUpdate
	done    chan error
	cancel  context.CancelFunc
}

// watch subscribes with token (org "" for the token's only organization).
// The updates channel holds up to 256 updates; a test that lets more pile
// up fails rather than blocks.
func watch(t *testing.T, c *client.Client, token, orgID string) *watcher {
	t.Helper()
	return watchSince(t, c, token, orgID, 0)
}

// watchSince is watch through Client.WatchRecallsSince.
func watchSince(t *testing.T, c *client.Client, token, orgID string, since int64) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{updates: make(chan *supplyapi.RecallUpdate, 256), done: make(chan error, 1), cancel: cancel}
	go func() {
		w.done <- c.WatchRecallsSince(ctx, token, orgID, since, func(u *supplyapi.RecallUpdate) error {
			select {
			case w.updates <- u:
				return nil
			default:
				return errors.New("test watcher: too many updates")
			}
		})
	}()
	t.Cleanup(func() { w.stop(t) })
	return w
}

// next returns the next update, failing the test if none comes within d.
func (w *watcher) next(t *testing.T, d time.Duration, what string) *supplyapi.RecallUpdate {
	t.Helper()
	select {
	case u := <-w.updates:
		return u
	case err := <-w.done:
		w.done <- err // for ended and stop
		select {
		case u := <-w.updates: // sent before the stream ended
			return u
		default:
		}
		t.Fatalf("%s: the stream ended: %v", what, err)
	case <-time.After(d):
		t.Fatalf("%s: no update within %s", what, d)
	}
	return nil
}

// none fails the test if an update arrives within d.
func (w *watcher) none(t *testing.T, d time.Duration, what string) {
	t.Helper()
	select {
	case u := <-w.updates:
		t.Fatalf("%s: unexpected update at height %d: %+v", what, u.Height, u)
	case err := <-w.done:
		w.done <- err
		t.Fatalf("%s: the stream ended: %v", what, err)
	case <-time.After(d):
	}
}

// ended waits (at most d) for the stream to end and returns why.
func (w *watcher) ended(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-w.done:
		w.done <- err // for stop
		return err
	case <-time.After(d):
		t.Fatalf("the stream did not end within %s", d)
	}
	return nil
}

// stop disconnects and waits (at most 10 s) for WatchRecalls to return.
func (w *watcher) stop(t *testing.T) {
	w.cancel()
	select {
	case err := <-w.done:
		w.done <- err
	case <-time.After(10 * time.Second):
		t.Errorf("WatchRecalls did not return within 10s of its context ending")
	}
}

func epcs(ns []supply.RecallNotice) []string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, n.EPC)
	}
	slices.Sort(out)
	return out
}

// waitStreams waits (at most 10 s) until the handler counts want open
// streams.
func waitStreams(t *testing.T, count func() int, want int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); count() != want; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("open recall streams: %d, want %d", count(), want)
		}
	}
}

func (f *fixture) capture(orgID string, events ...map[string]any) {
	f.t.Helper()
	var cr supplyapi.CaptureResult
	if st := f.do("POST", "/epcis/capture", f.token(orgID), "application/json", doc(events...), &cr); st != http.StatusCreated {
		f.t.Fatalf("capture by %s: %d %+v", orgID, st, cr)
	}
}

func (f *fixture) sdk() *client.Client {
	c, err := client.New(f.srv.URL)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func shipTo(to string, units ...string) map[string]any {
	return ev("shipping", "OBSERVE", map[string]any{"epcList": units, "disposition": "in_transit",
		"destinationList": []any{map[string]any{"type": "owning_party", "destination": pgln(partyGLN[to])}}})
}

func receiveAll(units ...string) map[string]any {
	return ev("receiving", "OBSERVE", map[string]any{"epcList": units, "disposition": "in_progress"})
}

// TestRecallStreamFollowsBlocks: the manufacturer's stream starts empty,
// gets exactly the units it holds when their lot is recalled, at the
// recall's height; a shipment of one of them changes its status (in
// transit) and the receipt removes it, each at its own height, while the
// distributor's stream, silent until then, gets the received unit. The
// lists the updates build (RecallUpdate.Apply) equal GET /supply/recalls.
func TestRecallStreamFollowsBlocks(t *testing.T) {
	f := newFixtureWith(t, true, func(c *supplyapi.Config) { c.StreamPoll = 20 * time.Millisecond })
	f.register()
	units := []string{unit("R1"), unit("R2"), unit("R3")}
	f.capture(mfr, ev("commissioning", "ADD", map[string]any{"epcList": units,
		"ilmd": map[string]any{"cbvmda:lotNumber": "L1", "cbvmda:itemExpirationDate": "2030-01-31"}}))
	c := f.sdk()
	wm, wd := watch(t, c, f.token(mfr), ""), watch(t, c, f.token(dist), "")
	lists := map[string][]supply.RecallNotice{}
	for _, w := range []*watcher{wm, wd} {
		u := w.next(t, 10*time.Second, "initial update")
		if !u.Initial || u.Count != 0 || len(u.Notices) != 0 || u.Height != f.h.Height {
			t.Fatalf("initial update %+v at height %d", u, f.h.Height)
		}
	}
	waitStreams(t, f.hd.Streams, 2)

	r := f.h.Exec(f.admin[mfr], &supply.MsgRecall{Org: mfr, GTIN: gtin, Lots: []string{"L1"}, Reason: "sterility"})
	testutil.WantCode(t, "recall", r, "", 0)
	recallHeight := f.h.Height
	u := wm.next(t, 10*time.Second, "the manufacturer's recall notice")
	if u.Initial || u.Height != recallHeight || u.FromHeight != recallHeight || u.Count != 3 ||
		!slices.Equal(epcs(u.Added), units) || len(u.Removed)+len(u.Changed) != 0 {
		t.Fatalf("recall update %+v, want the 3 units at height %d", u, recallHeight)
	}
	if u.Added[0].Recall.Reason != "sterility" || u.Added[0].Status != supply.StatusActive {
		t.Fatalf("notice %+v", u.Added[0])
	}
	lists[mfr] = u.Apply(nil)
	wd.none(t, time.Second, "the distributor holds none of the lot")

	// Two blocks, each changing the manufacturer's list: both reported at
	// their own height (the handler reads each height it missed).
	f.capture(mfr, shipTo(dist, units[0]))
	shipHeight := f.h.Height
	f.capture(dist, receiveAll(units[0]))
	recvHeight := f.h.Height
	u = wm.next(t, 10*time.Second, "the shipment")
	if u.Height != shipHeight || len(u.Changed) != 1 || u.Changed[0].EPC != units[0] || u.Changed[0].Status != supply.StatusInTransit || u.Count != 3 {
		t.Fatalf("shipment update %+v, want %s in transit at height %d", u, units[0], shipHeight)
	}
	lists[mfr] = u.Apply(lists[mfr])
	u = wm.next(t, 10*time.Second, "the receipt, at the manufacturer")
	if u.Height != recvHeight || len(u.Removed) != 1 || u.Removed[0].EPC != units[0] || u.Count != 2 {
		t.Fatalf("receipt update %+v, want %s removed at height %d", u, units[0], recvHeight)
	}
	lists[mfr] = u.Apply(lists[mfr])
	u = wd.next(t, 10*time.Second, "the receipt, at the distributor")
	if u.Height != recvHeight || !slices.Equal(epcs(u.Added), units[:1]) || u.Count != 1 {
		t.Fatalf("distributor update %+v, want %s added at height %d", u, units[0], recvHeight)
	}
	lists[dist] = u.Apply(nil)
	for _, o := range []string{mfr, dist} {
		var ans supplyapi.RecallsAnswer
		if st := f.do("GET", "/supply/recalls", f.token(o), "", nil, &ans); st != 200 {
			t.Fatalf("GET /supply/recalls as %s: %d", o, st)
		}
		if !slices.Equal(epcs(ans.Notices), epcs(lists[o])) {
			t.Fatalf("%s: the stream's list %v, GET /supply/recalls %v", o, epcs(lists[o]), epcs(ans.Notices))
		}
	}
	wm.none(t, 300*time.Millisecond, "nothing else changed")

	// Disconnecting frees the subscription.
	wm.stop(t)
	waitStreams(t, f.hd.Streams, 1)
	wd.stop(t)
	waitStreams(t, f.hd.Streams, 0)
}

// TestRecallStreamResumes: a client reconnecting with the height of the
// last update it has (Last-Event-ID) gets the changes since, each at its
// height, and nothing when nothing changed; one naming a height the node
// has not reached, or something that is not a height, gets the whole list.
func TestRecallStreamResumes(t *testing.T) {
	f := newFixtureWith(t, true, func(c *supplyapi.Config) { c.StreamPoll = 20 * time.Millisecond })
	f.register()
	units := []string{unit("S1"), unit("S2")}
	f.capture(mfr, ev("commissioning", "ADD", map[string]any{"epcList": units,
		"ilmd": map[string]any{"cbvmda:lotNumber": "L2", "cbvmda:itemExpirationDate": "2030-01-31"}}))
	c, tok := f.sdk(), f.token(mfr)
	w := watch(t, c, tok, "")
	u := w.next(t, 10*time.Second, "initial update")
	if !u.Initial || u.Count != 0 {
		t.Fatalf("initial update %+v", u)
	}
	seen := u.Height
	w.stop(t)

	// While disconnected: the lot is recalled, then one unit ships.
	r := f.h.Exec(f.admin[mfr], &supply.MsgRecall{Org: mfr, GTIN: gtin, Lots: []string{"L2"}, Reason: "label"})
	testutil.WantCode(t, "recall", r, "", 0)
	recallHeight := f.h.Height
	f.capture(mfr, shipTo(dist, units[0]))
	shipHeight := f.h.Height

	w = watchSince(t, c, tok, "", seen)
	u = w.next(t, 10*time.Second, "the recall, resumed")
	if u.Initial || u.FromHeight != seen+1 || u.Height != recallHeight || !slices.Equal(epcs(u.Added), units) {
		t.Fatalf("first resumed update %+v, want the recall of %v at height %d from %d", u, units, recallHeight, seen+1)
	}
	list := u.Apply(nil)
	u = w.next(t, 10*time.Second, "the shipment, resumed")
	if u.Initial || u.Height != shipHeight || len(u.Changed) != 1 || u.Changed[0].Status != supply.StatusInTransit {
		t.Fatalf("second resumed update %+v, want %s in transit at height %d", u, units[0], shipHeight)
	}
	list = u.Apply(list)
	w.none(t, 300*time.Millisecond, "nothing else changed")
	w.stop(t)

	// Resuming at the latest height: nothing to send until a change.
	w = watchSince(t, c, tok, "", shipHeight)
	w.none(t, 300*time.Millisecond, "resumed at the latest height")
	f.capture(dist, receiveAll(units[0]))
	u = w.next(t, 10*time.Second, "the receipt")
	if u.Initial || u.Height != f.h.Height || len(u.Removed) != 1 || u.Removed[0].EPC != units[0] {
		t.Fatalf("update after resuming at the tip: %+v", u)
	}
	list = u.Apply(list)
	w.stop(t)
	var ans supplyapi.RecallsAnswer
	if st := f.do("GET", "/supply/recalls", tok, "", nil, &ans); st != 200 || !slices.Equal(epcs(ans.Notices), epcs(list)) {
		t.Fatalf("the resumed list %v, GET /supply/recalls %d %v", epcs(list), st, epcs(ans.Notices))
	}

	// A height this node has not reached: the whole list.
	w = watchSince(t, c, tok, "", f.h.Height+100)
	u = w.next(t, 10*time.Second, "a future height")
	if !u.Initial || u.Height != f.h.Height || !slices.Equal(epcs(u.Notices), epcs(list)) {
		t.Fatalf("after a future Last-Event-ID: %+v, want the whole list", u)
	}
	w.stop(t)
	// Not a height: the whole list.
	req, _ := http.NewRequest("GET", f.srv.URL+"/supply/recalls/stream", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Last-Event-ID", "soon")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			if !strings.Contains(line, `"initial":true`) {
				t.Fatalf("after Last-Event-ID \"soon\": %s, want the whole list", line)
			}
			break
		}
	}
}

// TestRecallStreamEnds: the node ends a stream with an "end" event when
// the token expires, when the caller is no longer a member, and when the
// node stops (after which new streams are refused); a stream needs a
// token of a member, and the number of streams is bounded.
func TestRecallStreamEnds(t *testing.T) {
	// This node's clock runs 59.5 s ahead, so that a one-minute token
	// expires half a second into the stream.
	f := newFixtureWith(t, true, func(c *supplyapi.Config) {
		c.StreamPoll, c.MaxStreams = 20*time.Millisecond, 3
		c.Now = func() time.Time { return time.Now().Add(59*time.Second + 500*time.Millisecond) }
	})
	c := f.sdk()
	var ended *client.StreamEndedError
	w := watch(t, c, f.token(pharm), "")
	w.next(t, 10*time.Second, "initial update")
	if err := w.ended(t, 10*time.Second); !errors.As(err, &ended) || ended.Reason != supplyapi.EndTokenExpired {
		t.Fatalf("after the token's expiry: %v, want %s", err, supplyapi.EndTokenExpired)
	}

	f = newFixtureWith(t, true, func(c *supplyapi.Config) { c.StreamPoll, c.MaxStreams = 20*time.Millisecond, 3 })
	c = f.sdk()
	var se *client.SupplyError
	for _, tc := range []struct {
		token, org string
		status     int
	}{
		{"", "", http.StatusUnauthorized},
		{"not-a-token", "", http.StatusUnauthorized},
		{f.token(pharm), dist, http.StatusForbidden},
	} {
		err := c.WatchRecalls(context.Background(), tc.token, tc.org, func(*supplyapi.RecallUpdate) error { return nil })
		if !errors.As(err, &se) || se.Status != tc.status {
			t.Fatalf("token %.10q org %q: %v, want %d", tc.token, tc.org, err, tc.status)
		}
	}

	// A second member of the pharmacy, removed while its stream is open.
	staff := testutil.NewSigner("stream-staff")
	f.h.Register(staff)
	testutil.WantCode(t, "add member", f.h.Exec(f.admin[pharm], &org.MsgAddMember{Org: pharm, Member: staff.DID, Roles: []string{org.RoleStaff}}), "", 0)
	iss, err := auth.Issue(staff.Key.Signing, staff.DID, staff.KeyID, f.h.ChainID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ws := watch(t, c, iss.Token, "")
	ws.next(t, 10*time.Second, "staff initial update")
	testutil.WantCode(t, "remove member", f.h.Exec(f.admin[pharm], &org.MsgRemoveMember{Org: pharm, Member: staff.DID}), "", 0)
	if err := ws.ended(t, 10*time.Second); !errors.As(err, &ended) || ended.Reason != supplyapi.EndNotMember {
		t.Fatalf("after the member's removal: %v, want %s", err, supplyapi.EndNotMember)
	}
	waitStreams(t, f.hd.Streams, 0)

	// At most MaxStreams (3) at once.
	var open []*watcher
	for _, o := range []string{mfr, dist, reg} {
		w := watch(t, c, f.token(o), "")
		w.next(t, 10*time.Second, "initial update of "+o)
		open = append(open, w)
	}
	err = c.WatchRecalls(context.Background(), f.token(pharm), "", func(*supplyapi.RecallUpdate) error { return nil })
	if !errors.As(err, &se) || se.Status != http.StatusServiceUnavailable || se.Code != "too_many_streams" {
		t.Fatalf("a fourth stream: %v", err)
	}

	// Close (the node stopping) ends every stream and refuses new ones.
	f.hd.Close()
	for _, w := range open {
		if err := w.ended(t, 10*time.Second); !errors.As(err, &ended) || ended.Reason != supplyapi.EndNodeStopping {
			t.Fatalf("after Close: %v, want %s", err, supplyapi.EndNodeStopping)
		}
	}
	waitStreams(t, f.hd.Streams, 0)
	err = c.WatchRecalls(context.Background(), f.token(pharm), "", func(*supplyapi.RecallUpdate) error { return nil })
	if !errors.As(err, &se) || se.Status != http.StatusServiceUnavailable {
		t.Fatalf("a stream after Close: %v", err)
	}
}

// smallBuffers is a listener whose connections have a 4 KiB send buffer,
// so that a client that stops reading makes the server's writes block
// after a few kilobytes instead of megabytes.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// TestRecallStreamDropsSlowClient: a client that subscribes and never
// reads, whose organization holds 2,000 recalled units (an initial update
// of about 600 kB), is dropped once a write has waited StreamWriteTimeout,
// although it keeps its connection open; meanwhile another subscriber of
// the same organization gets its updates, and blocks keep committing.
func TestRecallStreamDropsSlowClient(t *testing.T) {
	f := newFixtureWith(t, true, func(c *supplyapi.Config) {
		c.StreamPoll, c.StreamWriteTimeout = 20*time.Millisecond, 300*time.Millisecond
	})
	f.register()
	for batch := range 2 {
		var us []string
		for i := range 1000 {
			us = append(us, unit(fmt.Sprintf("S%d-%04d", batch, i)))
		}
		f.capture(mfr, ev("commissioning", "ADD", map[string]any{"epcList": us,
			"ilmd": map[string]any{"cbvmda:lotNumber": "L1", "cbvmda:itemExpirationDate": "2030-01-31"}}))
	}
	testutil.WantCode(t, "recall", f.h.Exec(f.admin[mfr], &supply.MsgRecall{Org: mfr, GTIN: gtin, Lots: []string{"L1"}}), "", 0)

	mux := http.NewServeMux()
	for _, rt := range f.hd.Routes() {
		mux.Handle(rt.Method+" "+rt.Pattern, rt.Handler)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)

	slow, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	_ = slow.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := fmt.Fprintf(slow, "GET /supply/recalls/stream HTTP/1.1\r\nHost: medchain\r\nAuthorization: Bearer %s\r\n\r\n", f.token(mfr)); err != nil {
		t.Fatal(err)
	}
	// The server accepted the stream (the status line arrives first) …
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := bufio.NewReaderSize(slow, 16).ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		t.Fatalf("slow client: %q %v", status, err)
	}
	// … and drops it, the connection still open, once its write times out.
	waitStreams(t, f.hd.Streams, 0)

	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	w := watch(t, c, f.token(mfr), "")
	if u := w.next(t, 10*time.Second, "initial update"); u.Count != 2000 || len(u.Notices) != 2000 {
		t.Fatalf("initial update: count %d, %d notices", u.Count, len(u.Notices))
	}
	f.capture(mfr, shipTo(dist, unit("S0-0000")))
	if u := w.next(t, 10*time.Second, "the shipment"); len(u.Changed) != 1 || u.Height != f.h.Height {
		t.Fatalf("shipment update %+v", u)
	}
}

// TestDiffAndApplyNotices: DiffNotices and RecallUpdate.Apply invert each
// other.
func TestDiffAndApplyNotices(t *testing.T) {
	rc := supply.Recall{GTIN: gtin, Lot: "L1", By: reg, Height: 3}
	n := func(epc, status string) supply.RecallNotice {
		return supply.RecallNotice{EPC: unit(epc), GTIN: gtin, Lot: "L1", Status: status, Recall: rc}
	}
	prev := []supply.RecallNotice{n("1", "active"), n("2", "active"), n("3", "active")}
	wider := n("3", "active")
	wider.Recall.Lot = ""
	next := []supply.RecallNotice{n("1", "in_transit"), wider, n("4", "active")}
	added, removed, changed := supplyapi.DiffNotices(prev, next)
	if !slices.Equal(epcs(added), []string{unit("4")}) || !slices.Equal(epcs(removed), []string{unit("2")}) ||
		!slices.Equal(epcs(changed), []string{unit("1"), unit("3")}) {
		t.Fatalf("diff: added %v removed %v changed %v", epcs(added), epcs(removed), epcs(changed))
	}
	u := &supplyapi.RecallUpdate{Added: added, Removed: removed, Changed: changed}
	got := u.Apply(prev)
	if len(got) != 3 || got[0].Status != "in_transit" || got[1].Recall.Lot != "" || got[2].EPC != unit("4") {
		t.Fatalf("apply: %+v", got)
	}
	if a, r, c := supplyapi.DiffNotices(next, got); len(a)+len(r)+len(c) != 0 {
		t.Fatalf("apply(diff) differs from next: %v %v %v", a, r, c)
	}
}
