package radiotest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Link is how a transmission from one node reaches another.
type Link struct {
	Loss       float64 // probability 0…1 that a frame is lost on this link
	RSSIDBm    int16   // what the receiver reports; 0 means −90
	SNRQuarter int8    // SNR in quarter dB; 0 means 10 dB (40)
}

// AirStats counts what happened on the air.
type AirStats struct {
	Transmissions uint64 // TX datagrams accepted
	Delivered     uint64 // RX datagrams sent
	Lost          uint64 // dropped by a link's loss
	Collided      uint64 // dropped at a receiver because transmissions overlapped
	BadDatagrams  uint64 // malformed or from an unknown address
}

// maxRecent bounds the transmissions remembered for collision checks.
// Policy at the bound: the oldest is forgotten (it ended long before any
// frame still in flight, at 1024 frames of at least 2 ms each).
const maxRecent = 1024

// Air is a simulated LoRa channel: nodes send TX datagrams to its UDP
// address; after the frame's airtime it sends RX datagrams to the nodes in
// range that did not lose it to the link's loss or to a collision (two
// frames on the same frequency, bandwidth and SF overlapping in time at a
// receiver, or the receiver transmitting meanwhile: half duplex). There is
// no capture effect. Links are directed; Connect makes both directions.
//
// Safe for concurrent use. Close it when done.
type Air struct {
	conn *net.UDPConn
	wg   sync.WaitGroup // the reader and pending deliveries

	mu     sync.Mutex // guards the fields below
	nodes  map[uint16]*net.UDPAddr
	links  map[[2]uint16]Link
	recent []transmission
	timers map[uint64]*time.Timer // pending deliveries by id
	nextID uint64
	rng    *rand.Rand
	stats  AirStats
	air    map[uint16]time.Duration // airtime transmitted per node
	closed bool
}

type transmission struct {
	d          Datagram
	start, end time.Time
}

// NewAir listens on 127.0.0.1 at a free port. seed makes loss repeatable.
func NewAir(seed uint64) (*Air, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("air: %w", err)
	}
	a := &Air{
		conn:   c,
		nodes:  map[uint16]*net.UDPAddr{},
		links:  map[[2]uint16]Link{},
		timers: map[uint64]*time.Timer{},
		air:    map[uint16]time.Duration{},
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	a.wg.Add(1)
	go a.read()
	return a, nil
}

// Addr is where nodes send their datagrams.
func (a *Air) Addr() *net.UDPAddr { return a.conn.LocalAddr().(*net.UDPAddr) }

// Connect puts x and y in range of each other with l both ways.
func (a *Air) Connect(x, y uint16, l Link) {
	a.SetLink(x, y, l)
	a.SetLink(y, x, l)
}

// SetLink sets the link from → to.
func (a *Air) SetLink(from, to uint16, l Link) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.links[[2]uint16{from, to}] = l
}

// Disconnect takes x and y out of range of each other.
func (a *Air) Disconnect(x, y uint16) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.links, [2]uint16{x, y})
	delete(a.links, [2]uint16{y, x})
}

// Stats returns the counters.
func (a *Air) Stats() AirStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// Airtime is the time node has spent transmitting, by the air's own
// reckoning: a check on a node's duty cycle that does not trust the node.
func (a *Air) Airtime(node uint16) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.air[node]
}

// Close stops the air; frames in flight are not delivered.
func (a *Air) Close() error {
	a.mu.Lock()
	a.closed = true
	for _, t := range a.timers {
		if t.Stop() {
			a.wg.Done()
		}
	}
	a.mu.Unlock()
	err := a.conn.Close()
	a.wg.Wait()
	return err
}

func (a *Air) read() {
	defer a.wg.Done()
	buf := make([]byte, MaxDatagram+1)
	for {
		n, from, err := a.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		d, err := ParseDatagram(buf[:n])
		a.mu.Lock()
		switch {
		case err != nil || d.Type == TypeRX:
			a.stats.BadDatagrams++
		case d.Type == TypeHello:
			a.nodes[d.Node] = from
		default:
			a.nodes[d.Node] = from
			a.transmit(d)
		}
		a.mu.Unlock()
	}
}

// transmit records d as on air now and schedules its delivery when it ends.
// Called with mu held.
func (a *Air) transmit(d Datagram) {
	if a.closed {
		return
	}
	d.Payload = append([]byte(nil), d.Payload...)
	air := d.modulation().Airtime(len(d.Payload))
	d.AirtimeUs = uint32(air / time.Microsecond)
	now := time.Now()
	tx := transmission{d: d, start: now, end: now.Add(air)}
	if len(a.recent) == maxRecent {
		a.recent = a.recent[1:]
	}
	a.recent = append(a.recent, tx)
	a.stats.Transmissions++
	a.air[d.Node] += air
	a.wg.Add(1)
	a.nextID++
	id := a.nextID
	a.timers[id] = time.AfterFunc(air, func() {
		defer a.wg.Done()
		a.deliver(tx, id)
	})
}

func (a *Air) deliver(tx transmission, id uint64) {
	a.mu.Lock()
	delete(a.timers, id)
	if a.closed {
		a.mu.Unlock()
		return
	}
	type out struct {
		addr *net.UDPAddr
		b    []byte
	}
	var outs []out
	for key, l := range a.links {
		if key[0] != tx.d.Node {
			continue
		}
		to := key[1]
		addr := a.nodes[to]
		if addr == nil {
			continue
		}
		if a.collides(tx, to) {
			a.stats.Collided++
			continue
		}
		if l.Loss > 0 && a.rng.Float64() < l.Loss {
			a.stats.Lost++
			continue
		}
		rx := tx.d
		rx.Type = TypeRX
		rx.RSSIDBm, rx.SNRQuarter = l.RSSIDBm, l.SNRQuarter
		if rx.RSSIDBm == 0 {
			rx.RSSIDBm = -90
		}
		if rx.SNRQuarter == 0 {
			rx.SNRQuarter = 40
		}
		outs = append(outs, out{addr, rx.Append(nil)})
		a.stats.Delivered++
	}
	a.mu.Unlock()
	for _, o := range outs {
		a.conn.WriteToUDP(o.b, o.addr) // best effort, like the air
	}
}

// collides reports whether another transmission overlapping tx in time
// reached receiver to on the same channel, or to itself was sending.
// Called with mu held.
func (a *Air) collides(tx transmission, to uint16) bool {
	for _, o := range a.recent {
		if o.d.Node == tx.d.Node {
			// tx itself, or another frame of its sender. A radio sends one
			// frame at a time; two of one node that seem to overlap are
			// back-to-back frames whose datagrams the air read late by a
			// scheduling delay, not a collision on air.
			continue
		}
		if !o.start.Before(tx.end) || !o.end.After(tx.start) {
			continue
		}
		if o.d.Node == to {
			return true // half duplex
		}
		if o.d.FrequencyHz != tx.d.FrequencyHz || o.d.BandwidthHz != tx.d.BandwidthHz || o.d.SF != tx.d.SF {
			continue
		}
		if _, ok := a.links[[2]uint16{o.d.Node, to}]; ok {
			return true
		}
	}
	return false
}
