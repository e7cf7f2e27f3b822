// Command growth measures how a Cairn relay's cost grows with the envelopes
// it already holds (issue 7, item 3): for each store size it starts the relay
// binary on a data directory filled beforehand, and measures start-up time
// (process launch to the first MQTT CONNACK), publish latency at a fixed
// rate, delivery throughput at saturation, and resident memory (VmRSS,
// RssAnon, RssFile from /proc). It writes a CSV and draws an SVG chart.
// `make bench-growth` runs it; docs/performance.md "Growth" explains the
// method.
//
// The store is filled directly through relay/store by many concurrent Puts
// (group commits of hundreds, as a busy relay makes them), one size after
// the other in the same file; each size's file is copied aside when it is
// reached, and every measurement runs on a fresh copy, so the workload's own
// envelopes never count towards the next run. Sizes alternate within a
// round, rounds are repeated, and the CSV has the medians.
//
// Relays run with discovery off and listen on loopback only.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cairnmesh/cairn/bench"
	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/config"
	"github.com/cairnmesh/cairn/relay/store"
)

// options are the command's flags.
type options struct {
	cairn    string
	sizes    []int
	rounds   int
	duration time.Duration // of each timed workload
	rate     float64       // msg/s of the latency workload
	tags     int           // recipients the stored envelopes are spread over
	bodySize int           // bytes of each stored envelope's body
	writers  int           // concurrent Puts while filling
	out      string        // path prefix of the .csv and .svg
}

func main() {
	var o options
	sizes := flag.String("sizes", "1000,10000,100000,1000000", "stored envelopes, comma-separated")
	flag.StringVar(&o.cairn, "cairn", "bin/cairn", "cairn binary")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each measures every size once")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "publishing time of each workload")
	flag.Float64Var(&o.rate, "rate", 1000, "latency workload: `msg/s`, 1 publisher → 1 subscriber, QoS 1")
	flag.IntVar(&o.tags, "tags", 1000, "recipients of the stored envelopes")
	flag.IntVar(&o.bodySize, "body", 60, "body `bytes` of each stored envelope")
	flag.IntVar(&o.writers, "writers", 512, "concurrent Puts while filling")
	flag.StringVar(&o.out, "out", "", "write the medians to PREFIX.csv and the chart to PREFIX.svg")
	flag.Parse()
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "growth: -sizes: %q is not a positive number\n", s)
			os.Exit(2)
		}
		o.sizes = append(o.sizes, n)
	}
	slices.Sort(o.sizes)
	o.sizes = slices.Compact(o.sizes)
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "growth:", err)
		os.Exit(1)
	}
}

// fillStage is what filling up to one size took.
type fillStage struct {
	size      int
	snapshot  string  // data directory holding a copy of the store at this size
	fileBytes int64   // the store file's size
	putsPerS  float64 // Puts per second while filling from the previous size to this one
}

// sample is one measurement of a relay on one store size.
type sample struct {
	startup    time.Duration // launch to first CONNACK
	startMem   procMem       // right after start-up
	latency    *bench.Result // open loop at o.rate
	afterMem   procMem       // after the latency workload
	saturation *bench.Result // 16 → 16 closed loop
}

