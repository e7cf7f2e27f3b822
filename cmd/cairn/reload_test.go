package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/relay/uplink/uplinktest"
)

// The built binary on SIGHUP: an [[uplink]] added to the file connects to
// a real Mosquitto on loopback, a [[radio]] changed in the file
// reconfigures its modem (a fake RNode on a pty), a file that does not
// parse changes nothing, and an uplink removed from the file goes away —
// each seen through `cairn status --json` as an operator would.
func TestSIGHUPReloadsUplinksAndRadios(t *testing.T) {
	broker := uplinktest.Mosquitto(t)
	fake := fakeRNode(t)
	data := t.TempDir()
	conf := filepath.Join(t.TempDir(), "cairn.toml")
	radioTable := func(freq string) string {
		return "[[radio]]\nport = \"" + fake.Path() + "\"\nregion = \"EU868\"\nfrequency_hz = " + freq + "\n"
	}
	uplinkTable := "[[uplink]]\nurl = \"" + broker.URL() + "\"\nreconnect_min = \"50ms\"\n"
	p := startRelay(t, data, "--config", writeConf(t, conf, radioTable("869525000")))

	status := func() statusReport {
		t.Helper()
		out, errOut, code := runCairn(t, "status", "--data", data, "--json")
		if code != 0 {
			t.Fatalf("cairn status --json: exit %d: %s", code, errOut)
		}
		var rep statusReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("cairn status --json: %v\n%s", err, out)
		}
		return rep
	}
	until := func(what string, cond func(statusReport) bool) {
		t.Helper()
		deadline := time.Now().Add(clientWait)
		for {
			rep := status()
			if cond(rep) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %v: %s; status %+v", clientWait, what, rep)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	hup := func(contents string) {
		t.Helper()
		writeConf(t, conf, contents)
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	until("radio ready at 869525000 Hz", func(s statusReport) bool {
		f := fake.Settings()
		return len(s.Radios) == 1 && s.Radios[0].State == "ready" && f.Online && f.FrequencyHz == 869525000
	})

	hup(radioTable("869525000") + uplinkTable)
	until("uplink:0 connected", func(s statusReport) bool {
		return len(s.Uplinks) == 1 && s.Uplinks[0].Connected && s.Uplinks[0].URL == broker.URL()
	})

	hup(radioTable("869500000") + uplinkTable)
	until("modem reconfigured to 869500000 Hz", func(s statusReport) bool {
		f := fake.Settings()
		return len(s.Radios) == 1 && s.Radios[0].State == "ready" && f.Online && f.FrequencyHz == 869500000
	})

	hup("[[uplink]\nurl = 3\n")
	waitLog(t, p, "reload refused")
	if s := status(); len(s.Uplinks) != 1 || !s.Uplinks[0].Connected || len(s.Radios) != 1 {
		t.Errorf("a config that does not parse changed something: %+v", s)
	}

	hup(radioTable("869500000"))
	until("uplink gone", func(s statusReport) bool { return len(s.Uplinks) == 0 && len(s.Radios) == 1 })
	log := p.log.String()
	for _, want := range []string{
		`changed="[uplink:0 started (` + broker.URL() + `)]"`,
		`changed="[radio:0 restarted (` + fake.Path() + `)]"`,
		`changed="[uplink:0 stopped (` + broker.URL() + `)]"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log has no %s", want)
		}
	}
	p.stop()
}

func writeConf(t *testing.T, path, contents string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(contents), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func waitLog(t *testing.T, p *relayProc, want string) {
	t.Helper()
	deadline := time.Now().Add(clientWait)
	for !strings.Contains(p.log.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("relay did not log %q within %v", want, clientWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// `cairn reload` on the built binary: it waits for the reload and prints
// what changed; a config that does not parse makes it exit non-zero with
// the parse error while the relay runs on; with no relay it says so.
func TestReloadCommand(t *testing.T) {
	data := t.TempDir()
	conf := filepath.Join(t.TempDir(), "cairn.toml")
	p := startRelay(t, data, "--config", writeConf(t, conf, "[log]\nlevel = \"info\"\n"))

	writeConf(t, conf, "[log]\nlevel = \"debug\"\n")
	out, errOut, code := runCairn(t, "reload", "--data", data)
	if code != 0 {
		t.Fatalf("cairn reload: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"reloaded " + conf, "log level debug", "uplinks and radios unchanged"} {
		if !strings.Contains(out, want) {
			t.Errorf("cairn reload printed no %q:\n%s", want, out)
		}
	}
	// The relay logged it too (its log reaches us through a pipe, maybe
	// after cairn reload's answer).
	waitLog(t, p, "log.level=debug")
	if !strings.Contains(p.log.String(), `msg="config reloaded"`) {
		t.Errorf("the relay did not log the reload:\n%s", p.log)
	}

	// A changed section that needs a restart is named; so through --config.
	writeConf(t, conf, "[log]\nlevel = \"debug\"\n[store]\nmax_ttl = \"48h\"\n")
	out, errOut, code = runCairn(t, "reload", "--config", conf, "--data", data)
	if code != 0 || !strings.Contains(out, "restart cairn`: store") {
		t.Errorf("cairn reload after changing [store]: exit %d, printed:\n%s%s", code, out, errOut)
	}

	// Reloads asked for at once, on the socket and by SIGHUP, run one at
	// a time and each gets its own answer.
	codes := make(chan int, 3)
	for range cap(codes) {
		go func() { _, _, code := runCairn(t, "reload", "--data", data); codes <- code }()
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for range cap(codes) {
		if code := <-codes; code != 0 {
			t.Errorf("concurrent cairn reload: exit %d", code)
		}
	}

	for _, broken := range []struct{ name, contents, want string }{
		{"syntax", "[[uplink]\nurl = 3\n", "cairn.toml"},
		{"type", "[log]\nlevel = 3\n", "log.level"},
	} {
		writeConf(t, conf, broken.contents)
		out, errOut, code = runCairn(t, "reload", "--data", data)
		if code == 0 || !strings.Contains(errOut, "reload refused") || !strings.Contains(errOut, broken.want) {
			t.Errorf("%s error: cairn reload exit %d, stderr %q, want non-zero and the parse error naming %q", broken.name, code, errOut, broken.want)
		}
		if out != "" {
			t.Errorf("%s error: cairn reload printed %q", broken.name, out)
		}
	}
	// --config finds the relay even in a file that does not validate, as
	// long as data_dir can be read from it; the relay refuses the file.
	writeConf(t, conf, "data_dir = \""+data+"\"\n[log]\nlevel = 3\n")
	if _, errOut, code = runCairn(t, "reload", "--config", conf); code == 0 || !strings.Contains(errOut, "reload refused") {
		t.Errorf("cairn reload --config with a bad value: exit %d, stderr %q", code, errOut)
	}
	select {
	case <-p.done:
		t.Fatalf("the relay exited after a refused reload: %v\n%s", p.err, p.log)
	default:
	}
	if _, errOut, code := runCairn(t, "status", "--data", data); code != 0 {
		t.Errorf("cairn status after refused reloads: exit %d: %s", code, errOut)
	}
	p.stop()
	p.checkRaces()

	_, errOut, code = runCairn(t, "reload", "--data", data)
	if code != 1 || !strings.Contains(errOut, "no relay answering on "+filepath.Join(data, statusSocket)) {
		t.Errorf("cairn reload with no relay: exit %d, stderr %q", code, errOut)
	}
}
