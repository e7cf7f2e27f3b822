package relay

import (
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/config"
	"github.com/cairnmesh/cairn/relay/internal/floodlog"
	"github.com/cairnmesh/cairn/relay/localca"
	"github.com/cairnmesh/cairn/relay/mdns"
	"github.com/cairnmesh/cairn/relay/radiolink"
	"github.com/cairnmesh/cairn/relay/store"
	"github.com/cairnmesh/cairn/relay/uplink"
)

// Implementation limits of the broker.
const (
	// maxPacketBytes is the largest MQTT packet read from a client. It is well
	// above codec.MaxEnvelopeBytes so that an oversize envelope reaches the
	// decoder and is refused with a reason code; only packets beyond this are
	// a protocol error that ends the connection.
	maxPacketBytes = 2*codec.MaxEnvelopeBytes + 4<<10
	// maxSessionExpirySeconds bounds how long the broker remembers a
	// disconnected client's subscriptions. Envelopes never depend on it: they
	// live in the store.
	maxSessionExpirySeconds = 3600
	// maxClientWritesPending is mochi's outbound queue per client, in
	// packets; see where it is set in New for why it is small.
	maxClientWritesPending = 64
	// storeFile is the store's name inside the data directory.
	storeFile = "cairn.db"
)

// Options configures a Relay. The zero value runs on config.Default().
type Options struct {
	Config *config.Config       // nil means config.Default()
	Logger *slog.Logger         // nil means slog.Default()
	Now    func() time.Duration // monotonic clock for the store; nil means the real one
	// RadioTuning, if set, adjusts each radio link's options before it
	// starts (tests: beacon interval, seed). nil keeps the defaults.
	RadioTuning func(i int, o *radiolink.Options)
	Version     string // the build's version, shown on /status and in /metrics
	// DiscoveryPort is the UDP port of the mDNS responder; 0 means 5353.
	// Tests use another so as not to meet the host's responder.
	DiscoveryPort int
	// DiscoveryInterfaces are the interfaces the responder joins the mDNS
	// groups on; nil means every multicast interface that is up. Tests
	// give loopback alone, so that nothing leaves the machine.
	DiscoveryInterfaces []net.Interface
	// LogLevel, if set, is the level of Logger, which Reload sets from
	// [log] level.
	LogLevel *slog.LevelVar
	// Web, if set, is the handheld web client, served at / of the HTTP
	// listener with MQTT over WebSocket at /mqtt (web.go) while http.web
	// is on. cmd/cairn passes package web's handler.
	Web http.Handler
}

// Relay is a running relay: broker, store and the sessions between them.
// Its methods are safe for concurrent use.
type Relay struct {
	cfg    *config.Config
	log    *slog.Logger
	floods *floodlog.Log // refused envelopes and connections: a client can cause one per packet
	store  *store.Store
	broker *mqtt.Server
	topics topics
	stats  counters
	radios radios                            // LoRa links, started by Serve
	tune   func(i int, o *radiolink.Options) // Options.RadioTuning
	uplink *uplink.Group

	version  string
	web      http.Handler      // Options.Web
	webMQTT  *httpMQTTListener // /mqtt, when the web client is served
	did      string            // the relay key's did:key (identity.go)
	started  time.Time         // New; uptime counts from here
	serving  atomic.Bool       // from the end of Serve to the start of Close: /readyz
	httpL    net.Listener
	httpSrv  *http.Server    // nil when http.listen is off
	split    *splitListener  // https and plain HTTP on one port, when http.tls is on (https.go)
	plainSrv *http.Server    // plain HTTP beside https: /ca and redirects; nil when http.tls is off
	ca       *localca.CA     // the relay's CA when http.tls is auto
	mdns     *mdns.Responder // discovery; nil when off
	mdnsPort int             // Options.DiscoveryPort
	mdnsIfs  []net.Interface // Options.DiscoveryInterfaces
	// radioViews are the running radios for status readers (radiostatus.go).
	radioViews atomic.Pointer[[]radioView]
	level      *slog.LevelVar // Options.LogLevel
	// reloadMu serializes Reload with Close; Reload holds it while it
	// changes radios and uplinks.
	reloadMu sync.Mutex
	closing  bool // Close has begun; guarded by reloadMu

	mu       sync.Mutex // guards sessions and inboxes
	sessions map[*mqtt.Client]*session
	inboxes  map[codec.Tag]map[*deliverer]struct{} // active deliverers by tag

	wg sync.WaitGroup // ackers and deliverers

	// Connection caps (connlimit.go): mqtt.max_clients over every MQTT
	// listener, http.max_connections on the HTTP listener.
	mqttConns, httpConns *connLimit
	busyReplies          chan struct{} // refusals answering CONNACK, at most busyRepliesMax
}

