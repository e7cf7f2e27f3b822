// Package uplinktest runs real MQTT brokers on loopback for tests: Mosquitto
// 2 (Debian package mosquitto, installed by scripts/deps.sh) and NATS
// server in MQTT mode with JetStream (installed by scripts/deps.sh with go
// install), alone or as a three-node cluster. Each broker gets a free port
// and a temporary directory and is gone when the test ends. A missing
// binary skips the test, except in CI (CI set), where it fails it.
package uplinktest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/relay/internal/testcert"
)

const startTimeout = 60 * time.Second // a loaded 2-core CI box, JetStream recovering a store

// Broker is one broker process, which a test may stop, kill and start again
// on the same port and data.
type Broker struct {
	t    testing.TB
	name string   // "mosquitto" or "nats-1"
	bin  string   // binary path
	args []string // command line after bin
	port string   // MQTT port on 127.0.0.1
	dir  string   // config and data
	ws   string   // MQTT over WebSocket port, "" if none (MosquittoWebSockets)
	wss  string   // the same over TLS, "" if none
	ca   string   // PEM file of the CA that signed the wss listener's certificate

	mu   sync.Mutex // guards cmd, done, log
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
}

// URL is the broker's MQTT address for an uplink.
func (b *Broker) URL() string { return "mqtt://127.0.0.1:" + b.port }

// Addr is host:port of the MQTT listener.
func (b *Broker) Addr() string { return "127.0.0.1:" + b.port }

// find returns the path of a broker binary, looking in PATH, /usr/sbin and
// $(go env GOPATH)/bin; missing, it skips the test, or fails it in CI.
func find(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	dirs := []string{"/usr/sbin", "/usr/local/sbin"}
	if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.Join(strings.TrimSpace(string(gp)), "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	msg := fmt.Sprintf("%s not found (run scripts/deps.sh)", name)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	return FreePorts(t, 1)[0]
}

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago. It holds all n open until it has them, so that the kernel
// cannot hand one out twice: ports taken one after another, each closed
// at once, can repeat — a NATS cluster once got a node's MQTT port equal
// to another node's route port, and its relay talked to the route listener.
func FreePorts(t testing.TB, n int) []string {
	t.Helper()
	ports := make([]string, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		_, ports[i], _ = net.SplitHostPort(l.Addr().String())
	}
	return ports
}

// WSURL is the broker's MQTT-over-WebSocket address, ws://; "" unless
// started by MosquittoWebSockets.
func (b *Broker) WSURL() string { return "ws://127.0.0.1:" + b.ws + "/" }

// WSSURL is the broker's MQTT-over-WebSocket-over-TLS address, wss://; its
// certificate is for 127.0.0.1, signed by the CA in CAFile.
func (b *Broker) WSSURL() string { return "wss://127.0.0.1:" + b.wss + "/" }

// CAFile is the PEM file of the CA that signed the wss:// listener's
// certificate, for an uplink's ca_file.
func (b *Broker) CAFile() string { return b.ca }

// Mosquitto starts Mosquitto 2 with persistence in a temporary directory.
// Its queue limits are lifted (max_queued_messages 0): the default 1,000
// per session would drop a backlog (docs/uplink.md).
func Mosquitto(t testing.TB) *Broker {
	t.Helper()
	return mosquitto(t, false)
}

// MosquittoWebSockets starts Mosquitto as Mosquitto does, with two more
// listeners: MQTT over WebSocket (WSURL) and over WebSocket with TLS
// (WSSURL), whose certificate a CA made for the test signed (CAFile).
// Debian's Mosquitto 2.0.11 has WebSocket listeners (libwebsockets); it
// binds them to every interface whatever address is given, and will not
// start with WebSocket listeners alone ("Unable to start any listening
// sockets"), so the TCP one stays.
func MosquittoWebSockets(t testing.TB) *Broker {
	t.Helper()
	return mosquitto(t, true)
}

func mosquitto(t testing.TB, websockets bool) *Broker {
	t.Helper()
	bin := find(t, "mosquitto")
	dir := t.TempDir()
	ports := FreePorts(t, 3) // MQTT, and WebSocket and wss when asked for
	port := ports[0]
	// Run as root, Mosquitto drops to user "mosquitto" unless told to stay,
	// and could then not save to the temporary directory.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`user %s
listener %s 127.0.0.1
allow_anonymous true
persistence true
persistence_location %s/
autosave_interval 1
max_queued_messages 0
max_inflight_messages 64
log_dest stdout
log_type error
log_type warning
log_type notice
`, me.Username, port, dir)
	b := &Broker{t: t, name: "mosquitto", bin: bin, port: port, dir: dir}
	if websockets {
		b.ws, b.wss = ports[1], ports[2]
		f := testcert.NewCA(t).WriteFiles(t, dir)
		b.ca = f.CA
		cert, key := f.Cert, f.Key
		conf += fmt.Sprintf(`listener %s 127.0.0.1
protocol websockets
listener %s 127.0.0.1
protocol websockets
certfile %s
keyfile %s
`, b.ws, b.wss, cert, key)
	}
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	b.args = []string{"-c", path}
	b.Start()
	return b
}

// NATS starts nats-server with JetStream and MQTT.
func NATS(t testing.TB) *Broker {
	t.Helper()
	ports := FreePorts(t, 2)
	return natsNode(t, find(t, "nats-server"), true, "nats-1", t.TempDir(), ports[0], ports[1], "", "")
}

// NATSCluster starts n nats-server nodes in one cluster, JetStream with n
// replicas for the MQTT streams, each node with its own MQTT port.
func NATSCluster(t testing.TB, n int) []*Broker {
	t.Helper()
	bin := find(t, "nats-server")
	ports := FreePorts(t, 3*n) // per node: route, client, MQTT
	clusterPorts := ports[:n]
	var routes []string
	for _, p := range clusterPorts {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%s", p))
	}
	var nodes []*Broker
	for i := range n {
		cluster := fmt.Sprintf(`cluster {
  name: cairntest
  listen: 127.0.0.1:%s
  routes: [%s]
}
`, clusterPorts[i], strings.Join(routes, ", "))
		mqtt := fmt.Sprintf("stream_replicas: %d\n  consumer_replicas: %d", n, n)
		nodes = append(nodes, natsNode(t, bin, false, fmt.Sprintf("nats-%d", i+1), t.TempDir(), ports[n+i], ports[2*n+i], mqtt, cluster))
	}
	// A node opens its MQTT port only once JetStream has a cluster
	// leader, which needs the others: start all, then wait.
	for _, n := range nodes {
		n.waitReady()
	}
	return nodes
}

// natsNode starts nats-server as name with its client listener on clientPort
// and MQTT on port (mqtt: more lines for its mqtt block; extra: more
// top-level config), waiting for MQTT to accept when wait is set.
func natsNode(t testing.TB, bin string, wait bool, name, dir, clientPort, port, mqtt, extra string) *Broker {
	t.Helper()
	conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%s
jetstream {
  store_dir: %q
}
mqtt {
  listen: 127.0.0.1:%s
  %s
}
%s`, name, clientPort, filepath.Join(dir, "js"), port, mqtt, extra)
	path := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &Broker{t: t, name: name, bin: bin, args: []string{"-c", path}, port: port, dir: dir}
	b.launch()
	if wait {
		b.waitReady()
	}
	return b
}

