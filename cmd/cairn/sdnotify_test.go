package main

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/sys/unix"
)

// notifications listens where a service manager would and yields each
// datagram the relay sends.
func notifications(t *testing.T) (path string, next func(want string) string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "cairn-notify-") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path = filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	// next returns the first datagram containing want, skipping others.
	next = func(want string) string {
		t.Helper()
		deadline := time.After(startTimeout)
		for {
			select {
			case msg, ok := <-ch:
				if !ok {
					t.Fatalf("notify socket closed waiting for %q", want)
				}
				if strings.Contains(msg, want) {
					return msg
				}
			case <-deadline:
				t.Fatalf("no %q from the relay within %v", want, startTimeout)
			}
		}
	}
	return path, next
}

// The built binary under a fake service manager: READY=1 once serving,
// WATCHDOG=1 at half the interval asked for, and on SIGHUP RELOADING=1, the
// new log level in effect, a warning naming what needs a restart, READY=1
// again; STOPPING=1 on SIGTERM.
func TestSystemdNotifyAndReload(t *testing.T) {
	sock, next := notifications(t)
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "200000") // pings every 100 ms
	conf := filepath.Join(t.TempDir(), "cairn.toml")
	write := func(s string) {
		if err := os.WriteFile(conf, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("[log]\nlevel = \"info\"\n")
	p := startRelay(t, t.TempDir(), "--config", conf)

	if msg := next("READY=1"); !strings.Contains(msg, "STATUS=") {
		t.Errorf("ready notification %q has no STATUS", msg)
	}
	next("WATCHDOG=1")
	next("WATCHDOG=1")

	connect := func() {
		c := pahov3.NewClient(pahov3.NewClientOptions().AddBroker("tcp://" + p.addr).SetClientID("sighup-test"))
		if tok := c.Connect(); !tok.WaitTimeout(clientWait) || tok.Error() != nil {
			t.Fatalf("connect: %v", tok.Error())
		}
		c.Disconnect(50)
	}
	connect()
	time.Sleep(100 * time.Millisecond)
	if strings.Contains(p.log.String(), "client connected") {
		t.Fatal("debug line logged at level info")
	}

	write("[log]\nlevel = \"debug\"\n[mqtt]\nmax_clients = 7\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if msg := next("RELOADING=1"); !strings.Contains(msg, "MONOTONIC_USEC=") {
		t.Errorf("reloading notification %q has no MONOTONIC_USEC", msg)
	}
	next("READY=1")
	connect()
	waitLog(t, p, "client connected") // a debug line: level debug after SIGHUP
	log := p.log.String()
	if !strings.Contains(log, `msg="config reloaded"`) || !strings.Contains(log, "next restart") || !strings.Contains(log, "keys=[mqtt]") {
		t.Errorf("reload not logged with the keys that need a restart:\n%s", log)
	}

	// A broken file changes nothing and the relay keeps running.
	write("[log]\nlevel = \"loud\"\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	next("READY=1")
	// Logged before READY=1, but the log comes through a pipe and the
	// notification through a socket: either may be read first.
	waitLog(t, p, "reload refused")

	p.stop()
	next("STOPPING=1")
}

// monotonicUsec reads CLOCK_MONOTONIC in µs, the clock systemd compares
// MONOTONIC_USEC against.
func monotonicUsec(t *testing.T) int64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano() / 1000
}

// RELOADING=1 carries MONOTONIC_USEC, the time it was sent on
// CLOCK_MONOTONIC, as Type=notify-reload needs (sd_notify(3)), and is one
// datagram with it.
func TestSdReloading(t *testing.T) {
	sock, next := notifications(t)
	t.Setenv("NOTIFY_SOCKET", sock)
	before := monotonicUsec(t)
	if err := sdReloading(); err != nil {
		t.Fatal(err)
	}
	after := monotonicUsec(t)
	msg := next("RELOADING=1")
	lines := strings.Split(msg, "\n")
	if !slices.Contains(lines, "RELOADING=1") {
		t.Errorf("%q: no line RELOADING=1", msg)
	}
	var usec int64 = -1
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "MONOTONIC_USEC="); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("%q: MONOTONIC_USEC not a number", msg)
			}
			usec = n
		}
	}
	if usec < before || usec > after {
		t.Errorf("%q: MONOTONIC_USEC %d outside [%d, %d]", msg, usec, before, after)
	}
}
