package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Uplink is one upstream MQTT broker, an [[uplink]] table. Absent or zero
// values mean the defaults of DefaultUplink.
type Uplink struct {
	URL          string   `toml:"url"`           // mqtt://, mqtts://, ws:// or wss:// host:port[/path]; required
	Protocol     string   `toml:"protocol"`      // MQTT version: "5", "3.1.1", or "auto" (5, else 3.1.1)
	Prefix       string   `toml:"prefix"`        // upstream topics are {prefix}/inbox|receipt|bundle/{tag}
	Username     string   `toml:"username"`      // broker credentials; "" connects without
	Password     string   `toml:"password"`      // needs username
	CAFile       string   `toml:"ca_file"`       // PEM roots for mqtts:// and wss://; "" means the system's
	CertFile     string   `toml:"cert_file"`     // PEM client certificate (with key_file)
	KeyFile      string   `toml:"key_file"`      // PEM client key (with cert_file)
	MaxInflight  int      `toml:"max_inflight"`  // envelopes published and awaiting the broker's PUBACK
	AckTimeout   Duration `toml:"ack_timeout"`   // a PUBLISH or SUBSCRIBE unanswered this long ends the connection
	ReceiveRate  int      `toml:"receive_rate"`  // envelopes per second taken from the broker at most
	ReconnectMin Duration `toml:"reconnect_min"` // first wait after a failed connection
	ReconnectMax Duration `toml:"reconnect_max"` // cap of the doubling wait
	ResendMin    Duration `toml:"resend_min"`    // first wait before an unreceipted envelope is published again
	ResendMax    Duration `toml:"resend_max"`    // cap of the doubling resend wait
	ResendCount  int      `toml:"resend_count"`  // resends per envelope at most
}

// DefaultUplink returns an uplink to url with every other value defaulted.
func DefaultUplink(url string) Uplink {
	return Uplink{
		URL:          url,
		Prefix:       "cairn/v1",
		Protocol:     "auto",
		MaxInflight:  64,
		AckTimeout:   Duration(time.Minute),
		ReceiveRate:  200,
		ReconnectMin: Duration(time.Second),
		ReconnectMax: Duration(time.Minute),
		ResendMin:    Duration(time.Minute),
		ResendMax:    Duration(time.Hour),
		ResendCount:  24,
	}
}

// withDefaults fills in the zero values.
func (u Uplink) withDefaults() Uplink {
	d := DefaultUplink(u.URL)
	if u.Prefix == "" {
		u.Prefix = d.Prefix
	}
	if u.Protocol == "" {
		u.Protocol = d.Protocol
	}
	if u.MaxInflight == 0 {
		u.MaxInflight = d.MaxInflight
	}
	if u.AckTimeout == 0 {
		u.AckTimeout = d.AckTimeout
	}
	if u.ReceiveRate == 0 {
		u.ReceiveRate = d.ReceiveRate
	}
	if u.ReconnectMin == 0 {
		u.ReconnectMin = d.ReconnectMin
	}
	if u.ReconnectMax == 0 {
		u.ReconnectMax = d.ReconnectMax
	}
	if u.ResendMin == 0 {
		u.ResendMin = d.ResendMin
	}
	if u.ResendMax == 0 {
		u.ResendMax = d.ResendMax
	}
	if u.ResendCount == 0 {
		u.ResendCount = d.ResendCount
	}
	return u
}

// validate checks one uplink; key is its name in errors, "uplink[0]".
func (u Uplink) validate(key string) error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%s.%s: %s", key, field, fmt.Sprintf(format, args...))
	}
	p, err := url.Parse(u.URL)
	switch {
	case u.URL == "":
		return bad("url", "is required")
	case err != nil:
		return bad("url", "%v", err)
	case !oneOf(p.Scheme, "mqtt", "mqtts", "ws", "wss"):
		return bad("url", "%q: scheme must be mqtt, mqtts, ws or wss", u.URL)
	case p.Host == "" || p.Port() == "":
		return bad("url", "%q: needs host:port", u.URL)
	case p.User != nil:
		return bad("url", "%q: put credentials in username and password", u.URL)
	case !oneOf(u.Protocol, "5", "3.1.1", "auto"):
		return bad("protocol", "%q: must be \"5\", \"3.1.1\" or \"auto\"", u.Protocol)
	case u.Prefix == "" || strings.ContainsAny(u.Prefix, "+#") ||
		strings.HasPrefix(u.Prefix, "/") || strings.HasSuffix(u.Prefix, "/"):
		return bad("prefix", "%q must be non-empty, without wildcards or leading or trailing /", u.Prefix)
	case u.Password != "" && u.Username == "":
		return bad("password", "needs username")
	case (u.CertFile == "") != (u.KeyFile == ""):
		return bad("cert_file", "cert_file and key_file go together")
	case (u.CAFile != "" || u.CertFile != "") && !oneOf(p.Scheme, "mqtts", "wss"):
		return bad("ca_file", "TLS files need an mqtts:// or wss:// url")
	case u.MaxInflight < 1 || u.MaxInflight > 65535:
		return bad("max_inflight", "must be 1 to 65535")
	case u.AckTimeout.D() < 100*time.Millisecond:
		return bad("ack_timeout", "must be at least 100ms")
	case u.ReceiveRate < 1:
		return bad("receive_rate", "must be at least 1")
	case u.ReconnectMin.D() < 10*time.Millisecond:
		return bad("reconnect_min", "must be at least 10ms")
	case u.ReconnectMax.D() < u.ReconnectMin.D():
		return bad("reconnect_max", "must be at least reconnect_min")
	case u.ResendMin.D() < 10*time.Millisecond:
		return bad("resend_min", "must be at least 10ms")
	case u.ResendMax.D() < u.ResendMin.D():
		return bad("resend_max", "must be at least resend_min")
	case u.ResendCount < 1 || u.ResendCount > 1000:
		return bad("resend_count", "must be 1 to 1000")
	}
	return nil
}
