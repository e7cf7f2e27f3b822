package relay_test

import (
	"bufio"
	"crypto/ed25519"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/config"
	"github.com/cairnmesh/cairn/relay/relaytest"
	"github.com/cairnmesh/cairn/relay/store"
)

// Budget from DESIGN.md: a relay holding 100,000 envelopes stays within
// 40 MB resident.
const (
	memoryEnvelopes = 100_000
	memoryTags      = 1_000
	memoryBudget    = 40_000_000 // bytes resident
)

// TestMemory100k measures the resident memory of a relay process holding
// 100,000 envelopes (60-byte bodies, 1,000 recipients) after every
// recipient has connected and received its inbox. It takes a few minutes,
// so it runs only with CAIRN_MEMORY=1:
//
//	CAIRN_MEMORY=1 go test -run TestMemory100k -v ./relay/
//
// With CAIRN_MEMORY_LIMIT=40000000 too (root) the relay runs in a memory
// cgroup of that hard limit, which counts the page cache it brings in as
// well as its anonymous memory; it must then deliver everything without
// being killed (docs/performance.md "Memory: what counts").
func TestMemory100k(t *testing.T) {
	if os.Getenv("CAIRN_MEMORY") == "" {
		t.Skip("set CAIRN_MEMORY=1 to measure (takes minutes)")
	}
	dir := t.TempDir()
	ids := make([]*relaytest.Identity, memoryTags)
	for i := range ids {
		seed := make([]byte, ed25519.SeedSize)
		copy(seed, fmt.Sprintf("memory-%d", i))
		key := ed25519.NewKeyFromSeed(seed)
		pub := key.Public().(ed25519.PublicKey)
		ids[i] = &relaytest.Identity{Key: key, Pub: pub, Tag: codec.TagOf(pub), DID: codec.FormatDIDKey(pub)}
	}

	start := time.Now()
	st, err := store.Open(store.Options{Path: filepath.Join(dir, "cairn.db"), Logger: relaytest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < memoryEnvelopes; i += 16 {
				if _, err := st.Put(relaytest.Message(ids[i%memoryTags].Tag, codec.Prio(i%3), 60), store.LinkLocal); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "cairn.db"))
	t.Logf("filled %d envelopes in %v; store file %.1f MiB", memoryEnvelopes, time.Since(start).Round(time.Second), float64(fi.Size())/(1<<20))

	child := startMemoryRelay(t, dir, false)
	pid := child.cmd.Process.Pid
	addr := child.addr
	t.Logf("after start: %s", procMemory(t, pid))
	delivering := time.Now()

	// Every recipient connects and takes its inbox, 50 at a time.
	received := 0
	var mu sync.Mutex
	sem := make(chan struct{}, 50)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n := drainInbox(t, addr, id, memoryEnvelopes/memoryTags)
			mu.Lock()
			received += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if received != memoryEnvelopes {
		t.Errorf("received %d of %d", received, memoryEnvelopes)
	}
	t.Logf("delivered %d in %v", received, time.Since(delivering).Round(100*time.Millisecond))
	mem := procMemory(t, pid)
	t.Logf("after delivering all: %s", mem)
	if child.cgroup != nil {
		// Held to the limit, the relay must still deliver everything
		// (above) and not be killed; VmRSS hovers at the limit then. A
		// thousand idle handhelds at once need more than the budget
		// (TestMemoryClients: ~55 kB each); they are not measured here.
		t.Logf("memory cgroup: %s", child.cgroup)
		return
	}
	if mem.rss > memoryBudget {
		t.Errorf("resident %.1f MB, budget %.1f MB", float64(mem.rss)/1e6, float64(memoryBudget)/1e6)
	}

	// Handhelds stay connected: the same 1,000 recipients, now with empty
	// inboxes, connect again and stay subscribed (TestMemoryClients
	// measures what each costs on an empty store).
	before := child.stats(t)
	clients := connectIdle(t, "tcp://"+addr, ids)
	after := child.stats(t)
	t.Logf("with %d idle subscribers too: %s", len(clients), after)
	t.Logf("%d idle subscribers added: %s", len(clients), after.sub(before).per(1))
}

// TestMemoryClients measures what an idle handheld costs the relay: N
// clients, each its own did:key, authenticated and subscribed at QoS 1 to
// its inbox, connected at once to a relay with an empty store, over TCP and
// then, on a fresh relay, over WebSocket. It reports each step against the
// relay just started, per client. It takes about half a minute, so it runs
// only with CAIRN_MEMORY=1:
//
//	CAIRN_MEMORY=1 go test -run TestMemoryClients -v ./relay/
func TestMemoryClients(t *testing.T) {
	if os.Getenv("CAIRN_MEMORY") == "" {
		t.Skip("set CAIRN_MEMORY=1 to measure")
	}
	steps := []int{100, 500, 1000} // the last is mqtt.max_clients' default
	ids := make([]*relaytest.Identity, steps[len(steps)-1])
	for i := range ids {
		ids[i] = relaytest.NewIdentity()
	}
	for _, transport := range []string{"tcp", "ws"} {
		t.Run(transport, func(t *testing.T) {
			child := startMemoryRelay(t, t.TempDir(), transport == "ws")
			broker := "tcp://" + child.addr
			if transport == "ws" {
				broker = "ws://" + child.wsAddr
			}
			base := child.stats(t)
			t.Logf("after start: %s", base)
			connected := 0
			for _, n := range steps {
				connectIdle(t, broker, ids[connected:n])
				connected = n
				s := child.stats(t)
				t.Logf("%d idle subscribers: %s", n, s)
				t.Logf("%d idle subscribers, per client: %s", n, s.sub(base).per(n))
			}
		})
	}
}

// memoryRelay is a relay in a child process (TestMemoryChild), so that the
// measurement holds nothing of the test's own.
type memoryRelay struct {
	cmd      *exec.Cmd
	cgroup   *memoryCgroup // nil unless CAIRN_MEMORY_LIMIT is set
	addr     string        // MQTT over TCP
	wsAddr   string        // MQTT over WebSocket, "" if off
	requests io.Writer
	answers  *bufio.Scanner
}

// startMemoryRelay starts a relay on the store in dir, with a WebSocket
// listener too if ws, and waits until it accepts connections.
func startMemoryRelay(t *testing.T, dir string, ws bool) *memoryRelay {
	t.Helper()
	m := &memoryRelay{addr: freeAddr(t)}
	env := []string{"CAIRN_MEMORY_CHILD=" + dir, "CAIRN_MEMORY_ADDR=" + m.addr}
	if ws {
		m.wsAddr = freeAddr(t)
		env = append(env, "CAIRN_MEMORY_WS_ADDR="+m.wsAddr)
	}
	m.cmd = exec.Command(os.Args[0], "-test.run=^TestMemoryChild$")
	if limit := os.Getenv("CAIRN_MEMORY_LIMIT"); limit != "" {
		m.cgroup = newMemoryCgroup(t, limit)
		m.cmd = m.cgroup.command(t, os.Args[0], "-test.run=^TestMemoryChild$")
	}
	m.cmd.Env = append(os.Environ(), env...)
	m.cmd.Stderr = os.Stderr
	in, err := m.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	m.requests, m.answers = in, bufio.NewScanner(out)
	launched := time.Now()
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.cmd.Process.Kill(); m.cmd.Wait() })
	for {
		if c, err := net.Dial("tcp", m.addr); err == nil {
			c.Close()
			break
		}
		if time.Since(launched) > 30*time.Second {
			t.Fatal("relay did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("relay accepting connections %v after launch (process start included)", time.Since(launched).Round(time.Millisecond))
	return m
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// relayStats is the relay's memory as the kernel and the Go runtime see it.
type relayStats struct {
	memory
	threads, goroutines int64
	heap, stack         int64 // bytes in use
}

func (s relayStats) String() string {
	return fmt.Sprintf("%s; Go heap in use %.1f MB, stacks %.1f MB; %d goroutines, %d threads",
		s.memory, float64(s.heap)/1e6, float64(s.stack)/1e6, s.goroutines, s.threads)
}

func (s relayStats) sub(o relayStats) relayStats {
	return relayStats{
		memory:     memory{s.rss - o.rss, s.anon - o.anon, s.file - o.file},
		threads:    s.threads - o.threads,
		goroutines: s.goroutines - o.goroutines,
		heap:       s.heap - o.heap,
		stack:      s.stack - o.stack,
	}
}

// perClient is a difference of relayStats divided among n clients.
type perClient struct {
	d relayStats
	n int64
}

func (s relayStats) per(n int) perClient { return perClient{s, int64(n)} }

func (p perClient) String() string {
	kb := func(b int64) float64 { return float64(b) / 1e3 / float64(p.n) }
	if p.n == 1 {
		return fmt.Sprintf("VmRSS %+.1f MB (anonymous %+.1f MB), Go heap %+.1f MB, stacks %+.1f MB, %+d goroutines",
			float64(p.d.rss)/1e6, float64(p.d.anon)/1e6, float64(p.d.heap)/1e6, float64(p.d.stack)/1e6, p.d.goroutines)
	}
	return fmt.Sprintf("VmRSS %.1f kB (anonymous %.1f kB), Go heap %.1f kB, stacks %.1f kB, %.2f goroutines",
		kb(p.d.rss), kb(p.d.anon), kb(p.d.heap), kb(p.d.stack), float64(p.d.goroutines)/float64(p.n))
}

// stats reads /proc for the child and asks it for the rest.
func (m *memoryRelay) stats(t *testing.T) relayStats {
	t.Helper()
	s := relayStats{memory: procMemory(t, m.cmd.Process.Pid), threads: procThreads(t, m.cmd.Process.Pid)}
	if _, err := io.WriteString(m.requests, "stats\n"); err != nil {
		t.Fatal(err)
	}
	for m.answers.Scan() {
		if _, err := fmt.Sscanf(m.answers.Text(), "cairn-memory goroutines %d heap %d stack %d", &s.goroutines, &s.heap, &s.stack); err == nil {
			return s
		}
	}
	t.Fatalf("relay stats: %v", m.answers.Err())
	return s
}

// connectIdle connects one client per identity to broker, each subscribed
// at QoS 1 to its inbox as a handheld is, 50 connecting at a time, and
// disconnects them when the test ends.
func connectIdle(t *testing.T, broker string, ids []*relaytest.Identity) []pahov3.Client {
	t.Helper()
	clients := make([]pahov3.Client, len(ids))
	var wg sync.WaitGroup
	var failed atomic.Bool
	sem := make(chan struct{}, 50)
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			o := pahov3.NewClientOptions().AddBroker(broker).SetClientID(id.Tag.String()).
				SetUsername(id.DID).SetPassword(id.Password()).SetAutoReconnect(false)
			c := pahov3.NewClient(o)
			if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
				t.Errorf("connect: %v", tok.Error())
				failed.Store(true)
				return
			}
			clients[i] = c
			tok := c.Subscribe("cairn/v1/inbox/"+id.Tag.String(), 1, func(pahov3.Client, pahov3.Message) {})
			if !tok.WaitTimeout(wait) || tok.Error() != nil {
				t.Errorf("subscribe: %v", tok.Error())
				failed.Store(true)
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range clients {
			if c != nil {
				c.Disconnect(0)
			}
		}
	})
	if failed.Load() {
		t.FailNow()
	}
	time.Sleep(time.Second) // let the relay's per-connection work settle
	return clients
}

func drainInbox(t *testing.T, addr string, id *relaytest.Identity, want int) int {
	o := pahov3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id.Tag.String()).
		SetUsername(id.DID).SetPassword(id.Password()).SetAutoReconnect(false)
	c := pahov3.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Errorf("connect: %v", tok.Error())
		return 0
	}
	defer c.Disconnect(0)
	got := make(chan struct{}, want)
	c.Subscribe("cairn/v1/inbox/"+id.Tag.String(), 1, func(pahov3.Client, pahov3.Message) { got <- struct{}{} })
	for n := range want {
		select {
		case <-got:
		case <-time.After(60 * time.Second):
			return n
		}
	}
	return want
}

