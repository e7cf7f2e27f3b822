package main

// The release check: run by `make release-check` (and so `make test`) against
// the binaries `make release` put in dist/. It skips unless
// CAIRN_RELEASE_DIR is set, so a plain `go test ./...` stays fast.

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// releaseTarget is one binary that `make release` builds.
type releaseTarget struct {
	name    string      // suffix of dist/cairn-linux-<name>
	goarch  string      // GOARCH in the build info
	goarm   string      // GOARM in the build info; "" when not arm
	machine elf.Machine // ELF e_machine
	qemu    string      // qemu-user binary that runs it on another host
	cpu     string      // oldest CPU it must run on: the Raspberry Pi it is for
}

var releaseTargets = []releaseTarget{
	{"amd64", "amd64", "", elf.EM_X86_64, "qemu-x86_64-static", ""},
	{"arm64", "arm64", "", elf.EM_AARCH64, "qemu-aarch64-static", "cortex-a53"}, // Pi 3
	{"armv7", "arm", "7", elf.EM_ARM, "qemu-arm-static", "cortex-a7"},           // Pi 2
	{"armv6", "arm", "6", elf.EM_ARM, "qemu-arm-static", "arm1176"},             // Pi Zero, Pi 1
}

func TestReleaseBinaries(t *testing.T) {
	dir := os.Getenv("CAIRN_RELEASE_DIR")
	if dir == "" {
		t.Skip("release check: set CAIRN_RELEASE_DIR and CAIRN_RELEASE_VERSION, or run `make release-check`")
	}
	want := os.Getenv("CAIRN_RELEASE_VERSION")
	if want == "" {
		t.Fatal("CAIRN_RELEASE_DIR is set but CAIRN_RELEASE_VERSION is empty")
	}
	for _, tg := range releaseTargets {
		t.Run(tg.name, func(t *testing.T) {
			path := filepath.Join(dir, "cairn-linux-"+tg.name)
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("%v (run `make release` first)", err)
			}
			checkStatic(t, path, tg)
			checkBuildInfo(t, path, tg)
			checkVersion(t, path, tg, want)
		})
	}
}

// checkStatic fails unless the ELF file has no program interpreter and
// needs no shared libraries: then the kernel loads it alone, and it runs on
// any Linux of its architecture whatever libc (if any) is installed.
func checkStatic(t *testing.T, path string, tg releaseTarget) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("reading ELF: %v", err)
	}
	defer f.Close()
	if f.Machine != tg.machine {
		t.Errorf("%s: ELF machine %v, want %v", path, f.Machine, tg.machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp, _ := readAll(p)
			t.Errorf("%s is dynamically linked: PT_INTERP %q (build with CGO_ENABLED=0)", path, interp)
		}
	}
	libs, err := f.ImportedLibraries() // the DT_NEEDED entries
	if err != nil {
		t.Fatalf("%s: reading DT_NEEDED: %v", path, err)
	}
	if len(libs) > 0 {
		t.Errorf("%s is dynamically linked: DT_NEEDED %v (build with CGO_ENABLED=0)", path, libs)
	}
}

func readAll(p *elf.Prog) (string, error) {
	b := make([]byte, p.Filesz)
	_, err := p.ReadAt(b, 0)
	return string(bytes.TrimRight(b, "\x00")), err
}

// checkBuildInfo checks the settings the Go toolchain recorded in the binary,
// so that an armv6 file really is GOARM=6 and not a copy of the armv7 one.
func checkBuildInfo(t *testing.T, path string, tg releaseTarget) {
	t.Helper()
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("reading Go build info: %v", err)
	}
	got := map[string]string{}
	for _, s := range info.Settings {
		got[s.Key] = s.Value
	}
	want := map[string]string{
		"GOOS":        "linux",
		"GOARCH":      tg.goarch,
		"CGO_ENABLED": "0",
		"-trimpath":   "true",
	}
	if tg.goarm != "" {
		want["GOARM"] = tg.goarm
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: build setting %s=%q, want %q", path, k, got[k], v)
		}
	}
}

// checkVersion runs `cairn version`, natively when the host can, otherwise
// under qemu-user emulating the oldest CPU the binary is meant for.
func checkVersion(t *testing.T, path string, tg releaseTarget, want string) {
	t.Helper()
	var argv []string
	if runtime.GOOS == "linux" && runtime.GOARCH == tg.goarch && tg.goarch != "arm" {
		argv = []string{path, "version"}
	} else {
		qemu, err := exec.LookPath(tg.qemu)
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found; CI must install qemu-user-static", tg.qemu)
			}
			t.Skipf("%s not found, not running %s (apt-get install qemu-user-static)", tg.qemu, path)
		}
		argv = []string{qemu}
		if tg.cpu != "" {
			argv = append(argv, "-cpu", tg.cpu)
		}
		argv = append(argv, path, "version")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	t.Logf("%s: %s", strings.Join(argv, " "), bytes.TrimSpace(out))
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	if got, exp := strings.TrimSpace(string(out)), "cairn "+want; got != exp {
		t.Errorf("%s printed %q, want %q", strings.Join(argv, " "), got, exp)
	}
}
