package radiolink

import (
	"errors"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/radio"
	"github.com/cairnmesh/cairn/relay/store"
)

// Anti-entropy (docs/radio.md, "Anti-entropy"). When a neighbour appears,
// the relay with the lower address streams a summary (radio.Sketch) of the
// envelopes it holds; every neighbour that hears it reads it against its
// own (radio.Reconciler), answers with a done frame listing the salted ids
// it lacks, and pushes, directed to the summary's sender, the envelopes the
// sender lacks. The sender pushes what was wanted and counts every other
// envelope of its summary as acked by that neighbour, so owed envelopes
// the neighbour already holds are not sent again. A link with neighbours
// also sends a summary every AntiEntropyInterval when it has nothing else
// to send. Everything is best effort: what a lost frame costs, the next
// round repairs.

// Implementation limits of anti-entropy; the policy at each is in its
// comment.
const (
	// maxHeld bounds the ids a link remembers as held here; the oldest are
	// forgotten (they stay stored, and are no longer summarised).
	maxHeld = 32768
	// maxReaders bounds the peers' summaries read at once; the oldest is
	// dropped (its sender streams until done or MaxSummaryCells).
	maxReaders = 4
	// maxPushes bounds envelopes waiting to be pushed; beyond it a want is
	// dropped (the next round asks again).
	maxPushes = 256
	// pushTries is how often a pushed envelope is sent without its ack.
	pushTries = 3
	// maxSummaryFrames bounds one summary stream: 77 cells, enough for a
	// difference of about 40 envelopes; the airtime of a larger one is
	// better spent on the envelopes (owed lists) and the next rounds.
	maxSummaryFrames = 4
	// maxControls bounds done frames waiting to go; beyond it the oldest
	// is dropped (its summary's sender streams on and we answer again).
	maxControls = 16
)

// DefaultAntiEntropyInterval is how often a link summarises what it holds
// for its neighbours when idle.
const DefaultAntiEntropyInterval = 30 * time.Minute

// aeSession is the summary this link is streaming.
type aeSession struct {
	sketch  *radio.Sketch
	next    int             // next frame of the stream
	waiting map[uint16]bool // neighbours yet to send done
	prio    codec.Prio      // normal when neighbours meet, bulk when periodic
}

type readerKey struct {
	from uint16
	salt uint32
}

// reader is a neighbour's summary being read.
type reader struct {
	r        *radio.Reconciler
	local    *radio.Sketch // what we held when it began
	started  time.Time
	done     []byte    // our done frame, once finished
	lastDone time.Time // when it was last queued
}

type pushState struct {
	to       uint16
	attempts int
	nextTry  time.Time
}

// hold records that id is stored here, until expires. Called with mu held.
func (l *Link) hold(id codec.ID, expires time.Time) {
	if _, ok := l.held[id]; !ok {
		if len(l.heldOrder) >= maxHeld {
			delete(l.held, l.heldOrder[0])
			l.heldOrder = l.heldOrder[1:]
		}
		l.heldOrder = append(l.heldOrder, id)
	}
	l.held[id] = expires
}

// heldIDs lists the live ids held here, forgetting expired ones. Called
// with mu held.
func (l *Link) heldIDs(now time.Time) []codec.ID {
	ids := make([]codec.ID, 0, len(l.held))
	kept := l.heldOrder[:0]
	for _, id := range l.heldOrder {
		if exp, ok := l.held[id]; ok && exp.After(now) {
			ids = append(ids, id)
			kept = append(kept, id)
		} else {
			delete(l.held, id)
		}
	}
	l.heldOrder = kept
	return ids
}

// Held is how many envelopes the link would summarise now.
func (l *Link) Held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.heldIDs(time.Now()))
}

// indexOwed remembers every envelope the store owes this link as held:
// every envelope stored here passes through the owed list of each radio
// (those heard on the air too), so the index sees all that arrive while the
// link runs; after a restart it starts from what is still owed.
func (l *Link) indexOwed(now time.Time) {
	for range 16 {
		l.mu.Lock()
		after := l.indexedSeq
		l.mu.Unlock()
		items, err := l.opts.Store.Pending(l.opts.Name, after, 256)
		if err != nil || len(items) == 0 {
			return
		}
		l.mu.Lock()
		for _, it := range items {
			l.hold(it.ID, now.Add(time.Duration(it.Envelope.TTL)*time.Second))
			l.indexedSeq = max(l.indexedSeq, it.Seq)
		}
		l.mu.Unlock()
		if len(items) < 256 {
			return
		}
	}
}