func run(o options) error {
	cairnBin, err := filepath.Abs(o.cairn)
	if err != nil {
		return err
	}
	if _, err := os.Stat(cairnBin); err != nil {
		return fmt.Errorf("cairn binary: %w (run make build)", err)
	}
	work, err := os.MkdirTemp("", "cairn-growth-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	started := time.Now()
	stages, err := fill(o, work)
	if err != nil {
		return err
	}
	samples := make(map[int][]sample)
	for round := range o.rounds {
		for i := range stages {
			st := stages[(round+i)%len(stages)]
			s, err := measure(o, cairnBin, work, st.snapshot)
			if err != nil {
				return fmt.Errorf("%d stored: %w", st.size, err)
			}
			samples[st.size] = append(samples[st.size], s)
			fmt.Fprintf(os.Stderr, "round %d/%d  %8d stored  start-up %6.0f ms  VmRSS %5.1f MB  p50 %6.2f ms  p99 %7.2f ms  16→16 %6.0f msg/s\n",
				round+1, o.rounds, st.size, ms(s.startup), mb(s.afterMem.rss), s.latency.Latency.P50, s.latency.Latency.P99, s.saturation.Throughput)
		}
	}
	fmt.Fprintf(os.Stderr, "done in %v\n\n", time.Since(started).Round(time.Second))

	rows := summarize(stages, samples)
	table := render(rows, o)
	fmt.Print(table)
	if o.out == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	if err := writeCSV(o.out+".csv", rows); err != nil {
		return err
	}
	return os.WriteFile(o.out+".svg", []byte(chart(rows, o)), 0o644)
}

// fill puts o.sizes[-1] envelopes into one store, copying the file aside
// each time it reaches one of o.sizes.
func fill(o options, work string) ([]fillStage, error) {
	cfg := config.Default()
	cfg.DataDir = filepath.Join(work, "fill")
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	opts := relay.StoreOptions(cfg) // the relay's own limits and links
	tags := make([]codec.Tag, o.tags)
	for i := range tags {
		seed := make([]byte, ed25519.SeedSize)
		copy(seed, fmt.Sprintf("growth-%d", i))
		tags[i] = codec.TagOf(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
	}
	// A week, the longest life the relay keeps: nothing expires while
	// measuring, however long the fill takes.
	ttl := uint32(cfg.Store.MaxTTL.D() / time.Second)

	var stages []fillStage
	have := 0
	for _, size := range o.sizes {
		st, err := store.Open(opts)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		var next atomic.Int64
		next.Store(int64(have))
		var wg sync.WaitGroup
		var firstErr error
		var errOnce sync.Once
		for range o.writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= size {
						return
					}
					body := make([]byte, o.bodySize)
					rand.Read(body)
					e := &codec.Envelope{Kind: codec.KindMessage, To: tags[i%len(tags)], TTL: ttl, Prio: codec.Prio(i % 3), Body: body}
					if _, err := st.Put(e, store.LinkLocal); err != nil {
						errOnce.Do(func() { firstErr = fmt.Errorf("put %d: %w", i, err) })
						next.Store(int64(size))
						return
					}
				}
			}()
		}
		wg.Wait()
		took := time.Since(t0)
		if err := st.Close(); err != nil {
			return nil, err
		}
		if firstErr != nil {
			return nil, firstErr
		}
		snap := filepath.Join(work, fmt.Sprintf("stored-%d", size))
		if err := copyStore(cfg.DataDir, snap); err != nil {
			return nil, err
		}
		fi, err := os.Stat(relay.StorePath(cfg))
		if err != nil {
			return nil, err
		}
		stage := fillStage{size: size, snapshot: snap, fileBytes: fi.Size(), putsPerS: float64(size-have) / took.Seconds()}
		stages = append(stages, stage)
		fmt.Fprintf(os.Stderr, "filled %8d envelopes (+%d in %v, %.0f Puts/s); store file %.1f MiB\n",
			size, size-have, took.Round(time.Millisecond), stage.putsPerS, float64(fi.Size())/(1<<20))
		have = size
	}
	return stages, nil
}

