package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/cairnmesh/cairn/codec"
)

// The operator's HTTP listener (config http.listen). It serves:
//
//	/metrics  Prometheus text exposition (metrics.go)
//	/healthz  200 while the process answers at all
//	/readyz   200 once the store is open and every listener is bound and
//	          serving, 503 with the reason otherwise
//	/status   a page a person reads on a phone (statuspage.go)
//	/status.json  the relay's key and links, for the web client
//	/, /mqtt  the web client and its MQTT over WebSocket, when served (web.go)
//	/ca, /ca.crt  the relay's CA, when http.tls is auto (https.go)
//
// With http.tls on, all of it is served over https, and plain HTTP on the
// same port redirects there (https.go).
//
// Nothing here changes state or reveals
// more than counts and link names, so it has no authentication; bind it to
// a management address if the LAN should not see it.

// Implementation limits of the HTTP listener.
const (
	// httpShutdownWait bounds how long Close waits for scrapes in progress.
	httpShutdownWait = 2 * time.Second
	// httpMaxHeaderBytes bounds a request's line and headers; a larger one
	// is answered 431. Browsers send 1–2 KiB (cookies are the big part, and
	// the relay sets none).
	httpMaxHeaderBytes = 16 << 10
)

// bindHTTP binds the configured HTTP listener, so that New fails on a port
// in use, like the MQTT listeners.
func (r *Relay) bindHTTP() error {
	addr := r.cfg.HTTP.Listen
	if addr == "" {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listening on %s: %w", addr, err)
	}
	tc, ca, err := r.tlsConfig()
	if err != nil {
		l.Close()
		return err
	}
	r.httpL, r.ca = l, ca
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    httpMaxHeaderBytes,
			ConnState:         releaseHijacked,
			ErrorLog:          slog.NewLogLogger(r.log.With("component", "http").Handler(), slog.LevelDebug),
		}
	}
	r.httpSrv = newServer(r.HTTPHandler())
	if tc != nil {
		r.httpSrv.TLSConfig = tc
		r.plainSrv = newServer(r.plainHandler())
	}
	return nil
}

// serveHTTP starts answering on the bound listener. Called by Serve once
// everything the handlers read has started.
func (r *Relay) serveHTTP() {
	if r.httpSrv == nil {
		return
	}
	l := &limitListener{Listener: r.httpL, lim: r.httpConns}
	if r.plainSrv == nil {
		go r.httpSrv.Serve(l)
		return
	}
	r.split = newSplitListener(l)
	go r.httpSrv.Serve(tls.NewListener(r.split.tls, r.httpSrv.TLSConfig))
	go r.plainSrv.Serve(r.split.plain)
}

// closeHTTP stops the listener and waits (briefly) for requests in flight,
// so that no handler reads the radios or the store while Close stops them.
func (r *Relay) closeHTTP() {
	if r.httpSrv == nil {
		if r.httpL != nil {
			r.httpL.Close()
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), httpShutdownWait)
	defer cancel()
	for _, srv := range []*http.Server{r.httpSrv, r.plainSrv} {
		if srv == nil {
			continue
		}
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}
	r.httpL.Close() // Shutdown closes it only if Serve ran
	if r.split != nil {
		r.split.Close()
		r.split.wait()
	}
}

// HTTPHandler returns the operator endpoints, for the configured listener
// and for tests that mount them elsewhere.
func (r *Relay) HTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", r.serveMetrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := r.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /status", r.serveStatusPage)
	mux.HandleFunc("GET /status.json", r.serveStatusJSON)
	r.handleCA(mux)
	if r.serveWeb() && r.webMQTT != nil {
		mux.Handle("GET /mqtt", r.webMQTT)
		mux.Handle("GET /", r.web)
	}
	return mux
}

// HTTPAddr returns the bound address of the HTTP listener, "" when it is
// off. With a configured port of 0 it shows the port the OS chose.
func (r *Relay) HTTPAddr() string {
	if r.httpL == nil {
		return ""
	}
	return r.httpL.Addr().String()
}

// Ready reports whether the relay is doing its job: serving (between the
// end of Serve and the start of Close) with a store that answers a read.
// It is /readyz and the systemd watchdog's test.
func (r *Relay) Ready() error {
	if !r.serving.Load() {
		return errors.New("not serving")
	}
	if _, err := r.store.Seen(codec.ID{}); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Uptime is the time since New, on the monotonic clock.
func (r *Relay) Uptime() time.Duration { return time.Since(r.started) }
