package main

// End-to-end tests: the built cairn binary, run as a process on a loopback
// port with its data in a temporary directory, driven by real external
// clients (Mosquitto's command-line clients, paho.mqtt.golang). The binary
// is built once per test run, the first time a test needs it, with -race
// when the tests themselves run with -race, so that a data race in the
// relay fails the test that provoked it.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/relay/relaytest"
)

// Upper bounds for things that take milliseconds on an idle machine; they are
// generous so that a loaded 2-core CI box does not fail spuriously.
const (
	startTimeout = 60 * time.Second // from exec to "relay serving"
	stopTimeout  = 60 * time.Second // from SIGTERM to exit
	clientWait   = 30 * time.Second // for one client to connect, publish or receive
	buildTimeout = 5 * time.Minute  // go build, -race, on a cold cache
)

// raceBuild is set by race_test.go when the tests run with -race.
var raceBuild bool

var (
	binDir   string // temporary directory for the binary, removed by TestMain
	build    sync.Once
	binPath  string
	buildErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cairn-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cairnBinary builds ./cmd/cairn once and returns its path.
func cairnBinary(t testing.TB) string {
	t.Helper()
	build.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		}
		out := filepath.Join(binDir, "cairn")
		args := []string{"build", "-o", out}
		if raceBuild {
			args = append(args, "-race")
		}
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		// The test runs in the package directory, cmd/cairn.
		cmd := exec.CommandContext(ctx, goTool, append(args, ".")...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, msg)
			return
		}
		binPath = out
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// runCairn runs the binary to completion with args and returns its output
// and exit code.
func runCairn(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	o, stderr, code := runCairnIn(t, nil, args...)
	return string(o), stderr, code
}

// relayProc is one run of `cairn relay` on a loopback port.
type relayProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string               // host:port of the MQTT listener
	log  *relaytest.LogBuffer // the process's stdout and stderr
	done chan struct{}        // closed when the process has exited
	err  error                // from Wait; read after done
}

// startRelay runs `cairn relay --data dataDir --mqtt 127.0.0.1:PORT --http
// 127.0.0.1:0 args…`
// on a free port and returns once it logs that it is serving. Whatever
// happens, the process is gone when the test ends.
func startRelay(t *testing.T, dataDir string, args ...string) *relayProc {
	t.Helper()
	for attempt := 1; ; attempt++ {
		p, err := tryStartRelay(t, dataDir, args)
		if err == nil {
			return p
		}
		// Another process may take the port between our probe and the
		// relay's bind; only that is worth another try.
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
		t.Logf("retrying on another port: %v", err)
	}
}

func tryStartRelay(t *testing.T, dataDir string, args []string) (*relayProc, error) {
	addr := freePort(t)
	p := &relayProc{t: t, addr: addr, log: new(relaytest.LogBuffer), done: make(chan struct{})}
	p.cmd = exec.Command(cairnBinary(t), append([]string{"relay", "--data", dataDir, "--mqtt", addr, "--http", "127.0.0.1:0", "--discovery", "off"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	// A -race binary sleeps a second at exit unless told not to.
	p.cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("relay on %s logged:\n%s", p.addr, p.log)
		}
		p.checkRaces()
	})
	deadline := time.After(startTimeout)
	for !strings.Contains(p.log.String(), "relay serving") {
		select {
		case <-p.done:
			return nil, fmt.Errorf("relay exited before serving (%v):\n%s", p.err, p.log)
		case <-deadline:
			return nil, fmt.Errorf("relay not serving after %v:\n%s", startTimeout, p.log)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return p, nil
}

// host and port of the MQTT listener, for command-line clients.
func (p *relayProc) host() string { h, _, _ := net.SplitHostPort(p.addr); return h }
func (p *relayProc) port() string { _, port, _ := net.SplitHostPort(p.addr); return port }

// stop sends SIGTERM and fails the test unless the relay drains and exits 0.
func (p *relayProc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.t.Fatalf("relay still running %v after SIGTERM", stopTimeout)
	}
	if p.err != nil {
		p.t.Fatalf("relay exited after SIGTERM: %v\n%s", p.err, p.log)
	}
	if !strings.Contains(p.log.String(), `msg=stopped`) {
		p.t.Errorf("relay exited 0 without logging that it stopped:\n%s", p.log)
	}
}

// kill sends SIGKILL, a power cut for the relay's process, and waits until
// it is gone.
func (p *relayProc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatalf("SIGKILL: %v", err)
	}
	<-p.done
}

// checkRaces fails the test if the race detector reported anything.
func (p *relayProc) checkRaces() {
	if s := p.log.String(); strings.Contains(s, "WARNING: DATA RACE") {
		p.t.Errorf("the relay on %s reported a data race:\n%s", p.addr, s)
	}
}

// freePort returns 127.0.0.1:PORT for a port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
