package uplink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/store"
)

// conn is one connection to the broker, from CONNACK until it is lost or
// the uplink closes. A new client is made for each: whatever the tokens of
// a lost connection carried is still owed in the store and is published
// again on the next connection.
type conn struct {
	u      *Uplink
	c      broker
	ctx    context.Context // ends when the connection is lost or the uplink closes
	cancel context.CancelCauseFunc

	arrivals chan arrival // from the client's router to ingestLoop, in arrival order
	acks     chan arrival // from the store's done to ackLoop, in arrival order
	unacked  chan struct{}

	subscribed map[string]bool // filters subscribed on this connection; owned by serve
}

// arrival is a publish from the broker on its way through the ingest path.
type arrival struct {
	msg message
	err error // outcome of ingest
}

// connect dials the broker and serves the connection until it ends. It
// reports whether the connection came up, and why it ended.
func (u *Uplink) connect(parent context.Context) (bool, error) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	k := &conn{
		u:          u,
		ctx:        ctx,
		cancel:     cancel,
		arrivals:   make(chan arrival, maxUnacked),
		acks:       make(chan arrival, maxUnacked),
		unacked:    make(chan struct{}, maxUnacked),
		subscribed: make(map[string]bool),
	}
	c, present, err := u.dial(ctx, k.onMessage, func(err error) {
		cancel(fmt.Errorf("connection lost: %w", err))
	})
	if err != nil {
		if parent.Err() != nil {
			return false, parent.Err()
		}
		return false, fmt.Errorf("connecting: %w", err)
	}
	k.c = c
	u.protocol.Store(c.protocol())
	u.connected.Store(true)
	u.succeeded()
	u.log.Info("uplink connected", "url", u.cfg.URL, "client_id", u.clientID,
		"mqtt", c.protocol(), "session_present", present)
	err = k.serve()
	u.connected.Store(false)
	u.subscriptions.Store(0)
	if parent.Err() != nil {
		c.disconnect(250 * time.Millisecond)
		u.log.Info("uplink disconnected", "url", u.cfg.URL)
		return true, parent.Err()
	}
	c.disconnect(0)
	return true, err
}

// serve runs the connection's goroutines until it ends.
func (k *conn) serve() error {
	var wg sync.WaitGroup
	for _, f := range []func(){k.ingestLoop, k.ackLoop, k.publishLoop} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	defer wg.Wait()
	for {
		want, stale, changed := k.u.g.tags.filters(k.u.topics, k.u.index)
		fetchEnd, fetchChanged := k.u.g.fetch.filters(k.u.topics, want, time.Now())
		// Tags dropped at the bound while this uplink was away may still
		// be subscribed in its persistent session: count their filters as
		// subscribed, so that resubscribe unsubscribes them.
		for _, tag := range stale {
			for _, f := range []string{k.u.topics.inbox(tag), k.u.topics.receipt(tag)} {
				if !want[f] {
					k.subscribed[f] = true
				}
			}
		}
		if err := k.resubscribe(want); err != nil {
			k.cancel(err)
			break
		}
		k.u.g.tags.unsubscribed(k.u.index, stale)
		// A bundle fetch's subscription ends with its wait.
		fetchOver := time.NewTimer(time.Until(fetchEnd))
		if fetchEnd.IsZero() {
			fetchOver.Stop()
		}
		select {
		case <-changed:
		case <-fetchChanged:
		case <-fetchOver.C:
		case <-k.ctx.Done():
		}
		fetchOver.Stop()
		if k.ctx.Err() == nil {
			continue
		}
		break
	}
	return context.Cause(k.ctx)
}

// resubscribe brings the connection's subscriptions to want.
func (k *conn) resubscribe(want map[string]bool) error {
	var add, drop []string
	for f := range want {
		if !k.subscribed[f] {
			add = append(add, f)
		}
	}
	for f := range k.subscribed {
		if !want[f] {
			drop = append(drop, f)
		}
	}
	for len(add) > 0 {
		n := min(len(add), subscribeChunk)
		refused, err := k.c.subscribe(k.ctx, add[:n])
		if err != nil {
			return fmt.Errorf("subscribing: %w", err)
		}
		for _, f := range add[:n] {
			if code, ok := refused[f]; ok {
				k.u.log.Warn("uplink subscription refused", "filter", f, "code", code)
				continue
			}
			k.subscribed[f] = true
		}
		add = add[n:]
	}
	for len(drop) > 0 {
		n := min(len(drop), subscribeChunk)
		if err := k.c.unsubscribe(k.ctx, drop[:n]); err != nil {
			return fmt.Errorf("unsubscribing: %w", err)
		}
		for _, f := range drop[:n] {
			delete(k.subscribed, f)
		}
		drop = drop[n:]
	}
	k.u.subscriptions.Store(int64(len(k.subscribed)))
	return nil
}

