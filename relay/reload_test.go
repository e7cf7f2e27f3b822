package relay_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/radio"
	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/config"
	"github.com/cairnmesh/cairn/relay/relaytest"
	"github.com/cairnmesh/cairn/relay/uplink"
	"github.com/cairnmesh/cairn/relay/uplink/uplinktest"
)

// reloadWait bounds a reconnection to a broker or a modem on a loaded
// machine; conditions are polled.
const reloadWait = 60 * time.Second

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(reloadWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", reloadWait, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fastUplink(url, prefix string) config.Uplink {
	u := config.DefaultUplink(url)
	u.Prefix = prefix
	u.ReconnectMin = config.Duration(50 * time.Millisecond)
	u.ReconnectMax = config.Duration(500 * time.Millisecond)
	// No resend within a test: Published counts each envelope once, so
	// an uplink that kept running keeps its count.
	u.ResendMin = config.Duration(time.Hour)
	u.ResendMax = config.Duration(time.Hour)
	return u
}

func actions[C uplink.Change | relay.RadioChange](cs []C) []string {
	var out []string
	for _, c := range cs {
		switch c := any(c).(type) {
		case uplink.Change:
			out = append(out, c.Link+" "+c.Action)
		case relay.RadioChange:
			out = append(out, c.Link+" "+c.Action)
		}
	}
	return out
}

func reload(t *testing.T, r *relay.Relay, cfg *config.Config) relay.ReloadReport {
	t.Helper()
	rep, err := r.Reload(cfg)
	if err != nil {
		t.Fatalf("Reload: %v", err)
	}
	return rep
}

// TestReloadUplinks: uplinks to a real Mosquitto on loopback come and go
// with Reload, touching only the changed ones; an added uplink carries
// envelopes stored after it came; one that cannot start changes nothing.
func TestReloadUplinks(t *testing.T) {
	broker := uplinktest.Mosquitto(t)
	cfg := relaytest.Config(t)
	r := relaytest.Start(t, cfg)

	next := *cfg
	next.Uplinks = []config.Uplink{fastUplink(broker.URL(), "a")}
	rep := reload(t, r, &next)
	if got := actions(rep.Uplinks); !slices.Equal(got, []string{"uplink:0 started"}) {
		t.Errorf("changes %v", got)
	}
	if len(rep.Restart) != 0 {
		t.Errorf("restart keys %v for uplinks alone", rep.Restart)
	}
	eventually(t, "uplink:0 connected", func() bool {
		us := r.Uplinks()
		return len(us) == 1 && us[0].Connected
	})
	// The new link owes what is stored from now on, and publishes it.
	c := v3(t, r, nil)
	publish3(t, c, "cairn/v1/send", relaytest.Message(codec.Tag{9}, codec.PrioNormal, 20).Encode())
	eventually(t, "envelope published on uplink:0", func() bool {
		us := r.Uplinks()
		return us[0].Published == 1 && us[0].Queued == 0
	})

	// A second uplink: the first keeps its connection.
	published := r.Uplinks()[0].Published
	next2 := next
	next2.Uplinks = append(slices.Clone(next.Uplinks), fastUplink(broker.URL(), "b"))
	rep = reload(t, r, &next2)
	if got := actions(rep.Uplinks); !slices.Equal(got, []string{"uplink:1 started"}) {
		t.Errorf("changes %v", got)
	}
	eventually(t, "both uplinks connected", func() bool {
		us := r.Uplinks()
		return len(us) == 2 && us[0].Connected && us[1].Connected
	})
	if us := r.Uplinks(); us[0].Published != published {
		t.Errorf("uplink:0 restarted: published %d, was %d", us[0].Published, published)
	}

	// One that cannot start (a CA file that is not there) changes nothing.
	bad := next2
	bad.Uplinks = append(slices.Clone(next2.Uplinks), fastUplink("mqtts://127.0.0.1:1", "c"))
	bad.Uplinks[2].CAFile = filepath.Join(t.TempDir(), "missing.pem")
	if _, err := r.Reload(&bad); err == nil {
		t.Error("Reload with a missing CA file succeeded")
	}
	if us := r.Uplinks(); len(us) != 2 || !us[0].Connected || !us[1].Connected {
		t.Errorf("after a refused reload: %+v", us)
	}

	// Removing the last one stops it and drops its store link.
	rep = reload(t, r, &next)
	if got := actions(rep.Uplinks); !slices.Equal(got, []string{"uplink:1 stopped"}) {
		t.Errorf("changes %v", got)
	}
	if us := r.Uplinks(); len(us) != 1 || us[0].Link != "uplink:0" {
		t.Errorf("after removing uplink:1: %+v", us)
	}
	if _, _, err := r.Store().Owed("uplink:1"); err == nil {
		t.Error("store still has link uplink:1")
	}
	// Changing its settings restarts it under the same link.
	next3 := next
	next3.Uplinks = []config.Uplink{fastUplink(broker.URL(), "a")}
	next3.Uplinks[0].ReceiveRate = 7
	rep = reload(t, r, &next3)
	if got := actions(rep.Uplinks); !slices.Equal(got, []string{"uplink:0 restarted"}) {
		t.Errorf("changes %v", got)
	}
	eventually(t, "uplink:0 connected again", func() bool {
		us := r.Uplinks()
		return len(us) == 1 && us[0].Connected && us[0].Published == 0
	})
	// None at all.
	rep = reload(t, r, cfg)
	if got := actions(rep.Uplinks); !slices.Equal(got, []string{"uplink:0 stopped"}) || len(r.Uplinks()) != 0 {
		t.Errorf("changes %v, uplinks %+v", got, r.Uplinks())
	}
}

