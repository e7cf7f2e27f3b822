package web

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// requireBuilt fails under CI, where make test builds the assets first,
// and skips elsewhere when `make web` has not run.
func requireBuilt(t *testing.T) {
	t.Helper()
	if Built() {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("web client not built into this test binary: run `make web` before go test (make test does)")
	}
	t.Skip("web client not built: run `make web`")
}

func get(t *testing.T, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	Handler().ServeHTTP(w, req)
	return w
}

func TestServe(t *testing.T) {
	requireBuilt(t)
	idx := get(t, "/", "Accept-Encoding", "gzip, deflate")
	h := idx.Header()
	if idx.Code != 200 || h.Get("Content-Encoding") != "gzip" || h.Get("Cache-Control") != "no-cache" || h.Get("Vary") != "Accept-Encoding" ||
		!strings.HasPrefix(h.Get("Content-Type"), "text/html") || h.Get("ETag") == "" || !strings.Contains(h.Get("Content-Security-Policy"), "connect-src 'self'") {
		t.Fatalf("/: %d %v", idx.Code, h)
	}
	plain := get(t, "/")
	if plain.Header().Get("Content-Encoding") != "" || !bytes.Contains(plain.Body.Bytes(), []byte("<!doctype html>")) {
		t.Fatalf("/ without gzip: %v %.80q", plain.Header(), plain.Body.String())
	}
	if again := get(t, "/", "If-None-Match", h.Get("ETag")); again.Code != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", again.Code)
	}
	// The page names the hashed module; it is immutable and unpacks to
	// WebAssembly for a browser that takes no gzip.
	i := bytes.Index(plain.Body.Bytes(), []byte(`content="/cairn.`))
	if i < 0 {
		t.Fatal("index.html names no cairn.*.wasm")
	}
	name := string(plain.Body.Bytes()[i+len(`content="`):])
	name = name[:strings.IndexByte(name, '"')]
	w := get(t, name, "Accept-Encoding", "identity")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/wasm" || !strings.Contains(w.Header().Get("Cache-Control"), "immutable") ||
		!bytes.HasPrefix(w.Body.Bytes(), []byte("\x00asm")) {
		t.Errorf("%s: %d %v", name, w.Code, w.Header())
	}
	if w := get(t, name, "Accept-Encoding", "gzip;q=0"); w.Header().Get("Content-Encoding") != "" || w.Header().Get("Vary") != "Accept-Encoding" {
		t.Errorf("to a client that refused gzip (q=0): %v", w.Header())
	}
	if w := get(t, name, "Accept-Encoding", "gzip, deflate, br"); w.Header().Get("Content-Encoding") != "gzip" || w.Header().Get("Vary") != "Accept-Encoding" ||
		w.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" || !bytes.HasPrefix(w.Body.Bytes(), []byte{0x1f, 0x8b}) {
		t.Errorf("%s gzipped: %v", name, w.Header())
	}
	sw := get(t, "/sw.js", "Accept-Encoding", "gzip")
	if sw.Code != 200 || sw.Header().Get("Cache-Control") != "no-cache" || sw.Header().Get("Service-Worker-Allowed") != "/" {
		t.Errorf("/sw.js: %d %v", sw.Code, sw.Header())
	}
	if again := get(t, "/sw.js", "If-None-Match", sw.Header().Get("ETag")); again.Code != http.StatusNotModified || again.Body.Len() != 0 {
		t.Errorf("/sw.js revalidation: %d, %d bytes; want 304 and none", again.Code, again.Body.Len())
	}
	if other := get(t, "/sw.js", "If-None-Match", h.Get("ETag")); other.Code != 200 {
		t.Errorf("/sw.js with the ETag of /: %d, want 200", other.Code)
	}
	if w := get(t, "/manifest.webmanifest"); w.Header().Get("Content-Type") != "application/manifest+json" {
		t.Errorf("manifest: %v", w.Header())
	}
	for _, p := range []string{"/nothing", "/README.md", "/index.html"} {
		if w := get(t, p); w.Code != 404 {
			t.Errorf("%s: %d, want 404", p, w.Code)
		}
	}
	req := httptest.NewRequest("POST", "/", nil)
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"": false, "gzip": true, "deflate, gzip;q=1.0": true, "gzip;q=0": false, "gzip; q=0.5": true,
		"br": false, "*": true, "GZIP": true, "identity, gzip;q=0.0": false,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v", h, got)
		}
	}
}
