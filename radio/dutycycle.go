package radio

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cairnmesh/cairn/codec"
)

// DutyCycleWindow is the observation period of a duty cycle: one hour
// (ETSI EN 300 220-1 V3.1.1 §5.4 / EN 300 220-2 §4.3.3).
const DutyCycleWindow = time.Hour

// maxLedgerRecords bounds a Ledger's memory. Policy at the bound: the two
// oldest records merge into one that carries their summed airtime and the
// later start, so it leaves the window later: the ledger may over-count,
// never under-count.
const maxLedgerRecords = 4096

// Priority shares of the budget: a reservation of priority p succeeds only
// if the airtime used in the window stays within share[p] of the budget,
// so the last part of the budget is kept for more urgent traffic and urgent
// envelopes go out when bulk has to wait.
var prioShare = [...]float64{
	codec.PrioBulk:   0.5,
	codec.PrioNormal: 0.8,
	codec.PrioUrgent: 1.0,
}

// Errors of Reserve.
var (
	ErrOverBudget = errors.New("airtime larger than the budget allows at this priority")
	ErrDwellTime  = errors.New("airtime longer than the band's dwell time")
)

// Ledger is a rolling duty-cycle account for one radio: airtime spent in
// the last DutyCycleWindow may never exceed dutyCycle × window. Safe for
// concurrent use. Create with NewLedger.
type Ledger struct {
	budget time.Duration
	window time.Duration
	dwell  time.Duration
	now    func() time.Time

	mu   sync.Mutex // guards recs and used
	recs []ledgerRec
	used time.Duration // sum of recs' airtime
}

type ledgerRec struct {
	start   time.Time
	airtime time.Duration
}

// NewLedger returns a ledger allowing dutyCyclePercent of window (0 means
// DutyCycleWindow) and single transmissions of at most dwell (0: no limit),
// reading time from now (nil: time.Now).
func NewLedger(dutyCyclePercent float64, window, dwell time.Duration, now func() time.Time) (*Ledger, error) {
	if dutyCyclePercent <= 0 || dutyCyclePercent > 100 {
		return nil, fmt.Errorf("duty cycle %v %%: want (0, 100]", dutyCyclePercent)
	}
	if window <= 0 {
		window = DutyCycleWindow
	}
	if now == nil {
		now = time.Now
	}
	return &Ledger{
		budget: time.Duration(float64(window) * dutyCyclePercent / 100),
		window: window, dwell: dwell, now: now,
	}, nil
}

// Budget is the airtime allowed per window.
func (l *Ledger) Budget() time.Duration { return l.budget }

// Used is the airtime spent in the current window.
func (l *Ledger) Used() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire(l.now())
	return l.used
}

// Reserve books airtime starting now if the budget at prio allows it and
// returns 0; otherwise it books nothing and returns how long until it
// would. It fails when airtime can never fit at prio or breaks the dwell
// time.
func (l *Ledger) Reserve(airtime time.Duration, prio codec.Prio) (wait time.Duration, err error) {
	if prio > codec.PrioUrgent {
		prio = codec.PrioUrgent
	}
	if l.dwell > 0 && airtime > l.dwell {
		return 0, fmt.Errorf("reserving %v: %w (%v)", airtime, ErrDwellTime, l.dwell)
	}
	limit := time.Duration(float64(l.budget) * prioShare[prio])
	if airtime > limit {
		return 0, fmt.Errorf("reserving %v at %v: %w (%v)", airtime, prio, ErrOverBudget, limit)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.expire(now)
	if l.used+airtime <= limit {
		l.book(ledgerRec{now, airtime})
		return 0, nil
	}
	// Wait until enough of the oldest records leave the window.
	excess := l.used + airtime - limit
	for _, r := range l.recs {
		excess -= r.airtime
		if excess <= 0 {
			return r.start.Add(l.window).Sub(now), nil
		}
	}
	panic("radio: ledger used exceeds the sum of its records")
}

func (l *Ledger) expire(now time.Time) {
	i := 0
	for i < len(l.recs) && !l.recs[i].start.Add(l.window).After(now) {
		l.used -= l.recs[i].airtime
		i++
	}
	l.recs = l.recs[i:]
}

func (l *Ledger) book(r ledgerRec) {
	if len(l.recs) == maxLedgerRecords {
		l.recs[1].airtime += l.recs[0].airtime
		l.recs = l.recs[1:]
	}
	l.recs = append(l.recs, r)
	l.used += r.airtime
}
