package radiolink

import (
	"bytes"
	"context"
	"errors"
	"math"
	"slices"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/radio"
	"github.com/cairnmesh/cairn/relay/store"
)

// sendTimeout bounds one Send to the modem; a modem that is away longer
// makes the sender look at the store again (and the driver reconnects).
const sendTimeout = 30 * time.Second

// job is what the sender transmits next: one or more frames (the
// fragments of an envelope) at a priority, and what to record once sent.
type job struct {
	frames [][]byte
	prio   codec.Prio
	sent   func(now time.Time, airtime time.Duration) // called with mu held
}

func (l *Link) sendLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		j, wake := l.next(time.Now())
		if j != nil {
			if wait := l.transmit(ctx, j); wait > 0 {
				wake = wait
			} else {
				continue
			}
		}
		if ctx.Err() != nil {
			return
		}
		timer.Reset(min(wake, l.opts.PollInterval))
		select {
		case <-ctx.Done():
			return
		case <-l.poke:
		case <-timer.C:
		}
	}
}

// transmit books and sends j's frames. It returns how long to wait when the
// ledger has no room yet (nothing of j was sent, or the rest is dropped and
// retried later), or 0.
func (l *Link) transmit(ctx context.Context, j *job) time.Duration {
	var total time.Duration
	for _, f := range j.frames {
		air := l.opts.Modulation.Airtime(len(f) + radio.RNodeHeaderBytes)
		wait, err := l.opts.Ledger.Reserve(air, j.prio)
		if err != nil {
			l.log.Warn("frame never fits the duty cycle", "bytes", len(f), "prio", j.prio, "err", err)
			return l.opts.PollInterval
		}
		if wait > 0 {
			return wait
		}
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		err = l.opts.Driver.Send(sctx, f)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				l.log.Warn("send failed", "err", err)
			}
			return l.opts.PollInterval // booked airtime stays booked: the ledger may over-count, never under
		}
		total += air
		l.mu.Lock()
		l.stats.FramesSent++
		l.stats.Airtime += air
		l.mu.Unlock()
	}
	l.mu.Lock()
	j.sent(time.Now(), total)
	l.mu.Unlock()
	return 0
}

