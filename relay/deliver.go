package relay

import (
	"bytes"
	"errors"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/store"
)

// deliverer sends one subscriber what the store holds for its tag, urgent
// first then oldest first, keeping at most window deliveries unacknowledged.
//
// It remembers, per priority, the highest store sequence number it has sent.
// The store assigns sequence numbers in commit order, so within a priority
// everything at or below that mark has been sent on this connection and
// everything above has not: three numbers replace a set of sent ids. A new
// envelope wakes the deliverer, which scans again from the most urgent
// priority, so an urgent envelope overtakes a backlog of normal ones within
// one window.
type deliverer struct {
	s      *session
	tag    codec.Tag
	topic  string
	qos    byte // 0 or 1
	window int  // most unacknowledged deliveries

	wake chan struct{} // capacity 1: new envelope for tag, or a window slot freed
	stop chan struct{} // closed by close
	done chan struct{} // closed when run returns

	mu       sync.Mutex // guards inflight and nextID
	inflight map[uint16]struct{}
	nextID   uint16

	sent store.Marks // highest Seq sent, per priority; owned by run
}

func newDeliverer(s *session, qos byte) *deliverer {
	r := s.r
	window := r.cfg.MQTT.DeliveryWindow
	if m := int(s.cl.Properties.Props.ReceiveMaximum); m > 0 && m < window {
		window = m // the client's own MQTT 5 Receive Maximum
	}
	d := &deliverer{
		s:        s,
		tag:      s.tag,
		topic:    r.topics.inbox(s.tag),
		qos:      qos,
		window:   window,
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		inflight: make(map[uint16]struct{}),
	}
	r.mu.Lock()
	if r.inboxes[d.tag] == nil {
		r.inboxes[d.tag] = make(map[*deliverer]struct{})
	}
	r.inboxes[d.tag][d] = struct{}{}
	r.mu.Unlock()
	r.wg.Add(1)
	go d.run()
	return d
}

// poke wakes the deliverer without blocking.
func (d *deliverer) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// close stops the deliverer. It does not wait: a write to a dead connection
// may take a moment to fail, and Relay.Close waits for all goroutines.
func (d *deliverer) close() {
	r := d.s.r
	r.mu.Lock()
	delete(r.inboxes[d.tag], d)
	if len(r.inboxes[d.tag]) == 0 {
		delete(r.inboxes, d.tag)
	}
	r.mu.Unlock()
	close(d.stop)
}

func (d *deliverer) acked(packetID uint16) {
	d.mu.Lock()
	_, ok := d.inflight[packetID]
	delete(d.inflight, packetID)
	d.mu.Unlock()
	if ok {
		d.s.r.stats.delivered.Add(1)
		d.poke()
	}
}

func (d *deliverer) run() {
	defer d.s.r.wg.Done()
	defer close(d.done)
	for {
		batch, err := d.next()
		if err != nil {
			d.s.r.log.Error("reading inbox", "tag", d.tag, "err", err)
		}
		if len(batch) == 0 {
			select {
			case <-d.wake:
			case <-d.stop:
				return
			}
		}
		for len(batch) > 0 {
			n := d.acquire(len(batch))
			if n == 0 || !d.send(batch[:n]) {
				return
			}
			batch = batch[n:]
		}
	}
}

// next returns up to a window of envelopes not yet sent, in delivery order.
// Each priority is read from just past the last one sent, so the cost
// follows what is new, not what the inbox holds.
func (d *deliverer) next() ([]store.Item, error) {
	return d.s.r.store.Unsent(d.tag, d.sent, d.window)
}

// acquire waits for a free window slot and returns how many of want may
// be sent now (all of them at QoS 0); 0 means stop.
func (d *deliverer) acquire(want int) int {
	for {
		d.mu.Lock()
		free := d.window - len(d.inflight)
		d.mu.Unlock()
		if d.qos == 0 {
			return want
		}
		if free > 0 {
			return min(free, want)
		}
		select {
		case <-d.wake:
		case <-d.stop:
			return 0
		}
	}
}

// send writes items to the subscriber, one write per maxWriteRun bytes;
// false means stop.
func (d *deliverer) send(items []store.Item) bool {
	cl := d.s.cl
	buf := writeBuffer()
	created := time.Now().Unix()
	n := 0 // deliveries in buf
	for _, it := range items {
		d.sent[it.Envelope.Prio] = it.Seq
		pk := packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: d.qos},
			TopicName:   d.topic,
			Payload:     it.Envelope.Encode(), // ttl is now the remaining life
			Created:     created,
		}
		if d.qos > 0 {
			pk.PacketID = d.allocate()
		}
		switch err := encodePacket(cl, pk, buf); {
		case err == nil:
			n++
		case errors.Is(err, packets.ErrPacketTooLarge):
			// The client set a Maximum Packet Size below this envelope; it
			// can never take it on this connection.
			d.release(pk.PacketID)
			d.s.r.log.Warn("envelope too large for subscriber", "client", d.s.who(), "id", it.ID, "bytes", it.Size)
		default:
			d.s.r.log.Error("encoding delivery", "client", d.s.who(), "id", it.ID, "err", err)
			releaseWriteBuffer(buf)
			return false
		}
		if buf.Len() >= maxWriteRun {
			if !d.flush(buf, n) {
				return false
			}
			buf, n = writeBuffer(), 0
		}
	}
	return d.flush(buf, n)
}

// flush writes buf, which holds n deliveries, and gives it back; false
// means stop.
func (d *deliverer) flush(buf *bytes.Buffer, n int) bool {
	err := writeEncoded(d.s.cl, buf)
	switch {
	case err == nil:
		if d.qos == 0 {
			d.s.r.stats.delivered.Add(uint64(n))
		}
		return true
	case errors.Is(err, mqtt.ErrConnectionClosed):
		return false
	default:
		d.s.r.log.Debug("delivery write failed", "client", d.s.who(), "err", err)
		return false
	}
}

// allocate returns a packet id not in flight. The window is far below the
// 65,535 ids, so the search is short.
func (d *deliverer) allocate() uint16 {
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		d.nextID++
		if d.nextID == 0 {
			d.nextID = 1
		}
		if _, busy := d.inflight[d.nextID]; !busy {
			d.inflight[d.nextID] = struct{}{}
			return d.nextID
		}
	}
}

func (d *deliverer) release(packetID uint16) {
	d.mu.Lock()
	delete(d.inflight, packetID)
	d.mu.Unlock()
}
