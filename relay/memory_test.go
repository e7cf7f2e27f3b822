package relay_test

import (
	"bufio"
	"crypto/ed25519"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

	// The relay runs in a child process, so that the measurement holds
	// nothing of this test's own.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryChild$")
	cmd.Env = append(os.Environ(), "CAIRN_MEMORY_CHILD="+dir, "CAIRN_MEMORY_ADDR="+addr)
	cmd.Stderr = os.Stderr
	launched := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Since(launched) > 30*time.Second {
			t.Fatal("relay did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("relay accepting connections %v after launch (process start included)", time.Since(launched).Round(time.Millisecond))
	t.Logf("after start: %s", procMemory(t, cmd.Process.Pid))

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
	mem := procMemory(t, cmd.Process.Pid)
	t.Logf("after delivering all: %s", mem)
	if mem.rss > memoryBudget {
		t.Errorf("resident %.1f MB, budget %.1f MB", float64(mem.rss)/1e6, float64(memoryBudget)/1e6)
	}
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
	cfg.HTTP.Listen = ""
	cfg.Discovery.Enabled = false
	r, err := relay.New(relay.Options{Config: cfg, Logger: relaytest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Serve(); err != nil {
		t.Fatal(err)
	}
	select {} // killed by the parent
}

type memory struct{ rss, anon, file int64 }

func (m memory) String() string {
	return fmt.Sprintf("VmRSS %.1f MB (anonymous %.1f MB, file-backed %.1f MB)",
		float64(m.rss)/1e6, float64(m.anon)/1e6, float64(m.file)/1e6)
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
