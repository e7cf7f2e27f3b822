package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/cairnmesh/cairn/codec"
)

// Config is one load-generator run. Zero fields take the defaults noted.
type Config struct {
	Addr        string        // broker host:port; "" means 127.0.0.1:1883
	Cairn       bool          // the broker is a Cairn relay (see the package doc)
	Prefix      string        // topic prefix; "" means cairn/v1
	Publishers  int           // 0 means 1
	Subscribers int           // 0 means 1
	Size        int           // encoded envelope bytes; 0 means 256
	QoS         byte          // of publishes and subscriptions: 0 or 1
	Rate        float64       // messages per second over all publishers; 0 means closed loop
	Inflight    int           // closed loop: publishes awaiting PUBACK per publisher; 0 means 64
	Duration    time.Duration // how long to publish; 0 means 10 s (ignored when Count > 0)
	Count       int           // publish this many in all instead of for Duration
	Late        bool          // backlog: subscribers connect only after every publish is acknowledged
	Drain       time.Duration // wait at most this long for deliveries after publishing; 0 means 30 s
	PID         int           // broker process to watch for resident memory and CPU time; 0 means none
	ClientID    string        // prefix of client ids; "" means a random one
	Progress    io.Writer     // a progress line each second; nil means none
}

func (c *Config) fill() error {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Publishers, 1)
	def(&c.Subscribers, 1)
	def(&c.Size, 256)
	def(&c.Inflight, 64)
	if c.Addr == "" {
		c.Addr = "127.0.0.1:1883"
	}
	if c.Prefix == "" {
		c.Prefix = "cairn/v1"
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Drain == 0 {
		c.Drain = 30 * time.Second
	}
	if c.ClientID == "" {
		var b [4]byte
		rand.Read(b[:])
		c.ClientID = fmt.Sprintf("bench-%x", b)
	}
	min := envelopeOverhead + bodyHeader
	switch {
	case c.Publishers < 0 || c.Subscribers < 0 || c.Inflight < 0 || c.Count < 0:
		return errors.New("publishers, subscribers, inflight and count must not be negative")
	case c.QoS > 1:
		return fmt.Errorf("qos %d: only 0 and 1", c.QoS)
	case c.Size < min || c.Size > codec.MaxEnvelopeBytes:
		return fmt.Errorf("size %d: envelopes of this benchmark are %d to %d bytes", c.Size, min, codec.MaxEnvelopeBytes)
	case c.Rate < 0:
		return errors.New("rate must not be negative")
	case c.Late && c.QoS == 0:
		return errors.New("late subscribers need qos 1: a broker queues nothing at qos 0 for a session that is away")
	}
	return nil
}

// Result is what one run measured. Durations are in the JSON as
// milliseconds.
type Result struct {
	Config    ResultConfig `json:"config"`
	Sent      uint64       `json:"sent"`      // publishes handed to the client library
	Acked     uint64       `json:"acked"`     // QoS 1 publishes whose PUBACK arrived (QoS 0: = sent)
	Delivered uint64       `json:"delivered"` // distinct envelopes received by their subscriber
	Repeats   uint64       `json:"repeats"`   // envelopes received again (counted once above)
	Lost      uint64       `json:"lost"`      // acknowledged but not delivered when the run ended

	PublishSeconds float64 `json:"publish_seconds"` // from the first publish to the last PUBACK
	DeliverSeconds float64 `json:"deliver_seconds"` // from the first publish (late: from subscribers connecting) to the last delivery
	PublishRate    float64 `json:"publish_rate"`    // acknowledged publishes per second
	Throughput     float64 `json:"throughput"`      // delivered envelopes per second

	Latency Latency `json:"latency"` // end to end, publish to delivery (late: includes the wait)

	BrokerRSS  int64 `json:"broker_rss_bytes,omitempty"`  // largest VmRSS sampled during the run
	BrokerPeak int64 `json:"broker_peak_bytes,omitempty"` // VmHWM at the end: peak over the broker's life
	// BrokerCPU is the CPU time, user and system, the broker used from the
	// first publish to the end of the wait for deliveries.
	BrokerCPU time.Duration `json:"broker_cpu_ns,omitempty"`
}

