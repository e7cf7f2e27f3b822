package store

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cairnmesh/cairn/codec"
)

// The memory budget (DESIGN.md "Budgets"): 40 MB resident with 100,000
// envelopes stored. TestMemory100k fills a store with 100,000 envelopes of
// 60-byte bodies over 1,000 tags from 512 concurrent writers (group
// commits, as under load), then measures a fresh process: Open time and
// VmRSS, RssAnon and RssFile after Open and after reading everything (Scan
// of every tag, Pending of the link, a Sweep). It does so with no links
// (the relay today: only the local inbox) and with one. It takes a couple
// of minutes, so it runs only with CAIRN_STORE_MEMORY=1.
const (
	envMemory      = "CAIRN_STORE_MEMORY"
	envMemoryChild = "CAIRN_STORE_MEMORY_CHILD"
	envMemoryLinks = "CAIRN_STORE_MEMORY_LINKS" // comma-separated Options.Links of the child
	// CAIRN_STORE_MEMORY_COMPACT=1 compacts the file (Compact) before the
	// child measures.
	envMemoryCompact = "CAIRN_STORE_MEMORY_COMPACT"
	memEnvelopes     = 100_000
	memTags          = 1000
)

func TestMemory100k(t *testing.T) {
	if os.Getenv(envMemory) == "" {
		t.Skip("set CAIRN_STORE_MEMORY=1 to fill 100,000 envelopes and measure RSS")
	}
	for _, links := range [][]string{nil, {"uplink:0"}} {
		t.Run(fmt.Sprintf("links=%d", len(links)), func(t *testing.T) { memory100k(t, links) })
	}
}

func memory100k(t *testing.T, links []string) {
	path := filepath.Join(t.TempDir(), "store.db")
	s := openTest(t, Options{Path: path, Links: links})
	start := time.Now()
	commits0, alloc0, written0 := s.commits.Load(), pageAlloc(s), procIO("write_bytes")
	fill(t, s, memEnvelopes, 512, func(i int) *codec.Envelope {
		return newEnv(tagOf2(i%memTags), codec.Prio(i%3), 7*24*3600)
	})
	commits, dirty := s.commits.Load()-commits0, pageAlloc(s)-alloc0
	written := procIO("write_bytes") - written0
	t.Logf("%d commits, %.0f Puts per commit; per commit %.0f KiB of dirty bbolt pages and %.0f KiB written to disk (/proc/self/io write_bytes), per Put %.0f and %.0f bytes",
		commits, float64(memEnvelopes)/float64(commits), float64(dirty)/float64(commits)/1024, float64(written)/float64(commits)/1024,
		float64(dirty)/memEnvelopes, float64(written)/memEnvelopes)
	runtime.GC()
	t.Logf("filled %d envelopes in %v; filling process VmRSS %s, RssFile %s, RssAnon %s",
		memEnvelopes, time.Since(start), procStatus("VmRSS"), procStatus("RssFile"), procStatus("RssAnon"))
	if st := s.Stats(); st.Count != memEnvelopes {
		t.Fatalf("Count = %d", st.Count)
	}
	logBuckets(t, s)
	s.Close()
	fi, _ := os.Stat(path)
	t.Logf("file %.1f MiB", float64(fi.Size())/(1<<20))
	if os.Getenv(envMemoryCompact) != "" {
		c, err := Compact(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("compacted: file %.1f MiB → %.1f MiB", float64(c.Before)/(1<<20), float64(c.After)/(1<<20))
	}
	for _, mode := range []string{"freelist-sync", "no-freelist-sync"} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envMemoryChild+"="+path, "CAIRN_STORE_FREELIST="+mode,
			envMemoryLinks+"="+strings.Join(links, ","))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", mode, err, out)
		}
		t.Logf("%s: %s", mode, strings.TrimSpace(string(out)))
	}
}

// logBuckets logs where the file's pages go.
func logBuckets(t *testing.T, s *Store) {
	st := s.db.Stats()
	s.db.View(func(tx *bbolt.Tx) error {
		t.Logf("pages in use up to %.1f MiB of the file; free %.1f MiB (%d pages), pending %d pages",
			float64(tx.Size())/(1<<20), float64(st.FreeAlloc)/(1<<20), st.FreePageN, st.PendingPageN)
		return nil
	})
	s.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			st := b.Stats()
			t.Logf("bucket %-9s keys %7d  leaf %6.1f MiB (%3.0f%% used)  branch %5.1f MiB",
				name, st.KeyN, float64(st.LeafAlloc)/(1<<20), 100*float64(st.LeafInuse)/float64(max(st.LeafAlloc, 1)),
				float64(st.BranchAlloc)/(1<<20))
			return nil
		})
	})
}

