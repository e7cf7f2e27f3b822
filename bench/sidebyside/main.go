// Command sidebyside runs the same workloads against a Cairn relay,
// Mosquitto, NATS (MQTT over JetStream) and the MQTT broker Cairn embeds
// run alone (bench/mochi) on loopback, in alternating rounds, and prints one
// table of medians with the ratio Cairn / peer.
// `make bench` runs it; docs/performance.md explains the method.
//
// Each round starts every broker afresh (new data directory, new port) and
// runs every workload against it before stopping it; the order of brokers
// rotates from round to round, so slow drift of a shared machine spreads
// over all of them.
package main

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/cairnmesh/cairn/bench"
)

// mochiAlone names bench/mochi in the table; the table also gives its ratio
// to Mosquitto, how the embedded broker alone compares.
const mochiAlone = "mochi alone"

type broker struct {
	name  string
	cairn bool
	note  string // its durability, for the table's footnotes
	// start runs the broker in dir listening for MQTT on addr.
	start func(dir, addr string) (*proc, error)
}

// proc is a running broker.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
}

type workload struct {
	name string
	cfg  bench.Config
}

func main() {
	cairnBin := flag.String("cairn", "bin/cairn", "cairn binary")
	mosquittoBin := flag.String("mosquitto", "", "mosquitto binary (default: found on PATH or in /usr/sbin)")
	natsBin := flag.String("nats", "", "nats-server binary (default: found in $GOBIN, $GOPATH/bin, then PATH)")
	mochiBin := flag.String("mochi", "", "bench/mochi binary (default: built with go build)")
	rounds := flag.Int("rounds", 3, "rounds; each runs every workload against every broker")
	seconds := flag.Duration("duration", 5*time.Second, "publishing time of each timed workload")
	backlog := flag.Int("backlog", 10_000, "envelopes in the late-subscriber backlog workload")
	out := flag.String("out", "", "also write the table (.md) and every result (.json) under this path prefix")
	flag.Parse()

	if err := run(*cairnBin, *mosquittoBin, *natsBin, *mochiBin, *rounds, *seconds, *backlog, *out); err != nil {
		fmt.Fprintln(os.Stderr, "sidebyside:", err)
		os.Exit(1)
	}
}

