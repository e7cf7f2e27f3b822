package relay

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Stats are the relay's counters since it started.
type Stats struct {
	Accepted   uint64            // envelopes newly stored from clients
	Duplicates uint64            // envelopes acknowledged without storing: already seen
	Receipts   uint64            // valid receipts applied
	Delivered  uint64            // envelopes acknowledged by an inbox subscriber (or sent, at QoS 0)
	Refused    map[string]uint64 // refused envelopes by reason
	AuthFailed map[string]uint64 // refused connections by reason
}

type counters struct {
	accepted, duplicates, receipts, delivered atomic.Uint64

	mu         sync.Mutex // guards refused and authFailed
	refused    map[string]uint64
	authFailed map[string]uint64
}

func (c *counters) init() {
	c.refused = make(map[string]uint64)
	c.authFailed = make(map[string]uint64)
}

func (c *counters) refuse(reason string) {
	c.mu.Lock()
	c.refused[reason]++
	c.mu.Unlock()
}

func (c *counters) authFail(reason string) {
	c.mu.Lock()
	c.authFailed[reason]++
	c.mu.Unlock()
}

func (c *counters) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{
		Accepted:   c.accepted.Load(),
		Duplicates: c.duplicates.Load(),
		Receipts:   c.receipts.Load(),
		Delivered:  c.delivered.Load(),
		Refused:    maps.Clone(c.refused),
		AuthFailed: maps.Clone(c.authFailed),
	}
}