// copyStore copies the store file of data directory from into a new data
// directory to.
func copyStore(from, to string) error {
	if err := os.MkdirAll(to, 0o700); err != nil {
		return err
	}
	cfgFrom, cfgTo := config.Default(), config.Default()
	cfgFrom.DataDir, cfgTo.DataDir = from, to
	src, err := os.Open(relay.StorePath(cfgFrom))
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(relay.StorePath(cfgTo), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// measure starts the relay on a fresh copy of snapshot and runs the
// workloads against it.
func measure(o options, cairnBin, work, snapshot string) (sample, error) {
	var s sample
	dir, err := os.MkdirTemp(work, "run-")
	if err != nil {
		return s, err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	if err := copyStore(snapshot, data); err != nil {
		return s, err
	}
	log, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return s, err
	}
	defer log.Close()
	addr := freeAddr()
	cmd := exec.Command(cairnBin, "relay", "--data", data, "--mqtt", addr, "--http", "off", "--discovery", "off")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive us
	launched := time.Now()
	if err := cmd.Start(); err != nil {
		return s, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()
	for !mqttReady(addr) {
		select {
		case <-exited:
			b, _ := os.ReadFile(log.Name())
			return s, fmt.Errorf("relay exited:\n%s", b)
		case <-time.After(time.Millisecond):
		}
		if time.Since(launched) > 60*time.Second {
			return s, errors.New("relay not accepting MQTT connections after 60 s")
		}
	}
	s.startup = time.Since(launched)
	pid := cmd.Process.Pid
	if s.startMem, err = readProcMem(pid); err != nil {
		return s, err
	}
	ctx := context.Background()
	s.latency, err = bench.Run(ctx, bench.Config{Addr: addr, Cairn: true, Publishers: 1, Subscribers: 1, QoS: 1, Rate: o.rate, Duration: o.duration, PID: pid})
	if err != nil {
		return s, fmt.Errorf("latency workload: %w", err)
	}
	if s.afterMem, err = readProcMem(pid); err != nil {
		return s, err
	}
	s.saturation, err = bench.Run(ctx, bench.Config{Addr: addr, Cairn: true, Publishers: 16, Subscribers: 16, QoS: 1, Duration: o.duration, PID: pid})
	if err != nil {
		return s, fmt.Errorf("saturation workload: %w", err)
	}
	return s, nil
}

// mqttReady reports whether an MQTT 3.1.1 CONNECT to addr is answered by a
// CONNACK that accepts it.
func mqttReady(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	const id = "growth-probe"
	// Variable header: protocol name "MQTT", level 4, flags clean session,
	// keep alive 60 s; payload: the client id.
	vh := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, byte(len(id))}
	pkt := append([]byte{0x10, byte(len(vh) + len(id))}, vh...)
	pkt = append(pkt, id...)
	if _, err := c.Write(pkt); err != nil {
		return false
	}
	var ack [4]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		return false
	}
	c.Write([]byte{0xe0, 0}) // DISCONNECT
	return ack[0] == 0x20 && ack[1] == 2 && ack[3] == 0
}

// freeAddr returns 127.0.0.1:PORT for a port that was free a moment ago.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// procMem is a process's resident memory from /proc/PID/status, in bytes.
type procMem struct{ rss, anon, file int64 }

func readProcMem(pid int) (procMem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	var m procMem
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, _ := strings.Cut(line, ":")
		var dst *int64
		switch name {
		case "VmRSS":
			dst = &m.rss
		case "RssAnon":
			dst = &m.anon
		case "RssFile":
			dst = &m.file
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return procMem{}, fmt.Errorf("/proc/%d/status %s: %w", pid, name, err)
		}
		*dst = kb << 10
	}
	return m, nil
}

// row is one size's medians: a line of the CSV.
type row struct {
	Envelopes    int
	StoreMiB     float64
	FillPutsPerS float64
	StartupMs    float64
	StartRSSMB   float64 // VmRSS right after start-up
	RSSMB        float64 // after the latency workload: VmRSS, RssAnon, RssFile
	AnonMB       float64
	FileMB       float64
	P50Ms        float64 // latency workload, publish to delivery
	P99Ms        float64
	Throughput   float64 // 16 → 16 saturation, delivered msg/s
	SatCPUUs     float64 // relay CPU per delivered envelope in that workload, µs
	SatPeakMB    float64 // largest VmRSS during the saturation workload
	Rounds       int
}

var csvHeader = []string{"envelopes", "store_file_mib", "fill_puts_per_s", "startup_ms",
	"vmrss_start_mb", "vmrss_mb", "rss_anon_mb", "rss_file_mb",
	"publish_p50_ms", "publish_p99_ms", "delivered_msg_per_s", "saturation_cpu_us_per_msg", "saturation_peak_vmrss_mb", "rounds"}