// TestMemoryChild is the relay process of TestMemory100k.
func TestMemoryChild(t *testing.T) {
	dir := os.Getenv("CAIRN_MEMORY_CHILD")
	if dir == "" {
		t.Skip("child of TestMemory100k")
	}
	cfg := config.Default()
	cfg.Discovery.Enabled = false // tests send nothing beyond loopback
	cfg.DataDir = dir
	cfg.MQTT.Listen = os.Getenv("CAIRN_MEMORY_ADDR")
	cfg.MQTT.WSListen = os.Getenv("CAIRN_MEMORY_WS_ADDR")
	cfg.HTTP.Listen = ""
	r, err := relay.New(relay.Options{Config: cfg, Logger: relaytest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Serve(); err != nil {
		t.Fatal(err)
	}
	// Each line on stdin asks for the Go runtime's view; the parent cannot
	// count this process's goroutines from /proc.
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("cairn-memory goroutines %d heap %d stack %d\n", runtime.NumGoroutine(), ms.HeapInuse, ms.StackInuse)
	}
	select {} // killed by the parent
}

type memory struct{ rss, anon, file int64 }

func (m memory) String() string {
	return fmt.Sprintf("VmRSS %.1f MB (anonymous %.1f MB, file-backed %.1f MB)",
		float64(m.rss)/1e6, float64(m.anon)/1e6, float64(m.file)/1e6)
}

func procThreads(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "\nThreads:")
	var n int64
	fmt.Sscanf(strings.TrimSpace(rest), "%d", &n)
	return n
}

