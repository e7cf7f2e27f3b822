package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/config"
)

func runRelay(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "TOML config `file` (default: embedded defaults)")
	dataDir := fs.String("data", "", "data `directory`, overrides data_dir")
	mqttAddr := fs.String("mqtt", "", "MQTT listen `address`, overrides mqtt.listen")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this `address` (e.g. 127.0.0.1:6060); off when empty")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("relay: unexpected argument %q", fs.Arg(0))
	}
	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *mqttAddr != "" {
		cfg.MQTT.Listen = *mqttAddr
	}
	log := newLogger(cfg.Log)
	if *pprofAddr != "" {
		if err := servePprof(*pprofAddr, log); err != nil {
			return fmt.Errorf("pprof: %w", err)
		}
	}

	r, err := relay.New(relay.Options{Config: cfg, Logger: log})
	if err != nil {
		return err
	}
	if err := r.Serve(); err != nil {
		r.Close()
		return err
	}
	stopStatus := serveStatus(r, cfg.DataDir, log)
	defer stopStatus()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	got := <-sig
	log.Info("draining", "signal", got.String())
	if err := r.Close(); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

func newLogger(c config.Log) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.SlogLevel()}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
