package uplink_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"
	toml "github.com/pelletier/go-toml/v2"
	"go.uber.org/goleak"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/config"
	"github.com/cairnmesh/cairn/relay/relaytest"
	"github.com/cairnmesh/cairn/relay/store"
	"github.com/cairnmesh/cairn/relay/uplink"
)

// Upper bounds, generous for a loaded 2-core machine; conditions are polled.
const (
	wait     = 60 * time.Second // for anything to arrive through a broker
	pollStep = 20 * time.Millisecond
)

// uplinkTo is an uplink to url that retries quickly and takes arrivals as
// fast as they come, for tests.
func uplinkTo(url string) config.Uplink {
	u := config.DefaultUplink(url)
	u.ReconnectMin = config.Duration(50 * time.Millisecond)
	u.ReconnectMax = config.Duration(500 * time.Millisecond)
	u.ReceiveRate = 1_000_000
	return u
}

// relayConfig is a relay on a free loopback port with data in dir and one
// uplink to url.
func relayConfig(t testing.TB, dir, url string) *config.Config {
	c := relaytest.Config(t)
	c.DataDir = dir
	c.Uplinks = []config.Uplink{uplinkTo(url)}
	return c
}

// openRelay starts a relay in this process; the caller closes it (see
// startRelay for one closed at the end of the test).
func openRelay(t testing.TB, cfg *config.Config) *relay.Relay {
	t.Helper()
	r, err := relay.New(relay.Options{Config: cfg, Logger: relaytest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Serve(); err != nil {
		r.Close()
		t.Fatal(err)
	}
	return r
}

func startRelay(t testing.TB, cfg *config.Config) *relay.Relay {
	t.Helper()
	return relaytest.Start(t, cfg)
}

// eventually polls cond until it holds, failing the test after wait.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", wait, what)
		}
		time.Sleep(pollStep)
	}
}

// status returns the relay's first uplink's status.
func status(r *relay.Relay) uplink.Status { return r.Uplinks()[0] }

// recipient is an application on a handheld: an authenticated MQTT client
// subscribed to its inbox on one relay, which counts what it sees by id.
type recipient struct {
	id *relaytest.Identity
	c  pahov3.Client

	mu    sync.Mutex // guards seen, order, dups
	seen  map[codec.ID]int
	order []*codec.Envelope
	dups  int
}

func subscribe(t testing.TB, r *relay.Relay, id *relaytest.Identity) *recipient {
	t.Helper()
	rc := &recipient{id: id, seen: make(map[codec.ID]int)}
	o := pahov3.NewClientOptions().
		AddBroker("tcp://" + r.Addrs()["tcp"]).
		SetClientID(fmt.Sprintf("h-%x", id.Tag[:6])).
		SetUsername(id.DID).SetPassword(id.Password()).
		SetCleanSession(true).SetAutoReconnect(false)
	rc.c = pahov3.NewClient(o)
	if tok := rc.c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { rc.c.Disconnect(50) })
	tok := rc.c.Subscribe("cairn/v1/inbox/"+id.Tag.String(), 1, func(_ pahov3.Client, m pahov3.Message) {
		e, err := codec.DecodeEnvelope(m.Payload())
		if err != nil {
			t.Errorf("delivered envelope does not decode: %v", err)
			return
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.seen[e.ID()]++
		if rc.seen[e.ID()] > 1 {
			rc.dups++
		}
		rc.order = append(rc.order, e)
	})
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return rc
}

func (rc *recipient) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.seen)
}

func (rc *recipient) has(id codec.ID) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.seen[id] > 0
}

// send publishes raw to the relay's send topic as an anonymous client.
func send(t testing.TB, r *relay.Relay, raw ...[]byte) {
	t.Helper()
	o := pahov3.NewClientOptions().AddBroker("tcp://" + r.Addrs()["tcp"]).
		SetClientID(fmt.Sprintf("s-%d", time.Now().UnixNano())).SetAutoReconnect(false)
	c := pahov3.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(50)
	for _, b := range raw {
		if tok := c.Publish("cairn/v1/send", 1, false, b); !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
}

// queue stores n envelopes for tag in the relay as if local clients had
// sent them, priorities mixed, and returns their ids.
func queue(t testing.TB, r *relay.Relay, tag codec.Tag, n int) []codec.ID {
	t.Helper()
	ids := make([]codec.ID, n)
	var wg sync.WaitGroup
	for i := range n {
		e := relaytest.Message(tag, codec.Prio((i*7)%3), 40)
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := r.Ingest(e.Encode(), store.LinkLocal)
			if err != nil {
				t.Errorf("ingest: %v", err)
			}
			ids[i] = id
		}()
		if i%256 == 255 {
			wg.Wait()
		}
	}
	wg.Wait()
	return ids
}

// arrivalPrios returns the priorities of what the relay holds for tag, in
// the order it stored them.
func arrivalPrios(t testing.TB, r *relay.Relay, tag codec.Tag) []codec.Prio {
	t.Helper()
	var items []store.Item
	if err := r.Store().Scan(tag, func(it store.Item) bool { items = append(items, it); return true }); err != nil {
		t.Fatal(err)
	}
	bySeq := make(map[uint64]codec.Prio, len(items))
	var seqs []uint64
	for _, it := range items {
		bySeq[it.Seq] = it.Envelope.Prio
		seqs = append(seqs, it.Seq)
	}
	sortU64(seqs)
	out := make([]codec.Prio, len(seqs))
	for i, s := range seqs {
		out[i] = bySeq[s]
	}
	return out
}

func sortU64(s []uint64) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// Child relay processes, for SIGKILL: the test binary re-executed with
// envChild set to a config file runs a relay until killed.
const envChild = "CAIRN_UPLINK_TEST_RELAY"

func TestMain(m *testing.M) {
	if path := os.Getenv(envChild); path != "" {
		childRelay(path)
		return
	}
	// Uplinks, relays and brokers' clients all end with their tests: no
	// goroutine may outlive them.
	goleak.VerifyTestMain(m)
}

func childRelay(path string) {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	r, err := relay.New(relay.Options{Config: cfg})
	if err == nil {
		err = r.Serve()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("child serving")
	select {}
}

// childProc is a relay in a child process.
type childProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	out  *strings.Builder
}

func startChild(t *testing.T, cfg *config.Config) *childProc {
	t.Helper()
	data, err := toml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cairn.toml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &childProc{cmd: exec.Command(os.Args[0], "-test.run=^$"), done: make(chan struct{}), out: new(strings.Builder)}
	p.cmd.Env = append(os.Environ(), envChild+"="+path)
	var mu sync.Mutex
	w := writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return p.out.Write(b) })
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

func (p *childProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
