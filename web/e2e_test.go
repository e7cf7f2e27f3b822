package web

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestBrowserEndToEnd runs web/e2e/e2e.mjs: the web client in headless
// Chromium (playwright-core from web/e2e/package-lock.json) against the
// cairn binary built from this tree, with the CLI on the other side — two
// phones chatting, web and CLI both ways (the CLI's delivery notices), a
// contact added by bare did:key, a relay restart with an offline reload, an
// offline phone, history sealed under a passphrase, a locked identity, and
// a second relay with http.tls = "auto" on a LAN-like name (relay.test):
// plain HTTP is no secure context, https with the relay's CA is, and the
// app reloads from its service worker with that relay stopped.
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
	cmd := exec.Command(node, "e2e.mjs")
	cmd.Dir = "e2e"
	cmd.Env = append(os.Environ(), "CAIRN_BIN="+bin, "WORK="+t.TempDir(), "SHOTS="+shots, "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("e2e.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("browser end to end: %v", err)
	}
}
