package relay_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

// scraper returns a function that reads /metrics over one kept-alive
// connection, so that scraping adds exactly one HTTP connection.
func scraper(t *testing.T, r *relay.Relay, scheme string) func() map[string]*dto.MetricFamily {
	t.Helper()
	tr := &http.Transport{MaxConnsPerHost: 1, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: wait}
	return func() map[string]*dto.MetricFamily {
		t.Helper()
		resp, err := hc.Get(scheme + "://" + r.HTTPAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return fams
	}
}

// silent opens a TCP connection that sends nothing, closed when the test ends.
func silent(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedAtOnce reports whether the server closes c without a byte.
func closedAtOnce(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	n, err := c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return n == 0 && err != nil
}

// mqtt.max_clients counts every open MQTT connection — TCP, the WebSocket
// listener, /mqtt on the HTTP listener, and one that has sent nothing yet.
// One more is answered "server busy" in its protocol version; closing one
// lets the next in.
func TestMaxClients(t *testing.T) {
	cfg := relaytest.Config(t)
	cfg.MQTT.MaxClients = 3
	cfg.MQTT.WSListen = "127.0.0.1:0"
	r := startWeb(t, cfg)
	metrics := scraper(t, r, "http")

	alice := relaytest.NewIdentity()
	v3(t, r, alice)
	web := pahov3.NewClient(pahov3.NewClientOptions().AddBroker("ws://" + r.HTTPAddr() + "/mqtt").
		SetClientID(clientID("web")).SetAutoReconnect(false))
	if tok := web.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("/mqtt connect: %v", tok.Error())
	}
	t.Cleanup(func() { web.Disconnect(100) })
	quiet := silent(t, r.Addrs()["tcp"])
	eventually(t, "3 MQTT connections open", func() bool {
		return mustValue(t, metrics(), "cairn_mqtt_connections") == 3
	})

	// MQTT 5 over TCP: CONNACK 0x89 Server busy, with a reason string.
	conn, err := net.Dial("tcp", r.Addrs()["tcp"])
	if err != nil {
		t.Fatal(err)
	}
	c5 := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: clientID("v5"), PacketTimeout: wait})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ca, err := c5.Connect(ctx, &paho.Connect{KeepAlive: 30, CleanStart: true, ClientID: clientID("v5")})
	if err == nil || ca == nil || ca.ReasonCode != 0x89 || ca.Properties == nil || !strings.Contains(ca.Properties.ReasonString, "max_clients") {
		t.Fatalf("MQTT 5 over the cap: connack %+v, %v; want 0x89 naming max_clients", ca, err)
	}

	// MQTT 3.1.1 over the WebSocket listener: return code 3, Server unavailable.
	ws := pahov3.NewClient(pahov3.NewClientOptions().AddBroker("ws://" + r.Addrs()["ws"]).
		SetClientID(clientID("ws")).SetAutoReconnect(false).SetConnectRetry(false).
		SetProtocolVersion(4)) // else paho tries 3.1 after 3.1.1
	tok := ws.Connect()
	if !tok.WaitTimeout(wait) || tok.Error() == nil {
		t.Fatal("MQTT 3.1.1 over the cap connected")
	}
	if code := tok.(*pahov3.ConnectToken).ReturnCode(); code != 3 {
		t.Fatalf("MQTT 3.1.1 over the cap: return code %d (%v), want 3", code, tok.Error())
	}

	m := metrics()
	if got := mustValue(t, m, "cairn_mqtt_connections_refused_total"); got != 2 {
		t.Errorf("refused %v, want 2", got)
	}
	if got := mustValue(t, m, "cairn_mqtt_connections_max"); got != 3 {
		t.Errorf("max %v, want 3", got)
	}
	// /mqtt gave its HTTP slot back when it upgraded: only the scrape's is open.
	if got := mustValue(t, m, "cairn_http_connections"); got != 1 {
		t.Errorf("http connections %v, want 1 (the scrape)", got)
	}

	quiet.Close()
	eventually(t, "a slot free", func() bool {
		return mustValue(t, metrics(), "cairn_mqtt_connections") == 2
	})
	v5(t, r, alice, nil)
}

// http.max_connections counts the HTTP listener's connections, those still
// being sniffed for TLS included; one more is closed at once, and closing
// one lets the next in.
func TestHTTPMaxConnections(t *testing.T) {
	for _, mode := range []string{"off", "auto"} {
		t.Run("tls="+mode, func(t *testing.T) {
			cfg := relaytest.Config(t)
			cfg.HTTP.MaxConnections = 2
			cfg.HTTP.TLS = mode
			r := relaytest.Start(t, cfg)
			scheme := "http"
			if mode == "auto" {
				scheme = "https"
			}
			metrics := scraper(t, r, scheme)
			metrics() // the scrape's connection stays open, kept alive
			quiet := silent(t, r.HTTPAddr())
			eventually(t, "2 HTTP connections open", func() bool {
				return mustValue(t, metrics(), "cairn_http_connections") == 2
			})

			if !closedAtOnce(t, silent(t, r.HTTPAddr())) {
				t.Fatal("a connection over http.max_connections was not closed")
			}
			m := metrics()
			if got := mustValue(t, m, "cairn_http_connections_refused_total"); got != 1 {
				t.Errorf("refused %v, want 1", got)
			}
			if got := mustValue(t, m, "cairn_http_connections_max"); got != 2 {
				t.Errorf("max %v, want 2", got)
			}

			quiet.Close()
			eventually(t, "a slot free", func() bool {
				return mustValue(t, metrics(), "cairn_http_connections") == 1
			})
			c := silent(t, r.HTTPAddr())
			io.WriteString(c, "GET /ca HTTP/1.1\r\nHost: relay\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(wait))
			line, err := bufio.NewReader(c).ReadString('\n')
			if !strings.HasPrefix(line, "HTTP/1.1 ") {
				t.Fatalf("after a slot freed: %q, %v", line, err)
			}
		})
	}
}

// A request whose headers pass httpMaxHeaderBytes (16 KiB) is answered 431.
func TestHTTPMaxHeaderBytes(t *testing.T) {
	r := relaytest.Start(t, nil)
	for _, tc := range []struct {
		size int
		want int
	}{{8 << 10, http.StatusOK}, {32 << 10, http.StatusRequestHeaderFieldsTooLarge}} {
		req, _ := http.NewRequest("GET", "http://"+r.HTTPAddr()+"/healthz", nil)
		req.Header.Set("X-Padding", strings.Repeat("a", tc.size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%d-byte header: %d, want %d", tc.size, resp.StatusCode, tc.want)
		}
	}
}
