package relay

import (
	"bufio"
	"bytes"
	"testing"
)

// busyConnack answers a CONNECT in its own protocol version, and nothing
// else.
func TestBusyConnack(t *testing.T) {
	connect := func(name string, level byte) []byte {
		body := append([]byte{0, byte(len(name))}, name...)
		body = append(body, level, 0x02, 0, 30) // clean start, keepalive 30
		if level == 5 {
			body = append(body, 0) // no properties
		}
		body = append(body, 0, 1, 'c') // client id
		return append([]byte{0x10, byte(len(body))}, body...)
	}
	// remaining 52: flags, code, properties (49: 0x1f reason string, 46 bytes)
	busy5 := "\x20\x34\x00\x89\x31\x1f\x00\x2eserver busy: mqtt.max_clients connections open"
	for _, tc := range []struct {
		name string
		in   []byte
		want string // "" for no answer
	}{
		{"3.1", connect("MQIsdp", 3), "\x20\x02\x00\x03"},
		{"3.1.1", connect("MQTT", 4), "\x20\x02\x00\x03"},
		{"5", connect("MQTT", 5), busy5},
		{"not connect", []byte{0x30, 0x02, 0, 0}, ""},
		{"truncated", connect("MQTT", 4)[:6], ""},
		{"too large", []byte{0x10, 0xff, 0xff, 0x03}, ""},
		{"empty", nil, ""},
	} {
		got := busyConnack(bufio.NewReader(bytes.NewReader(tc.in)))
		if string(got) != tc.want {
			t.Errorf("%s: % x, want % x", tc.name, got, tc.want)
		}
	}
}
