// Package config is the relay's configuration: the TOML file format
// (configs/cairn.toml documents every key), its embedded defaults, and
// validation that names the offending key.
//
// Durations are strings in Go's time.ParseDuration syntax ("168h", "90s");
// byte sizes are strings with a binary unit ("512MiB", "64KiB", "4096B").
package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/radio"
)

// Config is the whole relay configuration. Default returns one with every
// field set; Parse and Load start from Default and overlay the file.
type Config struct {
	DataDir   string         `toml:"data_dir"`
	Log       Log            `toml:"log"`
	MQTT      MQTT           `toml:"mqtt"`
	Store     Store          `toml:"store"`
	HTTP      HTTP           `toml:"http"`
	Discovery Discovery      `toml:"discovery"`
	Uplinks   []Uplink       `toml:"uplink"` // upstream brokers, [[uplink]] tables; none by default
	Radios    []radio.Config `toml:"radio"`  // LoRa modems, [[radio]] tables; none by default
}

// Log selects the log/slog handler.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn or error
	Format string `toml:"format"` // text or json
}

// MQTT configures the embedded broker.
type MQTT struct {
	Listen         string `toml:"listen"`          // TCP address; "" disables plain MQTT
	TLSListen      string `toml:"tls_listen"`      // TCP address for MQTT over TLS; "" disables
	WSListen       string `toml:"ws_listen"`       // address for MQTT over WebSocket; "" disables
	CertFile       string `toml:"cert_file"`       // PEM certificate for tls_listen
	KeyFile        string `toml:"key_file"`        // PEM key for tls_listen
	TopicPrefix    string `toml:"topic_prefix"`    // topics are {prefix}/send and {prefix}/inbox/{tag}
	MaxClients     int    `toml:"max_clients"`     // connections at once; more are refused with "server busy"
	ReceiveMaximum int    `toml:"receive_maximum"` // a client's QoS 1 publishes awaiting their PUBACK
	DeliveryWindow int    `toml:"delivery_window"` // envelopes sent to one subscriber awaiting their PUBACK
}

// HTTP configures the operator's listener: /metrics, /healthz, /readyz and
// the /status page.
type HTTP struct {
	Listen         string `toml:"listen"`          // TCP address; "" disables
	MaxConnections int    `toml:"max_connections"` // connections at once, those still being sniffed included; more are closed at once
	Web            bool   `toml:"web"`             // serve the handheld web client at / and MQTT over WebSocket at /mqtt
	TLS            string `toml:"tls"`             // off, auto (the relay's own CA, package localca) or files (cert_file, key_file)
	CertFile       string `toml:"cert_file"`       // PEM certificate chain, with tls = "files"
	KeyFile        string `toml:"key_file"`        // PEM key of cert_file, with tls = "files"
}

// Discovery configures the mDNS/DNS-SD announcement on the local network.
type Discovery struct {
	Enabled bool `toml:"enabled"` // announce _cairn._tcp and _mqtt._tcp
}

// Store configures the durable queue.
type Store struct {
	MaxTTL           Duration `toml:"max_ttl"`            // longest life an envelope keeps here
	MaxHops          int      `toml:"max_hops"`           // envelopes that passed more relays are refused
	MaxEnvelopeBytes ByteSize `toml:"max_envelope_bytes"` // largest encoded envelope accepted
	MaxTotalBytes    ByteSize `toml:"max_total_bytes"`    // quota over all stored envelopes
	MaxTagBytes      ByteSize `toml:"max_tag_bytes"`      // quota per recipient tag
	MaxAuthKeys      int      `toml:"max_auth_keys"`      // identities whose last token time is remembered
	SweepInterval    Duration `toml:"sweep_interval"`     // how often expired envelopes are removed
	GroupCommit      bool     `toml:"group_commit"`       // share fsyncs between concurrent writers
}

// Default returns the embedded defaults: what `cairn relay` runs with when
// given no file.
func Default() *Config {
	return &Config{
		DataDir: "./data",
		Log:     Log{Level: "info", Format: "text"},
		MQTT: MQTT{
			Listen:         ":1883",
			TopicPrefix:    "cairn/v1",
			MaxClients:     1000,
			ReceiveMaximum: 64,
			DeliveryWindow: 32,
		},
		Store: Store{
			MaxTTL:           Duration(7 * 24 * time.Hour),
			MaxHops:          16,
			MaxEnvelopeBytes: codec.MaxEnvelopeBytes,
			MaxTotalBytes:    512 << 20,
			MaxTagBytes:      16 << 20,
			MaxAuthKeys:      100_000,
			SweepInterval:    Duration(time.Minute),
			GroupCommit:      true,
		},
		HTTP:      HTTP{Listen: ":8080", MaxConnections: 256, Web: true, TLS: "off"},
		Discovery: Discovery{Enabled: true},
	}
}