func procMemory(t *testing.T, pid int) memory {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int64
		field, rest, _ := strings.Cut(sc.Text(), ":")
		fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb)
		switch field {
		case "VmRSS":
			m.rss = kb << 10
		case "RssAnon":
			m.anon = kb << 10
		case "RssFile":
			m.file = kb << 10
		}
	}
	return m
}

// memoryCgroup is a memory cgroup (v2, else v1) that holds the relay
// under a hard limit. The kernel charges it with the relay's anonymous
// memory and with the page cache it brings in — the store's pages and the
// binary's — and reclaims that cache to stay under the limit; if it cannot,
// the relay is killed. CAIRN_MEMORY_LIMIT (bytes, or with a k, M or G
// suffix) turns it on; it needs root.
type memoryCgroup struct {
	dir string
	v2  bool
}

func newMemoryCgroup(t *testing.T, limit string) *memoryCgroup {
	t.Helper()
	var n int64
	var unit string
	fmt.Sscanf(limit, "%d%s", &n, &unit)
	switch strings.TrimSuffix(strings.ToUpper(unit), "B") {
	case "K":
		n <<= 10
	case "M":
		n <<= 20
	case "G":
		n <<= 30
	}
	if n <= 0 {
		t.Fatalf("CAIRN_MEMORY_LIMIT=%q: want bytes, or a number with k, M or G", limit)
	}
	name := fmt.Sprintf("cairn-memory-%d", os.Getpid())
	c := &memoryCgroup{dir: filepath.Join("/sys/fs/cgroup", name), v2: true}
	limitFile := "memory.max"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		c = &memoryCgroup{dir: filepath.Join("/sys/fs/cgroup/memory", name)}
		limitFile = "memory.limit_in_bytes"
	}
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		t.Fatalf("memory cgroup: %v", err)
	}
	t.Cleanup(func() { os.Remove(c.dir) }) // after the child is killed (cleanups run last first)
	if err := os.WriteFile(filepath.Join(c.dir, limitFile), []byte(fmt.Sprint(n)), 0); err != nil {
		t.Fatalf("memory cgroup limit: %v", err)
	}
	t.Logf("relay in memory cgroup %s, limit %d bytes", c.dir, n)
	return c
}

// command runs a copy of the binary name in the cgroup from its first
// instruction on. A page is charged to the cgroup that first brings it into
// the page cache: the store and the copy were written by this process, so
// the cache is dropped first and the relay reads back — and is charged
// for — what it keeps of both (the original binary stays mapped here).
func (c *memoryCgroup) command(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), filepath.Base(name))
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	exec.Command("sync").Run()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
		t.Fatalf("dropping the page cache: %v", err)
	}
	script := `echo $$ > "$0/cgroup.procs" && exec "$@"`
	return exec.Command("sh", append([]string{"-c", script, c.dir, bin}, args...)...)
}

func (c *memoryCgroup) String() string {
	read := func(f string) string {
		b, _ := os.ReadFile(filepath.Join(c.dir, f))
		return strings.TrimSpace(string(b))
	}
	if c.v2 {
		return fmt.Sprintf("peak %s bytes; events: %s", read("memory.peak"), strings.ReplaceAll(read("memory.events"), "\n", ", "))
	}
	return fmt.Sprintf("peak %s bytes, limit hit %s times; now %s bytes", read("memory.max_usage_in_bytes"), read("memory.failcnt"), read("memory.usage_in_bytes"))
}
