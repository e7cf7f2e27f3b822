package radiolink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/radio"
	"github.com/cairnmesh/cairn/relay/store"
)

// LinkName is the store link of the i-th configured radio.
func LinkName(i int) string { return fmt.Sprintf("radio:%d", i) }

// HeardFrom is the name a link gives the relay's ingest path for envelopes
// it heard on the air. It is not a store link, so what a radio hears is
// owed to that radio as well: managed flooding decides whether it goes out
// again (see the package doc).
func HeardFrom(link string) string { return link + "/air" }

// Driver is the modem; *radio.RNode is one.
type Driver interface {
	Send(ctx context.Context, frame []byte) error
	Receive() <-chan radio.Packet
}

// Store is what a link needs of the relay's store; *store.Store is one.
type Store interface {
	Pending(link string, afterSeq uint64, limit int) ([]store.Item, error)
	Get(id codec.ID) (store.Item, bool, error)
	PendingPrio(link string, prio codec.Prio, afterSeq uint64, limit int) ([]store.Item, uint64, error)
	MarkSent(link string, ids ...codec.ID) error
}

// IngestFunc is the relay's one ingest path: decode, validate, store raw,
// which arrived from from, then call done exactly once, without blocking,
// when it is durable or refused (store.ErrDuplicate: already durable).
type IngestFunc func(raw []byte, from string, done func(codec.ID, error))

// Defaults of Options.
const (
	DefaultBeaconInterval = 10 * time.Minute
	DefaultMaxBackoff     = 5 * time.Minute
	DefaultPollInterval   = 250 * time.Millisecond
)

// Implementation limits. Policy at each bound is in its comment.
const (
	// candidatesPerPrio is how many owed envelopes of each priority the
	// sender looks at per round; the rest wait their turn in Seq order.
	candidatesPerPrio = 32
	// maxTracked bounds the envelopes with retransmission state; beyond
	// it no new envelope is sent until one is done (they stay owed).
	maxTracked = 1024
	// maxHeard bounds the ids remembered as heard for flooding; the
	// oldest is forgotten (its envelope then goes out without delay).
	maxHeard = 4096
	// maxNeighbours bounds the neighbour table; a new neighbour replaces
	// the one heard longest ago.
	maxNeighbours = 64
	// maxFlows bounds the per-tag airtime account of rate shaping; the
	// smallest accounts are dropped.
	maxFlows = 1024
	// maxAcksQueued bounds ids waiting to be acked; beyond it the oldest
	// are dropped (their senders retransmit and get acked then).
	maxAcksQueued = 1024
	// maxTransfers bounds fragmented envelopes kept for NACKs; the oldest
	// is forgotten (a NACK for it is ignored, retransmission covers it).
	maxTransfers = 16
	// flowHalfLife is how fast a flow's airtime account decays.
	flowHalfLife = 10 * time.Minute
	// directedTries is how often an envelope goes directed to a neighbour
	// that claims its tag before it is flooded instead.
	directedTries = 3
)

// Options configure New. Name, Driver, Modulation, Ledger, Store and Ingest
// are required.
type Options struct {
	Name       string // store link, LinkName(i)
	Driver     Driver
	Modulation radio.Modulation // of the channel, for airtime
	Ledger     *radio.Ledger    // the radio's duty cycle
	Store      Store
	Ingest     IngestFunc
	Tags       func() []codec.Tag // tags served here, for beacons and serves frames; nil: none
	Address    uint16             // link address on the channel; 0: random
	MaxHops    uint8              // never send an envelope whose hops would pass this; default 16
	// Uplinked reports whether the relay has a working uplink of its own;
	// a relay without one (nil: never) follows each beacon with a serves
	// frame listing its tags, so that a neighbour with an uplink fetches
	// what the internet holds for them.
	Uplinked func() bool
	// OnNeighbourTags is called, outside the link's lock, with the tags a
	// neighbour's serves frame lists and how long they hold (the neighbour
	// timeout) unless announced again. nil: serves frames are ignored.
	OnNeighbourTags func(tags []codec.Tag, ttl time.Duration)
	// Flood turns directed forwarding off: every envelope is flooded and
	// waits for every neighbour's ack (for measurements; see docs/radio.md).
	Flood bool

	BeaconInterval   time.Duration // default 10 min, ±10 % jitter
	NeighbourTimeout time.Duration // default 3 × BeaconInterval + 1 min
	AckWait          time.Duration // first wait for acks; default 2 × full-frame airtime + ack delay + 1 s
	MaxBackoff       time.Duration // cap of the doubling retransmission wait; default 5 min
	PollInterval     time.Duration // store polled this often besides Poke; default 250 ms
	// AntiEntropyInterval: a summary of what is held here goes to the
	// neighbours this often when the link is idle (and always when a
	// neighbour appears); default 30 min; negative: no anti-entropy
	// summaries from this link (it still answers its neighbours').
	AntiEntropyInterval time.Duration
	Seed                uint64       // randomness (delays, address); 0: random
	Logger              *slog.Logger // default slog.Default()
}

