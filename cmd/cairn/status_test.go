package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/relay/uplink/uplinktest"
)

// cairn status reaches a running relay through status.sock in its data
// directory and shows its uplink; with no relay it fails and says where it
// looked.
func TestStatusShowsUplink(t *testing.T) {
	broker := uplinktest.Mosquitto(t)
	data := t.TempDir()
	conf := filepath.Join(t.TempDir(), "cairn.toml")
	if err := os.WriteFile(conf, []byte("[[uplink]]\nurl = \""+broker.URL()+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, data, "--config", conf)

	var rep statusReport
	deadline := time.Now().Add(clientWait)
	for {
		out, errOut, code := runCairn(t, "status", "--data", data, "--json")
		if code != 0 {
			t.Fatalf("cairn status --json: exit %d: %s", code, errOut)
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("cairn status --json: %v\n%s", err, out)
		}
		if len(rep.Uplinks) == 1 && rep.Uplinks[0].Connected {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("uplink not connected after %v: %+v", clientWait, rep)
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, errOut, code := runCairn(t, "status", "--data", data)
	if code != 0 || !strings.Contains(out, "uplink:0 "+broker.URL()+": connected; queued 0") {
		t.Fatalf("cairn status: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("cairn status:\n%s", out)

	r.stop()
	if _, errOut, code := runCairn(t, "status", "--data", data); code == 0 || !strings.Contains(errOut, "status.sock") {
		t.Errorf("cairn status with no relay: exit %d, %q", code, errOut)
	}
}
