package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/ratchet"
)

// Defaults for Options.
const (
	DefaultRelay       = "mqtt://127.0.0.1:1883"
	DefaultTopicPrefix = "cairn/v1"
	DefaultTTL         = 7 * 24 * time.Hour // the relays' default maximum
	DefaultTimeout     = 30 * time.Second
)

// deliveryQueue bounds the envelopes received and not yet handled; at the
// bound the MQTT reader waits, which holds back the relay's delivery window
// (back-pressure, nothing lost: the relay keeps every envelope until its
// receipt).
const deliveryQueue = 64

// maxReconnectInterval caps the wait between automatic reconnections, so
// that a handheld is back within seconds of its relay (the MQTT library's
// default backs off to 10 minutes).
const maxReconnectInterval = 15 * time.Second

// Options configure a Client. The zero value, or nil, gives the defaults.
type Options struct {
	Relay       string        // mqtt://host:port (or tcp://, mqtts://, ssl://, ws://, wss://); default DefaultRelay
	TopicPrefix string        // default DefaultTopicPrefix
	TTL         time.Duration // lifetime of the messages and receipts sent; default DefaultTTL
	Timeout     time.Duration // for connecting; default DefaultTimeout
	Logger      *slog.Logger  // default: discard. Warn: envelopes dropped; debug: each envelope handled
	Now         func() time.Time
	// OpenConn, if set, opens every connection to the relay in place of
	// the MQTT library's own dialers; u is Relay in the library's form
	// (ws://host/path for ws://). The web client gives it a browser
	// WebSocket. nil dials TCP, TLS or WebSocket itself.
	OpenConn func(u *url.URL) (net.Conn, error)
	// DeliveryNotices makes Receive tell each sender, end to end, which of
	// its messages arrived (deliver.go). Off by default.
	DeliveryNotices bool
	// OnDelivered, if set, is called from Receive with the envelope ids
	// that from reports delivered. They are from's claim, unchecked: from
	// may be a stranger, and envelope ids are no secret (every relay on
	// the way sees them), so take only the ids of messages sent to from.
	OnDelivered func(from Contact, ids []codec.ID)
}

