package web

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"

	qrcode "github.com/skip2/go-qrcode"
)

// TestBrowserEndToEnd runs web/e2e/e2e.mjs: the web client in headless
// Chromium (playwright-core from web/e2e/package-lock.json) against the
// cairn binary built from this tree, with the CLI on the other side — two
// phones chatting, web and CLI both ways (the CLI's delivery notices), a
// contact added by bare did:key, a relay restart with an offline reload, an
// offline phone, history sealed under a passphrase, a locked identity, and
// a second relay with http.tls = "auto" on a LAN-like name (relay.test):
// plain HTTP is no secure context, https with the relay's CA is, and the
// app reloads from its service worker with that relay stopped; and a
// contact scanned through Chromium's fake camera (a Y4M file of another
// identity's card QR, written here) by the on-demand scanner module.
// Screenshots go to CAIRN_WEB_SHOTS when set (docs/img; a relative path is
// from the repository's top). Under CI=true a missing Chromium, npm package
// or build is a failure, not a skip.
func TestBrowserEndToEnd(t *testing.T) {
	requireBuilt(t)
	missing := func(what string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (make deps installs it)", what)
		}
		t.Skip(what)
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		missing("no Chromium at " + chromium)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("no node")
	}
	if _, err := os.Stat("e2e/node_modules/playwright-core"); err != nil {
		missing("no playwright-core in web/e2e/node_modules: npm ci there")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "cairn")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	build := exec.Command("go", "build", "-o", bin, "../cmd/cairn")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building cairn: %v\n%s", err, out)
	}
	shots := os.Getenv("CAIRN_WEB_SHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else {
		if !filepath.IsAbs(shots) {
			shots = filepath.Join("..", shots) // relative to the repository's top, not to web/
		}
		if shots, err = filepath.Abs(shots); err != nil {
			t.Fatal(err)
		}
	}
	// Erin's identity, shown to phone A's camera as her card's QR code.
	erin := filepath.Join(dir, "erin")
	if out, err := exec.Command(bin, "id", "new", "--home", erin).CombinedOutput(); err != nil {
		t.Fatalf("cairn id new: %v\n%s", err, out)
	}
	card, err := exec.Command(bin, "id", "show", "--home", erin).Output()
	if err != nil {
		t.Fatalf("cairn id show: %v", err)
	}
	m := regexp.MustCompile(`(?m)^card: (\S+)$`).FindSubmatch(card)
	if m == nil {
		t.Fatalf("cairn id show printed no card:\n%s", card)
	}
	y4m := filepath.Join(dir, "erin-card.y4m")
	if err := writeQRVideo(y4m, string(m[1])); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "e2e.mjs")
	cmd.Dir = "e2e"
	cmd.Env = append(os.Environ(), "CAIRN_BIN="+bin, "WORK="+t.TempDir(), "SHOTS="+shots, "CHROMIUM="+chromium,
		"SCAN_Y4M="+y4m, "SCAN_HOME="+erin)
	out, err := cmd.CombinedOutput()
	t.Logf("e2e.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("browser end to end: %v", err)
	}
}

// writeQRVideo writes a Y4M video for Chromium's fake camera
// (--use-file-for-fake-video-capture): 640 × 480, 4:2:0, ten frames of text
// as a QR code at level L, 6 px a module, centred on a light grey
// background; the colour planes are neutral (128). Chromium loops it.
func writeQRVideo(path, text string) error {
	const w, h, scale = 640, 480, 6
	q, err := qrcode.New(text, qrcode.Low)
	if err != nil {
		return err
	}
	bm := q.Bitmap() // with the quiet zone
	side := len(bm) * scale
	if side > h {
		return fmt.Errorf("QR code of %d modules does not fit %d px", len(bm), h)
	}
	x0, y0 := (w-side)/2, (h-side)/2
	y := make([]byte, w*h)
	for py := range h {
		for px := range w {
			v := byte(200)
			if mx, my := (px-x0)/scale, (py-y0)/scale; px >= x0 && py >= y0 && mx < len(bm) && my < len(bm) {
				v = 235
				if bm[my][mx] {
					v = 16
				}
			}
			y[py*w+px] = v
		}
	}
	chroma := make([]byte, w*h/2) // U and V, each a quarter of Y
	for i := range chroma {
		chroma[i] = 128
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	fmt.Fprintf(bw, "YUV4MPEG2 W%d H%d F10:1 Ip A1:1 C420jpeg\n", w, h)
	for range 10 {
		bw.WriteString("FRAME\n")
		bw.Write(y)
		bw.Write(chroma)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
