package main

// The crash test: SIGKILL the relay while clients pipeline QoS 1 publishes,
// restart it on the same data directory, and check that every envelope whose
// PUBACK a client saw is still there (DESIGN.md, "Guarantees": a power cut
// after the ack loses nothing).

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

const (
	crashRounds         = 20
	crashPublishers     = 4   // concurrent clients per round
	crashRecipients     = 3   // fresh identities per round
	crashOutstanding    = 256 // publishes awaiting PUBACK, per client
	crashMinKillDelayMS = 50  // kill this long after the first PUBACK, at least…
	crashMaxKillDelayMS = 400 // …and at most
	crashReceiptEvery   = 2 * time.Millisecond
)

func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: not with -short")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>32))

	data := t.TempDir()
	r := startRelay(t, data)
	all := newLedger()
	var everyone []*relaytest.Identity
	var receipts []receiptJob // for half of the last round's envelopes
	start := time.Now()
	for round := range crashRounds {
		var ids []*relaytest.Identity
		for range crashRecipients {
			ids = append(ids, relaytest.NewIdentity())
		}
		everyone = append(everyone, ids...)
		delay := time.Duration(crashMinKillDelayMS+rng.IntN(crashMaxKillDelayMS-crashMinKillDelayMS+1)) * time.Millisecond
		l := publishUntilKilled(t, r, ids, receipts, delay, rng.Uint64())
		r = startRelay(t, data)
		got := collect(t, r, ids, l.acked, nil)
		for id := range got {
			if !l.sent[id] {
				t.Errorf("round %d: delivered %s, which no client sent", round, id)
			}
		}
		t.Logf("round %d: killed %v after the first PUBACK; %d sent, %d acknowledged and delivered after restart; "+
			"%d of %d receipts acknowledged",
			round, delay, len(l.sent), len(l.acked), l.receiptsAcked, len(receipts))
		all.merge(l)
		receipts = receiptsFor(ids, l.acked)
	}

	// Every acknowledged envelope of every round is still there after all
	// the crashes, except those an acknowledged receipt deleted: those must
	// stay deleted. An envelope whose receipt was sent but not acknowledged
	// may be either.
	r.stop()
	r = startRelay(t, data)
	want := make(map[codec.ID]codec.Tag)
	for id, tag := range all.acked {
		if !all.receiptSent[id] {
			want[id] = tag
		}
	}
	gone := make(map[codec.ID]bool)
	for id := range all.deleted {
		if _, ok := all.acked[id]; ok {
			gone[id] = true
		}
	}
	collect(t, r, everyone, want, gone)
	t.Logf("%d rounds in %v: %d envelopes acknowledged and found after SIGKILL; at the end %d still there and %d deleted by acknowledged receipts",
		crashRounds, time.Since(start).Round(time.Millisecond), len(all.acked), len(want), len(gone))
	if len(all.acked) == 0 || len(gone) == 0 {
		t.Fatal("too little was acknowledged to test anything")
	}
}

// receiptJob is a receipt to publish and the ids it deletes.
type receiptJob struct {
	e   *codec.Envelope
	ids []codec.ID
}

// receiptsFor makes signed receipts for every other acknowledged envelope,
// a few dozen ids per receipt.
func receiptsFor(ids []*relaytest.Identity, acked map[codec.ID]codec.Tag) []receiptJob {
	const perReceipt = 8
	var jobs []receiptJob
	for _, owner := range ids {
		var mine []codec.ID
		for id, tag := range acked {
			if tag == owner.Tag && id[0]&1 == 0 {
				mine = append(mine, id)
			}
		}
		for chunk := range slices.Chunk(mine, perReceipt) {
			e := codec.SignReceipt(owner.Key, chunk).Envelope(3600, codec.PrioUrgent)
			jobs = append(jobs, receiptJob{e, chunk})
		}
	}
	return jobs
}