func (o *Options) withDefaults() Options {
	var d Options
	if o != nil {
		d = *o
	}
	if d.Relay == "" {
		d.Relay = DefaultRelay
	}
	if d.TopicPrefix == "" {
		d.TopicPrefix = DefaultTopicPrefix
	}
	if d.TTL <= 0 {
		d.TTL = DefaultTTL
	}
	if d.Timeout <= 0 {
		d.Timeout = DefaultTimeout
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return d
}

// Client is a keystore connected to a relay. Make one with Dial and Close
// it. Safe for concurrent use: Send may run while Receive does.
type Client struct {
	ks     *Keystore
	opts   Options
	broker string // paho's form of opts.Relay
	mc     mqtt.Client
	log    *slog.Logger

	deliveries chan []byte
	done       chan struct{} // closed by Close

	mu         sync.Mutex // guards subscribed
	subscribed bool       // resubscribe after a reconnect
}

// Message is a decrypted message from the inbox.
type Message struct {
	ID         codec.ID
	From       Contact
	Text       []byte
	Prio       codec.Prio
	NewSession bool // it set up a session: the first message from this peer, or from a new install of it
}

// Sent describes a message Send handed to the relay.
type Sent struct {
	ID    codec.ID
	To    Contact
	Bytes int // the whole envelope as encoded: what crosses every wire
}

// Errors that callers branch on, returned wrapped with detail.
var (
	ErrRelay    = errors.New("relay unreachable")
	ErrRefused  = errors.New("relay refused")
	ErrNoBundle = errors.New("no prekey bundle")
)

// brokerURL turns a Cairn relay address into paho's form.
func brokerURL(relay string) (string, error) {
	u, err := url.Parse(relay)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("relay address %q: want mqtt://host:port", relay)
	}
	scheme := map[string]string{"mqtt": "tcp", "tcp": "tcp", "mqtts": "ssl", "ssl": "ssl", "tls": "ssl", "ws": "ws", "wss": "wss"}[u.Scheme]
	if scheme == "" {
		return "", fmt.Errorf("relay address %q: unknown scheme %q, want mqtt://host:port", relay, u.Scheme)
	}
	host := u.Host
	if u.Port() == "" && (scheme == "tcp" || scheme == "ssl") {
		port := "1883"
		if scheme == "ssl" {
			port = "8883"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	return scheme + "://" + host + u.Path, nil
}

func randomClientID() string {
	var b [6]byte
	rand.Read(b[:])
	return "cairn-" + hex.EncodeToString(b[:])
}

// Dial connects ks to a relay, authenticated as the keystore's identity.
// Each connection, and each automatic reconnection, uses a fresh auth token
// (Keystore.NextAuthStamp).
func Dial(ctx context.Context, ks *Keystore, o *Options) (*Client, error) {
	opts := o.withDefaults()
	broker, err := brokerURL(opts.Relay)
	if err != nil {
		return nil, err
	}
	c := &Client{
		ks: ks, opts: opts, broker: broker, log: opts.Logger,
		deliveries: make(chan []byte, deliveryQueue),
		done:       make(chan struct{}),
	}
	did := ks.DID()
	mo := c.mqttOptions().
		SetCredentialsProvider(func() (string, string) {
			stamp, err := ks.NextAuthStamp(opts.Now())
			if err != nil {
				c.log.Error("cannot record auth stamp", "err", err)
				return did, ""
			}
			return did, codec.SignAuthToken(ks.id.SigningKey(), stamp)
		}).
		SetAutoReconnect(true).
		SetOnConnectHandler(func(mqtt.Client) {
			c.mu.Lock()
			sub := c.subscribed
			c.mu.Unlock()
			if sub {
				c.mc.Subscribe(c.inboxTopic(ks.id.Public().Tag()), 1, c.onDelivery)
			}
		})
	c.mc = mqtt.NewClient(mo)
	if err := c.connect(ctx, c.mc); err != nil {
		return nil, err
	}
	// So that relays can answer bundle requests while we are offline. Not
	// fatal: sending and reading work without it.
	if err := c.publishRelayBundle(ctx); err != nil {
		c.log.Warn("bundle not published", "err", err)
	}
	return c, nil
}

func (c *Client) mqttOptions() *mqtt.ClientOptions {
	mo := mqtt.NewClientOptions().
		AddBroker(c.broker).
		SetClientID(randomClientID()).
		SetCleanSession(true).
		SetProtocolVersion(4).
		SetConnectTimeout(c.opts.Timeout).
		SetWriteTimeout(c.opts.Timeout).
		SetKeepAlive(30 * time.Second).
		SetMaxReconnectInterval(maxReconnectInterval).
		SetOrderMatters(true)
	if c.opts.OpenConn != nil {
		open := c.opts.OpenConn
		mo.SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) { return open(u) })
	}
	return mo
}

func (c *Client) connect(ctx context.Context, mc mqtt.Client) error {
	if err := wait(ctx, mc.Connect()); err != nil {
		msg := err.Error()
		if strings.Contains(msg, "not Authorized") || strings.Contains(msg, "bad user name or password") {
			return fmt.Errorf("%w our auth token (%v): the relay has accepted a newer token for this identity, or this keystore's clock stamp was reset", ErrRefused, err)
		}
		return fmt.Errorf("%w: %s: %v", ErrRelay, c.opts.Relay, err)
	}
	return nil
}

