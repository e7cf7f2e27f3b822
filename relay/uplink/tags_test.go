package uplink

import (
	"crypto/rand"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/config"
	"github.com/cairnmesh/cairn/relay/internal/floodlog"
	"github.com/cairnmesh/cairn/relay/store"
	"github.com/cairnmesh/cairn/relay/uplink/uplinktest"
)

// A tag dropped at the bound while the uplink is offline is still
// subscribed in the broker's persistent session; when the uplink
// reconnects it unsubscribes it, so nothing more arrives for it.
func TestDroppedWhileOfflineIsUnsubscribed(t *testing.T) {
	for _, br := range []struct {
		name  string
		start func(testing.TB) *uplinktest.Broker
	}{{"mosquitto", uplinktest.Mosquitto}, {"nats", uplinktest.NATS}} {
		t.Run(br.name, func(t *testing.T) {
			t.Parallel()
			broker := br.start(t)
			g, arrived := testGroup(t, broker.URL())
			g.tags.max = 2
			g.Start()
			t.Cleanup(func() { g.Close() })
			st0 := func() Status { return g.Status()[0] }

			var t1, t2, t3 codec.Tag
			for _, tag := range []*codec.Tag{&t1, &t2, &t3} {
				rand.Read(tag[:])
			}
			g.Serve(t1)
			waitFor(t, "subscribed for t1", func() bool { s := st0(); return s.Connected && s.Subscriptions == 2 })
			broker.Stop()
			waitFor(t, "offline", func() bool { return !st0().Connected })
			g.Serve(t2)
			g.Serve(t3) // drops t1 at the bound of 2
			if s := st0(); s.ServedTags != 2 {
				t.Fatalf("%d served tags, want 2", s.ServedTags)
			}
			broker.Start()
			waitFor(t, "reconnected, t1 unsubscribed", func() bool {
				s := st0()
				_, stale, _ := g.tags.filters(g.ups[0].topics, 0)
				return s.Connected && s.Subscriptions == 4 && len(stale) == 0
			})

			// Something for t1, then for t2: the broker delivers the second,
			// but not the first.
			pub := pahov3.NewClient(pahov3.NewClientOptions().AddBroker("tcp://" + broker.Addr()).SetClientID("pub"))
			if tok := pub.Connect(); !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
				t.Fatalf("connect: %v", tok.Error())
			}
			defer pub.Disconnect(50)
			tp := g.ups[0].topics
			for _, tag := range []codec.Tag{t1, t2} {
				body := make([]byte, 20)
				rand.Read(body)
				e := codec.Envelope{Kind: codec.KindMessage, To: tag, TTL: 600, Prio: codec.PrioNormal, Body: body}
				if tok := pub.Publish(tp.inbox(tag), 1, false, e.Encode()); !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
					t.Fatalf("publish: %v", tok.Error())
				}
			}
			waitFor(t, "the envelope for t2 arrived", func() bool { return arrived.count(t2) == 1 })
			time.Sleep(300 * time.Millisecond) // NATS: one consumer per subscription, no order between them
			if n := arrived.count(t1); n != 0 {
				t.Errorf("%d envelopes arrived for t1, dropped and unsubscribed", n)
			}
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after a minute: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The dropped tags and the uplinks still to unsubscribe them survive a
// restart in the tags file.
func TestDroppedTagsSaved(t *testing.T) {
	path := filepath.Join(t.TempDir(), tagsFile)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tg, err := openTags(path, 1, 2, log, floodlog.New(log, 0))
	if err != nil {
		t.Fatal(err)
	}
	var a, b codec.Tag
	a[0], b[0] = 1, 2
	tg.add(served, a)
	tg.add(served, b) // drops a for both uplinks
	tg.unsubscribed(0, []codec.Tag{a})
	if err := tg.flush(); err != nil {
		t.Fatal(err)
	}
	tg, err = openTags(path, 1, 2, log, floodlog.New(log, 0))
	if err != nil {
		t.Fatal(err)
	}
	tp := topics{"p"}
	if _, stale, _ := tg.filters(tp, 0); len(stale) != 0 {
		t.Errorf("uplink 0 still to unsubscribe %v", stale)
	}
	if _, stale, _ := tg.filters(tp, 1); len(stale) != 1 || stale[0] != a {
		t.Errorf("uplink 1 to unsubscribe %v, want [%s]", stale, a)
	}
	tg.unsubscribed(1, []codec.Tag{a})
	if len(tg.dropMasks) != 0 || tg.dropped.order.Len() != 0 {
		t.Errorf("dropped tags left after every uplink unsubscribed: %v", tg.dropMasks)
	}
}

// The near set: tags announced by radio neighbours are subscribed like
// served ones, held for their ttl and moved on by each announcement,
// bounded apart from the served set (the least recently announced
// dropped), and after a restart read as dropped: to be unsubscribed.
func TestNearTags(t *testing.T) {
	path := filepath.Join(t.TempDir(), tagsFile)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tg, err := openTags(path, 10, 1, log, floodlog.New(log, 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.stopNear)
	tg.nearMax = 2
	tp := topics{"p"}
	var mine, a, b, c codec.Tag
	mine[0], a[0], b[0], c[0] = 9, 1, 2, 3
	tg.add(served, mine)
	_, _, changed := tg.filters(tp, 0)
	if n := tg.serveNear([]codec.Tag{a, b}, time.Hour); n != 2 {
		t.Fatalf("%d new near tags, want 2", n)
	}
	select {
	case <-changed:
	default:
		t.Fatal("near tags did not signal a change")
	}
	want, _, _ := tg.filters(tp, 0)
	for _, f := range []string{tp.inbox(a), tp.receipt(a), tp.inbox(b), tp.receipt(b), tp.inbox(mine)} {
		if !want[f] {
			t.Errorf("%s not subscribed", f)
		}
	}
	tg.serveNear([]codec.Tag{a}, time.Hour) // a announced again: b is now the oldest
	tg.serveNear([]codec.Tag{c}, time.Hour) // past the bound of 2: b goes
	want, stale, _ := tg.filters(tp, 0)
	if want[tp.inbox(b)] || !want[tp.inbox(a)] || !want[tp.inbox(c)] || !want[tp.inbox(mine)] {
		t.Errorf("after the bound: subscribed %v, want a, c and mine, not b", want)
	}
	if len(stale) != 1 || stale[0] != b {
		t.Errorf("to unsubscribe %v, want [b]", stale)
	}
	tg.unsubscribed(0, stale)

	// Expiry: c for 100 ms.
	tg.serveNear([]codec.Tag{c}, 100*time.Millisecond)
	_, _, changed = tg.filters(tp, 0)
	select {
	case <-changed:
	case <-time.After(time.Minute):
		t.Fatal("no change when c expired")
	}
	want, stale, _ = tg.filters(tp, 0)
	if want[tp.inbox(c)] || !want[tp.inbox(a)] || len(stale) != 1 || stale[0] != c {
		t.Errorf("after c expired: subscribed %v, to unsubscribe %v", want, stale)
	}
	tg.unsubscribed(0, stale)
	if n := nearCount(tg); n != 1 {
		t.Errorf("%d near tags, want 1 (a)", n)
	}
	// A served tag announced near stays served when it expires.
	tg.serveNear([]codec.Tag{mine}, 50*time.Millisecond)
	waitFor(t, "mine to leave the near set", func() bool { return nearCount(tg) == 1 })
	if want, stale, _ := tg.filters(tp, 0); !want[tp.inbox(mine)] || len(stale) != 0 {
		t.Errorf("served tag after its near expiry: subscribed %v, to unsubscribe %v", want, stale)
	}

	// After a restart a is not served, but to be unsubscribed.
	if err := tg.flush(); err != nil {
		t.Fatal(err)
	}
	tg.stopNear()
	tg, err = openTags(path, 10, 1, log, floodlog.New(log, 0))
	if err != nil {
		t.Fatal(err)
	}
	want, stale, _ = tg.filters(tp, 0)
	if want[tp.inbox(a)] || !want[tp.inbox(mine)] || len(stale) != 1 || stale[0] != a || nearCount(tg) != 0 {
		t.Errorf("after a restart: subscribed %v, to unsubscribe %v, %d near", want, stale, nearCount(tg))
	}
}

// Against Mosquitto: what is published for a near tag arrives while a
// neighbour announces it; once its ttl passes the uplink unsubscribes on
// the live connection and nothing more arrives.
func TestNearTagsSubscribed(t *testing.T) {
	t.Parallel()
	broker := uplinktest.Mosquitto(t)
	g, arrived := testGroup(t, broker.URL())
	if g.Connected() {
		t.Error("connected before Start")
	}
	g.Start()
	t.Cleanup(func() { g.Close() })
	st0 := func() Status { return g.Status()[0] }
	waitFor(t, "connected", g.Connected)
	if !st0().Connected {
		t.Error("connected, yet not in Status")
	}

	var near codec.Tag
	rand.Read(near[:])
	g.ServeNear([]codec.Tag{near}, 3*time.Second)
	waitFor(t, "subscribed for the near tag", func() bool { return st0().Subscriptions == 2 })
	if n := st0().NearTags; n != 1 {
		t.Errorf("status: %d near tags, want 1", n)
	}

	pub := pahov3.NewClient(pahov3.NewClientOptions().AddBroker("tcp://" + broker.Addr()).SetClientID("pub"))
	if tok := pub.Connect(); !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer pub.Disconnect(50)
	tp := g.ups[0].topics
	publish := func() codec.ID {
		body := make([]byte, 20)
		rand.Read(body)
		e := codec.Envelope{Kind: codec.KindMessage, To: near, TTL: 600, Prio: codec.PrioNormal, Body: body}
		if tok := pub.Publish(tp.inbox(near), 1, false, e.Encode()); !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
		return e.ID()
	}
	first := publish()
	waitFor(t, "the envelope for the near tag arrived", func() bool { return arrived.has(first) })

	waitFor(t, "unsubscribed when the near tag expired", func() bool { return st0().Subscriptions == 0 })
	if n := st0().NearTags; n != 0 {
		t.Errorf("status after the expiry: %d near tags, want 0", n)
	}
	second := publish()
	time.Sleep(500 * time.Millisecond)
	if arrived.has(second) {
		t.Error("an envelope for an expired near tag arrived")
	}
}

func nearCount(t *Tags) int {
	_, _, n := t.counts()
	return n
}

// Close ends the near set's expiry timer and ServeNear after it arms none:
// nothing of a closed group runs on, and the near set stays as Close
// saved it.
func TestCloseStopsNearExpiry(t *testing.T) {
	g, _ := testGroup(t, "mqtt://127.0.0.1:1")
	var a, b codec.Tag
	a[0], b[0] = 1, 2
	g.ServeNear([]codec.Tag{a}, time.Hour)
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	pending := func() bool {
		g.tags.mu.Lock()
		defer g.tags.mu.Unlock()
		return g.tags.nearTimer != nil && g.tags.nearTimer.Stop() // stops it too, for goleak's sake
	}
	if pending() {
		t.Error("the near expiry timer runs on after Close")
	}
	g.ServeNear([]codec.Tag{b}, time.Hour)
	if pending() {
		t.Error("ServeNear after Close armed the near expiry timer")
	}
	if near := nearCount(g.tags); near != 1 {
		t.Errorf("%d near tags after Close, want the 1 Close saved", near)
	}
}

// testGroup is a group, not started, with one uplink to url that
// reconnects within 200 ms and a store of its own, which closes after
// the group (that the test closes); what arrives is counted.
func testGroup(t *testing.T, url string) (*Group, *arrivals) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(store.Options{Path: filepath.Join(dir, "cairn.db"), Links: []string{LinkName(0)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := config.DefaultUplink(url)
	c.ReconnectMin, c.ReconnectMax = config.Duration(50*time.Millisecond), config.Duration(200*time.Millisecond)
	a := &arrivals{byTag: map[codec.Tag]int{}, byID: map[codec.ID]bool{}}
	g, err := New(Options{Uplinks: []config.Uplink{c}, DataDir: dir, Store: st, Ingest: a.ingest,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return g, a
}

// arrivals are the envelopes a test group took in.
type arrivals struct {
	mu    sync.Mutex // guards byTag and byID
	byTag map[codec.Tag]int
	byID  map[codec.ID]bool
}

func (a *arrivals) ingest(raw []byte, _ string, done func(codec.ID, error)) {
	e, err := codec.DecodeEnvelope(raw)
	if err != nil {
		done(codec.ID{}, err)
		return
	}
	a.mu.Lock()
	a.byTag[e.To]++
	a.byID[e.ID()] = true
	a.mu.Unlock()
	done(e.ID(), nil)
}

func (a *arrivals) count(tag codec.Tag) int { a.mu.Lock(); defer a.mu.Unlock(); return a.byTag[tag] }
func (a *arrivals) has(id codec.ID) bool    { a.mu.Lock(); defer a.mu.Unlock(); return a.byID[id] }