// ledger records what the clients sent and which were acknowledged.
type ledger struct {
	mu            sync.Mutex // guards the fields below
	sent          map[codec.ID]bool
	acked         map[codec.ID]codec.Tag
	receiptSent   map[codec.ID]bool // ids named in a receipt that was published
	deleted       map[codec.ID]bool // ids named in a receipt that was acknowledged
	receiptsAcked int
}

func newLedger() *ledger {
	return &ledger{
		sent:        make(map[codec.ID]bool),
		acked:       make(map[codec.ID]codec.Tag),
		receiptSent: make(map[codec.ID]bool),
		deleted:     make(map[codec.ID]bool),
	}
}

func (l *ledger) merge(o *ledger) {
	maps.Copy(l.sent, o.sent)
	maps.Copy(l.acked, o.acked)
	maps.Copy(l.receiptSent, o.receiptSent)
	maps.Copy(l.deleted, o.deleted)
	l.receiptsAcked += o.receiptsAcked
}

// publishUntilKilled runs crashPublishers clients that publish envelopes to
// ids as fast as the relay takes them, and one more that publishes the
// receipts, all pipelined; it kills the relay delay after the first PUBACK
// and returns once every publish has its outcome.
func publishUntilKilled(t *testing.T, r *relayProc, ids []*relaytest.Identity, receipts []receiptJob, delay time.Duration, seed uint64) *ledger {
	t.Helper()
	l := newLedger()
	clients := make([]pahov3.Client, crashPublishers)
	for i := range clients {
		clients[i] = connect3(t, r, nil, fmt.Sprintf("crash-pub-%d", i))
	}

	firstAck := make(chan struct{})
	var once sync.Once
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var stuck atomic.Int64
	for i, c := range clients {
		type pending struct {
			tok pahov3.Token
			e   *codec.Envelope
		}
		queue := make(chan pending, crashOutstanding)
		// The publisher: as many publishes in flight as the queue holds.
		wg.Go(func() {
			defer close(queue)
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			for {
				e := relaytest.Message(ids[rng.IntN(len(ids))].Tag, codec.Prio(rng.IntN(3)), 16+rng.IntN(400))
				l.mu.Lock()
				l.sent[e.ID()] = true
				l.mu.Unlock()
				p := pending{c.Publish(sendTopic, 1, false, e.Encode()), e}
				select {
				case queue <- p:
				case <-stop:
					queue <- p
					return
				}
			}
		})
		// The collector: records an envelope only once its PUBACK is in.
		wg.Go(func() {
			for p := range queue {
				if !p.tok.WaitTimeout(2 * clientWait) {
					stuck.Add(1)
					continue
				}
				if p.tok.Error() != nil {
					continue
				}
				l.mu.Lock()
				l.acked[p.e.ID()] = p.e.To
				l.mu.Unlock()
				once.Do(func() { close(firstAck) })
			}
		})
	}

	// The receipt publisher.
	rc := connect3(t, r, nil, "crash-receipts")
	clients = append(clients, rc)
	wg.Go(func() {
		// Paced, so that the crash tends to fall among them.
		pace := time.NewTicker(crashReceiptEvery)
		defer pace.Stop()
		toks := make([]pahov3.Token, 0, len(receipts))
		for _, job := range receipts {
			select {
			case <-pace.C:
			case <-stop:
			}
			l.mu.Lock()
			for _, id := range job.ids {
				l.receiptSent[id] = true
			}
			l.mu.Unlock()
			toks = append(toks, rc.Publish(sendTopic, 1, false, job.e.Encode()))
		}
		for i, tok := range toks {
			if !tok.WaitTimeout(2 * clientWait) {
				stuck.Add(1)
				continue
			}
			if tok.Error() != nil {
				continue
			}
			l.mu.Lock()
			l.receiptsAcked++
			for _, id := range receipts[i].ids {
				l.deleted[id] = true
			}
			l.mu.Unlock()
		}
	})

	select {
	case <-firstAck:
	case <-time.After(clientWait):
		close(stop)
		wg.Wait()
		t.Fatalf("no PUBACK within %v", clientWait)
	}
	time.Sleep(delay) // the random moment of the crash, not synchronisation
	r.kill()
	close(stop)
	wg.Wait()
	for _, c := range clients {
		c.Disconnect(0)
	}
	if n := stuck.Load(); n > 0 {
		t.Errorf("%d publish tokens never completed after the relay was killed", n)
	}
	return l
}

