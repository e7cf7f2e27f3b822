package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/relay/relaytest"
)

// TestSimAir runs `cairn sim air CONFIG`: it prints each node's port, a
// second process finds an RNode there (`cairn radio probe`), and on SIGTERM
// it exits 0 and its ports are gone.
func TestSimAir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "air")
	config := filepath.Join(t.TempDir(), "sim.toml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `seed = 1
dir = %q
[[node]]
id = 1
[[node]]
id = 2
[[link]]
a = 1
b = 2
loss = 0.2
rssi_dbm = -110
snr_db = -5.0
`, dir), 0o644); err != nil {
		t.Fatal(err)
	}
	out := new(relaytest.LogBuffer)
	cmd := exec.Command(cairnBinary(t), "sim", "air", config)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error // from Wait; read after exited is closed
	exited := make(chan struct{})
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	ports := map[string]string{"1": filepath.Join(dir, "ttyRNode1"), "2": filepath.Join(dir, "ttyRNode2")}
	deadline := time.After(startTimeout)
	for !strings.Contains(out.String(), "node 2: port") {
		select {
		case <-exited:
			t.Fatalf("sim exited before printing its ports (%v):\n%s", waitErr, out)
		case <-deadline:
			t.Fatalf("no ports printed after %v:\n%s", startTimeout, out)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if !regexp.MustCompile(`(?m)^air on udp 127\.0\.0\.1:\d+$`).MatchString(out.String()) {
		t.Errorf("no air address printed:\n%s", out)
	}
	for id, path := range ports {
		if !strings.Contains(out.String(), fmt.Sprintf("node %s: port %s\n", id, path)) {
			t.Errorf("node %s: port %s not printed:\n%s", id, path, out)
		}
	}
	if probe, stderr, code := runCairn(t, "radio", "probe", ports["1"]); code != 0 || !strings.Contains(probe, "firmware:    1.82") {
		t.Errorf("probing node 1 of the sim: exit %d, %s%s", code, probe, stderr)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("sim exited after SIGTERM: %v\n%s", waitErr, out)
		}
	case <-time.After(stopTimeout):
		t.Fatalf("sim still running %v after SIGTERM:\n%s", stopTimeout, out)
	}
	for id, path := range ports {
		if _, err := os.Lstat(path); !os.IsNotExist(err) {
			t.Errorf("node %s: port %s still there after exit (%v)", id, path, err)
		}
	}
	if strings.Contains(out.String(), "WARNING: DATA RACE") {
		t.Errorf("the sim reported a data race:\n%s", out)
	}
}