// Stats count a link's work since New.
type Stats struct {
	FramesSent, FramesReceived, BadFrames uint64
	Airtime                               time.Duration // booked in the ledger and sent
	EnvelopesSent, Retransmissions        uint64        // envelope transmissions; of which repeats
	Received, Duplicates, Refused         uint64        // envelopes from the air, by ingest outcome
	AcksSent, AcksReceived                uint64        // ack frames
	Done                                  uint64        // envelopes marked sent after every neighbour acked
	Suppressed                            uint64        // heard envelopes not rebroadcast: a neighbour did
	Directed, DirectedFailed              uint64        // envelope transmissions directed to a neighbour; envelopes flooded after directedTries
	Flooded                               uint64        // envelope transmissions to every neighbour (whole or fragmented)
	Arrived                               uint64        // heard envelopes not rebroadcast: their tag is served here
	Overheard                             uint64        // directed frames for another neighbour, not taken
	HopLimited                            uint64        // owed envelopes not sent: hops would pass MaxHops
	BeaconsSent, BeaconsReceived          uint64
	ServesSent, ServesReceived            uint64 // serves frames: the tags served here, listed for a neighbour's uplink
	NacksSent, FragmentsResent            uint64
	Summaries, SummaryFrames              uint64 // anti-entropy: summaries started here, their frames
	SummariesRead                         uint64 // our summaries a neighbour read and answered
	Pushed                                uint64 // envelopes sent because a reconciliation showed a neighbour lacks them
	Neighbours                            int    // known now
}

// Link runs one radio. Safe for concurrent use; create with New, then
// Start, and Close when done.
type Link struct {
	opts Options
	log  *slog.Logger
	poke chan struct{}
	re   *radio.Reassembler

	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex // guards everything below
	rng        *rand.Rand
	out        map[codec.ID]*outState
	byShort    map[radio.ShortID]codec.ID
	heard      map[codec.ID]*heardState
	heardOrder []codec.ID // oldest first, for the bound
	neighbours map[uint16]*neighbour
	flows      map[codec.Tag]*flow
	acks       []codec.ID // durable, not yet acked
	acksDue    time.Time  // when the queued acks go out
	beaconDue  time.Time
	servesDue  bool              // a serves frame follows the beacon just sent
	servesNext int               // where the next serves frame starts in the sorted served tags
	holdUntil  time.Time         // no envelope or beacon before: the channel is left for acks
	transfers  map[uint16][]byte // transfer id → envelope, for NACKs
	xferOrder  []uint16
	nextXfer   uint16
	nacks      [][]byte // NACK frames to send
	stats      Stats

	// anti-entropy (antientropy.go)
	held        map[codec.ID]time.Time // envelopes stored here → expiry
	heldOrder   []codec.ID
	indexedSeq  uint64 // owed list read through this Seq
	ae          *aeSession
	aeMeet      time.Time // a summary for a new neighbour is due; zero: none
	aeDue       time.Time // the next periodic summary
	readers     map[readerKey]*reader
	pushes      map[codec.ID]*pushState
	pushByShort map[radio.ShortID]codec.ID
	controls    [][]byte // done frames to send
}

// outState is the retransmission state of one owed envelope.
type outState struct {
	attempts int
	to       uint16 // directed to this neighbour (it alone must ack); 0: flooded
	directed int    // directed transmissions so far
	nextTry  time.Time
	acked    map[uint16]bool
	transfer uint16 // fragmented: its transfer id; 0 until first sent
	xferSet  bool
}

