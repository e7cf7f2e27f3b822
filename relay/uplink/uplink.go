package uplink

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/config"
	"github.com/cairnmesh/cairn/relay/internal/atomicfile"
	"github.com/cairnmesh/cairn/relay/internal/floodlog"
	"github.com/cairnmesh/cairn/relay/store"
)

// Implementation limits and intervals.
const (
	// DefaultStatusInterval is how often each uplink logs its status line.
	DefaultStatusInterval = time.Minute
	// pollInterval bounds how long an envelope owed upstream waits when
	// nothing wakes the uplink (receipts kept for links do not).
	pollInterval = 250 * time.Millisecond
	// maxUnacked bounds arrivals from the broker not yet acknowledged to
	// it. A broker keeps its own in-flight window far below (Mosquitto 20,
	// NATS 1,024 by default); one that sends more is misbehaving and the
	// connection is closed.
	maxUnacked = 4096
	// subscribeChunk is the most filters in one SUBSCRIBE.
	subscribeChunk = 128
	connectTimeout = 15 * time.Second
	keepAlive      = 30 * time.Second
	tagsFlushEvery = time.Second
)

// LinkName is the store link of the i-th configured uplink.
func LinkName(i int) string { return fmt.Sprintf("uplink:%d", i) }

// IngestFunc is the relay's one ingest path: decode, validate, store raw,
// which arrived on link from, then call done exactly once — without
// blocking — when it is durable or refused (store.ErrDuplicate: already
// durable).
type IngestFunc func(raw []byte, from string, done func(codec.ID, error))

// Options configure a Group. Store and Ingest are required when Uplinks is
// not empty; every link LinkName(i) must be in the store's Options.Links.
type Options struct {
	Uplinks        []config.Uplink // validated, defaults filled (config.Parse does both)
	DataDir        string          // relay id and tag sets live here
	Store          *store.Store
	Ingest         IngestFunc
	MaxHops        uint8         // envelopes whose hops would pass this are not published; default 16
	StatusInterval time.Duration // default DefaultStatusInterval
	Logger         *slog.Logger  // default slog.Default()
}

// Group runs the relay's uplinks. With no uplinks configured it does
// nothing. Its methods are safe for concurrent use; the zero value is not
// usable: call New.
type Group struct {
	opts   Options
	log    *slog.Logger
	floods *floodlog.Log // what a broker or its other clients can cause per message: refused arrivals, dropped tags
	fetch  fetchSet      // prekey bundles being fetched upstream (fetch.go)

	upsMu sync.RWMutex // guards tags and ups, which Reconfigure replaces
	tags  *Tags        // nil until there are uplinks
	ups   []*Uplink

	mu         sync.Mutex      // guards ctx, closed and housekeeps; held by Start, Reconfigure and Close
	ctx        context.Context // of the running uplinks; nil before Start
	closed     bool
	housekeeps bool // the housekeep goroutine runs
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	once       sync.Once // guards Start
}

// New prepares the uplinks: relay id, tag sets, TLS files. It connects
// nothing until Start.
func New(opts Options) (*Group, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxHops == 0 {
		opts.MaxHops = 16
	}
	if opts.StatusInterval == 0 {
		opts.StatusInterval = DefaultStatusInterval
	}
	g := &Group{opts: opts, log: opts.Logger, floods: floodlog.New(opts.Logger, 0)}
	if len(opts.Uplinks) == 0 {
		return g, nil
	}
	if err := g.openTags(len(opts.Uplinks)); err != nil {
		return nil, err
	}
	scheds := make(map[string]*resendSchedule)
	for i, c := range opts.Uplinks {
		u, err := g.newUplink(i, c)
		if err != nil {
			return nil, err
		}
		scheds[u.name] = u.resend
		g.ups = append(g.ups, u)
	}
	if err := loadResend(filepath.Join(opts.DataDir, resendFile), scheds); err != nil {
		return nil, err
	}
	return g, nil
}

