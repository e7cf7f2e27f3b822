package relay_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/config"
	"github.com/cairnmesh/cairn/relay/relaytest"
	"github.com/cairnmesh/cairn/relay/uplink/uplinktest"
)

// app stands in for package web's handler: the relay routes / to whatever
// Options.Web is.
var app = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "the app at "+r.URL.Path)
})

func startWeb(t *testing.T, cfg *config.Config) *relay.Relay {
	t.Helper()
	r, err := relay.New(relay.Options{Config: cfg, Logger: relaytest.Logger(t), Web: app, Version: "v9.9.9-test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Serve(); err != nil {
		r.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// mqttPacket frames an MQTT control packet: type and flags, the remaining
// length as a variable byte integer, the rest.
func mqttPacket(typeFlags byte, rest []byte) []byte {
	b := []byte{typeFlags}
	n := len(rest)
	for {
		d := byte(n % 128)
		if n /= 128; n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			break
		}
	}
	return append(b, rest...)
}

func mqttString(s string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
}

// The web client's MQTT: a WebSocket upgrade of the HTTP listener's /mqtt
// (subprotocol mqtt) is a broker connection like any other. A raw
// WebSocket client publishes an envelope with hand-made MQTT 3.1.1 packets
// and gets its PUBACK; a paho client over ws://…/mqtt, authenticated,
// receives it from its inbox, and so does one on the TCP listener.
func TestWebMQTT(t *testing.T) {
	r := startWeb(t, relaytest.Config(t))
	base := r.HTTPAddr()
	bob := relaytest.NewIdentity()

	ws := pahov3.NewClient(pahov3.NewClientOptions().AddBroker("ws://" + base + "/mqtt").
		SetClientID(clientID("webws")).SetUsername(bob.DID).SetPassword(bob.Password()).SetAutoReconnect(false))
	if tok := ws.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("paho over /mqtt: %v", tok.Error())
	}
	t.Cleanup(func() { ws.Disconnect(100) })
	in := subscribe3(t, ws, bob)

	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: wait}
	c, resp, err := d.Dial("ws://"+base+"/mqtt", nil)
	if err != nil {
		t.Fatalf("WebSocket dial: %v", err)
	}
	defer c.Close()
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "mqtt" {
		t.Errorf("subprotocol %q, want mqtt", p)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	exchange := func(what string, packet, want []byte) {
		t.Helper()
		if err := c.WriteMessage(websocket.BinaryMessage, packet); err != nil {
			t.Fatalf("writing %s: %v", what, err)
		}
		typ, got, err := c.ReadMessage()
		if err != nil || typ != websocket.BinaryMessage || !bytes.Equal(got, want) {
			t.Fatalf("%s answered %d %x, %v; want binary %x", what, typ, got, err, want)
		}
	}
	connect := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60}, mqttString(clientID("raw"))...)
	exchange("CONNECT", mqttPacket(0x10, connect), []byte{0x20, 2, 0, 0})
	e := relaytest.Message(bob.Tag, codec.PrioNormal, 300) // a remaining length of two bytes
	publish := append(append(mqttString("cairn/v1/send"), 0, 7), e.Encode()...)
	exchange("PUBLISH", mqttPacket(0x32, publish), []byte{0x40, 2, 0, 7})
	c.WriteMessage(websocket.BinaryMessage, []byte{0xE0, 0}) // DISCONNECT

	if got := in.next(); got.ID() != e.ID() {
		t.Fatalf("over /mqtt: got %s, want %s", got.ID(), e.ID())
	}
	tcp := subscribe3(t, v3(t, r, bob), bob)
	if got := tcp.next(); got.ID() != e.ID() {
		t.Fatalf("over TCP: got %s, want %s", got.ID(), e.ID())
	}

	// A plain GET of /mqtt is no upgrade: the upgrader refuses it.
	if code, _, _ := get(t, r, "/mqtt"); code != http.StatusBadRequest {
		t.Errorf("GET /mqtt without an upgrade: %d, want 400", code)
	}
	if code, _, body := get(t, r, "/some/page"); code != 200 || body != "the app at /some/page" {
		t.Errorf("/some/page: %d %q, want the web handler's answer", code, body)
	}
}

// With http.web off the HTTP listener serves neither the app nor /mqtt;
// /status.json stays.
func TestWebOff(t *testing.T) {
	cfg := relaytest.Config(t)
	cfg.HTTP.Web = false
	r := startWeb(t, cfg)
	for path, want := range map[string]int{"/": 404, "/mqtt": 404, "/status.json": 200} {
		if code, _, _ := get(t, r, path); code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
	}
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: wait}
	if c, _, err := d.Dial("ws://"+r.HTTPAddr()+"/mqtt", nil); err == nil {
		c.Close()
		t.Error("a WebSocket to /mqtt was accepted with http.web off")
	}
}

// webStatus is /status.json as the web client reads it (web/static/app.js).
type webStatus struct {
	Version string `json:"version"`
	DID     string `json:"did"`
	Ready   bool   `json:"ready"`
	Radios  []struct {
		Link       string `json:"link"`
		State      string `json:"state"`
		Neighbours int    `json:"neighbours"`
	} `json:"radios"`
	Uplinks []struct {
		Link      string `json:"link"`
		Connected bool   `json:"connected"`
	} `json:"uplinks"`
}

func statusJSON(t *testing.T, r *relay.Relay) (webStatus, http.Header) {
	t.Helper()
	resp, err := http.Get("http://" + r.HTTPAddr() + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s webStatus
	dec := json.NewDecoder(resp.Body)
	dec.DisallowUnknownFields() // a new field is a change the web client should hear of
	if err := dec.Decode(&s); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/status.json: %d, %v", resp.StatusCode, err)
	}
	return s, resp.Header
}

// /status.json names the relay, says it is ready, and shows each radio
// link (state, neighbours) and each uplink (connected or not): relay A has
// a modem on simulated air with relay B in range, an uplink to a running
// Mosquitto and one to a port nobody listens on. Without links both lists
// are empty arrays, not null.
func TestStatusJSON(t *testing.T) {
	alone := startWeb(t, relaytest.Config(t))
	if s, h := statusJSON(t, alone); s.Radios == nil || s.Uplinks == nil || len(s.Radios)+len(s.Uplinks) != 0 ||
		h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("a relay without links: %+v %v", s, h)
	}

	broker := uplinktest.Mosquitto(t)
	rs := radioPair(t, func(i int, o *relay.Options) {
		o.Web, o.Version = app, "v9.9.9-test"
		if i == 0 {
			o.Config.Uplinks = []config.Uplink{fastUplink(broker.URL(), "a"), fastUplink("mqtt://127.0.0.1:1", "b")}
		}
	})
	var s webStatus
	eventually(t, "relay A's /status.json shows its radio ready with B as neighbour and its uplink to Mosquitto connected", func() bool {
		s, _ = statusJSON(t, rs[0])
		return len(s.Radios) == 1 && s.Radios[0].State == "ready" && s.Radios[0].Neighbours == 1 &&
			len(s.Uplinks) == 2 && s.Uplinks[0].Connected
	})
	if s.Version != "v9.9.9-test" || s.DID != rs[0].DID() || !s.Ready || s.Radios[0].Link != "radio:0" ||
		s.Uplinks[0].Link != "uplink:0" || s.Uplinks[1].Link != "uplink:1" || s.Uplinks[1].Connected {
		t.Errorf("relay A's /status.json: %+v", s)
	}
}
