package relay

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Connection caps (docs/operations.md, "Connection limits"). Every
// connection holds a slot of one cap from the moment it is accepted:
//
//   - mqtt.max_clients counts every open MQTT connection, whatever the
//     listener (tcp, tls, ws, /mqtt on the HTTP listener), whether it has
//     sent CONNECT yet or not. One more is answered CONNACK "server busy"
//     (MQTT 5 0x89, 3.1.1 0x03) and closed.
//   - http.max_connections counts the HTTP listener's connections, those
//     still being sniffed for TLS included. One more is closed at once.
//     A /mqtt upgrade gives its HTTP slot back and takes an MQTT one.
//
// Either way the refusal is counted (cairn_*_connections_refused_total) and
// logged at most once per refusedLogInterval.
//
// mochi's own Capabilities.MaximumClients is kept at the same number but is
// no use alone: it counts only clients that have authenticated, checks
// before it counts (so a burst of CONNECTs passes it together), and says
// nothing of connections that never send CONNECT.
const (
	// refusedLogInterval is the least time between two log lines about
	// refused connections of one cap; the line says how many were refused.
	refusedLogInterval = time.Minute
	// busyRepliesMax bounds the connections over max_clients that are
	// being answered CONNACK at once; beyond it they are closed unanswered.
	busyRepliesMax = 32
	// busyReplyTimeout bounds reading the CONNECT of a connection over
	// max_clients and writing its CONNACK.
	busyReplyTimeout = 2 * time.Second
	// busyConnectMaxBytes is the largest CONNECT read to answer it busy;
	// a larger one is closed unanswered. Ours are a few hundred bytes.
	busyConnectMaxBytes = 4 << 10
)

// connLimit counts open connections against a maximum. Safe for concurrent
// use; the zero value is not (use newConnLimit).
type connLimit struct {
	name    string // what is counted, for the log: "mqtt", "http"
	key     string // the config key of max
	max     int64
	open    atomic.Int64
	refused atomic.Uint64
	log     *slog.Logger

	mu      sync.Mutex // guards nextLog and unlogged
	nextLog time.Time
	// unlogged counts refusals since the last log line.
	unlogged uint64
}

func newConnLimit(name, key string, max int, log *slog.Logger) *connLimit {
	return &connLimit{name: name, key: key, max: int64(max), log: log}
}

// acquire takes a slot, or counts a refusal and reports false.
func (l *connLimit) acquire() bool {
	if l.open.Add(1) <= l.max {
		return true
	}
	l.open.Add(-1)
	l.refused.Add(1)
	l.mu.Lock()
	l.unlogged++
	now := time.Now()
	if now.Before(l.nextLog) {
		l.mu.Unlock()
		return false
	}
	n := l.unlogged
	l.unlogged, l.nextLog = 0, now.Add(refusedLogInterval)
	l.mu.Unlock()
	l.log.Warn("connections refused: limit reached", "listener", l.name, "limit", l.key, "max", l.max,
		"refused", n, "next_log_in", refusedLogInterval)
	return false
}

func (l *connLimit) release() { l.open.Add(-1) }

// cappedListener is a broker listener whose connections each hold a slot
// of lim while the broker has them.
type cappedListener struct {
	listeners.Listener
	lim  *connLimit
	busy chan struct{} // semaphore of busyRepliesMax refusals answering
}

func capListener(l listeners.Listener, lim *connLimit, busy chan struct{}) listeners.Listener {
	return &cappedListener{Listener: l, lim: lim, busy: busy}
}

func (l *cappedListener) Serve(establish listeners.EstablishFn) {
	l.Listener.Serve(func(id string, c net.Conn) error {
		if !l.lim.acquire() {
			l.refuse(c)
			return nil // counted and logged; not mochi's "connection ended"
		}
		defer l.lim.release()
		return establish(id, c)
	})
}

// refuse answers c's CONNECT with "server busy" and closes it, or closes
// it at once when busyRepliesMax others are being answered.
func (l *cappedListener) refuse(c net.Conn) {
	defer c.Close()
	select {
	case l.busy <- struct{}{}:
		defer func() { <-l.busy }()
	default:
		return
	}
	deadline := time.Now().Add(busyReplyTimeout)
	c.SetReadDeadline(deadline)
	c.SetWriteDeadline(deadline)
	if ack := busyConnack(bufio.NewReaderSize(c, 256)); ack != nil {
		c.Write(ack)
	}
}

// busyConnack reads a CONNECT packet whole from r (so that closing after
// the answer sends FIN, not a reset that could overtake it) and returns the
// CONNACK refusing it as busy in its protocol version, or nil for anything
// that is not a CONNECT of at most busyConnectMaxBytes.
func busyConnack(r *bufio.Reader) []byte {
	first, err := r.ReadByte()
	if err != nil || first>>4 != packets.Connect {
		return nil
	}
	n, _, err := packets.DecodeLength(r)
	if err != nil || n > busyConnectMaxBytes {
		return nil
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil
	}
	// Protocol name (two-byte length, "MQTT" or "MQIsdp"), then the level.
	if len(body) < 2 {
		return nil
	}
	at := 2 + (int(body[0])<<8 | int(body[1]))
	if len(body) <= at {
		return nil
	}
	ack := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connack},
		ProtocolVersion: body[at],
		ReasonCode:      packets.Err3ServerUnavailable.Code,
	}
	if ack.ProtocolVersion == 5 {
		ack.ReasonCode = packets.ErrServerBusy.Code
		ack.Properties.ReasonString = "server busy: mqtt.max_clients connections open"
	}
	var buf bytes.Buffer
	if err := ack.ConnackEncode(&buf); err != nil {
		return nil
	}
	return buf.Bytes()
}

// limitListener hands out the connections of a net.Listener while lim has
// a slot for them, and closes the others at once.
type limitListener struct {
	net.Listener
	lim *connLimit
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if !l.lim.acquire() {
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, lim: l.lim}, nil
	}
}

// limitedConn gives its slot back when closed or hijacked.
type limitedConn struct {
	net.Conn
	lim  *connLimit
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.releaseSlot()
	return err
}

func (c *limitedConn) releaseSlot() { c.once.Do(c.lim.release) }

// releaseHijacked is an http.Server's ConnState: a hijacked connection (a
// WebSocket upgrade) leaves the HTTP cap; /mqtt's then counts as MQTT.
func releaseHijacked(c net.Conn, state http.ConnState) {
	if state != http.StateHijacked {
		return
	}
	for {
		switch v := c.(type) {
		case *limitedConn:
			v.releaseSlot()
			return
		case *tls.Conn:
			c = v.NetConn()
		case *prefixConn:
			c = v.Conn
		default:
			return
		}
	}
}