// TestReloadRadio: a changed [[radio]] table reconfigures its modem (a fake
// RNode on a pty records what the driver set), an unchanged one is left
// alone, a removed one turns its radio off; an invalid config changes
// nothing; settings that need a restart are named.
func TestReloadRadio(t *testing.T) {
	_, fakes := fakeModems(t, 1)
	fake := fakes[0]

	cfg := relaytest.Config(t)
	cfg.Radios = []radio.Config{{Port: fake.Path(), Region: "EU868", FrequencyHz: 869525000}}
	if err := cfg.Validate(); err != nil { // fills the radio defaults
		t.Fatal(err)
	}
	r := relaytest.Start(t, cfg)
	eventually(t, "modem on at 869525000 Hz", func() bool {
		s := fake.Settings()
		return s.Online && s.FrequencyHz == 869525000 && s.SpreadingFactor == 9
	})

	same := *cfg
	same.Radios = slices.Clone(cfg.Radios)
	if rep := reload(t, r, &same); len(rep.Radios) != 0 || len(rep.Uplinks) != 0 {
		t.Errorf("unchanged config changed %v %v", rep.Radios, rep.Uplinks)
	}

	moved := same
	moved.Radios = slices.Clone(cfg.Radios)
	moved.Radios[0].FrequencyHz = 869500000
	moved.Radios[0].SpreadingFactor = 10
	moved.MQTT.MaxClients = 7
	rep := reload(t, r, &moved)
	if got := actions(rep.Radios); !slices.Equal(got, []string{"radio:0 restarted"}) {
		t.Errorf("changes %v", got)
	}
	if !slices.Equal(rep.Restart, []string{"mqtt"}) {
		t.Errorf("restart keys %v, want [mqtt]", rep.Restart)
	}
	eventually(t, "modem on at 869500000 Hz, SF 10", func() bool {
		s := fake.Settings()
		return s.Online && s.FrequencyHz == 869500000 && s.SpreadingFactor == 10
	})
	eventually(t, "radio:0 ready in status", func() bool {
		rs := r.RadioStatus()
		return len(rs) == 1 && rs[0].State == "ready" && rs[0].Queued == 0
	})

	bad := moved
	bad.Radios = slices.Clone(moved.Radios)
	bad.Radios[0].Region = "XX999"
	if _, err := r.Reload(&bad); err == nil {
		t.Fatal("Reload with an unknown region succeeded")
	}
	if s := fake.Settings(); !s.Online || s.FrequencyHz != 869500000 {
		t.Errorf("refused reload touched the modem: %+v", s)
	}

	off := moved
	off.Radios = nil
	rep = reload(t, r, &off)
	if got := actions(rep.Radios); !slices.Equal(got, []string{"radio:0 stopped"}) {
		t.Errorf("changes %v", got)
	}
	eventually(t, "modem off", func() bool { return !fake.Settings().Online })
	if rs := r.RadioStatus(); len(rs) != 0 {
		t.Errorf("status after removing the radio: %+v", rs)
	}
	if _, _, err := r.Store().Owed("radio:0"); err == nil {
		t.Error("store still has link radio:0")
	}
}

// TestRadioStatusAfterClose: RadioStatus shows the running radios, after a
// reload too, and none once Close has stopped them.
func TestRadioStatusAfterClose(t *testing.T) {
	_, fakes := fakeModems(t, 1)
	fake := fakes[0]
	cfg := relaytest.Config(t)
	cfg.Radios = []radio.Config{{Port: fake.Path(), Region: "EU868", FrequencyHz: 869525000}}
	r, err := relay.New(relay.Options{Config: cfg, Logger: relaytest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Serve(); err != nil {
		r.Close()
		t.Fatal(err)
	}
	if rs := r.RadioStatus(); len(rs) != 1 || rs[0].Port != fake.Path() {
		r.Close()
		t.Fatalf("status of a running radio: %+v", rs)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if rs := r.RadioStatus(); len(rs) != 0 {
		t.Errorf("status after Close: %+v", rs)
	}
	if ls := r.Radios(); len(ls) != 0 {
		t.Errorf("%d radio links after Close", len(ls))
	}
}
