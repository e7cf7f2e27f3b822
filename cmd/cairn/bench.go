package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cairnmesh/cairn/bench"
)

func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var c bench.Config
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:1883", "broker `host:port`")
	fs.BoolVar(&c.Cairn, "cairn", false, "the broker is a Cairn relay: publish to {prefix}/send, subscribers authenticate")
	fs.StringVar(&c.Prefix, "prefix", "cairn/v1", "topic `prefix`")
	fs.IntVar(&c.Publishers, "pub", 1, "publishers")
	fs.IntVar(&c.Subscribers, "sub", 1, "subscribers")
	fs.IntVar(&c.Size, "size", 256, "encoded envelope `bytes`")
	qos := fs.Uint("qos", 1, "QoS of publishes and subscriptions, 0 or 1")
	fs.Float64Var(&c.Rate, "rate", 0, "open loop: `messages/s` over all publishers; 0 = closed loop (saturation)")
	fs.IntVar(&c.Inflight, "inflight", 64, "closed loop: publishes awaiting PUBACK per publisher")
	fs.DurationVar(&c.Duration, "duration", 10e9, "how long to publish")
	fs.IntVar(&c.Count, "count", 0, "publish this many in all instead of for --duration")
	fs.BoolVar(&c.Late, "late", false, "backlog: subscribers connect after every publish is acknowledged")
	fs.DurationVar(&c.Drain, "drain", 30e9, "longest wait for deliveries after publishing")
	fs.IntVar(&c.PID, "pid", 0, "broker process `id`, to report its resident memory and CPU time")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	if *qos > 1 {
		return fmt.Errorf("bench: --qos %d: only 0 and 1", *qos)
	}
	c.QoS = byte(*qos)
	if !*quiet {
		c.Progress = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := bench.Run(ctx, c)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Print(res)
	return nil
}