// BrokerCPUPerDelivery is BrokerCPU divided by the envelopes delivered, or 0.
func (r *Result) BrokerCPUPerDelivery() time.Duration {
	if r.Delivered == 0 {
		return 0
	}
	return r.BrokerCPU / time.Duration(r.Delivered)
}

// ResultConfig repeats the run's parameters in a Result.
type ResultConfig struct {
	Cairn       bool    `json:"cairn"`
	Publishers  int     `json:"publishers"`
	Subscribers int     `json:"subscribers"`
	Size        int     `json:"size"`
	QoS         byte    `json:"qos"`
	Rate        float64 `json:"rate"`
	Inflight    int     `json:"inflight"`
	Seconds     float64 `json:"seconds"`
	Count       int     `json:"count"`
	Late        bool    `json:"late"`
}

// Latency summarises a Histogram in milliseconds.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

func summarize(h *Histogram) Latency {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return Latency{P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)), P99: ms(h.Quantile(0.99)), Max: ms(h.Max()), Mean: ms(h.Mean())}
}

// String is the human summary `cairn bench` prints.
func (r *Result) String() string {
	var b strings.Builder
	c := r.Config
	mode := "closed loop"
	if c.Rate > 0 {
		mode = fmt.Sprintf("open loop %.0f msg/s", c.Rate)
	}
	if c.Late {
		mode += ", late subscribers"
	}
	fmt.Fprintf(&b, "%d→%d, %d-byte envelopes, QoS %d, %s\n", c.Publishers, c.Subscribers, c.Size, c.QoS, mode)
	fmt.Fprintf(&b, "published  %d (%d acknowledged) in %.2fs: %.0f msg/s\n", r.Sent, r.Acked, r.PublishSeconds, r.PublishRate)
	fmt.Fprintf(&b, "delivered  %d in %.2fs: %.0f msg/s (%d repeats, %d lost)\n", r.Delivered, r.DeliverSeconds, r.Throughput, r.Repeats, r.Lost)
	l := r.Latency
	fmt.Fprintf(&b, "latency    p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms  mean %.2f ms\n", l.P50, l.P90, l.P99, l.Max, l.Mean)
	if r.BrokerPeak > 0 || r.BrokerRSS > 0 {
		fmt.Fprintf(&b, "broker     resident %.1f MiB at most during the run, peak %.1f MiB over its life\n",
			float64(r.BrokerRSS)/(1<<20), float64(r.BrokerPeak)/(1<<20))
	}
	if r.BrokerCPU > 0 {
		fmt.Fprintf(&b, "broker     CPU %.2f s: %.1f µs per delivered envelope\n",
			r.BrokerCPU.Seconds(), float64(r.BrokerCPUPerDelivery())/float64(time.Microsecond))
	}
	return b.String()
}

// Body layout: the send time in nanoseconds since the run began (monotonic),
// the publisher and its sequence number, then padding to the size asked.
const bodyHeader = 16

// envelopeOverhead is the encoded size of an envelope beyond its body, for
// the ttl, kind and priority this benchmark uses, with a body of at least 24
// bytes (one-byte length header). sizes() corrects for longer length headers.
var envelopeOverhead = len((&codec.Envelope{Kind: codec.KindMessage, TTL: ttlSeconds, Prio: codec.PrioNormal, Body: make([]byte, 24)}).Encode()) - 24

const ttlSeconds = 3600

// bodySize returns the body length whose envelope encodes to size bytes, or
// as close below as CBOR length headers allow.
func bodySize(size int) int {
	n := size - envelopeOverhead
	for n > bodyHeader && len((&codec.Envelope{Kind: codec.KindMessage, TTL: ttlSeconds, Prio: codec.PrioNormal, Body: make([]byte, n)}).Encode()) > size {
		n--
	}
	return max(n, bodyHeader)
}

// Run runs one benchmark and returns what it measured. It returns an error
// only if it could not run (a client could not connect or subscribe); lost
// envelopes are a result, not an error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, body: bodySize(cfg.Size), epoch: time.Now()}
	return r.run(ctx)
}

type run struct {
	cfg   Config
	body  int       // body bytes per envelope
	epoch time.Time // send times are nanoseconds since epoch, on the monotonic clock

	subs []*subscriber

	sent, acked atomic.Uint64
	lastAck     atomic.Int64 // ns since epoch
}

