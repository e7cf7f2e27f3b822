package radiolink_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/radio"
	"github.com/cairnmesh/cairn/relay/radiolink"
	"github.com/cairnmesh/cairn/relay/relaytest"
	"github.com/cairnmesh/cairn/relay/store"
)

// pqxdhFirstBytes is the size of a PQXDH first message's envelope: too
// large for one frame, six fragments.
const pqxdhFirstBytes = 1252

// TestFragmentedAcrossLine: a client at A sends a 1,252-byte envelope to a
// client at C through B, every link losing 20 % of frames. A and then B
// send it as fragments; receivers ask for the missing ones (NACK) and the
// sender repeats only those, or, if the last fragment is lost too, the
// whole envelope after AckWait. It arrives intact. Fragments resent against
// all fragments sent are logged.
func TestFragmentedAcrossLine(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time radio test")
	}
	t.Parallel()
	l := startLine(t, 0.2, 9, false)
	a, c := l.relays[0], l.relays[2]
	bob := relaytest.NewIdentity()
	sub := relaytest.Client(t, c, bob, "bob")
	got := relaytest.Inbox(t, sub, bob)
	alice := relaytest.Client(t, a, nil, "alice")

	e := relaytest.Message(bob.Tag, codec.PrioNormal, pqxdhFirstBytes-22)
	e.TTL = 86400
	raw := e.Encode()
	if len(raw) != pqxdhFirstBytes {
		t.Fatalf("envelope of %d bytes", len(raw))
	}
	frags, err := radio.Fragment(1, 1, raw)
	if err != nil || len(frags) != 6 {
		t.Fatalf("%d fragments, %v", len(frags), err)
	}
	start := time.Now()
	relaytest.Publish(t, alice, e)
	select {
	case r := <-got:
		if r.ID() != e.ID() || !bytes.Equal(r.Body, e.Body) || r.Kind != e.Kind || r.To != e.To || r.Prio != e.Prio {
			t.Fatalf("arrived changed: %d-byte body, id %s, want %s", len(r.Body), r.ID(), e.ID())
		}
		if r.Hops != 2 {
			t.Errorf("arrived with %d hops, want 2", r.Hops)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("not delivered in 60 s")
	}
	latency := time.Since(start)

	// Each relay's fragments: every transmission of the envelope is six,
	// plus those resent alone for a NACK.
	var sent, resent, nacks uint64
	for i, r := range l.relays {
		s := r.Radios()[0].Stats()
		n := s.EnvelopesSent*uint64(len(frags)) + s.FragmentsResent
		sent, resent, nacks = sent+n, resent+s.FragmentsResent, nacks+s.NacksSent
		t.Logf("relay %c: envelope sent %d times (%d repeats), fragments %d of which %d resent for NACKs; NACKs sent %d; frames %d, rx %d, on air %v",
			'A'+i, s.EnvelopesSent, s.Retransmissions, n, s.FragmentsResent, s.NacksSent, s.FramesSent, s.Received, l.air.Airtime(uint16(i+1)))
		if budget := r.Radios()[0].Ledger().Budget(); l.air.Airtime(uint16(i+1)) > budget {
			t.Errorf("relay %c: %v on air, budget %v", 'A'+i, l.air.Airtime(uint16(i+1)), budget)
		}
	}
	as := l.air.Stats()
	t.Logf("delivered %d bytes in %v: %d fragments sent, %d of them resent for %d NACKs; air: %d transmissions, %d lost, %d collided",
		len(raw), latency.Round(time.Millisecond), sent, resent, nacks, as.Transmissions, as.Lost, as.Collided)
	if sent < 2*uint64(len(frags)) {
		t.Errorf("only %d fragments sent over two hops", sent)
	}
}

