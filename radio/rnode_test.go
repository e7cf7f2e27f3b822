package radio_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/radio"
	"github.com/cairnmesh/cairn/radio/radiotest"
)

// fast is a channel on which a 64-byte frame takes 10 ms.
var fast = radio.Modulation{BandwidthHz: 500000, SF: 7, CR: 5}

const testFreq = 869525000

type bench struct {
	t   *testing.T
	air *radiotest.Air
}

func newBench(t *testing.T) *bench {
	air, err := radiotest.NewAir(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { air.Close() })
	return &bench{t, air}
}

func (b *bench) modem(node uint16, opts radiotest.FakeRNodeOptions) *radiotest.FakeRNode {
	opts.Air, opts.Node, opts.Dir = b.air, node, b.t.TempDir()
	f, err := radiotest.NewFakeRNode(opts)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { f.Close() })
	return f
}

func (b *bench) driver(f *radiotest.FakeRNode, edit func(*radio.RNodeOptions)) *radio.RNode {
	o := radio.RNodeOptions{
		Open:         radio.SerialOpener(f.Path()),
		FrequencyHz:  testFreq,
		Modulation:   fast,
		TxPowerDBm:   14,
		LTALock:      1000, // 10 %
		ReplyTimeout: 300 * time.Millisecond,
		MinBackoff:   10 * time.Millisecond,
		MaxBackoff:   100 * time.Millisecond,
		ReadyPoll:    5 * time.Millisecond,
	}
	if edit != nil {
		edit(&o)
	}
	r, err := radio.OpenRNode(o)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { r.Close() })
	return r
}

func wait(t *testing.T, r *radio.RNode, s ...radio.State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.WaitState(ctx, s...); err != nil {
		_, last := r.Status()
		t.Fatalf("%v (last error: %v)", err, last)
	}
}

func recv(t *testing.T, r *radio.RNode) radio.Packet {
	t.Helper()
	select {
	case p := <-r.Receive():
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no packet")
	}
	return radio.Packet{}
}

func send(t *testing.T, r *radio.RNode, frame []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Send(ctx, frame); err != nil {
		t.Fatal(err)
	}
}

// pair returns two configured drivers whose modems are in range.
func pair(t *testing.T, opts radiotest.FakeRNodeOptions) (*bench, *radiotest.FakeRNode, *radio.RNode, *radiotest.FakeRNode, *radio.RNode) {
	b := newBench(t)
	fa, fb := b.modem(1, opts), b.modem(2, opts)
	b.air.Connect(1, 2, radiotest.Link{RSSIDBm: -101, SNRQuarter: -7})
	a, c := b.driver(fa, nil), b.driver(fb, nil)
	wait(t, a, radio.StateReady)
	wait(t, c, radio.StateReady)
	return b, fa, a, fb, c
}

func TestRNodeDetectConfigureExchange(t *testing.T) {
	_, _, a, _, c := pair(t, radiotest.FakeRNodeOptions{})
	if info := a.Info(); info.FirmwareMajor != 1 || info.FirmwareMinor != 82 || info.Platform != 0x80 || info.MCU != 0x81 {
		t.Fatalf("info %+v", info)
	}
	frame := []byte{0xC0, 0xDB, 1, 2, 3} // bytes that need escaping
	send(t, a, frame)
	p := recv(t, c)
	if !bytes.Equal(p.Data, frame) || p.RSSIDBm != -101 || p.SNRdB != -1.75 {
		t.Fatalf("got %+v", p)
	}
	big := bytes.Repeat([]byte{0xAB}, radio.MaxFrameBytes)
	send(t, c, big)
	if p := recv(t, a); !bytes.Equal(p.Data, big) {
		t.Fatalf("got %d bytes", len(p.Data))
	}
	if err := a.Send(context.Background(), append(big, 0)); !errors.Is(err, radio.ErrFrameTooLarge) {
		t.Fatalf("oversize frame: %v", err)
	}
}

func TestRNodeEchoMismatch(t *testing.T) {
	b := newBench(t)
	f := b.modem(1, radiotest.FakeRNodeOptions{MaxTxP: 17})
	r := b.driver(f, func(o *radio.RNodeOptions) { o.TxPowerDBm = 22 })
	wait(t, r, radio.StateLost)
	_, err := r.Status()
	var mm *radio.EchoMismatchError
	if !errors.As(err, &mm) || mm.Setting != "tx_power_dbm" || mm.Want != 22 || mm.Got != 17 {
		t.Fatalf("error %v", err)
	}
}

func TestRNodeNotAnRNode(t *testing.T) {
	b := newBench(t)
	f := b.modem(1, radiotest.FakeRNodeOptions{})
	f.Wedge(true) // a serial device that says nothing
	r := b.driver(f, nil)
	wait(t, r, radio.StateLost)
	if _, err := r.Status(); !errors.Is(err, radio.ErrNoAnswer) {
		t.Fatalf("error %v", err)
	}
}