// openTags loads the tag sets for n uplinks; the relay id must exist too.
func (g *Group) openTags(n int) error {
	if g.opts.Store == nil || g.opts.Ingest == nil {
		return errors.New("uplink: Options.Store and Options.Ingest are required")
	}
	if _, err := RelayID(g.opts.DataDir); err != nil {
		return err
	}
	tags, err := openTags(filepath.Join(g.opts.DataDir, tagsFile), MaxTags, n, g.log, g.floods)
	if err != nil {
		return err
	}
	g.upsMu.Lock()
	g.tags = tags
	g.upsMu.Unlock()
	return nil
}

// newUplink prepares the i-th uplink, configured by c: TLS files, an empty
// resend schedule. It starts nothing.
func (g *Group) newUplink(i int, c config.Uplink) (*Uplink, error) {
	id, err := RelayID(g.opts.DataDir)
	if err != nil {
		return nil, err
	}
	tc, err := tlsConfig(c, fmt.Sprintf("uplink[%d]", i))
	if err != nil {
		return nil, err
	}
	name := LinkName(i)
	return &Uplink{
		g:        g,
		cfg:      c,
		name:     name,
		index:    i,
		clientID: fmt.Sprintf("cairn-%s-%d", id, i),
		tls:      tc,
		topics:   topics{c.Prefix},
		limiter:  newLimiter(c.ReceiveRate),
		resend:   newResendSchedule(c.ResendMin.D(), c.ResendMax.D(), c.ResendCount, MaxResend),
		wake:     make(chan struct{}, 1),
		log:      g.log.With("link", name),
	}, nil
}

// tlsConfig loads an uplink's TLS files; nil for plain schemes.
func tlsConfig(c config.Uplink, key string) (*tls.Config, error) {
	if c.CAFile == "" && c.CertFile == "" && !isTLS(c.URL) {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", key, err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file: no PEM certificate in %s", key, c.CAFile)
		}
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file: %w", key, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func isTLS(url string) bool {
	return len(url) > 6 && (url[:6] == "mqtts:" || url[:4] == "wss:")
}

// Start connects every uplink in the background; each retries until Close.
func (g *Group) Start() {
	g.once.Do(func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.closed {
			return
		}
		g.ctx, g.cancel = context.WithCancel(context.Background())
		ups, tags := g.state()
		for _, u := range ups {
			g.startUplink(u)
		}
		if tags != nil {
			g.startHousekeep()
		}
	})
}

// startUplink runs u until the group closes or u.stop is called. The
// caller holds g.mu, after Start.
func (g *Group) startUplink(u *Uplink) {
	ctx, stop := context.WithCancel(g.ctx)
	u.stop, u.done = stop, make(chan struct{})
	g.wg.Add(1)
	go func() {
		defer close(u.done)
		u.run(ctx)
	}()
}

// startHousekeep starts the housekeep goroutine once. The caller holds
// g.mu, after Start, with tags open.
func (g *Group) startHousekeep() {
	if g.housekeeps {
		return
	}
	g.housekeeps = true
	g.wg.Add(1)
	go g.housekeep(g.ctx)
}

// state returns the uplinks and tag sets now.
func (g *Group) state() ([]*Uplink, *Tags) {
	g.upsMu.RLock()
	defer g.upsMu.RUnlock()
	return g.ups, g.tags
}

// Close disconnects every uplink and waits for them, stops the near set's
// expiry, then saves the tag sets. Envelopes in flight stay owed and are
// published again next time. ServeNear after Close does nothing.
func (g *Group) Close() error {
	g.once.Do(func() {}) // no Start after Close
	g.mu.Lock()
	g.closed = true
	if g.cancel != nil {
		g.cancel()
	}
	g.mu.Unlock()
	g.wg.Wait()
	defer g.floods.Close()
	if _, tags := g.state(); tags != nil {
		tags.stopNear()
		return errors.Join(tags.flush(), g.flushResend(true))
	}
	return nil
}