func (r row) cells() []string {
	f := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	return []string{strconv.Itoa(r.Envelopes), f(r.StoreMiB, 1), f(r.FillPutsPerS, 0), f(r.StartupMs, 1),
		f(r.StartRSSMB, 1), f(r.RSSMB, 1), f(r.AnonMB, 1), f(r.FileMB, 1),
		f(r.P50Ms, 2), f(r.P99Ms, 2), f(r.Throughput, 0), f(r.SatCPUUs, 1), f(r.SatPeakMB, 1), strconv.Itoa(r.Rounds)}
}

func summarize(stages []fillStage, samples map[int][]sample) []row {
	var rows []row
	for _, st := range stages {
		ss := samples[st.size]
		med := func(get func(sample) float64) float64 {
			v := make([]float64, len(ss))
			for i, s := range ss {
				v[i] = get(s)
			}
			return median(v)
		}
		rows = append(rows, row{
			Envelopes:    st.size,
			StoreMiB:     float64(st.fileBytes) / (1 << 20),
			FillPutsPerS: st.putsPerS,
			StartupMs:    med(func(s sample) float64 { return ms(s.startup) }),
			StartRSSMB:   med(func(s sample) float64 { return mb(s.startMem.rss) }),
			RSSMB:        med(func(s sample) float64 { return mb(s.afterMem.rss) }),
			AnonMB:       med(func(s sample) float64 { return mb(s.afterMem.anon) }),
			FileMB:       med(func(s sample) float64 { return mb(s.afterMem.file) }),
			P50Ms:        med(func(s sample) float64 { return s.latency.Latency.P50 }),
			P99Ms:        med(func(s sample) float64 { return s.latency.Latency.P99 }),
			Throughput:   med(func(s sample) float64 { return s.saturation.Throughput }),
			SatCPUUs: med(func(s sample) float64 {
				return float64(s.saturation.BrokerCPUPerDelivery()) / float64(time.Microsecond)
			}),
			SatPeakMB: med(func(s sample) float64 { return mb(s.saturation.BrokerRSS) }),
			Rounds:    len(ss),
		})
	}
	return rows
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mb(b int64) float64         { return float64(b) / 1e6 }

func writeCSV(path string, rows []row) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write(csvHeader)
	for _, r := range rows {
		w.Write(r.cells())
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// render is the table printed at the end, in Markdown.
func render(rows []row, o options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Medians of %d rounds; latency: 1 → 1 QoS 1 at %.0f msg/s for %v; throughput: 16 → 16 QoS 1 saturation for %v.\n\n",
		o.rounds, o.rate, o.duration, o.duration)
	b.WriteString("| stored | store file MiB | fill Puts/s | start-up ms | VmRSS start MB | VmRSS MB | RssAnon MB | RssFile MB | p50 ms | p99 ms | delivered msg/s | relay CPU µs/msg | peak VmRSS at saturation MB |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		c := r.cells()
		b.WriteString("| " + strings.Join(c[:len(c)-1], " | ") + " |\n")
	}
	if len(rows) >= 2 {
		first, last := rows[0], rows[len(rows)-1]
		logRatio := math.Log(float64(last.Envelopes)) / math.Log(float64(first.Envelopes))
		fmt.Fprintf(&b, "\nFrom %d to %d stored (×%d): log n grows ×%.2f; p50 ×%.2f, p99 ×%.2f, time per delivered envelope ×%.2f, relay CPU per delivered envelope ×%.2f, time per Put while filling ×%.2f.\n",
			first.Envelopes, last.Envelopes, last.Envelopes/first.Envelopes, logRatio,
			last.P50Ms/first.P50Ms, last.P99Ms/first.P99Ms, first.Throughput/last.Throughput, last.SatCPUUs/first.SatCPUUs, first.FillPutsPerS/last.FillPutsPerS)
	}
	return b.String()
}
