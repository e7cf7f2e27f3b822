package uplink

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"
	paho5 "github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session"
	"github.com/eclipse/paho.golang/paho/session/state"
	"github.com/gorilla/websocket"
)

// client5 is a connection in MQTT 5 (eclipse/paho.golang). Every publish
// carries a message expiry interval: the envelope's remaining ttl, so a
// broker drops what waits for an offline relay beyond its life.
//
// paho.golang's Publish blocks until the PUBACK. To keep max_inflight
// publishes in flight and in order, client5 sends with PublishMethod_AsyncSend
// from one goroutine at a time (mu), and learns of each PUBACK through its
// session state (hook), which paho hands every publish's response channel.
type client5 struct {
	c     *paho5.Client
	state *state.State // in memory, per connection: the store is the queue
	conn  net.Conn
	ctx   context.Context

	mu   sync.Mutex // serializes publishes; guards next
	next *token5    // the token of the publish being handed to paho
}

// hook is the session state with each publish's response routed to its
// token.
type hook struct {
	*state.State
	c *client5
}

func (h hook) AddToSession(ctx context.Context, p session.Packet, resp chan<- packets.ControlPacket) error {
	if _, ok := p.(*packets.Publish); !ok {
		return h.State.AddToSession(ctx, p, resp)
	}
	tok := h.c.next // set by publish, which holds h.c.mu
	mine := make(chan packets.ControlPacket, 1)
	if err := h.State.AddToSession(ctx, p, mine); err != nil {
		return err
	}
	// The state answers every stored publish: its PUBACK, or an empty
	// packet when it is closed (disconnect closes it).
	go func() {
		r := <-mine
		tok.finish(r)
		select {
		case resp <- r:
		default:
		}
	}()
	return nil
}