// flushResend saves the resend schedules if any is behind, or always.
func (g *Group) flushResend(always bool) error {
	ups, _ := g.state()
	dirty := always
	for _, u := range ups {
		dirty = dirty || u.resend.isDirty()
	}
	if !dirty {
		return nil
	}
	var b bytes.Buffer
	for _, u := range ups {
		u.resend.appendTo(&b, u.name)
	}
	if err := atomicfile.Write(filepath.Join(g.opts.DataDir, resendFile), b.Bytes()); err != nil {
		return fmt.Errorf("writing uplink resend schedule: %w", err)
	}
	return nil
}

// Serve records that a local client subscribed to the inbox of tag: from
// now on every uplink subscribes upstream to its inbox and receipts, also
// after a restart (until the tag is dropped at MaxTags).
func (g *Group) Serve(tag codec.Tag) {
	if _, tags := g.state(); tags != nil && tags.add(served, tag) {
		g.log.Debug("uplink tag served", "tag", tag)
	}
}

// Poke tells the uplinks that the store may owe them something new.
func (g *Group) Poke() {
	ups, _ := g.state()
	for _, u := range ups {
		u.poke()
	}
}

// Links returns the store link names of the configured uplinks.
func (g *Group) Links() []string {
	var names []string
	ups, _ := g.state()
	for _, u := range ups {
		names = append(names, u.name)
	}
	return names
}

// housekeep saves the tag sets and logs the status lines.
func (g *Group) housekeep(ctx context.Context) {
	defer g.wg.Done()
	flush := time.NewTicker(tagsFlushEvery)
	defer flush.Stop()
	resend := time.NewTicker(resendFlushEvery)
	defer resend.Stop()
	status := time.NewTicker(g.opts.StatusInterval)
	defer status.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			_, tags := g.state() // never nil here: see startHousekeep
			if err := tags.flush(); err != nil {
				g.log.Error("saving uplink tags", "err", err)
			}
		case <-resend.C:
			if err := g.flushResend(false); err != nil {
				g.log.Error("saving uplink resend schedule", "err", err)
			}
		case <-status.C:
			for _, s := range g.Status() {
				g.log.Info("uplink status", s.logAttrs()...)
			}
		}
	}
}

// Uplink is one upstream broker. Its state changes only in its own
// goroutines; Status reads it safely.
type Uplink struct {
	g        *Group
	cfg      config.Uplink
	name     string // store link
	index    int    // in configuration order
	clientID string
	tls      *tls.Config
	topics   topics
	limiter  *limiter
	resend   *resendSchedule
	wake     chan struct{} // capacity 1: the store may owe something new
	log      *slog.Logger
	stop     context.CancelFunc // ends run; set by startUplink
	done     chan struct{}      // closed when run has returned

	connected     atomic.Bool
	protocol      atomic.Value  // string: MQTT version of the last connection
	fallback      fallback      // protocol "auto" found the broker speaks 3.1.1 only (broker.go)
	published     atomic.Uint64 // envelopes the broker acknowledged, resends included
	resent        atomic.Uint64 // resends the broker acknowledged
	received      atomic.Uint64 // arrivals taken into the store (new or duplicate)
	subscriptions atomic.Int64  // filters subscribed on the current connection

	mu          sync.Mutex // guards lastSuccess, lastErr, lastErrAt
	lastSuccess time.Time
	lastErr     string
	lastErrAt   time.Time
}

func (u *Uplink) poke() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

func (u *Uplink) succeeded() {
	u.mu.Lock()
	u.lastSuccess = time.Now()
	u.mu.Unlock()
}

func (u *Uplink) failed(err error) {
	u.mu.Lock()
	u.lastErr, u.lastErrAt = err.Error(), time.Now()
	u.mu.Unlock()
}

// run connects, serves the connection until it is lost, and retries with
// backoff until ctx ends.
func (u *Uplink) run(ctx context.Context) {
	defer u.g.wg.Done()
	bo := backoff{min: u.cfg.ReconnectMin.D(), max: u.cfg.ReconnectMax.D()}
	for {
		connected, err := u.connect(ctx)
		if ctx.Err() != nil {
			return
		}
		if connected {
			bo.reset()
		}
		wait := bo.next()
		u.failed(err)
		u.log.Warn("uplink down", "url", u.cfg.URL, "err", err, "retry_in", wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}