// Load reads and validates the TOML file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse overlays TOML data on the defaults and validates the result. Unknown
// keys and values of the wrong type are errors that name the key.
func Parse(data []byte) (*Config, error) {
	c := Default()
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, describe(err)
	}
	for i := range c.Uplinks {
		c.Uplinks[i] = c.Uplinks[i].withDefaults()
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func describe(err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		keys := make([]string, len(strict.Errors))
		for i, e := range strict.Errors {
			row, _ := e.Position()
			keys[i] = fmt.Sprintf("%s (line %d)", strings.Join(e.Key(), "."), row)
		}
		return fmt.Errorf("unknown key %s", strings.Join(keys, ", "))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		if key := strings.Join(de.Key(), "."); key != "" {
			return fmt.Errorf("%s (line %d): %s", key, row, strings.TrimPrefix(de.Error(), "toml: "))
		}
		return fmt.Errorf("line %d: %s", row, strings.TrimPrefix(de.Error(), "toml: "))
	}
	return err
}

// Validate checks every value and names the first bad key.
func (c *Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...))
	}
	switch {
	case c.DataDir == "":
		return bad("data_dir", "must not be empty")
	case !oneOf(c.Log.Level, "debug", "info", "warn", "error"):
		return bad("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	case !oneOf(c.Log.Format, "text", "json"):
		return bad("log.format", "%q is not text or json", c.Log.Format)
	case c.MQTT.Listen == "" && c.MQTT.TLSListen == "" && c.MQTT.WSListen == "":
		return bad("mqtt.listen", "no listener: set listen, tls_listen or ws_listen")
	case c.MQTT.TLSListen != "" && (c.MQTT.CertFile == "" || c.MQTT.KeyFile == ""):
		return bad("mqtt.tls_listen", "needs cert_file and key_file")
	case c.MQTT.TopicPrefix == "" || strings.ContainsAny(c.MQTT.TopicPrefix, "+#") ||
		strings.HasPrefix(c.MQTT.TopicPrefix, "/") || strings.HasSuffix(c.MQTT.TopicPrefix, "/"):
		return bad("mqtt.topic_prefix", "%q must be non-empty, without wildcards or leading or trailing /", c.MQTT.TopicPrefix)
	case c.MQTT.MaxClients < 1:
		return bad("mqtt.max_clients", "must be at least 1")
	case c.MQTT.ReceiveMaximum < 1 || c.MQTT.ReceiveMaximum > 65535:
		return bad("mqtt.receive_maximum", "must be 1 to 65535")
	case c.MQTT.DeliveryWindow < 1 || c.MQTT.DeliveryWindow > 65535:
		return bad("mqtt.delivery_window", "must be 1 to 65535")
	case c.HTTP.Listen != "" && !hostPort(c.HTTP.Listen):
		return bad("http.listen", "%q is not host:port", c.HTTP.Listen)
	case c.HTTP.MaxConnections < 1:
		return bad("http.max_connections", "must be at least 1")
	case !oneOf(c.HTTP.TLS, "off", "auto", "files"):
		return bad("http.tls", "%q is not off, auto or files", c.HTTP.TLS)
	case c.HTTP.TLS == "files" && c.HTTP.CertFile == "":
		return bad("http.cert_file", "needed with tls = \"files\"")
	case c.HTTP.TLS == "files" && c.HTTP.KeyFile == "":
		return bad("http.key_file", "needed with tls = \"files\"")
	case c.HTTP.TLS != "files" && c.HTTP.CertFile != "":
		return bad("http.cert_file", "set, but tls is %q, not \"files\"", c.HTTP.TLS)
	case c.HTTP.TLS != "files" && c.HTTP.KeyFile != "":
		return bad("http.key_file", "set, but tls is %q, not \"files\"", c.HTTP.TLS)
	case c.Store.MaxTTL.D() < time.Minute:
		return bad("store.max_ttl", "must be at least 1m")
	case c.Store.MaxTTL.D() > codec.MaxTTLSeconds*time.Second:
		return bad("store.max_ttl", "must be at most %ds", uint64(codec.MaxTTLSeconds))
	case c.Store.MaxHops < 0 || c.Store.MaxHops > codec.MaxHops:
		return bad("store.max_hops", "must be 0 to %d", codec.MaxHops)
	case c.Store.MaxEnvelopeBytes < 64 || c.Store.MaxEnvelopeBytes > codec.MaxEnvelopeBytes:
		return bad("store.max_envelope_bytes", "must be 64B to %dB", codec.MaxEnvelopeBytes)
	case c.Store.MaxTagBytes < c.Store.MaxEnvelopeBytes:
		return bad("store.max_tag_bytes", "must be at least max_envelope_bytes")
	case c.Store.MaxTotalBytes < c.Store.MaxTagBytes:
		return bad("store.max_total_bytes", "must be at least max_tag_bytes")
	case c.Store.MaxAuthKeys < 1:
		return bad("store.max_auth_keys", "must be at least 1")
	case c.Store.SweepInterval.D() < time.Second || c.Store.SweepInterval.D() > time.Hour:
		return bad("store.sweep_interval", "must be 1s to 1h")
	}
	for i, u := range c.Uplinks {
		if err := u.validate(fmt.Sprintf("uplink[%d]", i)); err != nil {
			return err
		}
	}
	if _, err := c.ResolveRadios(); err != nil {
		return err
	}
	return nil
}

func hostPort(addr string) bool {
	_, _, err := net.SplitHostPort(addr)
	return err == nil
}

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}

// SlogLevel returns the configured log level.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