type subscriber struct {
	r      *run
	id     ed25519.PrivateKey
	tag    codec.Tag
	did    string
	topic  string
	client paho.Client
	cid    string

	mu        sync.Mutex          // guards the fields below; taken by paho's callback
	seen      map[uint32][]uint64 // per publisher: bitset of sequence numbers
	delivered uint64
	repeats   uint64
	last      int64 // ns since epoch of the latest new delivery
	hist      Histogram
	bad       uint64 // payloads that did not decode
}

func (r *run) since() int64 { return int64(time.Since(r.epoch)) }

func (r *run) run(ctx context.Context) (*Result, error) {
	cfg := r.cfg
	for i := range cfg.Subscribers {
		pub, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		tag := codec.TagOf(pub)
		r.subs = append(r.subs, &subscriber{
			r: r, id: key, tag: tag, did: codec.FormatDIDKey(pub),
			topic: cfg.Prefix + "/inbox/" + tag.String(),
			cid:   fmt.Sprintf("%s-s%d", cfg.ClientID, i),
			seen:  make(map[uint32][]uint64),
		})
	}
	defer func() {
		for _, s := range r.subs {
			if s.client != nil {
				s.client.Disconnect(100)
			}
		}
	}()

	if cfg.Late {
		// Create each subscriber's persistent session, then leave: a plain
		// broker queues for a session that is away only if it knows of it.
		for _, s := range r.subs {
			if err := s.connect(false); err != nil {
				return nil, err
			}
			s.client.Disconnect(250)
			s.client = nil
		}
	} else {
		for _, s := range r.subs {
			if err := s.connect(true); err != nil {
				return nil, err
			}
		}
	}

	pubs := make([]paho.Client, cfg.Publishers)
	for i := range pubs {
		c, err := connect(ctx, cfg, fmt.Sprintf("%s-p%d", cfg.ClientID, i), true, "", "")
		if err != nil {
			return nil, fmt.Errorf("publisher %d: %w", i, err)
		}
		pubs[i] = c
		defer c.Disconnect(100)
	}

	var mem memWatch
	if cfg.PID > 0 {
		mem.start(cfg.PID)
		defer mem.stop()
	}
	stopProgress := r.progress()
	defer stopProgress()

	// Publish.
	var cpuStart time.Duration
	var cpuErr error // read only when cfg.PID > 0
	if cfg.PID > 0 {
		cpuStart, cpuErr = ProcCPU(cfg.PID)
	}
	pubStart := time.Since(r.epoch)
	pubCtx, cancel := context.WithCancel(ctx)
	if cfg.Count == 0 {
		pubCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
	}
	defer cancel()
	var wg sync.WaitGroup
	for i, c := range pubs {
		quota := 0
		if cfg.Count > 0 {
			quota = cfg.Count / cfg.Publishers
			if i < cfg.Count%cfg.Publishers {
				quota++
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.publish(pubCtx, c, uint32(i), quota)
		}()
	}
	wg.Wait()
	cancel()
	publishEnd := time.Duration(r.lastAck.Load())
	if cfg.QoS == 0 {
		publishEnd = time.Since(r.epoch)
	}

	deliverFrom := pubStart
	if cfg.Late {
		deliverFrom = time.Since(r.epoch)
		for _, s := range r.subs {
			if err := s.connect(false); err != nil {
				return nil, err
			}
		}
	}

	// Wait for deliveries: everything acknowledged (QoS 1) or sent (QoS 0).
	want := r.acked.Load()
	if cfg.QoS == 0 {
		want = r.sent.Load()
	}
	deadline := time.NewTimer(cfg.Drain)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	quiet := time.Now()
	var prev uint64
wait:
	for {
		n := r.delivered()
		if n >= want {
			break
		}
		if n != prev {
			prev, quiet = n, time.Now()
		}
		if cfg.QoS == 0 && time.Since(quiet) > time.Second {
			break // QoS 0 may lose; a second of silence ends the wait
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}

	res := &Result{
		Config: ResultConfig{Cairn: cfg.Cairn, Publishers: cfg.Publishers, Subscribers: cfg.Subscribers, Size: cfg.Size,
			QoS: cfg.QoS, Rate: cfg.Rate, Inflight: cfg.Inflight, Seconds: cfg.Duration.Seconds(), Count: cfg.Count, Late: cfg.Late},
		Sent:  r.sent.Load(),
		Acked: r.acked.Load(),
	}
	if cfg.QoS == 0 {
		res.Acked = res.Sent
	}
	if cfg.Count > 0 {
		res.Config.Seconds = 0
	}
	var h Histogram
	var last int64
	for _, s := range r.subs {
		s.mu.Lock()
		res.Delivered += s.delivered
		res.Repeats += s.repeats
		last = max(last, s.last)
		h.Merge(&s.hist)
		s.mu.Unlock()
	}
	if res.Delivered < res.Acked {
		res.Lost = res.Acked - res.Delivered
	}
	res.PublishSeconds = (publishEnd - pubStart).Seconds()
	if res.PublishSeconds > 0 {
		res.PublishRate = float64(res.Acked) / res.PublishSeconds
	}
	res.DeliverSeconds = (time.Duration(last) - deliverFrom).Seconds()
	if res.DeliverSeconds > 0 {
		res.Throughput = float64(res.Delivered) / res.DeliverSeconds
	}
	res.Latency = summarize(&h)
	if cfg.PID > 0 {
		if cpu, err := ProcCPU(cfg.PID); err == nil && cpuErr == nil {
			res.BrokerCPU = cpu - cpuStart
		}
		mem.stop()
		res.BrokerRSS = mem.maxRSS
		if m, err := ProcMemory(cfg.PID); err == nil {
			res.BrokerPeak = m.Peak
		}
	}
	return res, nil
}

func (r *run) delivered() uint64 {
	var n uint64
	for _, s := range r.subs {
		s.mu.Lock()
		n += s.delivered
		s.mu.Unlock()
	}
	return n
}

// publish runs one publisher until ctx ends or it has sent quota (if > 0).
func (r *run) publish(ctx context.Context, c paho.Client, pub uint32, quota int) {
	cfg := r.cfg
	topic := cfg.Prefix + "/send"
	env := codec.Envelope{Kind: codec.KindMessage, TTL: ttlSeconds, Prio: codec.PrioNormal, Body: make([]byte, r.body)}
	rand.Read(env.Body[bodyHeader:])

	// Tokens wait here in publish order; the channel's capacity is the
	// closed loop's window. Open loop does not wait for acks.
	window := cfg.Inflight
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(cfg.Publishers) / cfg.Rate)
		window = 1 << 15
	}
	tokens := make(chan paho.Token, window)
	acks := make(chan struct{})
	go func() {
		defer close(acks)
		for t := range tokens {
			if t.WaitTimeout(cfg.Drain) && t.Error() == nil {
				r.acked.Add(1)
				r.lastAck.Store(r.since())
			}
		}
	}()
	defer func() {
		close(tokens)
		<-acks
	}()

	start := r.since()
	for seq := uint32(0); quota == 0 || int(seq) < quota; seq++ {
		if ctx.Err() != nil {
			return
		}
		sendAt := r.since()
		if interval > 0 {
			// Open loop: the latency clock starts at the scheduled time.
			sendAt = start + int64(seq)*int64(interval)
			if wait := time.Duration(sendAt - r.since()); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				}
			}
		}
		s := r.subs[(int(pub)+int(seq))%len(r.subs)]
		env.To = s.tag
		binary.BigEndian.PutUint64(env.Body[0:], uint64(sendAt))
		binary.BigEndian.PutUint32(env.Body[8:], pub)
		binary.BigEndian.PutUint32(env.Body[12:], seq)
		t := s.topic
		if cfg.Cairn {
			t = topic
		}
		tok := c.Publish(t, cfg.QoS, false, env.Encode())
		r.sent.Add(1)
		if cfg.QoS == 0 {
			continue
		}
		tokens <- tok // blocks while the window is full
	}
}