// next chooses what to send: due acks, then NACKs and resent fragments,
// then a due beacon, then the best owed envelope. It returns nil and how
// long until something may be due when there is nothing now.
func (l *Link) next(now time.Time) (*job, time.Duration) {
	l.mu.Lock()
	if len(l.acks) > 0 && !now.Before(l.acksDue) {
		n := min(len(l.acks), radio.MaxAckIDs)
		ids := l.acks[:n]
		frame, _ := radio.AppendAck(nil, l.opts.Address, ids)
		l.acks = append([]codec.ID(nil), l.acks[n:]...)
		l.acksDue = time.Time{}
		if len(l.acks) > 0 {
			l.acksDue = now
		}
		l.mu.Unlock()
		return &job{frames: [][]byte{frame}, prio: codec.PrioUrgent, sent: func(time.Time, time.Duration) { l.stats.AcksSent++ }}, 0
	}
	if len(l.controls) > 0 {
		frame := l.controls[0]
		l.controls = l.controls[1:]
		l.mu.Unlock()
		return &job{frames: [][]byte{frame}, prio: codec.PrioNormal, sent: func(time.Time, time.Duration) {}}, 0
	}
	if len(l.nacks) > 0 {
		frame := l.nacks[0]
		l.nacks = l.nacks[1:]
		l.mu.Unlock()
		sent := func(time.Time, time.Duration) {}
		if f, err := radio.DecodeLinkFrame(frame); err == nil && f.Type == radio.LinkNack {
			sent = func(time.Time, time.Duration) { l.stats.NacksSent++ }
		}
		return &job{frames: [][]byte{frame}, prio: codec.PrioNormal, sent: sent}, 0
	}
	if now.Before(l.holdUntil) {
		wake := l.holdUntil.Sub(now)
		if len(l.acks) > 0 {
			wake = min(wake, l.acksDue.Sub(now))
		}
		l.mu.Unlock()
		return nil, wake
	}
	if !now.Before(l.beaconDue) {
		var tags []codec.Tag
		if l.opts.Tags != nil {
			l.mu.Unlock()
			tags = l.opts.Tags()
			l.mu.Lock()
		}
		frame, _ := radio.AppendBeacon(nil, l.opts.Address, radio.NewTagFilter(tags))
		l.beaconDue = now.Add(l.jitter(l.opts.BeaconInterval*9/10, l.opts.BeaconInterval*11/10))
		l.mu.Unlock()
		return &job{frames: [][]byte{frame}, prio: codec.PrioNormal, sent: func(time.Time, time.Duration) {
			l.stats.BeaconsSent++
			l.servesDue = len(tags) > 0
		}}, 0
	}
	if l.servesDue {
		l.servesDue = false
		l.mu.Unlock()
		if j := l.servesJob(); j != nil {
			return j, 0
		}
		l.mu.Lock()
	}
	l.prune(now)
	l.prunePushes(now)
	if j := l.nextSummary(now, false); j != nil {
		l.mu.Unlock()
		return j, 0
	}
	wake := l.beaconDue.Sub(now)
	if len(l.acks) > 0 {
		wake = min(wake, l.acksDue.Sub(now))
	}
	if !l.aeMeet.IsZero() {
		wake = min(wake, l.aeMeet.Sub(now))
	}
	l.mu.Unlock()

	l.indexOwed(now)
	j, w := l.nextEnvelope(now)
	if j != nil {
		return j, 0
	}
	pj, pw := l.nextPush(now)
	if pj != nil {
		return pj, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if j := l.nextSummary(now, true); j != nil {
		return j, 0
	}
	wake = min(wake, w, pw)
	if l.opts.AntiEntropyInterval > 0 { // off, aeDue stays where Start put it: long past
		wake = min(wake, l.aeDue.Sub(now))
	}
	return nil, wake
}

// nextEnvelope looks at the owed envelopes, urgent first, marks sent those
// that need no more sending, and picks the one to send now: among the
// eligible of the highest priority, the one whose flow used the least
// airtime lately, oldest first on ties.
func (l *Link) nextEnvelope(now time.Time) (*job, time.Duration) {
	wake := time.Duration(math.MaxInt64)
	var done []codec.ID
	defer func() {
		if len(done) > 0 {
			if err := l.opts.Store.MarkSent(l.opts.Name, done...); err != nil && !errors.Is(err, store.ErrClosed) {
				l.log.Warn("marking sent", "err", err)
			}
		}
	}()
	served := map[codec.Tag]bool{}
	if !l.opts.Flood && l.opts.Tags != nil {
		for _, t := range l.opts.Tags() {
			served[t] = true
		}
	}
	for prio := codec.PrioUrgent; ; prio-- {
		var best *store.Item
		bestAir := math.Inf(1)
		after := uint64(0)
		for page := 0; page < 8 && best == nil; page++ {
			items, through, err := l.opts.Store.PendingPrio(l.opts.Name, prio, after, candidatesPerPrio)
			if err != nil {
				if !errors.Is(err, store.ErrClosed) {
					l.log.Warn("reading owed envelopes", "err", err)
				}
				return nil, l.opts.PollInterval
			}
			l.mu.Lock()
			live := l.liveNeighbours(now)
			for i := range items {
				it := &items[i]
				st := l.out[it.ID]
				h := l.heard[it.ID]
				switch {
				case it.Envelope.Hops >= l.opts.MaxHops:
					l.stats.HopLimited++
					done = append(done, it.ID)
					continue
				case h != nil && h.suppressed && st == nil:
					l.stats.Suppressed++
					done = append(done, it.ID)
					l.forget(it.ID)
					continue
				case h != nil && st == nil && served[it.Envelope.To] && it.Envelope.Kind != codec.KindReceipt:
					// It came over the air to the relay of its recipient:
					// it has arrived, and goes no further by radio.
					l.stats.Arrived++
					done = append(done, it.ID)
					l.forget(it.ID)
					continue
				case st != nil && finished(st, live):
					l.stats.Done++
					done = append(done, it.ID)
					l.forget(it.ID)
					continue
				}
				at := now
				if st != nil {
					at = st.nextTry
				} else if h != nil {
					at = h.eligible
				}
				if at.After(now) {
					wake = min(wake, at.Sub(now))
					continue
				}
				if len(live) == 0 {
					continue // nobody to carry it: it waits for a neighbour (a new one makes it due)
				}
				if st == nil && len(l.out) >= maxTracked {
					continue
				}
				if a := l.flowAirtime(it.Envelope.To, now); a < bestAir {
					best, bestAir = it, a
				}
			}
			l.mu.Unlock()
			if len(items) < candidatesPerPrio {
				break
			}
			after = through
		}
		if best != nil {
			return l.envelopeJob(*best), 0
		}
		if prio == codec.PrioBulk {
			return nil, wake
		}
	}
}

// prune forgets retransmission state of envelopes no longer owed: one due
// for 2 × MaxBackoff without being sent again left the owed list (a
// receipt or expiry took it). Called with mu held.
func (l *Link) prune(now time.Time) {
	for id, st := range l.out {
		if now.Sub(st.nextTry) > 2*l.opts.MaxBackoff {
			l.forget(id)
		}
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// finished: the neighbour it was directed to acked, or, flooded, every
// live neighbour, and at least one, acked.
func finished(st *outState, live []uint16) bool {
	if st.to != 0 {
		return st.acked[st.to]
	}
	if len(st.acked) == 0 {
		return false
	}
	for _, a := range live {
		if !st.acked[a] {
			return false
		}
	}
	return true
}

// forget drops an envelope's link state. Called with mu held.
func (l *Link) forget(id codec.ID) {
	delete(l.out, id)
	delete(l.byShort, radio.ShortOf(id))
	if h := l.heard[id]; h != nil {
		h.suppressed = true // in case it is owed again: never rebroadcast twice
	}
}

// envelopeJob frames it with hops + 1, whole or in fragments.
func (l *Link) envelopeJob(it store.Item) *job {
	e := *it.Envelope
	e.Hops++
	raw := e.Encode()
	l.mu.Lock()
	st := l.out[it.ID]
	if st == nil {
		st = &outState{acked: map[uint16]bool{}}
		l.out[it.ID] = st
		l.byShort[radio.ShortOf(it.ID)] = it.ID
	}
	var frames [][]byte
	st.to = l.nextHop(it.ID, &e, len(raw), st)
	if st.to != 0 {
		f, _ := radio.AppendDirected(nil, st.to, raw)
		frames = [][]byte{f}
	} else if len(raw) <= radio.MaxWholeEnvelope {
		f, _ := radio.AppendWhole(nil, raw)
		frames = [][]byte{f}
	} else {
		if !st.xferSet {
			st.transfer, st.xferSet = l.nextXfer, true
			l.nextXfer = (l.nextXfer + 1) & radio.MaxTransferID
		}
		var err error
		if frames, err = radio.Fragment(l.opts.Address, st.transfer, raw); err != nil {
			// Larger than radio carries (63,488 bytes): never sent here.
			delete(l.out, it.ID)
			l.mu.Unlock()
			l.log.Warn("envelope too large for radio", "id", it.ID, "bytes", len(raw))
			l.opts.Store.MarkSent(l.opts.Name, it.ID)
			return &job{prio: it.Envelope.Prio, sent: func(time.Time, time.Duration) {}}
		}
		l.keepTransfer(st.transfer, raw)
	}
	l.mu.Unlock()
	return &job{frames: frames, prio: it.Envelope.Prio, sent: func(now time.Time, air time.Duration) {
		st.attempts++
		l.stats.EnvelopesSent++
		if st.to != 0 {
			st.directed++
			l.stats.Directed++
		} else {
			l.stats.Flooded++
		}
		l.holdUntil = later(l.holdUntil, now.Add(ackGap(l.opts.Modulation)))
		if st.attempts > 1 {
			l.stats.Retransmissions++
		}
		// Gentle growth (× 1.5): on a lossy channel most repeats are for
		// a lost frame or ack, not for a neighbour that is gone.
		base := l.ackWait(len(frames), air)
		wait := min(time.Duration(float64(base)*math.Pow(1.5, float64(min(st.attempts-1, 40)))), max(l.opts.MaxBackoff, base))
		st.nextTry = now.Add(l.jitter(wait*3/4, wait*5/4))
		l.chargeFlow(e.To, air, now)
	}}
}

// ackWait is the first wait for the acks of an envelope sent in n frames
// that took air on the channel. A fragmented envelope's receiver NACKs the
// fragments it lacks when the last one comes and acks once it has them
// all, so beyond AckWait the wait leaves room for a NACK and for resending
// every fragment (the worst case): a long transfer is not sent whole again
// while its receiver is still asking for pieces of it. 6 fragments at SF9,
// 125 kHz (a 1,252-byte envelope): 4.8 s + 6.4 s + 0.2 s.
func (l *Link) ackWait(n int, air time.Duration) time.Duration {
	if n <= 1 {
		return l.opts.AckWait
	}
	return l.opts.AckWait + air + l.opts.Modulation.Airtime(radio.NackHeaderBytes+(n+7)/8+radio.RNodeHeaderBytes)
}

// keepTransfer keeps a fragmented envelope for NACKs. Called with mu held.
func (l *Link) keepTransfer(xfer uint16, raw []byte) {
	if _, ok := l.transfers[xfer]; !ok {
		if len(l.xferOrder) >= maxTransfers {
			delete(l.transfers, l.xferOrder[0])
			l.xferOrder = l.xferOrder[1:]
		}
		l.xferOrder = append(l.xferOrder, xfer)
	}
	l.transfers[xfer] = raw
}

// nextHop chooses the neighbour to send an envelope to directly, or 0 to
// flood it (docs/radio.md, "Directed forwarding"): the live neighbour whose
// beacon filter claims the envelope's tag, heard at the best SNR, for an
// envelope that fits a directed frame and is not a receipt (receipts go
// back to where copies are, which no filter says), for at most
// directedTries transmissions; after those it is flooded. Called with mu
// held.
func (l *Link) nextHop(id codec.ID, e *codec.Envelope, size int, st *outState) uint16 {
	if l.opts.Flood || e.Kind == codec.KindReceipt || size > radio.MaxDirectedEnvelope {
		return 0
	}
	if st.directed >= directedTries {
		if st.directed == directedTries && st.to != 0 {
			l.stats.DirectedFailed++
			l.log.Debug("directed forwarding failed, flooding", "id", id, "to", st.to)
		}
		return 0
	}
	best := l.claimant(e.To, time.Now())
	if st.to != 0 && st.to != best {
		st.acked = map[uint16]bool{} // a new route: its acks start over
	}
	return best
}

// flowAirtime is a flow's decayed airtime in seconds. Called with mu held.
func (l *Link) flowAirtime(t codec.Tag, now time.Time) float64 {
	f := l.flows[t]
	if f == nil {
		return 0
	}
	return f.airtime * math.Exp2(-now.Sub(f.at).Seconds()/flowHalfLife.Seconds())
}

// chargeFlow is called with mu held.
func (l *Link) chargeFlow(t codec.Tag, air time.Duration, now time.Time) {
	a := l.flowAirtime(t, now) + air.Seconds()
	if _, ok := l.flows[t]; !ok && len(l.flows) >= maxFlows {
		for k := range l.flows {
			if l.flowAirtime(k, now) < 0.01 {
				delete(l.flows, k)
			}
		}
		if len(l.flows) >= maxFlows {
			for k := range l.flows { // still full: forget one at random
				delete(l.flows, k)
				break
			}
		}
	}
	l.flows[t] = &flow{airtime: a, at: now}
}

// servesJob frames the tags served here for a neighbour's uplink, unless
// this relay has a working uplink of its own or serves nothing. A frame
// holds radio.MaxServesTags; with more tags, each frame continues where
// the last one sent stopped (in tag order), so every tag is announced
// within ceil(n / 31) serves frames sent: a frame skipped for the duty
// cycle leaves its tags first in line. Called without mu.
func (l *Link) servesJob() *job {
	if l.opts.Tags == nil || (l.opts.Uplinked != nil && l.opts.Uplinked()) {
		return nil
	}
	tags := l.opts.Tags()
	if len(tags) == 0 {
		return nil
	}
	slices.SortFunc(tags, func(a, b codec.Tag) int { return bytes.Compare(a[:], b[:]) })
	l.mu.Lock()
	start := l.servesNext % len(tags)
	l.mu.Unlock()
	n := min(len(tags), radio.MaxServesTags)
	pick := make([]codec.Tag, 0, n)
	for i := range n {
		pick = append(pick, tags[(start+i)%len(tags)])
	}
	frame, err := radio.AppendServes(nil, l.opts.Address, pick)
	if err != nil {
		return nil
	}
	// Bulk: when the duty cycle runs short, envelopes go first and this
	// beacon's serves frame is skipped (the neighbour keeps the tags for
	// three beacon intervals).
	return &job{frames: [][]byte{frame}, prio: codec.PrioBulk, sent: func(time.Time, time.Duration) {
		l.stats.ServesSent++
		l.servesNext = start + n
	}}
}