// TestNackSelectiveRepeat: one link as the sender of a fragmented envelope
// and one as its receiver, each against a fake modem, the test playing the
// other side. The receiver, given every fragment but two, asks for exactly
// those two when the last one comes; the sender, asked for two, resends
// exactly those two (same transfer, same bytes) and nothing else; the
// receiver, given them, hands the whole envelope to the relay and acks it.
func TestNackSelectiveRepeat(t *testing.T) {
	t.Parallel()
	e := relaytest.Message(relaytest.NewIdentity().Tag, codec.PrioNormal, pqxdhFirstBytes-22)
	newLink := func(addr uint16, st *memStore, ingest radiolink.IngestFunc) (*radiolink.Link, *fakeDriver) {
		ledger, err := radio.NewLedger(10, 0, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		drv := newFakeDriver()
		l, err := radiolink.New(radiolink.Options{
			Name: "radio:0", Driver: drv, Modulation: fastMod, Ledger: ledger, Store: st, Ingest: ingest,
			Address: addr, AckWait: time.Hour, PollInterval: 10 * time.Millisecond, AntiEntropyInterval: -1,
			Seed: uint64(addr), Logger: relaytest.Logger(t),
		})
		if err != nil {
			t.Fatal(err)
		}
		l.Start()
		t.Cleanup(func() { l.Close() })
		beacon, _ := radio.AppendBeacon(nil, 0x0b, nil) // the test's address
		drv.rx <- radio.Packet{Data: beacon, SNRdB: 5}
		return l, drv
	}
	// frames returns the next n frames of type typ the link sends.
	frames := func(drv *fakeDriver, typ byte, n int) []radio.LinkFrame {
		t.Helper()
		var out []radio.LinkFrame
		timeout := time.After(10 * time.Second)
		for len(out) < n {
			select {
			case b := <-drv.sent:
				f, err := radio.DecodeLinkFrame(b)
				if err != nil {
					t.Fatalf("bad frame %x: %v", b, err)
				}
				if f.Type == typ {
					f.Data = slices.Clone(f.Data)
					out = append(out, f)
				}
			case <-timeout:
				t.Fatalf("%d frames of type %d within 10 s, want %d", len(out), typ, n)
			}
		}
		return out
	}

	t.Run("sender", func(t *testing.T) {
		st := newMemStore()
		st.put(e)
		l, drv := newLink(0x0a, st, func(_ []byte, from string, done func(codec.ID, error)) {
			t.Errorf("ingest from %s", from)
		})
		first := frames(drv, radio.LinkFragment, 6)
		xfer := first[0].Transfer
		for i, f := range first {
			if f.Sender != 0x0a || f.Transfer != xfer || int(f.Index) != i || f.Last != 5 {
				t.Fatalf("fragment %d: %+v", i, f)
			}
		}
		// Fragments 1 and 4 missing: base 1, bitmap 0b1001.
		nack := radio.LinkFrame{Type: radio.LinkNack, Transfer: xfer, Sender: 0x0a, Base: 1, Data: []byte{0x09}}.Append(nil)
		other := radio.LinkFrame{Type: radio.LinkNack, Transfer: xfer, Sender: 0x0c, Base: 0, Data: []byte{0x3f}}.Append(nil)
		drv.rx <- radio.Packet{Data: other} // another sender's transfer: not ours to answer
		drv.rx <- radio.Packet{Data: nack}
		again := frames(drv, radio.LinkFragment, 2)
		for k, want := range []int{1, 4} {
			f := again[k]
			if int(f.Index) != want || f.Transfer != xfer || !bytes.Equal(f.Data, first[want].Data) {
				t.Fatalf("resent fragment %d of transfer %03x, want %d of %03x unchanged", f.Index, f.Transfer, want, xfer)
			}
		}
		time.Sleep(200 * time.Millisecond) // 20 polls: nothing more is resent
		for len(drv.sent) > 0 {
			if f, err := radio.DecodeLinkFrame(<-drv.sent); err == nil && f.Type == radio.LinkFragment {
				t.Fatalf("fragment %d resent without being asked", f.Index)
			}
		}
		if s := l.Stats(); s.FragmentsResent != 2 || s.EnvelopesSent != 1 {
			t.Fatalf("stats: %d fragments resent, %d envelope transmissions; want 2, 1", s.FragmentsResent, s.EnvelopesSent)
		}
	})

	t.Run("receiver", func(t *testing.T) {
		ingested := make(chan []byte, 1)
		l, drv := newLink(0x0d, newMemStore(), func(raw []byte, _ string, done func(codec.ID, error)) {
			ingested <- raw
			done(e.ID(), nil)
		})
		frags, err := radio.Fragment(0x0b, 0x123, e.Encode())
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range frags {
			if i != 2 && i != 3 {
				drv.rx <- radio.Packet{Data: f, SNRdB: 5}
			}
		}
		nack := frames(drv, radio.LinkNack, 1)[0]
		if nack.Sender != 0x0b || nack.Transfer != 0x123 || !slices.Equal(radio.MissingIndexes(nack), []uint8{2, 3}) {
			t.Fatalf("nack for sender %04x transfer %03x, fragments %v; want 000b, 123, [2 3]", nack.Sender, nack.Transfer, radio.MissingIndexes(nack))
		}
		select {
		case <-ingested:
			t.Fatal("ingested with two fragments missing")
		default:
		}
		drv.rx <- radio.Packet{Data: frags[2], SNRdB: 5}
		drv.rx <- radio.Packet{Data: frags[3], SNRdB: 5}
		select {
		case raw := <-ingested:
			if !bytes.Equal(raw, e.Encode()) {
				t.Fatalf("reassembled %d bytes, not the envelope", len(raw))
			}
		case <-time.After(10 * time.Second):
			t.Fatal("not reassembled")
		}
		ack := frames(drv, radio.LinkControl, 1)
		for ack[0].Control != radio.ControlAck {
			ack = frames(drv, radio.LinkControl, 1)
		}
		if ids := radio.AckedIDs(ack[0]); len(ids) != 1 || ids[0] != radio.ShortOf(e.ID()) {
			t.Fatalf("acked %v", ids)
		}
		if s := l.Stats(); s.NacksSent != 1 || s.Received != 1 {
			t.Fatalf("stats: %d NACKs sent, %d received; want 1, 1", s.NacksSent, s.Received)
		}
	})
}

// TestFragmentAckWait, against a fake modem that takes frames at once: the
// wait before a fragmented envelope is sent again covers the airtime of
// all its fragments (a NACK may ask for every one of them) besides
// AckWait, and a NACK moves it on by the airtime of what it asks for; a
// whole envelope waits AckWait. Only lower bounds are asserted: a loaded
// machine makes the link later, never earlier.
func TestFragmentAckWait(t *testing.T) {
	t.Parallel()
	mod := radio.Modulation{BandwidthHz: 125000, SF: 7, CR: 5} // a full fragment takes 400 ms
	const ackWait = 200 * time.Millisecond
	// airOf is the airtime of a fragment as the modem sends it.
	airOf := func(f radio.LinkFrame) time.Duration {
		return mod.Airtime(radio.FragmentHeaderBytes + len(f.Data) + radio.RNodeHeaderBytes)
	}
	start := func(t *testing.T, e *codec.Envelope) *fakeDriver {
		ledger, err := radio.NewLedger(10, 0, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		st := newMemStore()
		st.put(e)
		drv := newFakeDriver()
		l, err := radiolink.New(radiolink.Options{
			Name: "radio:0", Driver: drv, Modulation: mod, Ledger: ledger, Store: st,
			Ingest: func(_ []byte, from string, done func(codec.ID, error)) {
				t.Errorf("ingest from %s", from)
				done(codec.ID{}, store.ErrClosed)
			},
			Address: 0x0a, AckWait: ackWait, PollInterval: 10 * time.Millisecond, AntiEntropyInterval: -1,
			Seed: 3, Logger: relaytest.Logger(t),
		})
		if err != nil {
			t.Fatal(err)
		}
		l.Start()
		t.Cleanup(func() { l.Close() })
		beacon, _ := radio.AppendBeacon(nil, 0x0b, nil) // a neighbour that never acks
		drv.rx <- radio.Packet{Data: beacon, SNRdB: 5}
		return drv
	}
	// next returns the next envelope-carrying frame and when it was sent.
	next := func(t *testing.T, drv *fakeDriver) (radio.LinkFrame, time.Time) {
		t.Helper()
		timeout := time.After(60 * time.Second)
		for {
			select {
			case b := <-drv.sent:
				at := time.Now()
				f, err := radio.DecodeLinkFrame(b)
				if err != nil {
					t.Fatalf("bad frame %x: %v", b, err)
				}
				if f.Type == radio.LinkWhole || f.Type == radio.LinkFragment {
					return f, at
				}
			case <-timeout:
				t.Fatal("nothing sent within 60 s")
			}
		}
	}
	// The retransmission wait is jittered to ¾ … 5⁄4 of its value.
	atLeast := func(t *testing.T, what string, got, base time.Duration) {
		t.Helper()
		if min := base * 3 / 4; got < min {
			t.Errorf("%s after %v, want at least %v (¾ of %v)", what, got, min, base)
		}
		t.Logf("%s after %v (base %v)", what, got.Round(time.Millisecond), base)
	}

	t.Run("whole", func(t *testing.T) {
		t.Parallel()
		drv := start(t, relaytest.Message(relaytest.NewIdentity().Tag, codec.PrioNormal, 41))
		_, t0 := next(t, drv)
		_, t1 := next(t, drv)
		atLeast(t, "whole envelope sent again", t1.Sub(t0), ackWait)
	})

	t.Run("fragmented", func(t *testing.T) {
		t.Parallel()
		drv := start(t, relaytest.Message(relaytest.NewIdentity().Tag, codec.PrioNormal, pqxdhFirstBytes-22))
		var t0 time.Time
		var air time.Duration
		for i := range 6 {
			f, at := next(t, drv)
			if f.Type != radio.LinkFragment || int(f.Index) != i {
				t.Fatalf("frame %d: %+v", i, f)
			}
			t0 = at
			air += airOf(f)
		}
		f, t1 := next(t, drv)
		if f.Type != radio.LinkFragment || f.Index != 0 {
			t.Fatalf("retransmission starts with %+v", f)
		}
		// 6 fragments: AckWait + their 2.05 s on air (+ a NACK): ten times
		// a whole envelope's wait.
		atLeast(t, "fragmented envelope sent again", t1.Sub(t0), ackWait+air)
	})

	t.Run("nack", func(t *testing.T) {
		t.Parallel()
		drv := start(t, relaytest.Message(relaytest.NewIdentity().Tag, codec.PrioNormal, pqxdhFirstBytes-22))
		var xfer uint16
		for range 6 {
			f, _ := next(t, drv)
			xfer = f.Transfer
		}
		// Every fragment missing, asked for at once: the resend of all six
		// comes in the NACK slot, then the wait starts over from the NACK.
		nack := radio.LinkFrame{Type: radio.LinkNack, Transfer: xfer, Sender: 0x0a, Base: 0, Data: []byte{0x3f}}.Append(nil)
		tn := time.Now()
		drv.rx <- radio.Packet{Data: nack, SNRdB: 5}
		var air time.Duration
		for i := range 6 {
			f, _ := next(t, drv)
			if int(f.Index) != i || f.Transfer != xfer {
				t.Fatalf("resent for the NACK: fragment %d of %03x, want %d of %03x", f.Index, f.Transfer, i, xfer)
			}
			air += airOf(f)
		}
		_, t1 := next(t, drv)
		if got, min := t1.Sub(tn), ackWait+air; got < min {
			t.Errorf("sent whole again %v after the NACK, want at least %v", got, min)
		}
	})
}