// connect connects the subscriber and subscribes to its inbox. A clean
// session is dropped on disconnect; otherwise the broker keeps it.
func (s *subscriber) connect(clean bool) error {
	cfg := s.r.cfg
	user, pass := "", ""
	if cfg.Cairn {
		user, pass = s.did, s.password()
	}
	opts := clientOptions(cfg, s.cid, clean, user, pass)
	opts.SetDefaultPublishHandler(s.onMessage)
	c := paho.NewClient(opts)
	if err := wait(c.Connect()); err != nil {
		return fmt.Errorf("subscriber %s: %w", s.cid, err)
	}
	s.client = c
	if err := wait(c.Subscribe(s.topic, cfg.QoS, nil)); err != nil {
		return fmt.Errorf("subscriber %s: subscribing: %w", s.cid, err)
	}
	return nil
}

var lastStamp atomic.Uint64

// password returns a token newer than any this process made before: a
// relay accepts only tokens newer than the last one it saw for a key.
func (s *subscriber) password() string {
	for {
		last := lastStamp.Load()
		now := max(uint64(time.Now().UnixMilli()), last+1)
		if lastStamp.CompareAndSwap(last, now) {
			return codec.SignAuthToken(s.id, now)
		}
	}
}

func (s *subscriber) onMessage(_ paho.Client, m paho.Message) {
	now := s.r.since()
	e, err := codec.DecodeEnvelope(m.Payload())
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || len(e.Body) < bodyHeader {
		s.bad++
		return
	}
	sentAt := int64(binary.BigEndian.Uint64(e.Body[0:]))
	pub := binary.BigEndian.Uint32(e.Body[8:])
	seq := binary.BigEndian.Uint32(e.Body[12:])
	bits := s.seen[pub]
	if need := int(seq/64) + 1; len(bits) < need {
		bits = append(bits, make([]uint64, need-len(bits)+len(bits)/2)...)
		s.seen[pub] = bits
	}
	if bits[seq/64]&(1<<(seq%64)) != 0 {
		s.repeats++
		return
	}
	bits[seq/64] |= 1 << (seq % 64)
	s.delivered++
	s.last = now
	s.hist.Record(time.Duration(now - sentAt))
}

