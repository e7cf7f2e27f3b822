package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/config"
	"github.com/cairnmesh/cairn/web"
)

// relayFlags are the command-line overrides of the config file; a reload
// applies them again so that SIGHUP never undoes a flag.
type relayFlags struct {
	cfgPath, dataDir, mqttAddr, httpAddr, discovery string
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
	switch f.discovery {
	case "":
	case "on":
		cfg.Discovery.Enabled = true
	case "off":
		cfg.Discovery.Enabled = false
	default:
		return nil, fmt.Errorf("--discovery: %q is not on or off", f.discovery)
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
	fs.StringVar(&f.discovery, "discovery", "", "mDNS announcement on the LAN, `on` or off; overrides discovery.enabled")
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

	// Before the relay starts: a signal that comes once it logs "relay
	// serving" must find the handler, not kill the process undrained.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sig)
	r, err := relay.New(relay.Options{Config: cfg, Logger: log, LogLevel: level, Version: version, Web: web.Handler()})
	if err != nil {
		return err
	}
	if err := r.Serve(); err != nil {
		r.Close()
		return err
	}
	rl := &reloader{f: f, r: r, log: log}
	stopStatus := serveStatus(r, rl, cfg.DataDir, log)
	defer stopStatus()
	if err := sdNotify("READY=1\nSTATUS=serving"); err != nil {
		log.Warn("systemd notification", "err", err)
	}
	var watchdog <-chan time.Time
	if d := sdWatchdogInterval(); d > 0 {
		t := time.NewTicker(d)
		defer t.Stop()
		watchdog = t.C
	}
	for {
		select {
		case <-watchdog:
			// Only a relay that does its job keeps the watchdog quiet; a
			// wedged store gets the service restarted.
			if err := r.Ready(); err != nil {
				log.Error("not ready: watchdog not fed", "err", err)
				continue
			}
			sdNotify("WATCHDOG=1")
			continue
		case got := <-sig:
			if got == syscall.SIGHUP {
				rl.run() // logs the outcome
				continue
			}
			rl.stop()
			sdNotify("STOPPING=1")
			log.Info("draining", "signal", got.String())
		}
		break
	}
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
