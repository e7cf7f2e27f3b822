package relay

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// The handheld web client (docs/web.md) on the operator's HTTP listener,
// when Options.Web is set and http.web is on:
//
//	/             the app (Options.Web: package web, given by cmd/cairn, so
//	              that the relay does not import the client's assets)
//	/mqtt         MQTT over WebSocket into the broker, same origin as the
//	              app, so a phone needs only the one address
//	/status.json  what the app shows of the relay: its key, radio and
//	              internet links (also served without the app)

// httpMQTTListener is a broker listener whose connections arrive as
// WebSocket upgrades on the HTTP listener's /mqtt. It binds nothing itself.
type httpMQTTListener struct {
	mu        sync.Mutex // guards establish and closed
	establish listeners.EstablishFn
	closed    bool
	done      chan struct{} // closed by Close, ends Serve
}

func newHTTPMQTTListener() *httpMQTTListener { return &httpMQTTListener{done: make(chan struct{})} }

func (l *httpMQTTListener) ID() string              { return "http-ws" }
func (l *httpMQTTListener) Address() string         { return "/mqtt" }
func (l *httpMQTTListener) Protocol() string        { return "ws" }
func (l *httpMQTTListener) Init(*slog.Logger) error { return nil }

func (l *httpMQTTListener) Serve(establish listeners.EstablishFn) {
	l.mu.Lock()
	l.establish = establish
	l.mu.Unlock()
	<-l.done
}

func (l *httpMQTTListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.done)
	}
	l.establish = nil
	l.mu.Unlock()
	closeClients(l.ID())
}

var httpMQTTUpgrader = websocket.Upgrader{
	HandshakeTimeout: wsHandshakeTimeout,
	Subprotocols:     []string{"mqtt"},
	// Any Origin, as on the WebSocket listener (websocket.go): MQTT
	// carries no ambient credentials.
	CheckOrigin: func(*http.Request) bool { return true },
}

// ServeHTTP upgrades a request to a WebSocket and hands it to the broker;
// 503 until the broker serves the listener and after it stops.
func (l *httpMQTTListener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	establish := l.establish
	l.mu.Unlock()
	if establish == nil {
		http.Error(w, "broker not serving", http.StatusServiceUnavailable)
		return
	}
	c, err := httpMQTTUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered with an HTTP error
	}
	c.SetReadLimit(maxPacketBytes + 16)
	establish(l.ID(), &wsConn{Conn: c.NetConn(), ws: c})
}

// webStatus is /status.json: what the web client shows of the relay it is
// on. Counts and link names only, as on /status.
type webStatus struct {
	Version string      `json:"version"`
	DID     string      `json:"did"`
	Ready   bool        `json:"ready"`
	Radios  []webRadio  `json:"radios"`
	Uplinks []webUplink `json:"uplinks"`
}

type webRadio struct {
	Link       string `json:"link"`
	State      string `json:"state"` // ready, detecting, lost, …
	Neighbours int    `json:"neighbours"`
}

type webUplink struct {
	Link      string `json:"link"`
	Connected bool   `json:"connected"`
}

func (r *Relay) serveStatusJSON(w http.ResponseWriter, _ *http.Request) {
	s := webStatus{Version: r.version, DID: r.DID(), Ready: r.Ready() == nil, Radios: []webRadio{}, Uplinks: []webUplink{}}
	for _, rs := range r.RadioStatus() {
		s.Radios = append(s.Radios, webRadio{Link: rs.Link, State: rs.State, Neighbours: rs.Neighbours})
	}
	for _, us := range r.Uplinks() {
		s.Uplinks = append(s.Uplinks, webUplink{Link: us.Link, Connected: us.Connected})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(s)
}

// serveWeb reports whether the web client is served: one given, the HTTP
// listener on and http.web set.
func (r *Relay) serveWeb() bool {
	return r.web != nil && r.cfg.HTTP.Listen != "" && r.cfg.HTTP.Web
}