func clientOptions(cfg Config, id string, clean bool, user, pass string) *paho.ClientOptions {
	o := paho.NewClientOptions().
		AddBroker("tcp://" + cfg.Addr).
		SetClientID(id).
		SetProtocolVersion(4).
		SetCleanSession(clean).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(10 * time.Second).
		SetKeepAlive(60 * time.Second).
		SetOrderMatters(true)
	if user != "" {
		o.SetUsername(user).SetPassword(pass)
	}
	return o
}

func connect(ctx context.Context, cfg Config, id string, clean bool, user, pass string) (paho.Client, error) {
	c := paho.NewClient(clientOptions(cfg, id, clean, user, pass))
	if err := wait(c.Connect()); err != nil {
		return nil, err
	}
	return c, ctx.Err()
}

// wait waits for t, at most 30 s.
func wait(t paho.Token) error {
	if !t.WaitTimeout(30 * time.Second) {
		return errors.New("timed out")
	}
	return t.Error()
}

// progress prints a line each second until the returned function is called.
func (r *run) progress() (stop func()) {
	w := r.cfg.Progress
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var prev uint64
		for {
			select {
			case <-done:
				fmt.Fprintln(w)
				return
			case <-t.C:
			}
			n := r.delivered()
			fmt.Fprintf(w, "\r%5.0fs  sent %d  acked %d  delivered %d  (%d msg/s)   ",
				time.Since(r.epoch).Seconds(), r.sent.Load(), r.acked.Load(), n, n-prev)
			prev = n
		}
	}()
	return func() {
		select {
		case <-done:
		default:
			close(done)
			<-finished
		}
	}
}

// memWatch samples a process's VmRSS every 100 ms and keeps the largest.
type memWatch struct {
	maxRSS int64
	done   chan struct{}
	exited chan struct{}
}

func (m *memWatch) start(pid int) {
	m.done, m.exited = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(m.exited)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if mem, err := ProcMemory(pid); err == nil {
				m.maxRSS = max(m.maxRSS, mem.RSS)
			}
			select {
			case <-t.C:
			case <-m.done:
				return
			}
		}
	}()
}

func (m *memWatch) stop() {
	if m.done == nil {
		return
	}
	select {
	case <-m.done:
	default:
		close(m.done)
	}
	<-m.exited
}