// Start runs the broker (again) and waits until its MQTT port accepts
// connections.
func (b *Broker) Start() {
	b.t.Helper()
	b.launch()
	b.waitReady()
}

// launch starts the process.
func (b *Broker) launch() {
	b.t.Helper()
	b.mu.Lock()
	b.log = new(bytes.Buffer)
	cmd := exec.Command(b.bin, b.args...)
	cmd.Stdout, cmd.Stderr = syncWriter{&b.mu, b.log}, syncWriter{&b.mu, b.log}
	if err := cmd.Start(); err != nil {
		b.mu.Unlock()
		b.t.Fatalf("starting %s: %v", b.name, err)
	}
	done := make(chan struct{})
	b.cmd, b.done = cmd, done
	b.mu.Unlock()
	go func() { cmd.Wait(); close(done) }()
	b.t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if b.t.Failed() {
			b.t.Logf("%s logged:\n%s", b.name, b.Log())
		}
	})
}

// waitReady waits until the MQTT port accepts connections.
func (b *Broker) waitReady() {
	b.t.Helper()
	b.mu.Lock()
	done := b.done
	b.mu.Unlock()
	deadline := time.Now().Add(startTimeout)
	addrs := []string{b.Addr()}
	for _, p := range []string{b.ws, b.wss} {
		if p != "" {
			addrs = append(addrs, "127.0.0.1:"+p)
		}
	}
	for {
		for len(addrs) > 0 {
			c, err := net.DialTimeout("tcp", addrs[0], time.Second)
			if err != nil {
				break
			}
			c.Close()
			addrs = addrs[1:]
		}
		if len(addrs) == 0 {
			return
		}
		select {
		case <-done:
			b.t.Fatalf("%s exited at start:\n%s", b.name, b.Log())
		default:
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s not listening after %v:\n%s", b.name, startTimeout, b.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the broker with SIGTERM (it saves its state) and waits.
func (b *Broker) Stop() { b.signal(syscall.SIGTERM) }

// Kill ends the broker with SIGKILL and waits.
func (b *Broker) Kill() { b.signal(syscall.SIGKILL) }

func (b *Broker) signal(sig syscall.Signal) {
	b.t.Helper()
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.mu.Unlock()
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(startTimeout):
		b.t.Fatalf("%s still running %v after %v", b.name, startTimeout, sig)
	}
}

// Log returns what the broker's current run has logged.
func (b *Broker) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.String()
}

type syncWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}