// New opens the store in the configured data directory, binds the
// configured listeners and returns a relay ready to Serve.
func New(opts Options) (*Relay, error) {
	cfg := opts.Config
	if cfg == nil {
		cfg = config.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	r := &Relay{
		cfg:      cfg,
		log:      log,
		floods:   floodlog.New(log, 0),
		topics:   newTopics(cfg.MQTT.TopicPrefix),
		tune:     opts.RadioTuning,
		sessions: make(map[*mqtt.Client]*session),
		inboxes:  make(map[codec.Tag]map[*deliverer]struct{}),
		version:  opts.Version,
		web:      opts.Web,
		mdnsPort: opts.DiscoveryPort,
		mdnsIfs:  opts.DiscoveryInterfaces,
		level:    opts.LogLevel,
		started:  time.Now(),
	}
	r.stats.init()
	r.mqttConns = newConnLimit("mqtt", "mqtt.max_clients", cfg.MQTT.MaxClients, log.With("component", "mqtt"))
	r.httpConns = newConnLimit("http", "http.max_connections", cfg.HTTP.MaxConnections, log.With("component", "http"))
	r.busyReplies = make(chan struct{}, busyRepliesMax)

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	key, err := loadRelayKey(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	r.did = codec.FormatDIDKey(key.Public().(ed25519.PublicKey))
	so := StoreOptions(cfg)
	so.Now = opts.Now
	so.OnStored = func(it store.Item) {
		r.onStored(it)
		r.uplink.Poke()
	}
	so.Logger = log.With("component", "store")
	st, err := store.Open(so)
	if err != nil {
		return nil, err
	}
	r.store = st
	r.uplink, err = uplink.New(uplink.Options{
		Uplinks: cfg.Uplinks,
		DataDir: cfg.DataDir,
		Store:   st,
		Ingest: func(raw []byte, from string, done func(codec.ID, error)) {
			r.ingest(raw, from, from, done)
		},
		MaxHops: uint8(cfg.Store.MaxHops),
		Logger:  log.With("component", "uplink"),
	})
	if err != nil {
		st.Close()
		return nil, err
	}

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumQos = 1
	caps.MaximumClients = int64(cfg.MQTT.MaxClients) // a backstop: r.mqttConns counts first (connlimit.go)
	caps.ReceiveMaximum = uint16(cfg.MQTT.ReceiveMaximum)
	caps.MaximumPacketSize = maxPacketBytes
	caps.MaximumSessionExpiryInterval = maxSessionExpirySeconds
	caps.RetainAvailable = 0
	caps.WildcardSubAvailable = 0
	caps.SharedSubAvailable = 0
	// mochi queues a client's outbound packets only for publishes it routes
	// itself and for retained messages; the relay refuses every publish in
	// OnPublish and writes deliveries and PUBACKs itself (write.go), and
	// retain is off, so the queue stays empty. Its default of 8,192 pointers
	// (64 KiB a client) becomes resident once Go reuses freed heap: +30–40 MB
	// with 1,000 idle clients (docs/mqtt.md, "Connection limit"). 64 is ample
	// for what could still pass through it; more is dropped and counted.
	caps.MaximumClientWritesPending = maxClientWritesPending
	r.broker = mqtt.New(&mqtt.Options{
		Capabilities: caps,
		Logger:       slog.New(brokerLogHandler{log.Handler()}).With("component", "mqtt"),
	})
	if err := r.broker.AddHook(&hook{r: r}, nil); err != nil {
		st.Close()
		return nil, fmt.Errorf("adding broker hook: %w", err)
	}
	if err := r.addListeners(); err != nil {
		r.broker.Close()
		st.Close()
		return nil, err
	}
	if err := r.bindHTTP(); err != nil {
		r.broker.Close()
		st.Close()
		return nil, err
	}
	return r, nil
}

func (r *Relay) addListeners() error {
	m := r.cfg.MQTT
	if m.Listen != "" {
		if err := r.addListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: m.Listen})); err != nil {
			return fmt.Errorf("listening on %s: %w", m.Listen, err)
		}
	}
	if m.TLSListen != "" {
		cert, err := tls.LoadX509KeyPair(m.CertFile, m.KeyFile)
		if err != nil {
			return fmt.Errorf("loading TLS key pair: %w", err)
		}
		tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if err := r.addListener(listeners.NewTCP(listeners.Config{ID: "tls", Address: m.TLSListen, TLSConfig: tc})); err != nil {
			return fmt.Errorf("listening on %s: %w", m.TLSListen, err)
		}
	}
	if m.WSListen != "" {
		if err := r.addListener(newWSListener("ws", m.WSListen, nil)); err != nil {
			return fmt.Errorf("listening on %s: %w", m.WSListen, err)
		}
	}
	if r.serveWeb() {
		r.webMQTT = newHTTPMQTTListener()
		if err := r.addListener(r.webMQTT); err != nil {
			return fmt.Errorf("adding /mqtt: %w", err)
		}
	}
	return nil
}