// wait waits for an MQTT operation or for ctx.
func wait(ctx context.Context, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close disconnects. Everything already acknowledged by the relay is
// durable there; the keystore stays open (the caller closes it).
func (c *Client) Close() error {
	select {
	case <-c.done:
		return nil
	default:
	}
	close(c.done)
	c.mc.Disconnect(250)
	return nil
}

// Connected reports whether the connection to the relay is up now; while
// it is down, the client keeps reconnecting until Close.
func (c *Client) Connected() bool { return c.mc.IsConnectionOpen() }

// Keystore returns the client's keystore.
func (c *Client) Keystore() *Keystore { return c.ks }

func (c *Client) sendTopic() string { return c.opts.TopicPrefix + "/send" }

func (c *Client) inboxTopic(t codec.Tag) string { return c.opts.TopicPrefix + "/inbox/" + t.String() }

func (c *Client) ttlSeconds() uint32 {
	return uint32(min(c.opts.TTL/time.Second, codec.MaxTTLSeconds))
}

// publish hands one envelope to the relay at QoS 1 on mc and returns once
// it is durable there (the PUBACK).
func (c *Client) publish(ctx context.Context, mc mqtt.Client, e *codec.Envelope) error {
	if err := wait(ctx, mc.Publish(c.sendTopic(), 1, false, e.Encode())); err != nil {
		return fmt.Errorf("%w: publishing to %s: %v", ErrRelay, c.opts.Relay, err)
	}
	return nil
}

func (c *Client) onDelivery(_ mqtt.Client, m mqtt.Message) {
	select {
	case c.deliveries <- m.Payload():
	case <-c.done:
	}
}

// Send encrypts text for the contact ref (a did:key or a contact's name)
// and hands it to the relay, returning once the relay has it durably. A
// did:key that is not yet a contact is added. Without a session or a
// bundle, it first fetches the contact's bundle through the relay
// (FetchBundle): from the copy the contact published, or from the
// contact's client if it is online; a contact card avoids the fetch.
func (c *Client) Send(ctx context.Context, ref string, text []byte, prio codec.Prio) (Sent, error) {
	if err := checkText(text); err != nil {
		return Sent{}, err
	}
	ks := c.ks
	ks.mu.Lock()
	ct := ks.lookup(ref)
	if ct == nil {
		ks.mu.Unlock()
		if !strings.HasPrefix(ref, "did:") {
			return Sent{}, fmt.Errorf("%w: %q (add it with a contact card or a did:key)", ErrNoContact, ref)
		}
		if _, err := ks.AddContact(ref, "", false); err != nil {
			return Sent{}, err
		}
		ks.mu.Lock()
		ct = ks.lookup(ref)
	}
	if len(ct.sessions) == 0 && ct.bundle == nil {
		pub := ct.pub
		ks.mu.Unlock()
		b, err := c.FetchBundle(ctx, pub)
		if err != nil {
			return Sent{}, err
		}
		ks.mu.Lock()
		if ct.bundle == nil || b.Generation >= ct.bundle.Generation {
			ct.bundle = b
		}
	}
	env, err := ks.seal(ct, text, prio, c.ttlSeconds())
	info := ct.info()
	ks.mu.Unlock()
	if err != nil {
		return Sent{}, err
	}
	if err := c.publish(ctx, c.mc, env); err != nil {
		return Sent{}, err
	}
	return Sent{ID: env.ID(), To: info, Bytes: len(env.Encode())}, nil
}

// Publish hands an envelope made by Keystore.Seal to the relay and returns
// once the relay has it durably (the PUBACK). Publishing the same envelope
// again is harmless: the relay takes a duplicate id as done.
func (c *Client) Publish(ctx context.Context, e *codec.Envelope) error {
	return c.publish(ctx, c.mc, e)
}

// Seal encrypts text for the contact ref (a did:key or a contact's name)
// into an envelope living ttl (0: DefaultTTL), with the session state
// saved before it returns, so that the envelope can be kept and published
// later, any number of times (Client.Publish), with or without a relay at
// hand now. It needs a session with the contact or its bundle (from a
// contact card, or fetched with Client.FetchBundle); otherwise the error
// wraps ErrNoBundle.
func (ks *Keystore) Seal(ref string, text []byte, prio codec.Prio, ttl time.Duration) (*codec.Envelope, error) {
	if err := checkText(text); err != nil {
		return nil, err
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ct := ks.lookup(ref)
	if ct == nil {
		return nil, fmt.Errorf("%w: %q", ErrNoContact, ref)
	}
	if len(ct.sessions) == 0 && ct.bundle == nil {
		return nil, fmt.Errorf("%w for %s yet", ErrNoBundle, ct.pub.DID())
	}
	return ks.seal(ct, text, prio, uint32(min(ttl/time.Second, codec.MaxTTLSeconds)))
}

// seal makes the envelope and persists the session before it can leave
// the process. ks.mu held; ct has a session or a bundle.
func (ks *Keystore) seal(ct *contact, text []byte, prio codec.Prio, ttlSeconds uint32) (*codec.Envelope, error) {
	if len(ct.sessions) == 0 {
		opts := &ratchet.Options{Classical: ct.classical || !ct.bundle.HasKEM()}
		s, err := ratchet.InitiateSession(ks.id, ct.bundle, opts)
		if err != nil {
			return nil, fmt.Errorf("setting up a session with %s: %w", ct.pub.DID(), err)
		}
		ct.addSession(s)
	}
	body, err := ct.sessions[0].Encrypt(text)
	if err != nil {
		return nil, err
	}
	if err := ks.save(); err != nil {
		return nil, err
	}
	return &codec.Envelope{Kind: codec.KindMessage, To: ct.pub.Tag(), TTL: ttlSeconds, Prio: prio, Body: body}, nil
}

// Receive subscribes to the inbox and calls fn for each new message, after
// its session is persisted and before it is acknowledged. Delivery notices
// (deliver.go) go to Options.OnDelivered, not to fn. With follow
// false it returns once everything the relay held when Receive started has
// been handled; with follow it runs until ctx ends. Envelopes handled —
// messages shown, duplicates, answered bundle requests, undecryptable
// bodies — are acknowledged with signed receipts, so relays delete them.
//
// To know when the relay's backlog is over, Receive publishes a marker: a
// 16-byte random envelope of priority bulk to its own tag, living 60
// seconds. The relay delivers urgent, then normal, then bulk envelopes,
// oldest first, so the marker comes after everything held before it. It
// is acknowledged like the rest.
func (c *Client) Receive(ctx context.Context, follow bool, fn func(Message)) error {
	me := c.ks.id.Public().Tag()
	c.mu.Lock()
	c.subscribed = true
	c.mu.Unlock()
	if err := c.subscribe(ctx, c.mc, me, c.onDelivery); err != nil {
		return err
	}
	var marker codec.ID
	if !follow {
		m := &codec.Envelope{Kind: codec.KindMessage, To: me, TTL: 60, Prio: codec.PrioBulk, Body: make([]byte, 16)}
		rand.Read(m.Body)
		marker = m.ID()
		if err := c.publish(ctx, c.mc, m); err != nil {
			return err
		}
	}
	var acks []codec.ID
	read := map[string][]codec.ID{} // sender → ids, for delivery notices
	flush := func() error {
		c.sendNotices(ctx, read)
		if len(acks) == 0 {
			return nil
		}
		err := c.sendReceipts(ctx, c.mc, c.ks.id.SigningKey(), acks)
		acks = acks[:0]
		return err
	}
	for {
		var raw []byte
		select {
		case raw = <-c.deliveries:
		case <-ctx.Done():
			flush()
			return ctx.Err()
		}
		e, err := codec.DecodeEnvelope(raw)
		if err != nil || e.To != me {
			c.log.Warn("delivery dropped", "reason", "not an envelope for us", "err", err)
			continue
		}
		id := e.ID()
		if !follow && id == marker {
			acks = append(acks, id)
			return flush()
		}
		msg, ack := c.handle(ctx, e, id)
		if msg != nil {
			if ids, control := parseControl(msg.Text); control {
				if ids != nil && c.opts.OnDelivered != nil {
					c.opts.OnDelivered(msg.From, ids)
				}
			} else {
				fn(*msg)
				if c.opts.DeliveryNotices {
					read[msg.From.DID] = append(read[msg.From.DID], id)
				}
			}
		}
		if ack {
			acks = append(acks, id)
		}
		if len(c.deliveries) == 0 || len(acks) == codec.MaxReceiptIDs {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

func (c *Client) subscribe(ctx context.Context, mc mqtt.Client, tag codec.Tag, h mqtt.MessageHandler) error {
	t := mc.Subscribe(c.inboxTopic(tag), 1, h)
	if err := wait(ctx, t); err != nil {
		return fmt.Errorf("%w: subscribing: %v", ErrRelay, err)
	}
	if st, ok := t.(*mqtt.SubscribeToken); ok {
		for _, q := range st.Result() {
			if q == 0x80 {
				return fmt.Errorf("%w our inbox subscription (%s)", ErrRefused, tag)
			}
		}
	}
	return nil
}

// sendReceipts acknowledges ids, signed by key, in receipts of at most
// codec.MaxReceiptIDs ids.
func (c *Client) sendReceipts(ctx context.Context, mc mqtt.Client, key []byte, ids []codec.ID) error {
	for len(ids) > 0 {
		n := min(len(ids), codec.MaxReceiptIDs)
		r := codec.SignReceipt(key, ids[:n])
		if err := c.publish(ctx, mc, r.Envelope(c.ttlSeconds(), codec.PrioNormal)); err != nil {
			return fmt.Errorf("sending receipt: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// handle processes one envelope from the inbox and says whether to
// acknowledge it.
func (c *Client) handle(ctx context.Context, e *codec.Envelope, id codec.ID) (*Message, bool) {
	ks := c.ks
	ks.mu.Lock()
	// Our own published bundle is what relays answer bundle requests with
	// (bundle.go): never acknowledged, so they keep it, and never marked
	// seen, which would acknowledge it as a duplicate.
	if e.Kind == codec.KindBundle && bytes.Equal(e.Body, ks.relayBundle().Encode()) {
		ks.mu.Unlock()
		return nil, false
	}
	if ks.seen.has(id) {
		ks.mu.Unlock()
		c.log.Debug("duplicate dropped", "id", id)
		return nil, true
	}
	switch e.Kind {
	case codec.KindMessage:
		msg := c.decrypt(e, id)
		ks.seen.add(id)
		err := ks.save()
		ks.mu.Unlock()
		if err != nil {
			c.log.Error("cannot save keystore", "err", err)
			return nil, false // not acknowledged: it comes again
		}
		return msg, true
	case codec.KindBundleRequest:
		req, err := codec.DecodeBundleRequest(e.Body)
		var resp *codec.Envelope
		if err == nil {
			resp = &codec.Envelope{Kind: codec.KindBundle, To: req.Reply, TTL: min(e.TTL, maxBundleReplyTTL), Prio: e.Prio,
				Body: ks.prekeys.Bundle(ks.id).Encode()}
		}
		ks.seen.add(id)
		ks.save()
		ks.mu.Unlock()
		if err != nil {
			c.log.Warn("bundle request dropped", "id", id, "err", err)
			return nil, true
		}
		if err := c.publish(ctx, c.mc, resp); err != nil {
			c.log.Warn("bundle request not answered", "id", id, "err", err)
			return nil, false
		}
		c.log.Debug("bundle request answered", "id", id, "reply_to", req.Reply)
		return nil, true
	case codec.KindBundle:
		// Every kind-3 for our tag but our own publication (above) — an
		// older generation of ours, a forgery published to hide ours, a
		// bundle pushed to us — is acknowledged, so relays delete it; a
		// contact's newer bundle is kept first (it is signed).
		if b, err := ratchet.ParseBundle(e.Body); err == nil && b.Verify() == nil {
			if ct := ks.byIdentity(b.Identity); ct != nil && (ct.bundle == nil || b.Generation > ct.bundle.Generation) {
				ct.bundle = b
			}
		}
		ks.seen.add(id)
		ks.save()
		ks.mu.Unlock()
		return nil, true
	default:
		// Receipts addressed to us are for relays; acknowledging one would
		// make another. Kinds we do not know are left for a newer client.
		ks.mu.Unlock()
		return nil, false
	}
}

// decrypt opens a message body with the sessions we have or, failing
// that, as the first message of a new session. ks.mu held.
func (c *Client) decrypt(e *codec.Envelope, id codec.ID) *Message {
	ks := c.ks
	for _, ct := range ks.contacts {
		for i, s := range ct.sessions {
			pt, err := s.Decrypt(e.Body)
			if err != nil {
				continue
			}
			// Most recently used first: we answer on the session the
			// peer uses.
			copy(ct.sessions[1:i+1], ct.sessions[:i])
			ct.sessions[0] = s
			return &Message{ID: id, From: ct.info(), Text: pt, Prio: e.Prio}
		}
	}
	s, pt, err := ratchet.AcceptSession(ks.id, ks.prekeys, e.Body, nil)
	if err != nil {
		c.log.Warn("message dropped", "id", id, "reason", "undecryptable", "bytes", len(e.Body))
		return nil
	}
	ct := ks.byIdentity(s.Remote())
	if ct == nil {
		ct = &contact{pub: s.Remote(), unknown: true}
		ks.contacts = append(ks.contacts, ct)
	}
	ct.addSession(s)
	ks.refillPrekeys()
	return &Message{ID: id, From: ct.info(), Text: pt, Prio: e.Prio, NewSession: true}
}
