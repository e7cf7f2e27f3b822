package main

// cairn status asks a running relay how it is doing. The relay answers on a
// unix socket in its data directory, status.sock (mode 0600): HTTP, GET
// /status, a JSON report. A socket rather than a TCP port because it needs
// no configuration, cannot collide between relays on one machine, is
// reachable only by the relay's user (and root), and is found from the same
// data directory the relay uses. Besides GET /status it takes POST /reload
// (cairn reload), which re-reads the config as SIGHUP does and answers once
// the reload is over. Scripts can use it too:
//
//	curl -s --unix-socket data/status.sock http://cairn/status
//	curl -sf -X POST --unix-socket data/status.sock http://cairn/reload

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/config"
	"github.com/cairnmesh/cairn/relay/store"
	"github.com/cairnmesh/cairn/relay/uplink"
)

// statusSocket is the socket's name in the data directory.
const statusSocket = "status.sock"

// statusReport is what GET /status returns.
type statusReport struct {
	Version string `json:"version"`
	DataDir string `json:"data_dir"`
	Uptime  string `json:"uptime"`
	DID     string `json:"did"`
	HTTP    string `json:"http,omitempty"` // the metrics and status page listener
	// HTTPScheme is https when http.tls is on; HTTPCA the fingerprint of
	// the relay's CA (http.tls = "auto") for phones to check.
	HTTPScheme string              `json:"http_scheme,omitempty"`
	HTTPCA     string              `json:"http_ca_sha256,omitempty"`
	Relay      relay.Stats         `json:"relay"`
	Store      store.Stats         `json:"store"`
	Uplinks    []uplink.Status     `json:"uplinks"`
	Radios     []relay.RadioStatus `json:"radios"`
}

// serveStatus answers GET /status and POST /reload (through rl) on
// dataDir/status.sock until the returned function is called. A socket path
// too long for the OS is logged and skipped: the relay runs without it.
func serveStatus(r *relay.Relay, rl *reloader, dataDir string, log *slog.Logger) (stop func()) {
	path := filepath.Join(dataDir, statusSocket)
	os.Remove(path) // left by a relay that was killed; the store's lock keeps a second relay out
	l, err := net.Listen("unix", path)
	if err != nil {
		log.Warn("status socket not available", "path", path, "err", err)
		return func() {}
	}
	os.Chmod(path, 0o600)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(statusReport{
			Version:    version,
			DataDir:    dataDir,
			Uptime:     r.Uptime().Round(time.Second).String(),
			DID:        r.DID(),
			HTTP:       r.HTTPAddr(),
			HTTPScheme: r.HTTPScheme(),
			HTTPCA:     r.HTTPCAFingerprint(),
			Relay:      r.Stats(),
			Store:      r.Store().Stats(),
			Uplinks:    r.Uplinks(),
			Radios:     r.RadioStatus(),
		})
	})
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, _ *http.Request) {
		out := rl.run()
		w.Header().Set("Content-Type", "application/json")
		if out.Error != "" {
			w.WriteHeader(http.StatusUnprocessableEntity) // for curl -f
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(out)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	return func() {
		srv.Close()
		os.Remove(path)
	}
}

func runStatus(args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "the relay's TOML config `file`, for its data_dir")
	dataDir := fs.String("data", "", "the relay's data `directory` (default: data_dir of --config, else ./data)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := relayDataDir(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	path, client := statusClient(dir, 10*time.Second)
	resp, err := client.Get("http://cairn/status")
	if err != nil {
		return fmt.Errorf("no relay answering on %s: %w", path, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status from %s: %s %v", path, resp.Status, err)
	}
	if *asJSON {
		os.Stdout.Write(body)
		return nil
	}
	var rep statusReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return fmt.Errorf("status from %s: %w", path, err)
	}
	printStatus(os.Stdout, rep, time.Now())
	return nil
}

// relayDataDir is the data directory of the relay to reach: dataDir if
// set, else the data_dir of the config file if given, else the default.
func relayDataDir(cfgPath, dataDir string) (string, error) {
	switch {
	case dataDir != "":
		return dataDir, nil
	case cfgPath != "":
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return "", err
		}
		return cfg.DataDir, nil
	}
	return config.Default().DataDir, nil
}