// wait waits for tok, at most ack_timeout, or the end of the connection.
func (k *conn) wait(tok token) error { return waitToken(k.ctx, tok, k.u.cfg.AckTimeout.D()) }

// onMessage runs on the client's router goroutine for each publish from
// the broker, in arrival order. It must not block: the client reads
// PUBACKs and PINGRESPs on the same path.
func (k *conn) onMessage(msg message) {
	select {
	case k.unacked <- struct{}{}:
		k.arrivals <- arrival{msg: msg} // cannot block: as many slots as unacked
	default:
		k.cancel(fmt.Errorf("broker sent more than %d unacknowledged publishes", maxUnacked))
	}
}

// ingestLoop takes arrivals into the relay's ingest path at most
// receive_rate per second, in arrival order.
func (k *conn) ingestLoop() {
	u := k.u
	for {
		var a arrival
		select {
		case a = <-k.arrivals:
		case <-k.ctx.Done():
			return
		}
		if !u.limiter.wait(k.ctx) {
			return
		}
		kind, tag, ok := u.topics.parse(a.msg.Topic())
		if ok {
			e, err := codec.DecodeEnvelope(a.msg.Payload())
			// A bad envelope gets its refusal from the ingest path. On a
			// bundle topic only the owner's own bundle is taken: what the
			// broker retains there replaces what it had, so the relays
			// that publish it check its owner (topics.publish).
			switch {
			case err != nil:
			case kind == "bundle":
				ok = e.To == tag && isOwnBundle(e)
			default:
				ok = e.To == tag
			}
			if ok && kind == "bundle" {
				u.g.fetch.done(tag)
			}
		}
		if !ok {
			u.g.floods.Event(slog.LevelWarn, "uplink arrival refused", "uplink arrivals refused", "wrong_topic",
				slog.String("link", u.name), slog.String("topic", a.msg.Topic()))
			k.acks <- a
			continue
		}
		u.g.opts.Ingest(a.msg.Payload(), u.name, func(_ codec.ID, err error) {
			a.err = err
			k.acks <- a // cannot block: as many slots as unacked
		})
	}
}

// ackLoop acknowledges arrivals to the broker in arrival order, each once
// it is durable or refused. One the store could not take (closed, disk
// error) is not acknowledged: the broker sends it again on the next
// connection.
func (k *conn) ackLoop() {
	u := k.u
	for {
		var a arrival
		select {
		case a = <-k.acks:
		case <-k.ctx.Done():
			return
		}
		switch {
		case a.err == nil || errors.Is(a.err, store.ErrDuplicate):
			u.received.Add(1)
			u.succeeded()
			a.msg.Ack()
		case errors.Is(a.err, store.ErrClosed):
			continue
		default:
			// Refused input changes nothing; acknowledging it stops the
			// broker from sending it forever.
			a.msg.Ack()
		}
		<-k.unacked
	}
}

// inflight is one publish awaiting its PUBACK.
type inflight struct {
	id     codec.ID
	tok    token
	resend bool // a resend: already marked sent
	track  bool // resend it until it leaves the store
}

// outgoing is one envelope to publish.
type outgoing struct {
	it     store.Item
	resend bool
}

