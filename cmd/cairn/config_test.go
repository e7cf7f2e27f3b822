package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

// exampleConfig is configs/cairn.toml, from the package directory.
const exampleConfig = "../../configs/cairn.toml"

func TestConfigCheckExample(t *testing.T) {
	stdout, stderr, code := runCairn(t, "config", "check", exampleConfig)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "ok") {
		t.Errorf("stdout %q, want it to say ok", stdout)
	}
}

// A bad file is refused, by `config check` and by `relay --config`, with an
// error that names the key.
func TestConfigBadKeyNamed(t *testing.T) {
	for _, tc := range []struct {
		name, toml, key string
	}{
		{"unknown key", "[mqtt]\nlisten = \":1883\"\nlisten_tls = \":8883\"\n", "mqtt.listen_tls"},
		{"unknown top-level key", "data_directory = \"/var/lib/cairn\"\n", "data_directory"},
		{"unknown section", "[uplink]\nbroker = \"tcp://example.org:1883\"\n", "uplink"},
		{"bad value", "[mqtt]\nreceive_maximum = 0\n", "mqtt.receive_maximum"},
		{"wrong type", "[store]\nmax_hops = \"many\"\n", "store.max_hops"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.toml")
			if err := os.WriteFile(path, []byte(tc.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{
				{"config", "check", path},
				// --data and --mqtt keep a relay that wrongly starts off
				// the real port and data directory.
				{"relay", "--config", path, "--data", t.TempDir(), "--mqtt", freePort(t), "--http", "off", "--discovery", "off"},
			} {
				_, stderr, code := runCairn(t, args...)
				if code == 0 {
					t.Errorf("cairn %s: exit 0", args[0])
				}
				if !strings.Contains(stderr, tc.key) {
					t.Errorf("cairn %s: error does not name %s: %q", args[0], tc.key, stderr)
				}
			}
		})
	}
}

// The example config runs as it is (with the listener and data directory
// overridden by flags), serves, and drains on SIGTERM.
func TestRelayRunsOnExampleConfig(t *testing.T) {
	r := startRelay(t, t.TempDir(), "--config", exampleConfig)
	c := connect3(t, r, nil, "example")
	e := relaytest.Message(relaytest.NewIdentity().Tag, codec.PrioNormal, 20)
	if tok := c.Publish(sendTopic, 1, false, e.Encode()); !tok.WaitTimeout(clientWait) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	c.Disconnect(0)
	r.stop()
}
