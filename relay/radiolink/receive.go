package radiolink

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/radio"
	"github.com/cairnmesh/cairn/relay/store"
)

func (l *Link) receiveLoop(ctx context.Context) {
	rx := l.opts.Driver.Receive()
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-rx:
			l.onPacket(p)
		}
	}
}

// onPacket handles one frame from the air: untrusted input, decoded
// strictly; a bad frame is counted and changes nothing.
func (l *Link) onPacket(p radio.Packet) {
	f, err := radio.DecodeLinkFrame(p.Data)
	l.mu.Lock()
	l.stats.FramesReceived++
	if err != nil {
		l.stats.BadFrames++
		l.mu.Unlock()
		l.log.Debug("bad frame from the air", "err", err, "bytes", len(p.Data))
		return
	}
	now := time.Now()
	// Someone just finished sending; others may answer it. Without carrier
	// sense, back off a random part of a slot before our next envelope.
	l.holdUntil = later(l.holdUntil, now.Add(l.jitter(0, l.opts.Modulation.Airtime(64))))
	switch f.Type {
	case radio.LinkWhole:
		if f.Directed && f.To != l.opts.Address {
			// For another neighbour: not ours to take, but if we meant to
			// rebroadcast it, someone already carries it on.
			l.stats.Overheard++
			if e, err := codec.DecodeEnvelope(f.Data); err == nil {
				if h := l.heard[e.ID()]; h != nil && e.Hops > h.hops {
					h.suppressed = true
				}
			}
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		l.onEnvelope(slices.Clone(f.Data), p.SNRdB)
		return
	case radio.LinkFragment:
		l.heardNeighbour(f.Sender, p.SNRdB, now)
		l.mu.Unlock()
		env, err := l.re.Add(f)
		if err != nil {
			l.log.Debug("fragment refused", "err", err)
			return
		}
		if env != nil {
			l.onEnvelope(slices.Clone(env), p.SNRdB)
			return
		}
		if f.Index == f.Last { // the last one came and some are missing: ask for them
			if nack, ok := l.re.Missing(f.Sender, f.Transfer); ok {
				l.mu.Lock()
				l.nacks = append(l.nacks, nack)
				l.mu.Unlock()
				l.Poke()
			}
		}
		return
	case radio.LinkNack:
		if f.Sender == l.opts.Address {
			if env := l.transfers[f.Transfer]; env != nil {
				frags, err := radio.Fragment(l.opts.Address, f.Transfer, env)
				if err == nil {
					var air time.Duration
					for _, i := range radio.MissingIndexes(f) {
						if int(i) < len(frags) {
							l.nacks = append(l.nacks, frags[i]) // resent in the NACK slot
							l.stats.FragmentsResent++
							air += l.opts.Modulation.Airtime(len(frags[i]) + radio.RNodeHeaderBytes)
						}
					}
					// The receiver is at work on it: no whole resend before
					// these have gone and it could ack.
					for _, st := range l.out {
						if st.xferSet && st.transfer == f.Transfer {
							st.nextTry = later(st.nextTry, now.Add(air+l.opts.AckWait))
						}
					}
				}
			}
		}
		l.mu.Unlock()
		l.Poke()
		return
	case radio.LinkControl:
		n := l.heardNeighbour(f.Sender, p.SNRdB, now)
		switch f.Control {
		case radio.ControlAck:
			l.stats.AcksReceived++
			for _, s := range radio.AckedIDs(f) {
				if id, ok := l.byShort[s]; ok {
					if st := l.out[id]; st != nil {
						st.acked[f.Sender] = true
					}
				}
				if id, ok := l.pushByShort[s]; ok && l.pushes[id].to == f.Sender {
					l.donePush(id)
				}
			}
		case radio.ControlBeacon:
			l.stats.BeaconsReceived++
			n.filter = slices.Clone(f.Data)
		case radio.ControlSummary:
			l.onSummary(f.Sender, f, now)
		case radio.ControlDone:
			l.onDone(f.Sender, f, now)
		case radio.ControlServes:
			l.stats.ServesReceived++
			if on := l.opts.OnNeighbourTags; on != nil {
				ttl := l.opts.NeighbourTimeout
				l.mu.Unlock()
				on(radio.ServedTags(f), ttl)
				return
			}
		}
		l.mu.Unlock()
		l.Poke()
	}
}

// onEnvelope hands an envelope heard on the air to the relay's ingest path
// and, once it is durable (new or a duplicate), queues its ack.
func (l *Link) onEnvelope(raw []byte, snrDB float64) {
	e, decodeErr := codec.DecodeEnvelope(raw) // for hops; ingest decodes again and refuses it if bad
	l.opts.Ingest(raw, HeardFrom(l.opts.Name), func(id codec.ID, err error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		now := time.Now()
		if (err == nil || errors.Is(err, store.ErrDuplicate)) && decodeErr == nil {
			l.hold(id, now.Add(time.Duration(e.TTL)*time.Second))
		}
		switch {
		case err == nil:
			l.stats.Received++
			if decodeErr == nil {
				l.rememberHeard(id, e.Hops, now.Add(l.floodDelay(snrDB)))
			}
			l.queueAck(id, now)
		case errors.Is(err, store.ErrDuplicate):
			l.stats.Duplicates++
			if h := l.heard[id]; h != nil && decodeErr == nil && e.Hops > h.hops {
				h.suppressed = true // a neighbour rebroadcast it already
			}
			l.queueAck(id, now)
		default:
			l.stats.Refused++
			return
		}
		select {
		case l.poke <- struct{}{}:
		default:
		}
	})
}

// rememberHeard is called with mu held.
func (l *Link) rememberHeard(id codec.ID, hops uint8, eligible time.Time) {
	if _, ok := l.heard[id]; ok {
		return
	}
	if len(l.heardOrder) >= maxHeard {
		delete(l.heard, l.heardOrder[0])
		l.heardOrder = l.heardOrder[1:]
	}
	l.heard[id] = &heardState{hops: hops, eligible: eligible}
	l.heardOrder = append(l.heardOrder, id)
}

// queueAck is called with mu held.
func (l *Link) queueAck(id codec.ID, now time.Time) {
	if slices.Contains(l.acks, id) {
		return
	}
	if len(l.acks) >= maxAcksQueued {
		l.acks = l.acks[1:]
	}
	l.acks = append(l.acks, id)
	if l.acksDue.IsZero() {
		l.acksDue = now.Add(l.ackDelay(id))
	}
}

// floodDelay is the wait before rebroadcasting an envelope heard at snrDB:
// one to five slots (a slot is the airtime of a DESIGN-budget 64-byte
// packet) growing with the SNR, plus up to two slots at random. A
// neighbour heard weakly is far away, so its rebroadcast reaches most new
// ground: weak hearers go first, and strong ones usually hear them and stay
// silent (Meshtastic's SNR-based rebroadcast window works the same way).
// Called with mu held.
func (l *Link) floodDelay(snrDB float64) time.Duration {
	const weak, strong = -20.0, 10.0 // dB: LoRa decodes down to about −20 dB at SF12
	frac := min(max((snrDB-weak)/(strong-weak), 0), 1)
	slot := l.opts.Modulation.Airtime(64)
	return slot + time.Duration(4*frac*float64(slot)) + l.jitter(0, 2*slot)
}
