// Package web is the handheld web client that a relay serves (docs/web.md):
// static assets built by `make web` (go run ./web/build) into dist/ and
// embedded here, so the cairn binary stays one file. The protocol code is
// package client built to WebAssembly (web/wasm); this package only serves
// the files, with the right caching and compression.
package web

import (
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

//go:embed all:dist
var dist embed.FS

// asset is one file as served. The build stores a compressible file only
// gzipped (so the binary carries one copy); a client that does not accept
// gzip gets it unpacked as it is sent. Nothing is copied out of the binary:
// every response streams from the embedded file, so the relay's memory
// holds only the pages of what was asked for, and the ~4 MB of assets (the
// on-demand QR scanner among them) cost nothing until a phone asks.
type asset struct {
	file    string // path in dist
	gz      bool   // stored gzipped
	size    int64  // bytes as stored
	rawSize int64  // bytes unpacked: the gzip trailer's ISIZE, or size
	ctype   string
	cache   string // Cache-Control

	etagOnce sync.Once
	etag     string // strong, over what is stored; the gzip copy's is etagGzip
}

// tag is the asset's ETag, hashed from the stored bytes at its first
// request rather than at start, so that an asset nobody asks for is never
// read.
func (a *asset) tag() string {
	a.etagOnce.Do(func() {
		f, err := dist.Open(a.file)
		if err != nil {
			panic("web: embedded asset does not open: " + err.Error()) // it was listed
		}
		defer f.Close()
		h := sha256.New()
		io.Copy(h, f)
		a.etag = `"` + hex.EncodeToString(h.Sum(nil)[:12]) + `"`
	})
	return a.etag
}

// hashedName matches the content-hashed names the build gives assets:
// app.1a2b3c4d.js. They never change, so they are cached for a year.
var hashedName = regexp.MustCompile(`\.[0-9a-f]{8}\.[a-z0-9]+$`)

var (
	loadOnce sync.Once
	assets   map[string]*asset // by URL path
)

func load() {
	assets = map[string]*asset{}
	entries, _ := fs.ReadDir(dist, "dist")
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || name == "README.md" {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		a := &asset{file: "dist/" + name, size: info.Size(), rawSize: info.Size(), cache: "no-cache"}
		if n, ok := strings.CutSuffix(name, ".gz"); ok {
			name, a.gz = n, true
			if a.rawSize, err = gzipSize(a.file); err != nil {
				panic("web: embedded asset " + a.file + ": " + err.Error()) // the build wrote it
			}
		}
		if hashedName.MatchString(name) {
			a.cache = "public, max-age=31536000, immutable"
		}
		switch ext := path.Ext(name); ext {
		case ".webmanifest":
			a.ctype = "application/manifest+json"
		case ".wasm":
			a.ctype = "application/wasm"
		default:
			a.ctype = mime.TypeByExtension(ext)
		}
		p := "/" + name
		if name == "index.html" {
			p = "/"
		}
		assets[p] = a
	}
}

// gzipSize is the unpacked size of the one-member gzip file at name: its
// trailer's ISIZE (RFC 1952 §2.3.1, the size mod 2^32; every asset is far
// below 4 GiB).
func gzipSize(name string) (int64, error) {
	f, err := dist.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r, ok := f.(io.ReadSeeker)
	if !ok {
		return 0, fmt.Errorf("not seekable")
	}
	if _, err := r.Seek(-4, io.SeekEnd); err != nil {
		return 0, fmt.Errorf("reading gzip trailer: %w", err)
	}
	var isize [4]byte
	if _, err := io.ReadFull(r, isize[:]); err != nil {
		return 0, fmt.Errorf("reading gzip trailer: %w", err)
	}
	return int64(binary.LittleEndian.Uint32(isize[:])), nil
}

// Built reports whether this binary carries the web client (make web ran
// before go build).
func Built() bool {
	loadOnce.Do(load)
	return assets["/"] != nil
}

// contentSecurityPolicy keeps every request on the relay: scripts, the
// WebAssembly module, styles and the MQTT WebSocket come from the page's
// own origin, and nothing may frame it.
const contentSecurityPolicy = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; media-src 'self' blob: mediastream:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"

// Handler serves the web client: / is the app, the rest its assets. Hashed
// assets are cached as immutable; the entry points (/, /sw.js, the
// manifest) are revalidated with their ETag on every load. A client that
// accepts gzip gets the precompressed copy. Safe for concurrent use.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !Built() {
		http.Error(w, "this cairn binary was built without its web client: run `make web` (or `make build`) and build again", http.StatusServiceUnavailable)
		return
	}
	a := assets[r.URL.Path]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", a.cache)
	h.Set("Vary", "Accept-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Referrer-Policy", "no-referrer")
	if r.URL.Path == "/sw.js" {
		h.Set("Service-Worker-Allowed", "/")
	}
	// The gzip and identity copies are different representations, so each
	// has its own strong ETag (RFC 9110 §8.8.3.3); a cache that holds one
	// revalidates only that one.
	gz := a.gz && acceptsGzip(r.Header.Get("Accept-Encoding"))
	etag := a.tag()
	if gz {
		etag = etagGzip(a.etag)
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatch(match, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	f, err := dist.Open(a.file)
	if err != nil {
		http.Error(w, "asset unreadable", http.StatusInternalServerError) // it was listed
		return
	}
	defer f.Close()
	var body io.Reader = f
	size := a.size
	if a.gz && !gz {
		zr, err := gzip.NewReader(f)
		if err != nil {
			http.Error(w, "asset unreadable", http.StatusInternalServerError) // the build wrote it
			return
		}
		body, size = zr, a.rawSize
	}
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	if r.Method == http.MethodHead {
		return
	}
	io.Copy(w, body)
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t), "W/"))
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// etagGzip is the ETag of the gzip copy of the asset whose ETag is etag:
// the same opaque tag with "-gzip" inside the quotes.
func etagGzip(etag string) string { return strings.TrimSuffix(etag, `"`) + `-gzip"` }

// acceptsGzip reads Accept-Encoding as RFC 9110 §12.5.3 does: an explicit
// gzip (or its alias x-gzip) entry decides by its q-value, whatever * says;
// without one, * decides; q=0 means "not acceptable". Entries whose q-value
// does not parse are ignored. No header, or an empty one, means identity.
func acceptsGzip(header string) bool {
	explicit, star := -1.0, -1.0 // highest q of each; -1 for none
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "x-gzip" && coding != "*" {
			continue
		}
		q, ok := qValue(params)
		if !ok {
			continue
		}
		if coding == "*" {
			star = max(star, q)
		} else {
			explicit = max(explicit, q)
		}
	}
	if explicit >= 0 {
		return explicit > 0
	}
	return star > 0
}

// qValue is the weight among params (";"-separated, after the coding): 1
// when there is none, false when it is not a qvalue (0 to 1, at most three
// decimals).
func qValue(params string) (float64, bool) {
	for _, p := range strings.Split(params, ";") {
		name, v, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) == 0 || len(v) > 5 || (v[0] != '0' && v[0] != '1') || (len(v) > 1 && v[1] != '.') {
			return 0, false
		}
		q, err := strconv.ParseFloat(v, 64)
		if err != nil || q > 1 {
			return 0, false
		}
		return q, true
	}
	return 1, true
}
