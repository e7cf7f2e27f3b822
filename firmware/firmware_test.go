package firmware

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/radio"
	"github.com/cairnmesh/cairn/radio/radiotest"
)

var (
	buildOnce sync.Once
	buildErr  error
)

// modemBinary builds the host firmware with the firmware's own Makefile.
func modemBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("make", "--no-print-directory", "host").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("make host: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	p, err := filepath.Abs("build/host/cairn-modem")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startModem runs one host-built modem as node on air and returns its
// port's path (a symlink to its pty).
func startModem(t *testing.T, air *radiotest.Air, node uint16) string {
	t.Helper()
	link := filepath.Join(t.TempDir(), fmt.Sprintf("ttyCairn%d", node))
	cmd := exec.Command(modemBinary(t), "-air", fmt.Sprint(air.Addr().Port), "-node", fmt.Sprint(node), "-link", link)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("modem %d: %v (stderr: %s)", node, err, stderr.String())
	}
	if got := strings.TrimSpace(line); got != "pty "+link {
		t.Fatalf("modem %d said %q", node, got)
	}
	return link
}

// sf9 is the channel of the measurement.
var sf9 = radio.Modulation{BandwidthHz: 125000, SF: 9, CR: 5}

func openDriver(t *testing.T, path string, m radio.Modulation) *radio.RNode {
	t.Helper()
	r, err := radio.OpenRNode(radio.RNodeOptions{
		Open:         radio.SerialOpener(path),
		FrequencyHz:  869525000,
		Modulation:   m,
		TxPowerDBm:   14,
		STALock:      10000, // off
		LTALock:      1000,  // 10 %
		ReplyTimeout: time.Second,
		MinBackoff:   10 * time.Millisecond,
		MaxBackoff:   200 * time.Millisecond,
		ReadyPoll:    5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.WaitState(ctx, radio.StateReady); err != nil {
		_, last := r.Status()
		t.Fatalf("%v (last error: %v)", err, last)
	}
	return r
}

func receive(t *testing.T, r *radio.RNode, within time.Duration) radio.Packet {
	t.Helper()
	select {
	case p := <-r.Receive():
		return p
	case <-time.After(within):
		t.Fatalf("nothing received within %v", within)
	}
	return radio.Packet{}
}

// TestTwoModems: the Go driver detects and configures two host-built
// modems and exchanges frames between them over the simulated air.
func TestTwoModems(t *testing.T) {
	air, err := radiotest.NewAir(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { air.Close() })
	air.Connect(1, 2, radiotest.Link{RSSIDBm: -101, SNRQuarter: -7})
	a := openDriver(t, startModem(t, air, 1), sf9)
	b := openDriver(t, startModem(t, air, 2), sf9)

	info := a.Info()
	if info.Platform != 0xF0 || info.MCU != 0xF1 || info.FirmwareMajor != 1 || info.FirmwareMinor != 52 {
		t.Fatalf("device info %+v", info)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Frames with the KISS special bytes in them, both ways.
	frames := [][]byte{
		{0x40, 0x87, 0x01, 0x01},
		{0x40, 0xC0, 0xDB, 0xC0, 0xDC, 0xDD},
		bytes.Repeat([]byte{0xC0}, radio.MaxFrameBytes),
	}
	for i, f := range frames {
		from, to := a, b
		if i%2 == 1 {
			from, to = b, a
		}
		if err := from.Send(ctx, f); err != nil {
			t.Fatal(err)
		}
		p := receive(t, to, 5*time.Second)
		if !bytes.Equal(p.Data, f) {
			t.Fatalf("frame %d: got %x, want %x", i, p.Data, f)
		}
		if p.RSSIDBm != -101 || p.SNRdB != -1.75 {
			t.Fatalf("frame %d: RSSI %d dBm, SNR %.2f dB; want −101, −1.75", i, p.RSSIDBm, p.SNRdB)
		}
	}
	if s := air.Stats(); s.Transmissions != 3 || s.Delivered != 3 || s.BadDatagrams != 0 {
		t.Fatalf("air stats %+v", s)
	}
	for _, r := range []*radio.RNode{a, b} {
		if s := r.Stats(); s.ModemErrors != 0 || s.NotReady != 0 || s.KISS.BadEscape != 0 || s.KISS.Garbage != 0 {
			t.Fatalf("driver stats %+v", s)
		}
	}
}

// TestRoundTrip200 measures a 200-byte frame there and back through two
// host-built modems at SF9/125 kHz, against the time-on-air formula: two
// packets of 201 bytes (RNode's header byte included).
func TestRoundTrip200(t *testing.T) {
	air, err := radiotest.NewAir(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { air.Close() })
	air.Connect(1, 2, radiotest.Link{})
	a := openDriver(t, startModem(t, air, 1), sf9)
	b := openDriver(t, startModem(t, air, 2), sf9)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	frame := bytes.Repeat([]byte{0x5A}, 200)
	frame[0] = 0x40
	formula := 2 * sf9.Airtime(len(frame)+radio.RNodeHeaderBytes)
	start := time.Now()
	if err := a.Send(ctx, frame); err != nil {
		t.Fatal(err)
	}
	p := receive(t, b, 5*time.Second)
	if err := b.Send(ctx, p.Data); err != nil {
		t.Fatal(err)
	}
	back := receive(t, a, 5*time.Second)
	rtt := time.Since(start)
	if !bytes.Equal(back.Data, frame) {
		t.Fatal("frame changed on the round trip")
	}
	overhead := rtt - formula
	t.Logf("200-byte frame round trip at SF9/125 kHz: %v measured, %v by the formula (2 × %v), overhead %v",
		rtt.Round(time.Microsecond), formula, formula/2, overhead.Round(time.Microsecond))
	if rtt < formula {
		t.Fatalf("round trip %v shorter than the airtime %v", rtt, formula)
	}
	// Serial over a pty, READY pacing and the modems' 2 ms poll: well
	// under 100 ms each way.
	if overhead > 200*time.Millisecond {
		t.Fatalf("round trip %v: %v over the formula", rtt, overhead)
	}
}
