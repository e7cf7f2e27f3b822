package main

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/bench"
)

// TestBacklogPastMochiDefault runs the side-by-side backlog workload
// against the broker as make bench starts it, with more envelopes waiting
// than mochi's default in-flight limit (8,192) would keep: every one must
// arrive, or the table would show mochi losing what Cairn keeps.
func TestBacklogPastMochiDefault(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s, err := serve(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	res, err := bench.Run(context.Background(), bench.Config{
		Addr: addr, Publishers: 1, Subscribers: 1, QoS: 1, Count: 9000, Late: true, Drain: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Acked != 9000 || res.Delivered != 9000 || res.Lost != 0 || res.Repeats != 0 {
		t.Fatalf("acknowledged %d, delivered %d, lost %d, repeated %d; want 9000 delivered once each",
			res.Acked, res.Delivered, res.Lost, res.Repeats)
	}
}