// startSummary begins streaming a summary of what is held here to the
// live neighbours. Called with mu held.
func (l *Link) startSummary(now time.Time, prio codec.Prio) {
	live := l.liveNeighbours(now)
	if len(live) == 0 || l.opts.AntiEntropyInterval < 0 {
		return
	}
	waiting := map[uint16]bool{}
	for _, a := range live {
		waiting[a] = true
	}
	l.ae = &aeSession{sketch: radio.NewSketch(l.rng.Uint32(), l.heldIDs(now)), waiting: waiting, prio: prio}
	l.stats.Summaries++
}

// nextSummary returns the next summary frame to send, if a session is
// streaming, or starts one when due. Called with mu held.
func (l *Link) nextSummary(now time.Time, idle bool) *job {
	if l.ae == nil && !l.aeMeet.IsZero() && !now.Before(l.aeMeet) {
		l.aeMeet = time.Time{}
		l.startSummary(now, codec.PrioNormal)
	}
	if l.ae == nil && idle && !now.Before(l.aeDue) && l.opts.AntiEntropyInterval > 0 {
		l.aeDue = now.Add(l.jitter(l.opts.AntiEntropyInterval*9/10, l.opts.AntiEntropyInterval*11/10))
		l.startSummary(now, codec.PrioBulk)
	}
	s := l.ae
	if s == nil {
		return nil
	}
	live := map[uint16]bool{}
	for _, a := range l.liveNeighbours(now) {
		live[a] = true
	}
	for a := range s.waiting {
		if !live[a] {
			delete(s.waiting, a)
		}
	}
	sum, ok := s.sketch.Frame(s.next)
	if !ok || s.next >= maxSummaryFrames || len(s.waiting) == 0 {
		l.ae = nil
		return nil
	}
	s.next++
	frame, _ := radio.AppendSummary(nil, l.opts.Address, sum)
	return &job{frames: [][]byte{frame}, prio: s.prio, sent: func(now time.Time, air time.Duration) {
		l.stats.SummaryFrames++
		// Leave room for the done frames of those who have read enough
		// (Send returns when the modem has the frame, before it is on air).
		l.holdUntil = later(l.holdUntil, now.Add(air+2*ackSlot(l.opts.Modulation)))
	}}
}

// onSummary reads a neighbour's summary frame. Called with mu held.
func (l *Link) onSummary(from uint16, f radio.LinkFrame, now time.Time) {
	sum, err := radio.ParseSummary(f)
	if err != nil {
		return
	}
	key := readerKey{from, sum.Salt}
	rd := l.readers[key]
	if rd == nil {
		if len(l.readers) >= maxReaders {
			var oldest readerKey
			var at time.Time
			for k, r := range l.readers {
				if at.IsZero() || r.started.Before(at) {
					oldest, at = k, r.started
				}
			}
			delete(l.readers, oldest)
		}
		local := radio.NewSketch(sum.Salt, l.heldIDs(now))
		rd = &reader{r: radio.NewReconciler(local), local: local, started: now}
		l.readers[key] = rd
	}
	if rd.done != nil {
		// It streams on: our done was lost. Say it again, not more than
		// once per full frame's airtime.
		if now.Sub(rd.lastDone) > l.opts.Modulation.Airtime(radio.RNodeSingleMTU) {
			rd.lastDone = now
			l.queueControl(rd.done)
		}
		return
	}
	// Every error of Add is a bad summary, which leaves the reader
	// hopeless (answered below) or incomplete (waiting for more).
	_ = rd.r.Add(sum)
	d := radio.Done{Of: from, Salt: sum.Salt}
	switch {
	case rd.r.Complete():
		theyLack, wants := rd.r.LocalOnly(), rd.r.PeerOnly()
		d.Status = radio.DoneDecoded
		if len(wants) > radio.MaxWants {
			d.Status, d.Wants = radio.DonePartial, wants[:radio.MaxWants]
		} else {
			d.Wants = wants
		}
		lacks := make(map[codec.ID]bool, len(theyLack))
		for _, id := range theyLack {
			l.queuePush(id, from, now)
			lacks[id] = true
		}
		l.log.Debug("summary read", "from", from, "they_lack", len(theyLack), "we_lack", len(wants))
		if d.Status == radio.DoneDecoded {
			// The sender holds everything else we hold: owed envelopes
			// need not go to it again.
			l.ackHeld(from, rd.local, lacks)
		}
	case rd.r.Hopeless():
		d.Status = radio.DoneGaveUp
	default:
		return
	}
	rd.done, _ = radio.AppendDone(nil, l.opts.Address, d)
	rd.lastDone = now
	l.queueControl(rd.done)
}