// collect subscribes as each identity and returns what is delivered, once
// every id in want has arrived. It fails the test, naming them, if some do
// not arrive in time. With gone, it then waits until deliveries stop and
// fails if any of gone was among them.
func collect(t *testing.T, r *relayProc, ids []*relaytest.Identity, want map[codec.ID]codec.Tag, gone map[codec.ID]bool) map[codec.ID]bool {
	t.Helper()
	var mu sync.Mutex // guards got
	got := make(map[codec.ID]bool)
	changed := make(chan struct{}, 1)
	var clients []pahov3.Client
	for i, id := range ids {
		c := connect3(t, r, id, fmt.Sprintf("crash-sub-%d", i))
		clients = append(clients, c)
		topic := inboxPrefix + id.Tag.String()
		tok := c.Subscribe(topic, 1, func(_ pahov3.Client, m pahov3.Message) {
			e, err := codec.DecodeEnvelope(m.Payload())
			if err != nil {
				t.Errorf("delivered envelope does not decode: %v", err)
				return
			}
			if e.To != id.Tag {
				t.Errorf("%s delivered to inbox %s", e.ID(), id.Tag)
			}
			mu.Lock()
			got[e.ID()] = true
			mu.Unlock()
			select {
			case changed <- struct{}{}:
			default:
			}
		})
		if !tok.WaitTimeout(clientWait) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
		if code := tok.(*pahov3.SubscribeToken).Result()[topic]; code != 1 {
			t.Fatalf("subscription not granted: %#x", code)
		}
	}
	missing := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for id := range want {
			if !got[id] {
				out = append(out, id.String())
			}
		}
		return out
	}
	// Deliveries keep coming while they are being counted, so the deadline
	// only runs while none arrive.
	for {
		m := missing()
		if len(m) == 0 {
			break
		}
		select {
		case <-changed:
		case <-time.After(clientWait):
			slices.Sort(m)
			t.Fatalf("%d of %d acknowledged envelopes lost: %s", len(m), len(want), strings.Join(m, " "))
		}
	}
	if gone != nil {
		// Nothing more for a while: the inboxes are drained.
		for quiet := false; !quiet; {
			select {
			case <-changed:
			case <-time.After(time.Second):
				quiet = true
			}
		}
	}
	for _, c := range clients {
		c.Disconnect(0)
	}
	mu.Lock()
	defer mu.Unlock()
	var back []string
	for id := range gone {
		if got[id] {
			back = append(back, id.String())
		}
	}
	if len(back) > 0 {
		slices.Sort(back)
		t.Errorf("%d envelopes delivered after an acknowledged receipt deleted them: %s", len(back), strings.Join(back, " "))
	}
	return maps.Clone(got)
}

// connect3 connects a paho.mqtt.golang client (MQTT 3.1.1); id nil means
// anonymous. It is disconnected when the test ends.
func connect3(t *testing.T, r *relayProc, id *relaytest.Identity, name string) pahov3.Client {
	t.Helper()
	o := pahov3.NewClientOptions().
		AddBroker("tcp://" + r.addr).
		SetClientID(fmt.Sprintf("%s-%d", name, time.Now().UnixNano())).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(clientWait).
		SetWriteTimeout(clientWait)
	if id != nil {
		o.SetUsername(id.DID).SetPassword(id.Password())
	}
	c := pahov3.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(clientWait) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}
