package relay

import (
	"bytes"
	"crypto/ed25519"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/store"
)

// session is the relay's state for one connected client, from
// OnSessionEstablished to OnDisconnect.
type session struct {
	r   *Relay
	cl  *mqtt.Client
	key ed25519.PublicKey // nil for an anonymous client
	tag codec.Tag         // tag of key; meaningful only when key != nil

	// acks holds the client's QoS 1 publishes in arrival order until each is
	// durable or refused. Its capacity is the receive maximum: when it is
	// full, the client's read loop blocks in OnPublish, which is the
	// backpressure MQTT 5 flow control asks for. Sent to and closed only from
	// the client's read goroutine.
	acks chan *pendingAck

	mu  sync.Mutex // guards del
	del *deliverer // inbox delivery, nil until the client subscribes
}

// pendingAck is one QoS 1 publish awaiting its PUBACK.
type pendingAck struct {
	packetID uint16
	result   chan error // receives exactly one value
}

func newSession(r *Relay, cl *mqtt.Client, key ed25519.PublicKey) *session {
	s := &session{r: r, cl: cl, key: key, acks: make(chan *pendingAck, r.cfg.MQTT.ReceiveMaximum)}
	if key != nil {
		s.tag = codec.TagOf(key)
	}
	r.wg.Add(1)
	go s.ackLoop()
	return s
}

// who names the client in logs.
func (s *session) who() string {
	if s.key == nil {
		return s.cl.ID
	}
	return s.cl.ID + " (" + s.tag.String() + ")"
}

// publish takes a client's PUBLISH to the send topic into the ingest path.
func (s *session) publish(pk packets.Packet) {
	// ingest decodes pk.Payload before it returns and the envelope keeps
	// none of it (codec.DecodeEnvelope copies), so no copy is needed here.
	raw := pk.Payload
	done := func(codec.ID, error) {}
	if pk.FixedHeader.Qos > 0 {
		p := &pendingAck{packetID: pk.PacketID, result: make(chan error, 1)}
		s.acks <- p
		done = func(_ codec.ID, err error) { p.result <- err }
	}
	// The ACL saw the topic before mochi resolved any topic alias; look again.
	if pk.TopicName != s.r.topics.send {
		s.r.account(codec.ID{}, errWrongTopic, s.who())
		done(codec.ID{}, errWrongTopic)
		return
	}
	s.r.ingest(raw, store.LinkLocal, s.who(), done)
}

// ackLoop writes PUBACKs in the order the publishes arrived, each once its
// envelope is durable or refused. The PUBACKs that are ready together —
// those one commit released — go out in one write (up to maxWriteRun bytes).
func (s *session) ackLoop() {
	defer s.r.wg.Done()
	var next *pendingAck // taken from acks but not yet durable
	for {
		p := next
		if p == nil {
			var ok bool
			if p, ok = <-s.acks; !ok {
				return
			}
		}
		next = nil
		err := <-p.result
		buf := writeBuffer()
		s.encodeAck(buf, p, err)
	more:
		for next == nil && buf.Len() < maxWriteRun {
			select {
			case q, ok := <-s.acks:
				if !ok {
					break more
				}
				select {
				case err := <-q.result:
					s.encodeAck(buf, q, err)
				default:
					next = q
				}
			default:
				break more
			}
		}
		if err := writeEncoded(s.cl, buf); err != nil {
			s.r.log.Debug("puback not sent", "client", s.cl.ID, "err", err)
		}
	}
}

// encodeAck appends the PUBACK for p with the outcome err to buf.
func (s *session) encodeAck(buf *bytes.Buffer, p *pendingAck, err error) {
	code, reason := refusal(err)
	ack := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Puback},
		PacketID:    p.packetID,
		ReasonCode:  code.Code,
	}
	switch {
	case code.Code < codeUnspecified.Code:
	case reason == "internal" || reason == "disk_full":
		// The detail names files on the relay: it goes to the log,
		// and the client learns only what happened.
		ack.Properties.ReasonString = "relay storage: " + reason
	default:
		ack.Properties.ReasonString = err.Error() // about the client's own bytes
	}
	if err := encodePacket(s.cl, ack, buf); err != nil {
		s.r.log.Debug("puback not sent", "client", s.cl.ID, "err", err)
	}
}

// subscribed starts delivery of the client's inbox at qos (0 or 1), and
// tells the uplinks that this relay now serves the client's tag.
func (s *session) subscribed(qos byte) {
	s.r.uplink.Serve(s.tag)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.del != nil {
		return
	}
	s.del = newDeliverer(s, qos)
}

// unsubscribed stops inbox delivery.
func (s *session) unsubscribed() {
	s.mu.Lock()
	d := s.del
	s.del = nil
	s.mu.Unlock()
	if d != nil {
		d.close()
	}
}

func (s *session) puback(packetID uint16) {
	s.mu.Lock()
	d := s.del
	s.mu.Unlock()
	if d != nil {
		d.acked(packetID)
	}
}

// end is called once, from OnDisconnect on the client's read goroutine.
func (s *session) end() {
	close(s.acks)
	s.unsubscribed()
}
