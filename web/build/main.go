// Command build makes the web client's assets in web/dist, which package
// web embeds: it builds web/wasm and the QR scanner web/qrscanwasm for the
// browser (GOOS=js GOARCH=wasm, stripped, no inlining: larger, but 11 %
// smaller gzipped), copies the
// static files and Go's wasm_exec.js, draws the app icons, gives every
// asset but the entry points a content-hashed name (cached for a year,
// immutable), writes the service worker's lists (precached; cached when
// first fetched: the scanner) and version, and stores each
// compressible file gzipped (level 9) in place of itself. Run from the
// module root: go run ./web/build (make web). See docs/web.md.
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	src := flag.String("static", "web/static", "static sources")
	out := flag.String("out", "web/dist", "output directory (its old assets are removed)")
	pkg := flag.String("wasm", "./web/wasm", "package to build to WebAssembly")
	scanner := flag.String("scanner", "./web/qrscanwasm", "the QR scanner's package, built to a module of its own")
	flag.Parse()
	if err := build(*src, *out, *pkg, *scanner); err != nil {
		log.Fatalf("web build: %v", err)
	}
}

// onDemand are the assets fetched only when used, not at first load: the
// QR scanner's worker and module (docs/web.md, "Scanning a contact"). The
// service worker caches them when they are first fetched.
var onDemand = map[string]bool{"qrscan.wasm": true, "scan.js": true}

func build(src, out, pkg, scanner string) error {
	gobin := os.Getenv("GO")
	if gobin == "" {
		gobin = "go"
	}
	tmp, err := os.MkdirTemp("", "cairn-web-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for name, p := range map[string]string{"cairn.wasm": pkg, "qrscan.wasm": scanner} {
		cmd := exec.Command(gobin, "build", "-trimpath", "-gcflags=all=-l", "-ldflags=-s -w", "-o", filepath.Join(tmp, name), p)
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building %s for js/wasm: %w", p, err)
		}
	}
	goroot, err := exec.Command(gobin, "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	files := map[string][]byte{}
	read := func(name, path string) error {
		b, err := os.ReadFile(path)
		files[name] = b
		return err
	}
	for _, name := range []string{"cairn.wasm", "qrscan.wasm"} {
		if err := read(name, filepath.Join(tmp, name)); err != nil {
			return err
		}
	}
	if err := read("wasm_exec.js", filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js")); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := read(e.Name(), filepath.Join(src, e.Name())); err != nil {
			return err
		}
	}
	for _, size := range []int{192, 512} {
		files[fmt.Sprintf("icon-%d.png", size)] = icon(size)
	}

	// Hashed names, leaves first: what app.js and the CSS name is hashed
	// before them, and the entry points (index.html, sw.js, the manifest:
	// fixed URLs, revalidated) are written last.
	names := map[string]string{}
	hashed := func(name string) {
		b := subst(files[name], names)
		files[name] = b
		ext := filepath.Ext(name)
		h := sha256.Sum256(b)
		names[name] = strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(h[:4]) + ext
	}
	for _, n := range []string{"cairn.wasm", "qrscan.wasm", "wasm_exec.js", "scan.js", "icon-192.png", "icon-512.png", "icon.svg", "app.css", "app.js"} {
		if files[n] == nil {
			return fmt.Errorf("missing %s", n)
		}
		hashed(n)
	}
	for _, n := range []string{"index.html", "manifest.webmanifest"} {
		files[n] = subst(files[n], names)
	}
	var precache, later []string
	for orig, n := range names {
		switch {
		case onDemand[orig]:
			later = append(later, "/"+n)
		case orig != "icon-512.png": // for the installer only
			precache = append(precache, "/"+n)
		}
	}
	sort.Strings(precache)
	sort.Strings(later)
	precache = append([]string{"/", "/manifest.webmanifest"}, precache...)
	list, _ := json.Marshal(precache)
	laterList, _ := json.Marshal(later)
	v := sha256.New()
	for _, n := range []string{"index.html", "manifest.webmanifest"} {
		v.Write(files[n])
	}
	v.Write(list)
	v.Write(laterList)
	sw := subst(files["sw.js"], names)
	sw = bytes.ReplaceAll(sw, []byte("@PRECACHE@"), list)
	sw = bytes.ReplaceAll(sw, []byte("@ONDEMAND@"), laterList)
	sw = bytes.ReplaceAll(sw, []byte("@VERSION@"), []byte(hex.EncodeToString(v.Sum(nil)[:6])))
	files["sw.js"] = sw

	old, _ := filepath.Glob(filepath.Join(out, "*"))
	for _, o := range old {
		if filepath.Base(o) != "README.md" {
			os.Remove(o)
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for orig, b := range files {
		name := orig
		if n, ok := names[orig]; ok {
			name = n
		}
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		// Only one copy goes into the binary: the gzip one when it is
		// smaller (package web unpacks it for the rare browser that does
		// not take gzip), else the file itself.
		if z.Len() < len(b) {
			name, b = name+".gz", z.Bytes()
		}
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			return err
		}
		if filepath.Ext(orig) == ".wasm" {
			fmt.Fprintf(os.Stderr, "web: %s %d bytes, %d gzipped\n", names[orig], len(files[orig]), z.Len())
		}
	}
	return nil
}

// subst replaces each @name@ in b with the hashed name.
func subst(b []byte, names map[string]string) []byte {
	for orig, n := range names {
		b = bytes.ReplaceAll(b, []byte("@"+orig+"@"), []byte(n))
	}
	return b
}

// icon draws the app icon: three stones stacked, white on black, with the
// margin a maskable icon needs.
func icon(size int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	black, white := color.NRGBA{0, 0, 0, 255}, color.NRGBA{255, 255, 255, 255}
	s := float64(size)
	stones := [][4]float64{ // centre x, centre y, half width, half height, as fractions
		{0.5, 0.70, 0.26, 0.09},
		{0.5, 0.52, 0.19, 0.08},
		{0.5, 0.36, 0.12, 0.07},
	}
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			c := black
			for _, st := range stones {
				dx := (float64(x) + 0.5 - st[0]*s) / (st[2] * s)
				dy := (float64(y) + 0.5 - st[1]*s) / (st[3] * s)
				if dx*dx+dy*dy <= 1 {
					c = white
				}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}