// publishLoop publishes what the store owes this uplink, urgent first, and
// what the resend schedule says is due, with at most max_inflight awaiting
// their PUBACK. PUBACKs are awaited in publish order by waitLoop, which
// frees window slots; marking sent is batched by markLoop. Per priority it
// remembers how far it has read the owed list on this connection, so each
// envelope is read about once.
func (k *conn) publishLoop() {
	u := k.u
	window := u.cfg.MaxInflight
	slots := make(chan struct{}, window) // one per publish awaiting its PUBACK
	pending := make(chan inflight, window)
	marks := make(chan codec.ID, 4*window)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); k.waitLoop(pending, slots, marks) }()
	go func() { defer wg.Done(); k.markLoop(marks) }()
	defer wg.Wait()
	defer close(pending)

	var after [codec.PrioUrgent + 1]uint64
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	for {
		batch, err := k.next(&after, window)
		if err == nil {
			// Resends take what the owed list leaves of the window, and
			// at least a quarter of it, so a long backlog does not
			// starve them.
			batch, err = k.due(batch, max(window-len(batch), window/4))
		}
		if err != nil {
			k.cancel(err)
			return
		}
		if len(batch) == 0 {
			select {
			case <-u.wake:
			case <-poll.C:
			case <-k.ctx.Done():
				return
			}
			continue
		}
		for _, o := range batch {
			e := *o.it.Envelope
			e.Hops++
			if e.Hops > u.g.opts.MaxHops {
				u.log.Debug("not uplinked", "id", o.it.ID, "reason", "hop_limit")
				if o.resend {
					continue
				}
				select {
				case marks <- o.it.ID:
				case <-k.ctx.Done():
					return
				}
				continue
			}
			select {
			case slots <- struct{}{}: // blocks while the window is full
			case <-k.ctx.Done():
				return
			}
			topic, retain := u.topics.publish(&e)
			// Receipts are dropped by the store once carried, and the
			// broker keeps the latest bundle itself: neither is resent.
			// Answers to bundle requests are, like messages, while they
			// live (10 minutes from a relay, an hour from the owner).
			track := e.Kind != codec.KindReceipt && !retain
			tok := k.c.publish(topic, retain, e.Encode(), e.TTL) // the remaining ttl: message expiry in MQTT 5
			pending <- inflight{o.it.ID, tok, o.resend, track}   // room: as many as slots
			if track {
				u.g.tags.add(watched, e.To) // so that the recipient's receipt purges our copy
			}
		}
	}
}

// due appends to batch up to n envelopes whose resend is due, forgetting
// those that have left the store (receipted, expired or evicted).
func (k *conn) due(batch []outgoing, n int) ([]outgoing, error) {
	out := make([]outgoing, 0, len(batch)+n)
	for _, it := range batch {
		out = append(out, outgoing{it: it.it})
	}
	for _, id := range k.u.resend.due(n) {
		it, ok, err := k.u.g.opts.Store.Get(id)
		if err != nil {
			return nil, fmt.Errorf("reading the store: %w", err)
		}
		if !ok {
			k.u.resend.remove(id)
			continue
		}
		out = append(out, outgoing{it: it, resend: true})
	}
	return out, nil
}

// next reads up to n owed envelopes, urgent first.
func (k *conn) next(after *[codec.PrioUrgent + 1]uint64, n int) ([]outgoing, error) {
	var batch []outgoing
	for p := codec.PrioUrgent; len(batch) < n; p-- {
		items, through, err := k.u.g.opts.Store.PendingPrio(k.u.name, p, after[p], n-len(batch))
		if err != nil {
			return nil, fmt.Errorf("reading the queue: %w", err)
		}
		after[p] = through
		for _, it := range items {
			batch = append(batch, outgoing{it: it})
		}
		if p == codec.PrioBulk {
			break
		}
	}
	return batch, nil
}

// waitLoop awaits PUBACKs in publish order.
func (k *conn) waitLoop(pending <-chan inflight, slots <-chan struct{}, marks chan<- codec.ID) {
	defer close(marks)
	for p := range pending {
		if err := k.wait(p.tok); err != nil {
			k.cancel(fmt.Errorf("publishing: %w", err))
			for range pending { // let publishLoop finish
			}
			return
		}
		<-slots
		k.u.published.Add(1)
		k.u.succeeded()
		if p.track {
			k.u.resend.add(p.id) // a first publish; a resend keeps its place
		}
		if p.resend {
			k.u.resent.Add(1)
			continue
		}
		marks <- p.id
	}
}

// markLoop records PUBACKed envelopes as sent, as many per commit as have
// arrived meanwhile. It runs until waitLoop is done, also after the
// connection is lost, so that nothing acknowledged is published again
// needlessly.
func (k *conn) markLoop(marks <-chan codec.ID) {
	for id := range marks {
		ids := []codec.ID{id}
	more:
		for len(ids) < 1024 {
			select {
			case id, ok := <-marks:
				if !ok {
					break more
				}
				ids = append(ids, id)
			default:
				break more
			}
		}
		if err := k.u.g.opts.Store.MarkSent(k.u.name, ids...); err != nil && !errors.Is(err, store.ErrClosed) {
			k.u.log.Error("marking sent", "err", err)
		}
	}
}