// statusClient returns the path of the status socket in dir and an HTTP
// client that reaches it, whatever the URL's host.
func statusClient(dir string, timeout time.Duration) (path string, c *http.Client) {
	path = filepath.Join(dir, statusSocket)
	return path, &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}},
	}
}

func printStatus(w io.Writer, rep statusReport, now time.Time) {
	fmt.Fprintf(w, "relay %s, data %s, up %s\n", rep.Version, rep.DataDir, rep.Uptime)
	if rep.DID != "" {
		fmt.Fprintf(w, "  identity %s\n", rep.DID)
	}
	if rep.HTTP != "" {
		scheme := rep.HTTPScheme
		if scheme == "" {
			scheme = "http"
		}
		fmt.Fprintf(w, "  metrics %s://%s/metrics, status page %s://%s/status\n", scheme, rep.HTTP, scheme, rep.HTTP)
	}
	if rep.HTTPCA != "" {
		fmt.Fprintf(w, "  https CA (phones install it from /ca) SHA-256 %s\n", rep.HTTPCA)
	}
	fmt.Fprintf(w, "  store: %d envelopes, %d bytes; accepted %d, duplicates %d, receipts %d, delivered %d\n",
		rep.Store.Count, rep.Store.Bytes, rep.Relay.Accepted, rep.Relay.Duplicates, rep.Relay.Receipts, rep.Relay.Delivered)
	if len(rep.Uplinks) == 0 {
		fmt.Fprintln(w, "  uplinks: none configured")
	}
	ago := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return now.Sub(t).Round(time.Second).String() + " ago"
	}
	if len(rep.Radios) == 0 {
		fmt.Fprintln(w, "  radios: none configured")
	}
	for _, r := range rep.Radios {
		fmt.Fprintf(w, "  %s %s: %s; %d neighbours; queued %d (%d bytes); airtime %s of %s this hour; frames sent %d, received %d, bad %d, dropped %d; retransmissions %d\n",
			r.Link, r.Port, r.State, r.Neighbours, r.Queued, r.QueuedBytes,
			r.AirtimeUsed.Round(time.Millisecond), r.AirtimeBudget, r.Counters.FramesSent, r.Counters.FramesReceived,
			r.Counters.BadFrames, r.Dropped, r.Counters.Retransmissions)
		if r.Signal {
			fmt.Fprintf(w, "    last heard %s: RSSI %d dBm, SNR %.2f dB\n", ago(r.LastRxAt), r.RSSIDBm, r.SNRdB)
		}
		if r.LastError != "" {
			fmt.Fprintf(w, "    last error: %s\n", strings.TrimSpace(r.LastError))
		}
	}
	for _, u := range rep.Uplinks {
		fmt.Fprintf(w, "  %s %s: %s; queued %d (%d bytes); published %d (%d resent), received %d; resending %d%s; %d subscriptions (%d served, %d watched, %d near tags); last success %s\n",
			u.Link, u.URL, uplinkState(u), u.Queued, u.QueuedBytes, u.Published, u.Resent, u.Received,
			u.Resending, resendDropped(u.ResendDropped),
			u.Subscriptions, u.ServedTags, u.WatchedTags, u.NearTags, ago(u.LastSuccess))
		if u.LastError != "" {
			fmt.Fprintf(w, "    last error %s: %s\n", ago(u.LastErrorAt), strings.TrimSpace(u.LastError))
		}
	}
}

// uplinkState says whether an uplink is connected and in which MQTT
// version: the one in use, or, when disconnected, the one last spoken.
func uplinkState(u uplink.Status) string {
	switch {
	case u.Connected:
		return "connected, MQTT " + u.Protocol
	case u.Protocol != "":
		return "disconnected (last MQTT " + u.Protocol + ")"
	}
	return "disconnected"
}

// resendDropped names the envelopes dropped from a resend schedule at its
// bound, if any.
func resendDropped(n uint64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d dropped at the bound)", n)
}