func run(cairnBin, mosquittoBin, natsBin, mochiBin string, rounds int, seconds time.Duration, backlog int, out string) error {
	var err error
	if mochiBin == "" {
		dir, err := os.MkdirTemp("", "cairn-sidebyside-mochi-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		mochiBin = filepath.Join(dir, "mochi")
		build := exec.Command("go", "build", "-o", mochiBin, "github.com/cairnmesh/cairn/bench/mochi")
		if log, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("building bench/mochi: %v\n%s", err, log)
		}
	}
	if mosquittoBin, err = find(mosquittoBin, "mosquitto", "/usr/sbin/mosquitto"); err != nil {
		return err
	}
	gobin := os.Getenv("GOBIN")
	if gobin == "" {
		if p, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gobin = filepath.Join(strings.TrimSpace(string(p)), "bin")
		}
	}
	if natsBin, err = find(natsBin, filepath.Join(gobin, "nats-server"), "nats-server"); err != nil {
		return err
	}
	if cairnBin, err = filepath.Abs(cairnBin); err != nil {
		return err
	}
	brokers := []broker{
		{name: "Cairn", cairn: true, note: "PUBACK after fsync (bbolt commit, shared by concurrent publishes)",
			start: func(dir, addr string) (*proc, error) {
				return spawn(dir, cairnBin, "relay", "--data", filepath.Join(dir, "data"), "--mqtt", addr, "--discovery", "off")
			}},
		{name: "Mosquitto", note: "persistence on, autosave_interval 1800 s (default): PUBACK before any write to disk",
			start: func(dir, addr string) (*proc, error) { return startMosquitto(mosquittoBin, dir, addr) }},
		{name: "NATS", note: "JetStream file store, sync_interval 2 min (default): PUBACK after write(2), fsync later",
			start: func(dir, addr string) (*proc, error) { return startNATS(natsBin, dir, addr, false) }},
		{name: "NATS sync", note: "JetStream file store, sync_interval always: PUBACK after fsync",
			start: func(dir, addr string) (*proc, error) { return startNATS(natsBin, dir, addr, true) }},
		{name: mochiAlone, note: "the broker Cairn embeds, alone (bench/mochi): routes in memory, writes nothing to disk, no authentication",
			start: func(dir, addr string) (*proc, error) { return spawn(dir, mochiBin, addr) }},
	}
	workloads := []workload{
		{"1→1 QoS 1 saturation", bench.Config{Publishers: 1, Subscribers: 1, QoS: 1, Duration: seconds}},
		{"16→16 QoS 1 saturation", bench.Config{Publishers: 16, Subscribers: 16, QoS: 1, Duration: seconds}},
		{"1→1 QoS 1 at 1,000 msg/s", bench.Config{Publishers: 1, Subscribers: 1, QoS: 1, Rate: 1000, Duration: seconds}},
		{fmt.Sprintf("backlog %d to a late subscriber", backlog), bench.Config{Publishers: 1, Subscribers: 1, QoS: 1, Count: backlog, Late: true}},
	}

	m := machine(cairnBin, mosquittoBin, natsBin, mochiBin)
	fmt.Fprint(os.Stderr, m)
	results := make(map[string]map[string][]*bench.Result) // broker → workload → per round
	for _, b := range brokers {
		results[b.name] = make(map[string][]*bench.Result)
	}
	started := time.Now()
	for round := range rounds {
		for i := range brokers {
			b := brokers[(round+i)%len(brokers)]
			if err := runBroker(b, workloads, round, rounds, results[b.name]); err != nil {
				return fmt.Errorf("%s: %w", b.name, err)
			}
		}
	}
	fmt.Fprintf(os.Stderr, "done in %v\n\n", time.Since(started).Round(time.Second))

	table := render(brokers, workloads, results, rounds, m)
	fmt.Print(table)
	if out != "" {
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(out+".md", []byte(table), 0o644); err != nil {
			return err
		}
		raw, _ := json.MarshalIndent(map[string]any{"machine": m, "results": results}, "", "  ")
		if err := os.WriteFile(out+".json", raw, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// runBroker starts b afresh, runs every workload against it and stops it.
func runBroker(b broker, workloads []workload, round, rounds int, into map[string][]*bench.Result) error {
	dir, err := os.MkdirTemp("", "cairn-sidebyside-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var cmd *proc
	var addr string
	for attempt := 0; ; attempt++ {
		addr = freeAddr()
		if cmd, err = b.start(dir, addr); err == nil {
			if err = waitListening(cmd, addr); err == nil {
				break
			}
			stop(cmd)
		}
		if attempt == 2 {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			return fmt.Errorf("not listening: %v\n%s", err, log)
		}
	}
	defer stop(cmd)
	for _, w := range workloads {
		cfg := w.cfg
		cfg.Addr, cfg.Cairn, cfg.PID = addr, b.cairn, cmd.cmd.Process.Pid
		res, err := bench.Run(context.Background(), cfg)
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		into[w.name] = append(into[w.name], res)
		fmt.Fprintf(os.Stderr, "round %d/%d  %-11s %-34s %8.0f msg/s  p50 %7.2f ms  p99 %8.2f ms  CPU %6.1f µs/msg  lost %d\n",
			round+1, rounds, b.name, w.name, res.Throughput, res.Latency.P50, res.Latency.P99,
			float64(res.BrokerCPUPerDelivery())/float64(time.Microsecond), res.Lost)
	}
	return nil
}

func spawn(dir, bin string, args ...string) (*proc, error) {
	log, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive us
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); log.Close(); close(p.done) }()
	return p, nil
}

func startMosquitto(bin, dir, addr string) (*proc, error) {
	host, port, _ := net.SplitHostPort(addr)
	// max_queued_messages 0 lifts the default cap of 1,000 messages queued
	// for a session that is away, which would drop most of the backlog.
	conf := fmt.Sprintf(`listener %s %s
allow_anonymous true
persistence true
persistence_location %s/
max_queued_messages 0
user %s
log_dest stderr
log_type error
log_type warning
`, port, host, dir, currentUser())
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return spawn(dir, bin, "-c", path)
}

func startNATS(bin, dir, addr string, sync bool) (*proc, error) {
	syncLine := ""
	if sync {
		syncLine = "\n  sync_interval: always"
	}
	conf := fmt.Sprintf(`listen: %q
server_name: bench
jetstream {
  store_dir: %q%s
}
mqtt {
  listen: %q
}
`, freeAddr(), filepath.Join(dir, "js"), syncLine, addr)
	path := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return spawn(dir, bin, "-c", path)
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if os.Getuid() == 0 {
		return "root"
	}
	return "mosquitto"
}

func stop(p *proc) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
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

func waitListening(p *proc, addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return errors.New("exited")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("timed out")
}

func find(given string, candidates ...string) (string, error) {
	if given != "" {
		candidates = []string{given}
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("none of %s found", strings.Join(candidates, ", "))
}

// Machine is what the numbers were measured on.
type Machine struct {
	Date      string `json:"date"`
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	Cairn     string `json:"cairn"`
	Mosquitto string `json:"mosquitto"`
	NATS      string `json:"nats"`
	Mochi     string `json:"mochi"` // the mochi-mqtt module bench/mochi was built with (go.mod's, as the relay's)
}

func (m Machine) String() string {
	return fmt.Sprintf("%s; %d cores (%s); Linux %s; %s\ncairn %s; mosquitto %s; nats-server %s; mochi-mqtt %s\n",
		m.Date, m.Cores, m.CPU, m.Kernel, m.Go, m.Cairn, m.Mosquitto, m.NATS, m.Mochi)
}

func machine(cairnBin, mosquittoBin, natsBin, mochiBin string) Machine {
	m := Machine{Date: time.Now().UTC().Format("2006-01-02"), Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	word := func(out []byte, i int) string {
		f := strings.Fields(string(out))
		if len(f) > i {
			return f[i]
		}
		return "?"
	}
	o, _ := exec.Command(cairnBin, "version").Output()
	m.Cairn = word(o, 1)
	o, _ = exec.Command(mosquittoBin, "-h").Output() // exits 3, prints "mosquitto version X"
	m.Mosquitto = word(o, 2)
	o, _ = exec.Command(natsBin, "--version").Output()
	m.NATS = strings.TrimPrefix(word(o, 1), "v")
	m.Mochi = "?"
	if bi, err := buildinfo.ReadFile(mochiBin); err == nil {
		for _, d := range bi.Deps {
			if d.Path == "github.com/mochi-mqtt/server/v2" {
				m.Mochi = strings.TrimPrefix(d.Version, "v")
			}
		}
	}
	return m
}

type metric struct {
	name   string
	get    func(*bench.Result) float64
	higher bool // higher is better
	fmt    string
}

func render(brokers []broker, workloads []workload, results map[string]map[string][]*bench.Result, rounds int, m Machine) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Medians of %d rounds. %s\n", rounds, strings.TrimSpace(m.String()))
	sb.WriteString("\n")
	tw := tabwriter.NewWriter(&sb, 0, 0, 1, ' ', 0)
	head := []string{"workload", "metric"}
	for _, b := range brokers {
		head = append(head, b.name)
	}
	for _, b := range brokers[1:] {
		head = append(head, "Cairn/"+b.name)
	}
	mochi, mosquitto := slices.IndexFunc(brokers, func(b broker) bool { return b.name == mochiAlone }),
		slices.IndexFunc(brokers, func(b broker) bool { return b.name == "Mosquitto" })
	if mochi > 0 && mosquitto > 0 {
		head = append(head, mochiAlone+"/Mosquitto")
	}
	row(tw, head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = "---"
	}
	row(tw, sep)
	throughput := metric{"delivered msg/s", func(r *bench.Result) float64 { return r.Throughput }, true, "%.0f"}
	p50 := metric{"p50 ms", func(r *bench.Result) float64 { return r.Latency.P50 }, false, "%.2f"}
	p99 := metric{"p99 ms", func(r *bench.Result) float64 { return r.Latency.P99 }, false, "%.2f"}
	maxl := metric{"max ms", func(r *bench.Result) float64 { return r.Latency.Max }, false, "%.2f"}
	rss := metric{"peak RSS MiB", func(r *bench.Result) float64 { return float64(r.BrokerRSS) / (1 << 20) }, false, "%.1f"}
	cpu := metric{"broker CPU µs/msg", func(r *bench.Result) float64 {
		return float64(r.BrokerCPUPerDelivery()) / float64(time.Microsecond)
	}, false, "%.1f"}
	lost := metric{"lost", func(r *bench.Result) float64 { return float64(r.Lost) }, false, "%.0f"}
	for _, w := range workloads {
		ms := []metric{throughput, p50, p99, cpu, rss}
		switch {
		case w.cfg.Rate > 0:
			ms = []metric{p50, p99, maxl, throughput, cpu, rss}
		case w.cfg.Late:
			ms = []metric{throughput, cpu, rss}
		}
		ms = append(ms, lost)
		for j, mt := range ms {
			name := ""
			if j == 0 {
				name = w.name
			}
			cells := []string{name, mt.name}
			var meds []float64
			for _, b := range brokers {
				v := median(results[b.name][w.name], mt.get)
				meds = append(meds, v)
				cells = append(cells, fmt.Sprintf(mt.fmt, v))
			}
			for k := range brokers[1:] {
				cells = append(cells, ratio(meds[0], meds[k+1], mt.name == "lost"))
			}
			if mochi > 0 && mosquitto > 0 {
				cells = append(cells, ratio(meds[mochi], meds[mosquitto], mt.name == "lost"))
			}
			row(tw, cells)
		}
	}
	tw.Flush()
	sb.WriteString("\nDurability as run:\n\n")
	for _, b := range brokers {
		fmt.Fprintf(&sb, "- %s: %s\n", b.name, b.note)
	}
	sb.WriteString("\nRatios are Cairn / peer: above 1 means Cairn is higher (better for msg/s, worse for ms, µs and MiB).\n")
	sb.WriteString("Broker CPU is user and system time from /proc over the run, per delivered envelope; the load generator shares the machine.\n")
	if mochi > 0 && mosquitto > 0 {
		sb.WriteString("The last column is the embedded broker alone against Mosquitto: what the MQTT layer Cairn is built on reaches with no store.\n")
	}
	return sb.String()
}

// row writes one Markdown table row, aligned for reading as text too.
func row(w io.Writer, cells []string) {
	fmt.Fprintln(w, "| "+strings.Join(cells, "\t| ")+"\t|")
}

func ratio(a, b float64, skip bool) string {
	if skip || b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func median(rs []*bench.Result, get func(*bench.Result) float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = get(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
