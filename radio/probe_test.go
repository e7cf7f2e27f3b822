package radio_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/radio"
	"github.com/cairnmesh/cairn/radio/radiotest"
)

func TestProbe(t *testing.T) {
	b := newBench(t)
	f := b.modem(1, radiotest.FakeRNodeOptions{})
	d := b.driver(f, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.WaitState(ctx, radio.StateReady); err != nil {
		t.Fatal(err)
	}
	d.Close() // turns the radio off; the settings stay

	p, err := radio.SerialOpener(f.Path())()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	res, err := radio.Probe(p, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.FrequencyHz != testFreq || res.BandwidthHz != fast.BandwidthHz || res.SF != fast.SF || res.CR != fast.CR ||
		res.TxPowerDBm != 14 || res.RadioOn || radio.PlatformName(res.Platform) != "ESP32" || res.FirmwareMajor != 1 {
		t.Errorf("probe %+v", res)
	}

	f.Wedge(true)
	if _, err := radio.Probe(p, 300*time.Millisecond); !errors.Is(err, radio.ErrNoAnswer) {
		t.Errorf("wedged modem: %v", err)
	}
}
