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

// relayFlags are the command-line overrides of the config file.
type relayFlags struct {
	cfgPath, dataDir, mqttAddr, httpAddr string
}

func (f relayFlags) load() (*config.Config, error) {
	cfg := config.Default()
	if f.cfgPath != "" {
		var err error
		if cfg, err = config.Load(f.cfgPath); err != nil {
			return nil, err
		}
	}
	if f.dataDir != "" {
		cfg.DataDir = f.dataDir
	}
	if f.mqttAddr != "" {
		cfg.MQTT.Listen = f.mqttAddr
	}
	if f.httpAddr != "" {
		cfg.HTTP.Listen = f.httpAddr
		if f.httpAddr == "off" {
			cfg.HTTP.Listen = ""
		}
	}
	return cfg, nil
}

func runRelay(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	var f relayFlags
	fs.StringVar(&f.cfgPath, "config", "", "TOML config `file` (default: embedded defaults)")
	fs.StringVar(&f.dataDir, "data", "", "data `directory`, overrides data_dir")
	fs.StringVar(&f.mqttAddr, "mqtt", "", "MQTT listen `address`, overrides mqtt.listen")
	fs.StringVar(&f.httpAddr, "http", "", "HTTP listen `address` (metrics, status page), overrides http.listen; \"off\" turns it off")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this `address` (e.g. 127.0.0.1:6060); off when empty")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("relay: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := f.load()
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	level.Set(cfg.Log.SlogLevel())
	log := newLogger(cfg.Log, level)
	if *pprofAddr != "" {
		if err := servePprof(*pprofAddr, log); err != nil {
			return fmt.Errorf("pprof: %w", err)
		}
	}

	r, err := relay.New(relay.Options{Config: cfg, Logger: log, Version: version})
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

func newLogger(c config.Log, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
