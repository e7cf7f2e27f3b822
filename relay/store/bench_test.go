package store

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cairnmesh/cairn/codec"
)

// BenchmarkPut measures durable Puts per second with one and 16 concurrent
// writers, with group commit and with one fsync'd transaction per Put.
func BenchmarkPut(b *testing.B) {
	for _, writers := range []int{1, 16} {
		for _, group := range []string{"on", "off"} {
			b.Run(fmt.Sprintf("writers=%d/group=%s", writers, group), func(b *testing.B) {
				s := openTest(b, Options{NoGroupCommit: group == "off", Links: []string{"uplink:0"}})
				envs := make([]*codec.Envelope, b.N)
				for i := range envs {
					envs[i] = newEnv(tagOf(byte(i%256)), codec.Prio(i%3), 3600)
				}
				putTimed(b, s, envs, writers)
			})
		}
	}
}

// BenchmarkPutBacklog measures Puts into a store that already holds
// 50,000 envelopes over 1,000 tags, from 64 concurrent writers (group
// commits of dozens, as a busy relay sees): what a commit costs once the
// indexes are large. Run it with a fixed -benchtime (e.g. 5000x) so that
// the fill happens once per count.
func BenchmarkPutBacklog(b *testing.B) {
	const stored, tags, writers = 50_000, 1000, 64
	s := openTest(b, Options{Links: []string{"uplink:0"}})
	fill(b, s, stored, 256, func(i int) *codec.Envelope { return newEnv(tagOf2(i%tags), codec.Prio(i%3), 3600) })
	envs := make([]*codec.Envelope, b.N)
	for i := range envs {
		envs[i] = newEnv(tagOf2(i%tags), codec.Prio(i%3), 3600)
	}
	putTimed(b, s, envs, writers)
}

// putTimed times Putting envs from the given number of concurrent writers
// and reports Puts per second and the bytes of pages each commit dirtied,
// which bbolt writes and fsyncs (the meta page aside), per commit and per
// Put.
func putTimed(b *testing.B, s *Store, envs []*codec.Envelope, writers int) {
	commits0, alloc0 := s.commits.Load(), pageAlloc(s)
	b.ResetTimer()
	fill(b, s, len(envs), writers, func(i int) *codec.Envelope { return envs[i] })
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	commits := s.commits.Load() - commits0
	dirty := pageAlloc(s) - alloc0
	b.ReportMetric(float64(b.N)/float64(max(commits, 1)), "puts/commit")
	b.ReportMetric(float64(dirty)/float64(max(commits, 1)), "dirtyB/commit")
	b.ReportMetric(float64(dirty)/float64(b.N), "dirtyB/put")
}

func pageAlloc(s *Store) int64 {
	st := s.db.Stats()
	return st.TxStats.GetPageAlloc()
}

// BenchmarkScan measures local delivery: one Scan over a tag holding 1,000
// envelopes.
func BenchmarkScan(b *testing.B) {
	s := openTest(b, Options{})
	tag := tagOf(1)
	fill(b, s, 1000, 64, func(i int) *codec.Envelope { return newEnv(tag, codec.Prio(i%3), 3600) })
	b.ResetTimer()
	n := 0
	for b.Loop() {
		s.Scan(tag, func(Item) bool { n++; return true })
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkScanTail measures what a deliverer pays per batch: reading the
// newest 32 envelopes of a tag holding 10,000 (one priority), knowing the
// highest Seq already sent. Scan must walk the tag from the start and skip;
// Unsent seeks.
func BenchmarkScanTail(b *testing.B) {
	const n, window = 10_000, 32
	s := openTest(b, Options{})
	tag := tagOf(1)
	fill(b, s, n, 64, func(int) *codec.Envelope { return newEnv(tag, codec.PrioNormal, 3600) })
	var seqs []uint64
	s.Scan(tag, func(it Item) bool { seqs = append(seqs, it.Seq); return true })
	if len(seqs) != n {
		b.Fatalf("tag holds %d envelopes", len(seqs))
	}
	mark := seqs[n-window-1]
	read := func(b *testing.B, got int) {
		if got != window {
			b.Fatalf("read %d envelopes, want %d", got, window)
		}
	}
	b.Run("Scan", func(b *testing.B) {
		for b.Loop() {
			got := 0
			s.Scan(tag, func(it Item) bool {
				if it.Seq > mark {
					got++
				}
				return got < window
			})
			read(b, got)
		}
	})
	b.Run("Unsent", func(b *testing.B) {
		sent := Marks{^uint64(0), mark, ^uint64(0)}
		for b.Loop() {
			items, _ := s.Unsent(tag, sent, window)
			read(b, len(items))
		}
	})
}

// fill Puts n envelopes from the given number of concurrent writers.
func fill(t testing.TB, s *Store, n, writers int, env func(i int) *codec.Envelope) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				if _, err := s.Put(env(int(i)), LinkLocal); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkPutFullTag measures Puts into a tag at its quota, each evicting
// the tag's envelope with least life (docs/store.md "Quota eviction"), from
// 64 concurrent writers: a flood towards one recipient. fsync is off, so
// what is compared is the commit's CPU, not the disk's.
func BenchmarkPutFullTag(b *testing.B) {
	const held, writers = 2000, 64
	tag := tagOf(1)
	s := openTest(b, Options{MaxTagBytes: held * unit})
	s.db.NoSync = true
	fill(b, s, held, writers, func(int) *codec.Envelope { return newEnv(tag, codec.PrioNormal, 3600) })
	envs := make([]*codec.Envelope, b.N)
	for i := range envs {
		envs[i] = newEnv(tag, codec.PrioNormal, 3600)
	}
	evicted0 := s.Stats().Evicted
	putTimed(b, s, envs, writers)
	if ev := s.Stats().Evicted - evicted0; ev != uint64(b.N) {
		b.Fatalf("%d evicted for %d Puts", ev, b.N)
	}
}

// BenchmarkIDIndexMerge measures one merge of the in-memory id index at
// 1,000,000 entries with 1/mergeFraction of them changed (half added, half
// removed): the committer's pause, once per that many Puts.
func BenchmarkIDIndexMerge(b *testing.B) {
	const n = 1_000_000
	base := make([]idEntry, n)
	for i := range base {
		base[i] = idEntry{uint64(i) * 18_446_744_073_709, uint64(i + 1)}
	}
	for b.Loop() {
		b.StopTimer()
		x := newIDIndex(base)
		for i := range n / mergeFraction / 2 {
			x.add(uint64(i)*7_919_000_000_011, uint64(n+i+1))
			x.remove(base[i*2].prefix, base[i*2].seq)
		}
		b.StartTimer()
		x.merge()
	}
}