// dial5 connects in MQTT 5 with clean start off and a session that never
// expires, so the broker keeps subscriptions and arrivals as with 3.1.1.
func dial5(ctx context.Context, u *Uplink, onMessage func(message), lost func(error)) (broker, bool, error) {
	conn, err := dialNet(ctx, u)
	if err != nil {
		return nil, false, err
	}
	cl := &client5{state: state.NewInMemory(), conn: conn, ctx: ctx}
	conn = newPacketConn(conn)
	var lostOnce sync.Once
	cl.c = paho5.NewClient(paho5.ClientConfig{
		ClientID:                   u.clientID,
		Conn:                       conn,
		Session:                    hook{cl.state, cl},
		EnableManualAcknowledgment: true,
		PacketTimeout:              u.cfg.AckTimeout.D(), // a publish's wait for a slot under the broker's Receive Maximum; a SUBSCRIBE's for its SUBACK
		OnPublishReceived: []func(paho5.PublishReceived) (bool, error){
			func(pr paho5.PublishReceived) (bool, error) {
				onMessage(message5{pr.Packet, cl.c})
				return true, nil
			},
		},
		OnClientError: func(err error) { lostOnce.Do(func() { lost(err) }) },
		OnServerDisconnect: func(d *paho5.Disconnect) {
			lostOnce.Do(func() { lost(fmt.Errorf("broker disconnected: reason %#x", d.ReasonCode)) })
		},
	})
	expiry := uint32(math.MaxUint32) // the session never expires
	recv := uint16(maxUnacked)       // so the broker never sends more unacknowledged
	cp := &paho5.Connect{
		KeepAlive:  uint16(keepAlive / time.Second),
		ClientID:   u.clientID,
		CleanStart: false,
		Properties: &paho5.ConnectProperties{SessionExpiryInterval: &expiry, ReceiveMaximum: &recv},
	}
	if u.cfg.Username != "" {
		cp.UsernameFlag, cp.Username = true, u.cfg.Username
	}
	if u.cfg.Password != "" {
		cp.PasswordFlag, cp.Password = true, []byte(u.cfg.Password)
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	ca, err := cl.c.Connect(cctx, cp)
	if err != nil {
		conn.Close()
		cl.state.Close()
		if ctx.Err() != nil {
			return nil, false, context.Cause(ctx)
		}
		switch {
		case ca == nil: // no CONNACK, or one that is not MQTT 5
			return nil, false, fmt.Errorf("%w: %w", errNotMQTT5, err)
		case ca.ReasonCode == 0x84: // unsupported protocol version
			return nil, false, fmt.Errorf("%w: reason %#x", errNotMQTT5, ca.ReasonCode)
		}
		return nil, false, fmt.Errorf("refused: reason %#x: %w", ca.ReasonCode, err)
	}
	return cl, ca.SessionPresent, nil
}

// dialNet opens the network connection for an mqtt, mqtts, ws or wss url.
func dialNet(ctx context.Context, u *Uplink) (net.Conn, error) {
	p, err := url.Parse(u.cfg.URL)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	switch p.Scheme {
	case "mqtt":
		var d net.Dialer
		return d.DialContext(ctx, "tcp", p.Host)
	case "mqtts":
		d := tls.Dialer{Config: u.tls}
		return d.DialContext(ctx, "tcp", p.Host)
	}
	d := websocket.Dialer{TLSClientConfig: u.tls, Subprotocols: []string{"mqtt"}, HandshakeTimeout: connectTimeout}
	ws, resp, err := d.DialContext(ctx, u.cfg.URL, http.Header{})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	return &wsConn{Conn: ws}, nil
}

func (c *client5) protocol() string { return protocol5 }

func (c *client5) publish(topic string, retain bool, payload []byte, ttlSeconds uint32) token {
	tok := &token5{done: make(chan struct{})}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next = tok
	_, err := c.c.PublishWithOptions(c.ctx, &paho5.Publish{
		QoS: 1, Topic: topic, Retain: retain, Payload: payload,
		Properties: &paho5.PublishProperties{MessageExpiry: &ttlSeconds},
	}, paho5.PublishOptions{Method: paho5.PublishMethod_AsyncSend})
	c.next = nil
	if err != nil && !errors.Is(err, paho5.ErrNetworkErrorAfterStored) { // stored: the state answers it
		tok.fail(err)
	}
	return tok
}

func (c *client5) subscribe(ctx context.Context, filters []string) (map[string]int, error) {
	s := &paho5.Subscribe{}
	for _, f := range filters {
		s.Subscriptions = append(s.Subscriptions, paho5.SubscribeOptions{Topic: f, QoS: 1})
	}
	sa, err := c.c.Subscribe(ctx, s)
	if sa == nil {
		return nil, err
	}
	refused := make(map[string]int)
	for i, code := range sa.Reasons {
		if code >= 0x80 && i < len(filters) {
			refused[filters[i]] = int(code)
		}
	}
	return refused, nil
}

func (c *client5) unsubscribe(ctx context.Context, filters []string) error {
	_, err := c.c.Unsubscribe(ctx, &paho5.Unsubscribe{Topics: filters})
	return err
}

func (c *client5) disconnect(quiesce time.Duration) {
	if quiesce > 0 {
		c.c.Disconnect(&paho5.Disconnect{ReasonCode: 0}) // normal: the session stays
	}
	c.conn.Close()
	t := time.NewTimer(connectTimeout)
	defer t.Stop()
	select {
	case <-c.c.Done():
	case <-t.C:
	}
	c.state.Close() // answers every publish still awaiting its PUBACK
}

// token5 completes at a publish's PUBACK.
type token5 struct {
	once sync.Once
	done chan struct{}
	err  error
}

func (t *token5) Done() <-chan struct{} { return t.done }
func (t *token5) Error() error          { <-t.done; return t.err }

func (t *token5) fail(err error) {
	t.once.Do(func() { t.err = err; close(t.done) })
}

func (t *token5) finish(r packets.ControlPacket) {
	var err error
	switch {
	case r.Type == 0:
		err = errors.New("connection ended before the PUBACK")
	case r.Type != packets.PUBACK:
		err = fmt.Errorf("packet type %d instead of PUBACK", r.Type)
	default:
		// 0x10, no matching subscribers, is a success.
		if code := r.Content.(*packets.Puback).ReasonCode; code >= 0x80 {
			err = fmt.Errorf("publish refused: reason %#x", code)
		}
	}
	t.once.Do(func() { t.err = err; close(t.done) })
}

// message5 is a publish from an MQTT 5 broker.
type message5 struct {
	p *paho5.Publish
	c *paho5.Client
}

func (m message5) Topic() string   { return m.p.Topic }
func (m message5) Payload() []byte { return m.p.Payload }
func (m message5) Ack()            { m.c.Ack(m.p) }

// packetConn is the connection as paho.golang uses it. paho writes each
// packet as several Writes (net.Buffers), from several goroutines at once
// (publishes, the ack tracker's PUBACKs, pings), and holds the
// connection's lock around each packet only when the connection is a
// sync.Locker: without one, a PUBACK could land inside a PUBLISH and the
// broker read both as garbage. packetConn is one. Lock begins a packet,
// Writes gather it, Unlock sends it in one write: one segment over TCP, one
// message over WebSocket. Reads go through a buffer: paho reads each
// packet's header and body with separate small reads.
//
// Every write is inside Lock: paho writes only through
// packets.ControlPacket.WriteTo, which takes it. A failed send closes the
// connection, so paho's reader ends it; the packet's writer has already
// been told it was written, which is what a socket's kernel buffer tells
// it too.
type packetConn struct {
	net.Conn
	r *bufio.Reader

	mu  sync.Mutex // held while one packet is written; guards buf and err
	buf []byte     // the packet being written
	err error      // the first failed send; every later Write returns it
}

func newPacketConn(c net.Conn) *packetConn {
	return &packetConn{Conn: c, r: bufio.NewReaderSize(c, 16<<10)}
}

func (c *packetConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *packetConn) Lock() { c.mu.Lock(); c.buf = c.buf[:0] }

func (c *packetConn) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *packetConn) Unlock() {
	if c.err == nil && len(c.buf) > 0 {
		if _, err := c.Conn.Write(c.buf); err != nil {
			c.err = err
			c.Conn.Close()
		}
	}
	if cap(c.buf) > 64<<10 { // a large bundle: do not keep its buffer
		c.buf = nil
	}
	c.mu.Unlock()
}

// wsConn is a WebSocket connection as a net.Conn carrying MQTT in binary
// messages. Its one writer at a time (gorilla/websocket's rule) is
// packetConn's: each Write is a whole packet, sent under its lock.
type wsConn struct {
	*websocket.Conn
	rmu sync.Mutex // guards r
	r   io.Reader  // the message being read
}

func (c *wsConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if c.r == nil {
			_, r, err := c.NextReader()
			if err != nil {
				return 0, err
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}
