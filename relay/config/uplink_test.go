package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestUplinkDefaults(t *testing.T) {
	c, err := Parse([]byte(`
[[uplink]]
url = "mqtt://broker.example:1883"

[[uplink]]
url = "wss://broker.example:443/mqtt"
protocol = "3.1.1"
prefix = "mesh/v1"
username = "relay7"
password = "secret"
ca_file = "/etc/cairn/ca.pem"
max_inflight = 8
ack_timeout = "2m"
receive_rate = 50
reconnect_min = "500ms"
reconnect_max = "5m"
resend_min = "30s"
resend_max = "2h"
resend_count = 48
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Uplink{
		DefaultUplink("mqtt://broker.example:1883"),
		{
			URL: "wss://broker.example:443/mqtt", Protocol: "3.1.1", Prefix: "mesh/v1", Username: "relay7", Password: "secret",
			CAFile: "/etc/cairn/ca.pem", MaxInflight: 8, AckTimeout: Duration(2 * time.Minute), ReceiveRate: 50,
			ReconnectMin: Duration(500 * time.Millisecond), ReconnectMax: Duration(5 * time.Minute),
			ResendMin: Duration(30 * time.Second), ResendMax: Duration(2 * time.Hour), ResendCount: 48,
		},
	}
	if !reflect.DeepEqual(c.Uplinks, want) {
		t.Errorf("got %+v\nwant %+v", c.Uplinks, want)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

func TestUplinkErrorsNameTheKey(t *testing.T) {
	ok := "[[uplink]]\nurl = \"mqtt://127.0.0.1:1883\"\n"
	for _, tc := range []struct {
		name, toml, wantKey string
	}{
		{"no url", "[[uplink]]\nprefix = \"x\"", "uplink[0].url"},
		{"bad scheme", "[[uplink]]\nurl = \"http://h:1\"", "uplink[0].url"},
		{"no port", "[[uplink]]\nurl = \"mqtt://h\"", "uplink[0].url"},
		{"credentials in url", "[[uplink]]\nurl = \"mqtt://u:p@h:1\"", "uplink[0].url"},
		{"second uplink", ok + "[[uplink]]\nurl = \"tcp://h:1\"", "uplink[1].url"},
		{"bad protocol", ok + "protocol = \"3\"", "uplink[0].protocol"},
		{"ack timeout too short", ok + "ack_timeout = \"10ms\"", "uplink[0].ack_timeout"},
		{"wildcard prefix", ok + "prefix = \"a/+\"", "uplink[0].prefix"},
		{"password alone", ok + "password = \"p\"", "uplink[0].password"},
		{"cert without key", "[[uplink]]\nurl = \"mqtts://h:8883\"\ncert_file = \"c.pem\"", "uplink[0].cert_file"},
		{"tls on plain", ok + "ca_file = \"ca.pem\"", "uplink[0].ca_file"},
		{"negative window", ok + "max_inflight = -1", "uplink[0].max_inflight"},
		{"negative rate", ok + "receive_rate = -5", "uplink[0].receive_rate"},
		{"max under min", ok + "reconnect_min = \"10s\"\nreconnect_max = \"1s\"", "uplink[0].reconnect_max"},
		{"resend max under min", ok + "resend_min = \"10m\"\nresend_max = \"1m\"", "uplink[0].resend_max"},
		{"negative resends", ok + "resend_count = -1", "uplink[0].resend_count"},
		{"unknown key", ok + "topic = \"x\"", "uplink.topic"},
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