// ackHeld counts every envelope with retransmission state that a
// reconciliation showed neighbour to hold — in sketch, not in lacks — as
// acked by it. Called with mu held.
func (l *Link) ackHeld(neighbour uint16, sketch *radio.Sketch, lacks map[codec.ID]bool) {
	for id, st := range l.out {
		if _, in := sketch.Lookup(radio.SaltedID(sketch.Salt(), id)); in && !lacks[id] {
			st.acked[neighbour] = true
		}
	}
}

// queueControl queues a done frame. Called with mu held.
func (l *Link) queueControl(frame []byte) {
	if len(l.controls) >= maxControls {
		l.controls = l.controls[1:]
	}
	l.controls = append(l.controls, frame)
}

// onDone takes a neighbour's answer to our summary. Called with mu held.
func (l *Link) onDone(from uint16, f radio.LinkFrame, now time.Time) {
	d, err := radio.ParseDone(f)
	if err != nil || d.Of != l.opts.Address || l.ae == nil || d.Salt != l.ae.sketch.Salt() {
		l.log.Debug("done not for a summary of ours", "from", from, "err", err, "of", d.Of, "streaming", l.ae != nil)
		return
	}
	s := l.ae
	delete(s.waiting, from)
	l.log.Debug("summary answered", "by", from, "status", d.Status, "wants", len(d.Wants))
	if d.Status == radio.DoneGaveUp {
		return
	}
	wanted := map[codec.ID]bool{}
	for _, x := range d.Wants {
		if id, ok := s.sketch.Lookup(x); ok {
			wanted[id] = true
			l.queuePush(id, from, now)
		}
	}
	if d.Status != radio.DoneDecoded {
		return
	}
	// It holds everything else we summarised: owed envelopes need not go
	// to it again.
	l.ackHeld(from, s.sketch, wanted)
	l.stats.SummariesRead++
}

// queuePush schedules id to be sent to neighbour to. Called with mu held.
func (l *Link) queuePush(id codec.ID, to uint16, now time.Time) {
	if _, ok := l.pushes[id]; ok || len(l.pushes) >= maxPushes {
		return
	}
	l.pushes[id] = &pushState{to: to, nextTry: now}
	l.pushByShort[radio.ShortOf(id)] = id
}

// donePush drops a push once acked or given up. Called with mu held.
func (l *Link) donePush(id codec.ID) {
	delete(l.pushes, id)
	delete(l.pushByShort, radio.ShortOf(id))
}

// nextPush returns the job pushing a due envelope, or nil and how long
// until one is due.
func (l *Link) nextPush(now time.Time) (*job, time.Duration) {
	l.mu.Lock()
	var id codec.ID
	var ps *pushState
	wake := time.Duration(1<<63 - 1)
	for pid, p := range l.pushes {
		if p.nextTry.After(now) {
			wake = min(wake, p.nextTry.Sub(now))
			continue
		}
		id, ps = pid, p
		break
	}
	l.mu.Unlock()
	if ps == nil {
		return nil, wake
	}
	it, ok, err := l.opts.Store.Get(id)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil || !ok || it.Envelope.Hops >= l.opts.MaxHops {
		if err != nil && !errors.Is(err, store.ErrClosed) {
			l.log.Warn("reading envelope to push", "err", err)
		}
		l.donePush(id)
		return nil, 0
	}
	e := *it.Envelope
	e.Hops++
	raw := e.Encode()
	var frames [][]byte
	if len(raw) <= radio.MaxDirectedEnvelope {
		f, _ := radio.AppendDirected(nil, ps.to, raw)
		frames = [][]byte{f}
	} else {
		xfer := l.nextXfer
		l.nextXfer = (l.nextXfer + 1) & radio.MaxTransferID
		var err error
		if frames, err = radio.Fragment(l.opts.Address, xfer, raw); err != nil {
			l.donePush(id)
			return nil, 0
		}
		l.keepTransfer(xfer, raw)
	}
	return &job{frames: frames, prio: e.Prio, sent: func(now time.Time, air time.Duration) {
		l.stats.Pushed++
		ps.attempts++
		// After the last try this is one last wait for the ack, then
		// prunePushes forgets it.
		ps.nextTry = now.Add(l.ackWait(len(frames), air))
		l.holdUntil = later(l.holdUntil, now.Add(air+ackGap(l.opts.Modulation)))
		l.chargeFlow(e.To, air, now)
	}}, 0
}

// prunePushes forgets pushes tried pushTries times whose last wait passed.
// Called with mu held.
func (l *Link) prunePushes(now time.Time) {
	for id, p := range l.pushes {
		if p.attempts >= pushTries && !now.Before(p.nextTry) {
			l.donePush(id)
		}
	}
}
