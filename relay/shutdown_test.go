package relay_test

import (
	"sync"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

// Close must return while clients are disconnecting at the same moment
// (mochi's GetByListener takes its read lock twice; see relay/shutdown.go).
func TestCloseWhileClientsDisconnect(t *testing.T) {
	for round := range 20 {
		cfg := relaytest.Config(t)
		r, err := relay.New(relay.Options{Config: cfg, Logger: relaytest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Serve(); err != nil {
			t.Fatal(err)
		}
		var clients []interface{ Disconnect(uint) }
		for range 10 {
			clients = append(clients, v3(t, r, relaytest.NewIdentity()))
		}
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Add(1)
			go func() { defer wg.Done(); c.Disconnect(0) }()
		}
		closed := make(chan error, 1)
		go func() { closed <- r.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		case <-time.After(wait):
			t.Fatalf("round %d: Close did not return while clients disconnected", round)
		}
		wg.Wait()
	}
}
