package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/cairnmesh/cairn/radio"
	"github.com/cairnmesh/cairn/radio/radiotest"
)

// TestRadioAirtime: the DESIGN budget's 20-byte text is a 62-byte
// envelope, 64 bytes on air: 390.144 ms at SF9, 125 kHz, CR 4/5
// (docs/radio.md); a PQXDH first message of 1,252 bytes goes in six
// fragments.
func TestRadioAirtime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args  []string
		title string
		rows  [][]string // fields of each row after the column headings
	}{
		{[]string{"62", "1252"}, "SF9, 125000 Hz, CR 4/5, preamble 8, explicit header, CRC; duty cycle 1 %", [][]string{
			{"62", "1", "63", "64", "390.144ms", "92"},
			{"1252", "6", "1288", "1294", "6.436864s", "5"},
		}},
		{[]string{"--sf", "7", "--duty", "10", "62"}, "SF7, 125000 Hz, CR 4/5, preamble 8, explicit header, CRC; duty cycle 10 %", [][]string{
			{"62", "1", "63", "64", "118.016ms", "3050"},
		}},
	} {
		out, stderr, code := runCairn(t, append([]string{"radio", "airtime"}, tc.args...)...)
		if code != 0 {
			t.Fatalf("radio airtime %v: exit %d: %s", tc.args, code, stderr)
		}
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if len(lines) != 2+len(tc.rows) || lines[0] != tc.title ||
			!slices.Equal(strings.Fields(lines[1]), []string{"envelope", "B", "frames", "frame", "B", "on", "air", "B", "airtime", "per", "hour"}) {
			t.Fatalf("radio airtime %v printed:\n%s", tc.args, out)
		}
		for i, want := range tc.rows {
			if got := strings.Fields(lines[2+i]); !slices.Equal(got, want) {
				t.Errorf("radio airtime %v: row %v, want %v", tc.args, got, want)
			}
		}
	}
	for _, bad := range [][]string{{"0"}, {"63489"}, {"--sf", "13", "62"}, {}} {
		if _, stderr, code := runCairn(t, append([]string{"radio", "airtime"}, bad...)...); code != 1 || !strings.HasPrefix(stderr, "cairn: radio airtime") {
			t.Errorf("radio airtime %v: exit %d, %q", bad, code, stderr)
		}
	}
}

// TestRadioProbe runs `cairn radio probe` against a fake RNode on a pty
// that a driver has configured and turned off again.
func TestRadioProbe(t *testing.T) {
	t.Parallel()
	fake := fakeRNode(t)
	drv, err := radio.OpenRNode(radio.RNodeOptions{
		Open:        radio.SerialOpener(fake.Path()),
		FrequencyHz: 869525000,
		Modulation:  radio.Modulation{BandwidthHz: 125000, SF: 9, CR: 5},
		TxPowerDBm:  14,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clientWait)
	defer cancel()
	if err := drv.WaitState(ctx, radio.StateReady); err != nil {
		drv.Close()
		t.Fatal(err)
	}
	drv.Close() // turns the radio off; the modem keeps its settings

	out, stderr, code := runCairn(t, "radio", "probe", fake.Path())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := []string{
		"port:        " + fake.Path(),
		"firmware:    1.82",
		"platform:    ESP32, MCU 0x81",
		"radio:       off",
		"frequency:   869525000 Hz",
		"bandwidth:   125000 Hz",
		"SF, CR:      9, 4/5",
		"TX power:    14 dBm",
		"channel RSSI: not reported (the modem sends it with STAT_CHTM on ESP32 and nRF52 firmware)",
	}
	if got := strings.Split(strings.TrimRight(out, "\n"), "\n"); !slices.Equal(got, want) {
		t.Fatalf("probe printed:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}

	fake.Wedge(true) // a serial device that says nothing
	if _, stderr, code := runCairn(t, "radio", "probe", "--timeout", "300ms", fake.Path()); code != 1 || !strings.Contains(stderr, "did not answer") {
		t.Errorf("wedged modem: exit %d, %q", code, stderr)
	}
	if _, stderr, code := runCairn(t, "radio", "probe", t.TempDir()+"/nothing"); code != 1 || !strings.Contains(stderr, "nothing") {
		t.Errorf("missing port: exit %d, %q", code, stderr)
	}
}

// TestRadioList: `cairn radio list` succeeds and prints a table or says
// there are no serial ports (a pty is not a serial port to the
// enumerator, and CI machines may have none).
func TestRadioList(t *testing.T) {
	t.Parallel()
	out, stderr, code := runCairn(t, "radio", "list", "--timeout", "300ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if out != "no serial ports\n" && !slices.Equal(strings.Fields(strings.SplitN(out, "\n", 2)[0]), []string{"PORT", "USB", "VID:PID", "SERIAL", "PRODUCT", "RNODE"}) {
		t.Fatalf("list printed:\n%s", out)
	}
	t.Logf("radio list:\n%s", out)
}

// fakeRNode is a fake modem on a pty, alone on its air.
func fakeRNode(t *testing.T) *radiotest.FakeRNode {
	t.Helper()
	air, err := radiotest.NewAir(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { air.Close() })
	f, err := radiotest.NewFakeRNode(radiotest.FakeRNodeOptions{Air: air, Node: 1, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
