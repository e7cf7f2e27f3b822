package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Implementation limits of the WebSocket listener.
const (
	wsHandshakeTimeout = 10 * time.Second // to upgrade an HTTP request
	wsShutdownTimeout  = 5 * time.Second  // for the HTTP server to let go
	// wsMaxHandshakes bounds the listener's connections not yet upgraded;
	// more are closed at once. An upgrade takes one round trip, so this
	// many at once is far above what handhelds need. Once upgraded, a
	// connection counts against mqtt.max_clients instead (connlimit.go).
	wsMaxHandshakes = 64
)

// wsListener serves MQTT over WebSocket (subprotocol "mqtt", binary
// messages) on an HTTP server of its own. Unlike mochi's listener it binds in
// Init, so a busy port fails start-up instead of a log line later, and
// Address reports the port the OS chose.
//
// Any Origin is accepted: a browser page from anywhere may connect, which is
// safe because MQTT over WebSocket carries no ambient credentials (no
// cookies); every client proves its identity with its own token.
type wsListener struct {
	id, address string
	tlsConfig   *tls.Config

	ln  net.Listener
	srv *http.Server
	log *slog.Logger
}

func newWSListener(id, address string, tlsConfig *tls.Config) *wsListener {
	return &wsListener{id: id, address: address, tlsConfig: tlsConfig}
}

func (l *wsListener) ID() string { return l.id }

func (l *wsListener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.address
}

func (l *wsListener) Protocol() string {
	if l.tlsConfig != nil {
		return "wss"
	}
	return "ws"
}

func (l *wsListener) Init(log *slog.Logger) error {
	ln, err := net.Listen("tcp", l.address)
	if err != nil {
		return err
	}
	ln = &limitListener{Listener: ln, lim: newConnLimit(l.id, "websocket handshakes (built in)", wsMaxHandshakes, log)}
	if l.tlsConfig != nil {
		ln = tls.NewListener(ln, l.tlsConfig)
	}
	l.ln, l.log = ln, log
	return nil
}

func (l *wsListener) Serve(establish listeners.EstablishFn) {
	up := websocket.Upgrader{
		HandshakeTimeout: wsHandshakeTimeout,
		Subprotocols:     []string{"mqtt"},
		CheckOrigin:      func(*http.Request) bool { return true },
	}
	l.srv = &http.Server{
		ReadHeaderTimeout: wsHandshakeTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ConnState:         releaseHijacked,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return // the upgrader has answered with an HTTP error
			}
			c.SetReadLimit(maxPacketBytes + 16)
			if err := establish(l.id, &wsConn{Conn: c.NetConn(), ws: c}); err != nil {
				l.log.Debug("connection ended", "remote", r.RemoteAddr, "error", err)
			}
		}),
	}
	if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.log.Error("websocket listener stopped", "error", err)
	}
}

func (l *wsListener) Close(closeClients listeners.CloseFn) {
	if l.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), wsShutdownTimeout)
		defer cancel()
		l.srv.Shutdown(ctx) // hijacked connections are not waited for
	} else if l.ln != nil {
		l.ln.Close()
	}
	closeClients(l.id)
}

// wsConn presents a WebSocket as the byte stream MQTT expects: each binary
// message is read through in turn, and each Write is one message.
type wsConn struct {
	net.Conn // the underlying connection, for addresses, deadlines and Close
	ws       *websocket.Conn
	msg      io.Reader // the message being read; nil between messages
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.msg == nil {
			kind, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if kind != websocket.BinaryMessage {
				return 0, fmt.Errorf("websocket: MQTT needs binary messages, got type %d", kind)
			}
			c.msg = r
		}
		n, err := c.msg.Read(p)
		if errors.Is(err, io.EOF) {
			c.msg, err = nil, nil
			if n == 0 {
				continue // an empty message, or the end of one: read the next
			}
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// SetWriteDeadline sets the deadline of the writes that follow: gorilla
// sets the connection's own from it on every write, so a deadline set on
// the connection itself would be overwritten.
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }
