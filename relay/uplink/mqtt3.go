package uplink

import (
	"context"
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// client3 is a connection in MQTT 3.1.1 (paho.mqtt.golang). It sets no
// message expiry: 3.1.1 has none.
type client3 struct {
	c          paho.Client
	ackTimeout time.Duration
}

// dial3 connects in MQTT 3.1.1 with clean session off. onMessage gets each
// publish from the broker, in arrival order, on paho's router goroutine;
// lost is called once if the connection is lost afterwards.
func dial3(ctx context.Context, u *Uplink, onMessage func(message), lost func(error)) (broker, bool, error) {
	o := paho.NewClientOptions().
		AddBroker(u.cfg.URL).
		SetClientID(u.clientID).
		SetCleanSession(false). // the broker keeps our subscriptions and what arrives for them
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetOrderMatters(true). // onMessage never blocks
		SetAutoAckDisabled(true).
		SetKeepAlive(keepAlive).
		SetPingTimeout(10 * time.Second).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(connectTimeout).
		SetMaxResumePubInFlight(u.cfg.MaxInflight).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { onMessage(m) }).
		SetConnectionLostHandler(func(_ paho.Client, err error) { lost(err) })
	if u.tls != nil {
		o.SetTLSConfig(u.tls)
	}
	if u.cfg.Username != "" {
		o.SetUsername(u.cfg.Username).SetPassword(u.cfg.Password)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return nil, false, context.Cause(ctx)
	}
	if err := tok.Error(); err != nil {
		return nil, false, err
	}
	return client3{c, u.cfg.AckTimeout.D()}, tok.(*paho.ConnectToken).SessionPresent(), nil
}

func (c client3) protocol() string { return "3.1.1" }

func (c client3) publish(topic string, retain bool, payload []byte, _ uint32) token {
	return c.c.Publish(topic, 1, retain, payload)
}

func (c client3) subscribe(ctx context.Context, filters []string) (map[string]int, error) {
	m := make(map[string]byte, len(filters))
	for _, f := range filters {
		m[f] = 1
	}
	tok := c.c.SubscribeMultiple(m, nil)
	if err := waitToken(ctx, tok, c.ackTimeout); err != nil {
		return nil, err
	}
	refused := make(map[string]int)
	for f, code := range tok.(*paho.SubscribeToken).Result() {
		if code > 2 {
			refused[f] = int(code)
		}
	}
	return refused, nil
}

func (c client3) unsubscribe(ctx context.Context, filters []string) error {
	return waitToken(ctx, c.c.Unsubscribe(filters...), c.ackTimeout)
}

func (c client3) disconnect(quiesce time.Duration) {
	c.c.Disconnect(uint(quiesce / time.Millisecond))
}

// waitToken waits for tok, the end of ctx, or timeout: a broker that
// leaves a packet unanswered that long is taken for broken, though it may
// still answer pings.
func waitToken(ctx context.Context, tok token, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return fmt.Errorf("no answer from the broker in %v", timeout)
	}
}
