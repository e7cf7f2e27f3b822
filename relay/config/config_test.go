package config

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The shipped example documents every key with its default; it must parse to
// exactly Default(), so the two cannot drift apart.
func TestExampleFileIsDefaults(t *testing.T) {
	c, err := Load("../../configs/cairn.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("configs/cairn.toml differs from Default():\n got %+v\nwant %+v", c, Default())
	}
}

func TestDefaultsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParseOverlays(t *testing.T) {
	c, err := Parse([]byte(`
data_dir = "/var/lib/cairn"
[mqtt]
listen = "127.0.0.1:0"
[store]
max_ttl = "48h"
max_total_bytes = "1GiB"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/var/lib/cairn" || c.MQTT.Listen != "127.0.0.1:0" ||
		c.Store.MaxTTL.D() != 48*time.Hour || c.Store.MaxTotalBytes != 1<<30 {
		t.Errorf("overlay not applied: %+v", c)
	}
	if c.MQTT.TopicPrefix != "cairn/v1" || c.Store.MaxHops != 16 {
		t.Errorf("defaults lost: %+v", c)
	}
}

func TestParseErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name, toml, wantKey string
	}{
		{"unknown top-level key", `datadir = "x"`, "datadir"},
		{"unknown nested key", "[mqtt]\nlisten = \":1\"\nlisen = \":2\"", "mqtt.lisen"},
		{"unknown table", "[radioo]\nport = \"x\"", "radioo"},
		{"wrong type", "[mqtt]\nmax_clients = \"many\"", "mqtt.max_clients"},
		{"bad duration", "[store]\nmax_ttl = \"a week\"", "store.max_ttl"},
		{"size without unit", "[store]\nmax_total_bytes = \"512\"", "store.max_total_bytes"},
		{"size as integer", "[store]\nmax_tag_bytes = 4096", "store.max_tag_bytes"},
		{"ttl too short", "[store]\nmax_ttl = \"1s\"", "store.max_ttl"},
		{"hops too many", "[store]\nmax_hops = 300", "store.max_hops"},
		{"envelope too big", "[store]\nmax_envelope_bytes = \"1MiB\"", "store.max_envelope_bytes"},
		{"tag quota under envelope", "[store]\nmax_tag_bytes = \"1KiB\"", "store.max_tag_bytes"},
		{"bad level", "[log]\nlevel = \"loud\"", "log.level"},
		{"bad format", "[log]\nformat = \"xml\"", "log.format"},
		{"no listener", "[mqtt]\nlisten = \"\"", "mqtt.listen"},
		{"tls without cert", "[mqtt]\ntls_listen = \":8883\"", "mqtt.tls_listen"},
		{"bad http tls", "[http]\ntls = \"on\"", "http.tls"},
		{"tls files without cert", "[http]\ntls = \"files\"\nkey_file = \"k.pem\"", "http.cert_file"},
		{"tls files without key", "[http]\ntls = \"files\"\ncert_file = \"c.pem\"", "http.key_file"},
		{"cert without tls files", "[http]\ntls = \"auto\"\ncert_file = \"c.pem\"", "http.cert_file"},
		{"key without tls files", "[http]\nkey_file = \"k.pem\"", "http.key_file"},
		{"wildcard prefix", "[mqtt]\ntopic_prefix = \"cairn/#\"", "mqtt.topic_prefix"},
		{"zero window", "[mqtt]\ndelivery_window = 0", "mqtt.delivery_window"},
		{"zero clients", "[mqtt]\nmax_clients = 0", "mqtt.max_clients"},
		{"zero http connections", "[http]\nmax_connections = 0", "http.max_connections"},
		{"not toml", "[mqtt\n", "line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.toml))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.wantKey) {
				t.Errorf("error %q does not name %q", err, tc.wantKey)
			}
		})
	}
}

func TestByteSizeRoundTrip(t *testing.T) {
	for _, s := range []string{"1B", "4095B", "64KiB", "512MiB", "3GiB"} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(s)); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		out, _ := b.MarshalText()
		if string(out) != s {
			t.Errorf("%s → %d → %s", s, b, out)
		}
	}
	for _, s := range []string{"", "MiB", "-1KiB", "1.5MiB", "10 TB", "99999999999GiB"} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(s)); err == nil {
			t.Errorf("%q accepted as %d", s, b)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(t.TempDir() + "/nope.toml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want not-exist", err)
	}
}

func TestByteSizeHuman(t *testing.T) {
	for n, want := range map[ByteSize]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 8 << 20: "8.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := n.Human(); got != want {
			t.Errorf("%d: got %q, want %q", n, got, want)
		}
	}
}