func TestRNodeGarbageOnTheLine(t *testing.T) {
	_, fa, a, _, c := pair(t, radiotest.FakeRNodeOptions{})
	garbage := []byte("\r\nRNode boot\r\n\xdb\x41\xc0\xc0\x99\xdb\xc0")
	if err := fa.WriteSerial(garbage); err != nil {
		t.Fatal(err)
	}
	send(t, c, []byte("after garbage"))
	if p := recv(t, a); string(p.Data) != "after garbage" {
		t.Fatalf("got %q", p.Data)
	}
	if st, _ := a.Status(); st != radio.StateReady {
		t.Fatalf("state %v", st)
	}
	if s := a.Stats().KISS; s.BadEscape == 0 {
		t.Fatalf("kiss stats %+v", s)
	}
}

func TestRNodeVanishesMidFrameAndReturns(t *testing.T) {
	_, fa, a, _, c := pair(t, radiotest.FakeRNodeOptions{})
	// Half a DATA frame, then the cable is pulled.
	if err := fa.WriteSerial([]byte{radio.FEND, radio.CmdData, 'h', 'a', 'l'}); err != nil {
		t.Fatal(err)
	}
	fa.Unplug()
	wait(t, a, radio.StateLost)
	fa.Reset() // and it lost power: settings gone
	if err := fa.Plug(); err != nil {
		t.Fatal(err)
	}
	wait(t, a, radio.StateReady)
	send(t, c, []byte("welcome back"))
	if p := recv(t, a); string(p.Data) != "welcome back" {
		t.Fatalf("got %q", p.Data)
	}
	send(t, a, []byte("thanks"))
	if p := recv(t, c); string(p.Data) != "thanks" {
		t.Fatalf("got %q", p.Data)
	}
	if a.Stats().Reconnects == 0 {
		t.Fatal("no reconnect counted")
	}
}

func TestRNodeResetIsReconfigured(t *testing.T) {
	_, fa, a, _, c := pair(t, radiotest.FakeRNodeOptions{})
	fa.Reset()
	wait(t, a, radio.StateLost, radio.StateDetecting, radio.StateConfiguring)
	wait(t, a, radio.StateReady)
	send(t, a, []byte("configured again"))
	if p := recv(t, c); string(p.Data) != "configured again" {
		t.Fatalf("got %q", p.Data)
	}
}

func TestRNodeWedgedThenRevived(t *testing.T) {
	b := newBench(t)
	f := b.modem(1, radiotest.FakeRNodeOptions{})
	r := b.driver(f, func(o *radio.RNodeOptions) { o.Keepalive = 50 * time.Millisecond })
	wait(t, r, radio.StateReady)
	f.Wedge(true)
	wait(t, r, radio.StateLost)
	f.Wedge(false)
	wait(t, r, radio.StateReady)
}

// TestRNodePacing sends a burst at a modem that queues one packet: every
// frame must arrive, in order, none dropped by the modem. Timeouts are
// generous (a loaded machine may answer READY late; pacing, not wedge
// detection, is under test here), and on failure every counter is logged.
func TestRNodePacing(t *testing.T) {
	b := newBench(t)
	opts := radiotest.FakeRNodeOptions{Queue: 1}
	fa, fc := b.modem(1, opts), b.modem(2, opts)
	b.air.Connect(1, 2, radiotest.Link{})
	patient := func(o *radio.RNodeOptions) { o.ReplyTimeout = 5 * time.Second }
	a, c := b.driver(fa, patient), b.driver(fc, patient)
	wait(t, a, radio.StateReady)
	wait(t, c, radio.StateReady)
	t.Cleanup(func() {
		if t.Failed() {
			sa, ea := a.Status()
			t.Logf("air %+v; sender %v (%v) %+v, its modem %+v; receiver %+v, its modem %+v",
				b.air.Stats(), sa, ea, a.Stats(), fa.Stats(), c.Stats(), fc.Stats())
		}
	})
	const n = 8
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if err := a.Send(context.Background(), bytes.Repeat([]byte{byte(i)}, 100)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(30 * time.Second) // a send that failed is logged: the sender's last error
	for i := 0; i < n; {
		select {
		case p := <-c.Receive():
			if p.Data[0] != byte(i) {
				t.Fatalf("frame %d carries %d", i, p.Data[0])
			}
			i++
		case <-tick.C:
			if d := fa.Stats().QueueDrops; d != 0 { // the failure pacing prevents: fail at once
				t.Fatalf("modem dropped %d frames", d)
			}
		case <-timeout:
			t.Fatalf("frame %d not received in 30 s", i)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := fa.Stats().QueueDrops; d != 0 {
		t.Fatalf("modem dropped %d frames", d)
	}
}

func TestRNodeSendWaitsForModem(t *testing.T) {
	b := newBench(t)
	f := b.modem(1, radiotest.FakeRNodeOptions{})
	f.Unplug()
	r := b.driver(f, nil)
	wait(t, r, radio.StateLost)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.Send(ctx, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("send to an absent modem: %v", err)
	}
}