// StoreOptions returns the options the relay opens its store with for cfg:
// the file in the data directory, the configured limits, and one link per
// uplink and radio. Tools that open the store without a relay (cairn store
// import) use them too, so that what they store is owed to the same links.
func StoreOptions(cfg *config.Config) store.Options {
	var links []string
	for i := range cfg.Uplinks {
		links = append(links, uplink.LinkName(i))
	}
	links = append(links, radioLinkNames(cfg)...)
	return store.Options{
		Path:             StorePath(cfg),
		MaxTTL:           cfg.Store.MaxTTL.D(),
		MaxHops:          uint8(cfg.Store.MaxHops),
		MaxEnvelopeBytes: int(cfg.Store.MaxEnvelopeBytes),
		MaxTotalBytes:    int64(cfg.Store.MaxTotalBytes),
		MaxTagBytes:      int64(cfg.Store.MaxTagBytes),
		MaxAuthKeys:      cfg.Store.MaxAuthKeys,
		NoGroupCommit:    !cfg.Store.GroupCommit,
		SweepInterval:    cfg.Store.SweepInterval.D(),
		Links:            links,
	}
}

// StorePath is where the relay keeps its store for cfg.
func StorePath(cfg *config.Config) string { return filepath.Join(cfg.DataDir, storeFile) }

// Serve starts accepting clients and returns at once.
func (r *Relay) Serve() error {
	if err := r.broker.Serve(); err != nil {
		return fmt.Errorf("serving MQTT: %w", err)
	}
	if err := r.startRadios(r.tune); err != nil {
		return err
	}
	r.publishRadios()
	r.uplink.Start()
	r.serveHTTP()
	r.startDiscovery()
	r.serving.Store(true)
	r.log.Info("relay serving", "data", r.cfg.DataDir, "listeners", r.Addrs(), "http", r.HTTPAddr(), "uplinks", len(r.cfg.Uplinks))
	return nil
}

// Addrs returns the bound address of each listener by id ("tcp", "tls",
// "ws"). With a configured port of 0 it shows the port the OS chose.
func (r *Relay) Addrs() map[string]string {
	out := make(map[string]string)
	for _, id := range []string{"tcp", "tls", "ws"} {
		if l, ok := r.broker.Listeners.Get(id); ok {
			out[id] = l.Address()
		}
	}
	return out
}

// Close drains the relay: listeners and clients close, every envelope
// already received finishes becoming durable (and is acknowledged if its
// client is still there), then the store closes cleanly.
func (r *Relay) Close() error {
	r.reloadMu.Lock()
	r.closing = true
	r.reloadMu.Unlock()
	r.serving.Store(false)
	r.stopDiscovery()
	r.closeHTTP()                           // first: its handlers read the radios and the store
	if err := r.closeRadios(); err != nil { // first: links ingest into the store
		r.log.Warn("closing radios", "err", err)
	}
	uerr := r.uplink.Close()
	err := r.broker.Close() // returns after every client's OnDisconnect
	r.wg.Wait()
	r.floods.Close()
	return errors.Join(uerr, err, r.store.Close())
}

// Store returns the relay's store, for status and tests.
func (r *Relay) Store() *store.Store { return r.store }

// Stats returns a snapshot of the relay's counters.
func (r *Relay) Stats() Stats { return r.stats.snapshot() }

// Uplinks returns the state of each configured uplink (none if there are
// none), for status.
func (r *Relay) Uplinks() []uplink.Status { return r.uplink.Status() }
