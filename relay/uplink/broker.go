package uplink

import (
	"context"
	"errors"
	"fmt"
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

// dial connects with the uplink's protocol. With "auto" it tries MQTT 5
// and, if the broker is reached but does not accept it, 3.1.1 — and keeps
// to 3.1.1 with that broker from then on (NATS speaks only 3.1.1).
func (u *Uplink) dial(ctx context.Context, onMessage func(message), lost func(error)) (broker, bool, error) {
	proto := u.cfg.Protocol
	if proto == protocolAuto && u.only311.Load() {
		proto = protocol311
	}
	switch proto {
	case protocol311:
		return dial3(ctx, u, onMessage, lost)
	case protocol5:
		return dial5(ctx, u, onMessage, lost)
	}
	b, present, err := dial5(ctx, u, onMessage, lost)
	if !errors.Is(err, errNotMQTT5) || ctx.Err() != nil {
		return b, present, err
	}
	b, present, err3 := dial3(ctx, u, onMessage, lost)
	if err3 != nil {
		return nil, false, fmt.Errorf("MQTT 5: %w; MQTT 3.1.1: %w", err, err3)
	}
	u.only311.Store(true)
	u.log.Info("uplink broker speaks MQTT 3.1.1 only", "url", u.cfg.URL, "mqtt5_err", err)
	return b, present, nil
}
