package main

// cairn reload asks a running relay to re-read its config, as SIGHUP does,
// and waits for the outcome: POST /reload on the status socket (status.go)
// answers once the reload is over, with what changed or why the config was
// refused. The unit's ExecReload runs it, so that `systemctl reload cairn`
// waits for the reload and fails when the config is refused, also on
// systemd 252, which has no Type=notify-reload.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/config"
)

// reloadWait bounds how long cairn reload waits for the relay's answer:
// restarting a radio takes about a second, and systemd's own limit for
// ExecReload= is 90 s by default.
const reloadWait = 60 * time.Second

// reloadOutcome is what POST /reload returns.
type reloadOutcome struct {
	Config string             `json:"config"` // the file re-read; "" for the embedded defaults
	Report relay.ReloadReport `json:"report"`
	Error  string             `json:"error,omitempty"` // why the reload was refused or is incomplete
}

// reloader reloads a running relay's config, one reload at a time, whether
// asked by SIGHUP or on the status socket, and tells systemd (RELOADING=1,
// then READY=1). Its methods are safe for concurrent use.
type reloader struct {
	f   relayFlags
	r   *relay.Relay
	log *slog.Logger

	mu      sync.Mutex // serializes reloads; guards stopped
	stopped bool       // the relay is draining: no more reloads, no READY=1
}

// run reads the config again (and applies the flags again) and hands it to
// the relay, which applies what can change while it runs (log level,
// uplinks, radios) and logs what waits for a restart. A file that no
// longer parses or validates changes nothing.
func (rl *reloader) run() reloadOutcome {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	out := reloadOutcome{Config: rl.f.cfgPath}
	if rl.stopped {
		out.Error = "the relay is stopping"
		return out
	}
	if err := sdReloading(); err != nil {
		rl.log.Warn("systemd notification", "err", err)
	}
	defer sdNotify("READY=1\nSTATUS=serving")
	next, err := rl.f.load()
	if err != nil {
		rl.log.Error("reload refused, running config kept", "config", rl.f.cfgPath, "err", err)
		out.Error = err.Error()
		return out
	}
	out.Report, err = rl.r.Reload(next) // logs what it changed, and what it could not
	if err != nil {
		out.Error = err.Error()
	}
	return out
}

// stop waits for a reload in progress and refuses those that come after.
func (rl *reloader) stop() {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.stopped = true
}

func runReload(args []string) error {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "the relay's TOML config `file`, for its data_dir")
	dataDir := fs.String("data", "", "the relay's data `directory` (default: data_dir of --config, else ./data)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("reload: unexpected argument %q", fs.Arg(0))
	}
	dir, err := reloadDataDir(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	path, client := statusClient(dir, reloadWait)
	resp, err := client.Post("http://cairn/reload", "", nil)
	if err != nil {
		return fmt.Errorf("no relay answering on %s: %w", path, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reload on %s: %w", path, err)
	}
	var out reloadOutcome
	if err := json.Unmarshal(body, &out); err != nil {
		// A relay from before cairn reload answers 404 or 405.
		return fmt.Errorf("reload on %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return printReload(os.Stdout, out)
}

// reloadDataDir is relayDataDir, except that a config file that does not
// load still names the data directory if data_dir can be read from it: the
// relay is then asked, refuses the file itself and logs why.
func reloadDataDir(cfgPath, dataDir string) (string, error) {
	dir, err := relayDataDir(cfgPath, dataDir)
	if err == nil {
		return dir, nil
	}
	var just struct {
		DataDir string `toml:"data_dir"`
	}
	data, rerr := os.ReadFile(cfgPath)
	if rerr != nil || toml.Unmarshal(data, &just) != nil {
		return "", fmt.Errorf("%w (the running relay was not asked to reload: its data_dir cannot be read from the file; --data names it)", err)
	}
	if just.DataDir == "" {
		just.DataDir = config.Default().DataDir
	}
	return just.DataDir, nil
}

// printReload writes what a reload changed, and returns its error.
func printReload(w io.Writer, out reloadOutcome) error {
	rep := out.Report
	var changed []string
	for _, c := range rep.Uplinks {
		changed = append(changed, fmt.Sprintf("  %s %s (%s)\n", c.Link, c.Action, c.URL))
	}
	for _, c := range rep.Radios {
		changed = append(changed, fmt.Sprintf("  %s %s (%s)\n", c.Link, c.Action, c.Port))
	}
	if out.Error != "" {
		if len(changed) == 0 {
			return fmt.Errorf("reload refused, running config kept: %s", out.Error)
		}
		fmt.Fprintf(w, "reload incomplete; changed:\n%s", strings.Join(changed, ""))
		return fmt.Errorf("reload incomplete: %s", out.Error)
	}
	from := out.Config
	if from == "" {
		from = "the embedded defaults"
	}
	fmt.Fprintf(w, "reloaded %s\n", from)
	if rep.LogLevel != "" {
		fmt.Fprintf(w, "  log level %s\n", rep.LogLevel)
	}
	if len(changed) == 0 {
		fmt.Fprintln(w, "  uplinks and radios unchanged")
	}
	fmt.Fprint(w, strings.Join(changed, ""))
	if len(rep.Restart) > 0 {
		fmt.Fprintf(w, "  changed, waiting for `systemctl restart cairn`: %s\n", strings.Join(rep.Restart, ", "))
	}
	return nil
}
