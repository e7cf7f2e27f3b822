// Command mochi runs the MQTT broker that Cairn's relay embeds, mochi-mqtt
// at the version in go.mod, by itself: it routes QoS 0 and 1 publishes in
// memory from topic to subscriber, with no authentication, no envelope
// store and nothing written to disk. `make bench` runs it beside Cairn as
// the floor under the relay — what the embedded broker costs before Cairn
// adds anything (docs/performance.md, "The embedded broker alone").
//
//	mochi ADDR
//
// It stops on SIGINT or SIGTERM.
package main

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"syscall"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mochi ADDR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "mochi:", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	s, err := serve(addr)
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return s.Close()
}

// serve starts the broker listening on addr.
func serve(addr string) (*mqtt.Server, error) {
	caps := mqtt.NewDefaultServerCapabilities()
	// As the relay offers them (relay.New), where they bear on the
	// benchmark's clients.
	caps.MaximumQos = 1
	caps.ReceiveMaximum = 64
	// The backlog workload queues 10,000 publishes for a subscriber that is
	// away; mochi's default of 8,192 would drop the rest. 65,535 is what
	// MQTT's packet ids allow.
	caps.MaximumInflight = math.MaxUint16
	s := mqtt.New(&mqtt.Options{
		Capabilities: caps,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err := s.AddHook(new(allowAll), nil); err != nil {
		return nil, err
	}
	if err := s.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})); err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	if err := s.Serve(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// allowAll lets every client connect, publish and subscribe: mochi refuses
// all of them when no hook decides. (mochi's own hooks/auth.AllowHook does
// the same but brings a YAML module into go.mod.)
type allowAll struct{ mqtt.HookBase }

func (*allowAll) ID() string { return "allow-all" }

func (*allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (*allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (*allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }
