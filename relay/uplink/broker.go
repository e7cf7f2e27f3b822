package uplink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// broker is one connection to an upstream broker, in MQTT 5 (mqtt5.go) or
// 3.1.1 (mqtt3.go). Publishes and subscriptions are QoS 1.
type broker interface {
	protocol() string // "5" or "3.1.1"
	// publish sends one PUBLISH; the token completes at its PUBACK.
	// Publishes go out in call order. ttlSeconds becomes the message
	// expiry where the protocol has one.
	publish(topic string, retain bool, payload []byte, ttlSeconds uint32) token
	// subscribe subscribes to filters and returns those the broker
	// refused, with its reason code.
	subscribe(ctx context.Context, filters []string) (refused map[string]int, err error)
	unsubscribe(ctx context.Context, filters []string) error
	// disconnect ends the connection, waiting up to quiesce for work in
	// progress; the session stays at the broker.
	disconnect(quiesce time.Duration)
}

// token is the outcome of a publish.
type token interface {
	Done() <-chan struct{}
	Error() error
}

// message is a publish from the broker.
type message interface {
	Topic() string
	Payload() []byte
	Ack() // PUBACK
}

// Protocols of config.Uplink.Protocol.
const (
	protocol5    = "5"
	protocol311  = "3.1.1"
	protocolAuto = "auto"
)

// errNotMQTT5 marks a broker that was reached but did not accept an MQTT 5
// CONNECT: with protocol "auto" the uplink tries 3.1.1 at once.
var errNotMQTT5 = errors.New("broker did not accept MQTT 5")

// reprobeAfter is how long protocol "auto" keeps to MQTT 3.1.1 with a
// broker that refused MQTT 5 before it tries 5 again, at the next
// connection after that: a broker upgraded meanwhile is spoken to in MQTT 5
// (and gets message expiry) without a restart, and one that is not costs a
// refused CONNECT at most once an hour, only when the uplink reconnects
// anyway. A working 3.1.1 connection is never dropped to try.
const reprobeAfter = time.Hour

// fallback remembers when protocol "auto" last found a broker speaking
// 3.1.1 only. The zero value has found nothing; it is safe for concurrent
// use.
type fallback struct {
	mu    sync.Mutex // guards since
	since time.Time  // zero: MQTT 5 is tried
}

// only311 reports whether a connection at now should skip MQTT 5.
func (f *fallback) only311(now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.since.IsZero() && now.Sub(f.since) < reprobeAfter
}

// reprobing reports whether MQTT 5 is about to be tried again after a
// fallback.
func (f *fallback) reprobing() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.since.IsZero()
}

// set records the outcome of trying MQTT 5 at now: refused (3.1.1 only) or
// accepted.
func (f *fallback) set(refused bool, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if refused {
		f.since = now
	} else {
		f.since = time.Time{}
	}
}

// dial connects with the uplink's protocol. With "auto" it tries MQTT 5
// and, if the broker is reached but does not accept it, 3.1.1 — and keeps
// to 3.1.1 with that broker for reprobeAfter (NATS speaks only 3.1.1).
func (u *Uplink) dial(ctx context.Context, onMessage func(message), lost func(error)) (broker, bool, error) {
	proto := u.cfg.Protocol
	if proto == protocolAuto && u.fallback.only311(time.Now()) {
		proto = protocol311
	}
	switch proto {
	case protocol311:
		return dial3(ctx, u, onMessage, lost)
	case protocol5:
		return dial5(ctx, u, onMessage, lost)
	}
	again := u.fallback.reprobing()
	b, present, err := dial5(ctx, u, onMessage, lost)
	if err == nil && again {
		u.fallback.set(false, time.Now())
		u.log.Info("uplink broker speaks MQTT 5 now", "url", u.cfg.URL)
	}
	if !errors.Is(err, errNotMQTT5) || ctx.Err() != nil {
		return b, present, err
	}
	b, present, err3 := dial3(ctx, u, onMessage, lost)
	if err3 != nil {
		return nil, false, fmt.Errorf("MQTT 5: %w; MQTT 3.1.1: %w", err, err3)
	}
	u.fallback.set(true, time.Now())
	if !again {
		u.log.Info("uplink broker speaks MQTT 3.1.1 only", "url", u.cfg.URL, "mqtt5_err", err, "retry_mqtt5_after", reprobeAfter)
	}
	return b, present, nil
}
