package radiolink_test

import (
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/radiolink"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

// TestLateJoinerCatchesUp: A holds envelopes for a client of C that its
// radio no longer owes (they went to neighbours that have since left), B
// and C are away. B comes into range: the two compare summaries, A pushes
// what B lacks, and B carries it on to C.
func TestLateJoinerCatchesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time radio test")
	}
	t.Parallel()
	l := newLine(t, 0, 11)
	tune := func(o *radiolink.Options) { o.AntiEntropyInterval = 10 * time.Second }
	a := l.start(t, 0, tune)
	bob := relaytest.NewIdentity()
	alice := relaytest.Client(t, a, nil, "alice")
	sent := map[codec.ID]bool{}
	var ids []codec.ID
	for range 3 {
		e := relaytest.Message(bob.Tag, codec.PrioNormal, 41)
		e.TTL = 86400
		relaytest.Publish(t, alice, e)
		sent[e.ID()] = true
		ids = append(ids, e.ID())
	}
	la := a.Radios()[0]
	relaytest.WaitFor(t, 10*time.Second, "A to index what it holds", func() bool { return la.Held() == 3 })
	if err := a.Store().MarkSent(la.Name(), ids...); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := a.Store().Owed(la.Name()); n != 0 {
		t.Fatalf("A still owes %d", n)
	}

	start := time.Now()
	b := l.start(t, 1, tune)
	c := l.start(t, 2, tune)
	sub := relaytest.Client(t, c, bob, "bob")
	got := relaytest.Inbox(t, sub, bob)
	delivered := map[codec.ID]bool{}
	timeout := time.After(60 * time.Second)
	for len(delivered) < len(sent) {
		select {
		case e := <-got:
			if !sent[e.ID()] {
				t.Fatalf("unexpected envelope %s", e.ID())
			}
			delivered[e.ID()] = true
		case <-timeout:
			t.Fatalf("delivered %d of %d", len(delivered), len(sent))
		}
	}
	sa, sb := la.Stats(), b.Radios()[0].Stats()
	if sa.Pushed < 3 || sa.SummariesRead == 0 && sb.Summaries == 0 {
		t.Errorf("A pushed %d, its summaries read %d; B summaries %d", sa.Pushed, sa.SummariesRead, sb.Summaries)
	}
	t.Logf("caught up in %v: A %d summaries (%d frames, %d read), pushed %d; B pushed %d, summaries %d; air %+v",
		time.Since(start).Round(time.Millisecond), sa.Summaries, sa.SummaryFrames, sa.SummariesRead, sa.Pushed, sb.Pushed, sb.Summaries, l.air.Stats())
}
