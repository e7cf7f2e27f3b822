package radio

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestLedgerNeverExceedsBudget(t *testing.T) {
	clk := &fakeClock{time.Unix(1000, 0)}
	l, err := NewLedger(1, 0, 0, clk.now) // 1 % of an hour = 36 s
	if err != nil {
		t.Fatal(err)
	}
	if l.Budget() != 36*time.Second {
		t.Fatalf("budget %v", l.Budget())
	}
	frame := 390144 * time.Microsecond // 64 B at SF9/125 kHz
	var sent []time.Time
	for step := 0; step < 20000; step++ {
		wait, err := l.Reserve(frame, codec.PrioUrgent)
		if err != nil {
			t.Fatal(err)
		}
		if wait == 0 {
			sent = append(sent, clk.t)
			clk.advance(frame)
			continue
		}
		clk.advance(wait)
	}
	// Slide an hour window over every send: never more than the budget.
	j := 0
	for i := range sent {
		for sent[j].Add(time.Hour).Compare(sent[i]) <= 0 {
			j++
		}
		if used := time.Duration(i-j+1) * frame; used > l.Budget() {
			t.Fatalf("window ending %v holds %v of airtime", sent[i], used)
		}
	}
	if n := len(sent); n < 92*3 {
		t.Fatalf("only %d frames in %v", n, clk.t.Sub(time.Unix(1000, 0)))
	}
}

func TestLedgerUrgentFirst(t *testing.T) {
	clk := &fakeClock{time.Unix(0, 0)}
	l, _ := NewLedger(1, 0, 0, clk.now) // 36 s
	if w, _ := l.Reserve(18*time.Second, codec.PrioBulk); w != 0 {
		t.Fatalf("bulk within its half waited %v", w)
	}
	clk.advance(time.Minute)
	w, _ := l.Reserve(time.Second, codec.PrioBulk)
	if w != time.Hour-time.Minute {
		t.Fatalf("bulk over its share waits %v, want 59m", w)
	}
	if w, _ := l.Reserve(10*time.Second, codec.PrioNormal); w != 0 {
		t.Fatalf("normal waited %v", w)
	}
	if w, _ := l.Reserve(time.Second, codec.PrioNormal); w == 0 {
		t.Fatal("normal passed 80 %")
	}
	if w, _ := l.Reserve(8*time.Second, codec.PrioUrgent); w != 0 {
		t.Fatalf("urgent waited %v", w)
	}
	if l.Used() != 36*time.Second {
		t.Fatalf("used %v", l.Used())
	}
	clk.advance(time.Hour - time.Minute)
	if l.Used() != 18*time.Second {
		t.Fatalf("after the first record left: used %v", l.Used())
	}
}

func TestLedgerLimits(t *testing.T) {
	l, _ := NewLedger(100, 0, 400*time.Millisecond, nil)
	if _, err := l.Reserve(401*time.Millisecond, codec.PrioUrgent); !errors.Is(err, ErrDwellTime) {
		t.Fatalf("dwell: %v", err)
	}
	l, _ = NewLedger(0.1, 0, 0, nil) // 3.6 s
	if _, err := l.Reserve(2*time.Second, codec.PrioBulk); !errors.Is(err, ErrOverBudget) {
		t.Fatalf("over budget: %v", err)
	}
	if _, err := NewLedger(0, 0, 0, nil); err == nil {
		t.Fatal("0 % accepted")
	}
}

func TestLedgerBoundedMemory(t *testing.T) {
	clk := &fakeClock{time.Unix(0, 0)}
	l, _ := NewLedger(100, 0, 0, clk.now)
	for range 3 * maxLedgerRecords {
		if w, err := l.Reserve(time.Millisecond, codec.PrioUrgent); w != 0 || err != nil {
			t.Fatal(w, err)
		}
		clk.advance(time.Millisecond)
	}
	if len(l.recs) > maxLedgerRecords || l.Used() != time.Duration(3*maxLedgerRecords)*time.Millisecond {
		t.Fatalf("%d records, used %v", len(l.recs), l.Used())
	}
}

func TestRegionsAndConfig(t *testing.T) {
	regions, err := LoadRegions("../configs/regions")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"EU868", "US915", "AU915", "AS923", "IN865"} {
		if regions[name] == nil {
			t.Fatalf("no region %s", name)
		}
	}
	eu := regions["EU868"]
	for _, tc := range []struct {
		freq uint32
		dc   float64
	}{{868100000, 1}, {869525000, 10}, {868900000, 0.1}} {
		b, ok := eu.Band(tc.freq, 125000)
		if !ok || b.DutyCyclePercent != tc.dc {
			t.Fatalf("%d Hz: band %+v", tc.freq, b)
		}
	}
	good := Config{Port: "/dev/ttyUSB0", Region: "eu868", FrequencyHz: 869525000}
	r, err := good.Validate("radio[0]", regions)
	if err != nil || r.DutyCyclePercent != 10 || r.SpreadingFactor != 9 || r.RNodeOptions().LTALock != 1000 {
		t.Fatalf("%+v %v", r, err)
	}
	for key, edit := range map[string]func(*Config){
		"port":               func(c *Config) { c.Port = "" },
		"region":             func(c *Config) { c.Region = "Mars" },
		"frequency_hz":       func(c *Config) { c.FrequencyHz = 869650000 }, // channel sticks out of h1.7
		"spreading_factor":   func(c *Config) { c.SpreadingFactor = 13 },
		"coding_rate":        func(c *Config) { c.CodingRate = 9 },
		"bandwidth_hz":       func(c *Config) { c.BandwidthHz = 600000 },
		"tx_power_dbm":       func(c *Config) { c.TxPowerDBm = 30 },
		"duty_cycle_percent": func(c *Config) { c.DutyCyclePercent = 20 },
	} {
		c := good
		edit(&c)
		_, err := c.Validate("radio[0]", regions)
		if err == nil || !strings.HasPrefix(err.Error(), "radio[0]."+key+":") {
			t.Errorf("%s: error %v", key, err)
		}
	}
	if _, err := ParseRegion([]byte("name = \"X\"\nbogus = 1\n")); err == nil {
		t.Fatal("unknown key accepted")
	}
}