// heardState is what the link knows of an envelope it heard on the air and
// may rebroadcast.
type heardState struct {
	hops       uint8     // as first heard
	eligible   time.Time // rebroadcast not before
	suppressed bool      // heard again with more hops
}

type neighbour struct {
	lastHeard time.Time
	filter    radio.TagFilter
	snrDB     float64
}

type flow struct {
	airtime float64 // seconds, decayed
	at      time.Time
}

// New checks opts and returns a link ready to Start.
func New(opts Options) (*Link, error) {
	switch {
	case opts.Name == "":
		return nil, errors.New("radiolink: Name is required")
	case opts.Driver == nil || opts.Ledger == nil || opts.Store == nil || opts.Ingest == nil:
		return nil, errors.New("radiolink: Driver, Ledger, Store and Ingest are required")
	}
	if err := opts.Modulation.Validate(); err != nil {
		return nil, fmt.Errorf("radiolink: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxHops == 0 {
		opts.MaxHops = store.DefaultMaxHops
	}
	if opts.BeaconInterval <= 0 {
		opts.BeaconInterval = DefaultBeaconInterval
	}
	if opts.NeighbourTimeout <= 0 {
		opts.NeighbourTimeout = 3*opts.BeaconInterval + time.Minute
	}
	if opts.AckWait <= 0 {
		opts.AckWait = 2*opts.Modulation.Airtime(radio.RNodeSingleMTU) + maxAckDelay(opts.Modulation) + time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.AntiEntropyInterval == 0 {
		opts.AntiEntropyInterval = DefaultAntiEntropyInterval
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x5deece66d))
	if opts.Address == 0 {
		opts.Address = uint16(1 + rng.IntN(0xFFFF))
	}
	return &Link{
		opts:       opts,
		log:        opts.Logger.With("link", opts.Name),
		poke:       make(chan struct{}, 1),
		re:         radio.NewReassembler(radio.ReassemblyOptions{}),
		rng:        rng,
		out:        map[codec.ID]*outState{},
		byShort:    map[radio.ShortID]codec.ID{},
		heard:      map[codec.ID]*heardState{},
		neighbours: map[uint16]*neighbour{},
		flows:      map[codec.Tag]*flow{},
		transfers:  map[uint16][]byte{},
		nextXfer:   uint16(rng.IntN(radio.MaxTransferID + 1)),

		held:        map[codec.ID]time.Time{},
		readers:     map[readerKey]*reader{},
		pushes:      map[codec.ID]*pushState{},
		pushByShort: map[radio.ShortID]codec.ID{},
	}, nil
}

// Name is the link's store link name.
func (l *Link) Name() string { return l.opts.Name }

// Address is the link's address on the channel.
func (l *Link) Address() uint16 { return l.opts.Address }

// Ledger is the radio's duty-cycle ledger.
func (l *Link) Ledger() *radio.Ledger { return l.opts.Ledger }

// Start runs the sender and the receiver until Close. The first beacon
// goes out within a second.
func (l *Link) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.mu.Lock()
	l.beaconDue = time.Now().Add(l.jitter(0, 3*time.Second))
	l.aeDue = time.Now().Add(l.jitter(l.opts.AntiEntropyInterval/2, l.opts.AntiEntropyInterval))
	l.mu.Unlock()
	l.wg.Add(2)
	go func() { defer l.wg.Done(); l.sendLoop(ctx) }()
	go func() { defer l.wg.Done(); l.receiveLoop(ctx) }()
}

// Close stops the link; the driver is the caller's to close.
func (l *Link) Close() error {
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
	return nil
}

// Poke wakes the sender: something new may be owed. It never blocks.
func (l *Link) Poke() {
	select {
	case l.poke <- struct{}{}:
	default:
	}
}

// Stats returns the counters.
func (l *Link) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Neighbours = len(l.liveNeighbours(time.Now()))
	return s
}

// Neighbours returns the addresses of the neighbours known now.
func (l *Link) Neighbours() []uint16 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.liveNeighbours(time.Now())
}

// Claimant returns the neighbour an envelope for tag would be directed to
// now — the live one whose last beacon's filter claims tag, heard at the
// best SNR — or false if it would be flooded (docs/radio.md, "Directed
// forwarding").
func (l *Link) Claimant(tag codec.Tag) (uint16, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.claimant(tag, time.Now())
	return a, a != 0
}