func tagOf2(i int) codec.Tag { return codec.Tag{byte(i >> 8), byte(i), 1, 2, 3, 4, 5, 6} }

// memoryChild opens the store at path in a fresh process and prints what
// the parent logs.
func memoryChild(path string) {
	noFreelistSync = os.Getenv("CAIRN_STORE_FREELIST") == "no-freelist-sync"
	before := procStatus("VmRSS")
	start := time.Now()
	var links []string
	if l := os.Getenv(envMemoryLinks); l != "" {
		links = strings.Split(l, ",")
	}
	s, err := Open(Options{Path: path, Logger: quiet, Links: links})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	openTime := time.Since(start)
	afterOpen := procStatus("VmRSS")
	n := 0
	for i := range memTags {
		s.Scan(tagOf2(i), func(Item) bool { n++; return true })
	}
	for _, link := range links {
		for after := uint64(0); ; {
			items, _ := s.Pending(link, after, 0)
			if len(items) == 0 {
				break
			}
			n += len(items)
			after = items[len(items)-1].Seq
		}
	}
	s.Sweep()
	runtime.GC()
	fmt.Printf("Open %v; VmRSS before Open %s, after Open %s, after reading %d items %s (RssFile %s, RssAnon %s)\n",
		openTime.Round(time.Millisecond), before, afterOpen, n, procStatus("VmRSS"), procStatus("RssFile"), procStatus("RssAnon"))
	s.Close()
}

// procIO returns a counter of /proc/self/io such as "write_bytes": bytes
// this process caused to be written to storage (page-cache pages it
// dirtied, 4 KiB each however little of them changed).
func procIO(field string) int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+": "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// procStatus returns a field of /proc/self/status such as "VmRSS", e.g. "12345 kB".
func procStatus(field string) string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// TestOpenCold measures Open with the page cache dropped, as after a
// reboot: with the id snapshot a clean Close leaves, and without it (as
// after a crash, when Open reads the whole log). It reports the time and
// the bytes read from storage (/proc/self/io read_bytes), which decide the
// time on a slow SD card. It needs root (drop_caches) and runs only with
// CAIRN_STORE_COLD set to the number of envelopes, e.g. 100000.
func TestOpenCold(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CAIRN_STORE_COLD"))
	if n <= 0 {
		t.Skip("set CAIRN_STORE_COLD=100000 (as root) to measure a cold Open")
	}
	path := filepath.Join(t.TempDir(), "store.db")
	s := openTest(t, Options{Path: path})
	fill(t, s, n, 512, func(i int) *codec.Envelope {
		return newEnv(tagOf2(i%memTags), codec.Prio(i%3), 7*24*3600)
	})
	s.Close()
	fi, _ := os.Stat(path)
	t.Logf("%d envelopes, file %.1f MiB", n, float64(fi.Size())/(1<<20))
	for round := range 3 {
		for _, withSnapshot := range []bool{true, false} {
			cp := copyFile(t, path)
			if !withSnapshot {
				db, err := bbolt.Open(cp, 0o600, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := db.Update(dropIDSnapshot); err != nil {
					t.Fatal(err)
				}
				db.Close()
			}
			if err := exec.Command("sync").Run(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
				t.Skipf("dropping the page cache: %v (needs root)", err)
			}
			read0, t0 := procIO("read_bytes"), time.Now()
			s, err := Open(Options{Path: cp, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			took, read := time.Since(t0), procIO("read_bytes")-read0
			if s.idsFromSnapshot != withSnapshot {
				t.Fatalf("snapshot %v, Open used one: %v", withSnapshot, s.idsFromSnapshot)
			}
			s.Close()
			t.Logf("round %d, snapshot %-5v: Open %v, read %.1f MiB from storage", round+1, withSnapshot,
				took.Round(100*time.Microsecond), float64(read)/(1<<20))
		}
	}
}
