package web

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
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
	if again := get(t, "/", "Accept-Encoding", "gzip, deflate", "If-None-Match", h.Get("ETag")); again.Code != http.StatusNotModified {
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
	// Unpacked as it is sent: its length announced from the gzip trailer.
	if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(w.Body.Len()) {
		t.Errorf("%s unpacked: Content-Length %s, body %d bytes", name, cl, w.Body.Len())
	}
	if w := get(t, name, "Accept-Encoding", "gzip;q=0"); w.Header().Get("Content-Encoding") != "" || w.Header().Get("Vary") != "Accept-Encoding" {
		t.Errorf("to a client that refused gzip (q=0): %v", w.Header())
	}
	if w := get(t, name, "Accept-Encoding", "gzip, deflate, br"); w.Header().Get("Content-Encoding") != "gzip" || w.Header().Get("Vary") != "Accept-Encoding" ||
		w.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" || !bytes.HasPrefix(w.Body.Bytes(), []byte{0x1f, 0x8b}) {
		t.Errorf("%s gzipped: %v", name, w.Header())
	} else if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(w.Body.Len()) {
		t.Errorf("%s gzipped: Content-Length %s, body %d bytes", name, cl, w.Body.Len())
	}
	sw := get(t, "/sw.js", "Accept-Encoding", "gzip")
	if sw.Code != 200 || sw.Header().Get("Cache-Control") != "no-cache" || sw.Header().Get("Service-Worker-Allowed") != "/" {
		t.Errorf("/sw.js: %d %v", sw.Code, sw.Header())
	}
	if again := get(t, "/sw.js", "Accept-Encoding", "gzip", "If-None-Match", sw.Header().Get("ETag")); again.Code != http.StatusNotModified || again.Body.Len() != 0 {
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

// The gzip and identity copies of an asset have different strong ETags, and
// each revalidates with its own only.
func TestETagPerEncoding(t *testing.T) {
	requireBuilt(t)
	for _, p := range []string{"/", "/sw.js"} {
		gz := get(t, p, "Accept-Encoding", "gzip").Header().Get("ETag")
		id := get(t, p, "Accept-Encoding", "identity").Header().Get("ETag")
		if gz == id || !strings.HasSuffix(gz, `-gzip"`) || !strings.HasPrefix(gz, `"`) || gz != strings.TrimSuffix(id, `"`)+`-gzip"` {
			t.Fatalf("%s: gzip ETag %s, identity %s", p, gz, id)
		}
		for _, tc := range []struct {
			encoding, match string
			want            int
		}{
			{"gzip", gz, http.StatusNotModified},
			{"identity", id, http.StatusNotModified},
			{"gzip", id, http.StatusOK},
			{"identity", gz, http.StatusOK},
			{"gzip", "W/" + gz, http.StatusNotModified}, // If-None-Match compares weakly
			{"identity", `"other", ` + id, http.StatusNotModified},
		} {
			if w := get(t, p, "Accept-Encoding", tc.encoding, "If-None-Match", tc.match); w.Code != tc.want {
				t.Errorf("%s, %s, If-None-Match %s: %d, want %d", p, tc.encoding, tc.match, w.Code, tc.want)
			}
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"": false, "gzip": true, "deflate, gzip;q=1.0": true, "gzip;q=0": false, "gzip; q=0.5": true,
		"br": false, "*": true, "GZIP": true, "identity, gzip;q=0.0": false,
		// An explicit gzip beats *, whichever comes first.
		"*;q=0, gzip": true, "gzip, *;q=0": true, "*, gzip;q=0": false, "gzip;q=0, *": false,
		"*;q=0": false, "*;q=0.001": true, "br, *;q=0.1": true,
		"x-gzip": true, "x-gzip;q=0": false,
		// q-values: case, spaces, three decimals, nothing else.
		"gzip;Q=0": false, "gzip ; q = 0": false, "gzip;q=0.000": false, "gzip;q=1.000": true,
		"gzip;level=1;q=0": false, "gzip;q=2": false, "gzip;q=-1": false, "gzip;q=0.0001": false,
		"gzip;q=abc": false, "gzip;q=abc, *": true, "gzip;q=0, gzip;q=0.5": true,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v", h, got)
		}
	}
}