// claimant is called with mu held.
func (l *Link) claimant(tag codec.Tag, now time.Time) uint16 {
	var best uint16
	bestSNR := math.Inf(-1)
	for a, n := range l.neighbours {
		if now.Sub(n.lastHeard) < l.opts.NeighbourTimeout && n.filter.Has(tag) && n.snrDB > bestSNR {
			best, bestSNR = a, n.snrDB
		}
	}
	return best
}

// liveNeighbours is called with mu held.
func (l *Link) liveNeighbours(now time.Time) []uint16 {
	var out []uint16
	for a, n := range l.neighbours {
		if now.Sub(n.lastHeard) < l.opts.NeighbourTimeout {
			out = append(out, a)
		} else {
			delete(l.neighbours, a)
		}
	}
	return out
}

// heardNeighbour records a frame from addr; a new neighbour gets our beacon
// soon and every owed envelope is offered again. Called with mu held.
func (l *Link) heardNeighbour(addr uint16, snr float64, now time.Time) *neighbour {
	n := l.neighbours[addr]
	if n == nil || now.Sub(n.lastHeard) >= l.opts.NeighbourTimeout {
		if len(l.neighbours) >= maxNeighbours {
			var oldest uint16
			for a, m := range l.neighbours {
				if o := l.neighbours[oldest]; o == nil || m.lastHeard.Before(o.lastHeard) {
					oldest = a
				}
			}
			delete(l.neighbours, oldest)
		}
		n = &neighbour{}
		l.neighbours[addr] = n
		l.log.Info("neighbour heard", "addr", fmt.Sprintf("%04x", addr), "snr_db", snr)
		if due := now.Add(l.jitter(200*time.Millisecond, 2*time.Second)); due.Before(l.beaconDue) {
			l.beaconDue = due
		}
		// Every owed envelope is due again, once the two have compared
		// what they hold: the one with the lower address sends its
		// summary at once (the other reads it).
		wait := meetWait(l.opts.Modulation)
		for _, st := range l.out {
			st.nextTry = now.Add(wait)
		}
		if l.opts.Address < addr && l.opts.AntiEntropyInterval > 0 {
			if due := now.Add(l.jitter(100*time.Millisecond, 500*time.Millisecond)); l.aeMeet.IsZero() || due.Before(l.aeMeet) {
				l.aeMeet = due
			}
		}
	}
	n.lastHeard, n.snrDB = now, snr
	return n
}

// jitter returns a random duration in [lo, hi). Called with mu held or
// before Start.
func (l *Link) jitter(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(l.rng.Int64N(int64(hi-lo)))
}

// meetWait is how long owed envelopes wait after a neighbour appears, so
// that the summary exchange can tell which of them it already holds: a
// beacon answer, two summary frames and a done frame, with room.
func meetWait(m radio.Modulation) time.Duration {
	return 2*time.Second + 4*m.Airtime(radio.RNodeSingleMTU) + maxAckDelay(m)
}

// ackGap is how long the channel is left quiet after an envelope so that
// its receivers' acks are not lost to our next frame (a radio cannot hear
// while it sends): the longest ack delay and one short ack.
func ackGap(m radio.Modulation) time.Duration {
	return maxAckDelay(m) + m.Airtime(radio.ControlHeaderBytes+4*radio.ShortIDBytes+radio.RNodeHeaderBytes) + 50*time.Millisecond
}

// Acks go in one of ackSlots slots, each a little longer than an ack of a
// few ids, chosen by the acker's address and the envelope's id: two
// neighbours that both ack a rebroadcast (and, hidden from each other,
// cannot hear each other) collide in one envelope of ackSlots, and then not
// in the same way on the next.
const ackSlots = 8

func ackSlot(m radio.Modulation) time.Duration {
	return m.Airtime(radio.ControlHeaderBytes+4*radio.ShortIDBytes+radio.RNodeHeaderBytes) + 20*time.Millisecond
}

// ackDelay is when the ack of id goes out after it became durable.
func (l *Link) ackDelay(id codec.ID) time.Duration {
	slot := (int(l.opts.Address) ^ int(id[0]) ^ int(l.opts.Address>>8)) % ackSlots
	return time.Duration(slot) * ackSlot(l.opts.Modulation)
}

// maxAckDelay is the longest a receiver waits before acking.
func maxAckDelay(m radio.Modulation) time.Duration {
	return ackSlots * ackSlot(m)
}
