package main

import (
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/relay/relaytest"
)

// The amd64 .deb on this machine: dpkg -i puts every file where it belongs,
// makes the cairn user (in dialout) and its data directory, the installed
// binary passes `cairn config check` on the shipped config and serves as the
// cairn user; dpkg -r keeps the conffile and the data, dpkg -P removes them.
// It changes the machine while it runs, so it runs only from `make
// deb-check` (CAIRN_DEB names the package), as root, and purges and removes
// the user it made when done.
func TestDebInstallRemove(t *testing.T) {
	deb := os.Getenv("CAIRN_DEB")
	if deb == "" {
		t.Skip("CAIRN_DEB not set: run make deb-check")
	}
	if os.Geteuid() != 0 {
		t.Fatal("dpkg -i needs root")
	}
	if err := exec.Command("dpkg-query", "-W", "cairn").Run(); err == nil {
		t.Fatal("a cairn package is installed already; not touching it")
	}
	_, err := user.Lookup("cairn")
	userBefore := err == nil
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Cleanup(func() {
		exec.Command("dpkg", "-P", "cairn").Run()
		if !userBefore {
			exec.Command("deluser", "--quiet", "--system", "cairn").Run()
			exec.Command("delgroup", "--quiet", "--system", "cairn").Run()
		}
	})

	run("dpkg", "-i", deb)
	for path, mode := range map[string]os.FileMode{
		"/usr/bin/cairn":                      0o755,
		"/etc/cairn/cairn.toml":               0o644,
		"/lib/systemd/system/cairn.service":   0o644,
		"/usr/share/doc/cairn/copyright":      0o644,
		"/usr/share/doc/cairn/changelog.gz":   0o644,
		"/usr/share/doc/cairn/operations.md":  0o644,
		"/usr/share/lintian/overrides/cairn":  0o644,
		"/usr/share/man/man1/cairn.1.gz":      0o644,
		"/usr/share/man/man5/cairn.toml.5.gz": 0o644,
		"/var/lib/cairn":                      os.ModeDir | 0o700,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Errorf("installed: %v", err)
			continue
		}
		if fi.Mode()&(os.ModeDir|os.ModePerm) != mode {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), mode)
		}
	}
	u, err := user.Lookup("cairn")
	if err != nil {
		t.Fatalf("no cairn user: %v", err)
	}
	if fi, err := os.Stat("/var/lib/cairn"); err == nil {
		if st := fi.Sys().(*syscall.Stat_t); u.Uid != strconv.FormatUint(uint64(st.Uid), 10) {
			t.Errorf("/var/lib/cairn owned by uid %d, want cairn (%s)", st.Uid, u.Uid)
		}
	}
	groups, _ := u.GroupIds()
	dialout, err := user.LookupGroup("dialout")
	if err != nil || !slices.Contains(groups, dialout.Gid) {
		t.Errorf("cairn not in dialout: groups %v", groups)
	}
	if conf := run("dpkg-query", "-W", "-f", "${Conffiles}", "cairn"); !strings.Contains(conf, "/etc/cairn/cairn.toml") {
		t.Errorf("/etc/cairn/cairn.toml is not a conffile: %q", conf)
	}
	if out := run("/usr/bin/cairn", "config", "check", "/etc/cairn/cairn.toml"); !strings.Contains(out, "ok") {
		t.Errorf("config check: %s", out)
	}
	if b, _ := os.ReadFile("/etc/cairn/cairn.toml"); !strings.Contains(string(b), `data_dir = "/var/lib/cairn"`) {
		t.Error(`shipped config lacks data_dir = "/var/lib/cairn"`)
	}

	// The installed relay runs as its user on the shipped config.
	p := exec.Command("/usr/bin/cairn", "relay", "--config", "/etc/cairn/cairn.toml",
		"--mqtt", "127.0.0.1:0", "--http", "127.0.0.1:0", "--discovery", "off")
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	var gids []uint32
	for _, g := range groups {
		n, _ := strconv.ParseUint(g, 10, 32)
		gids = append(gids, uint32(n))
	}
	p.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: gids}}
	log := new(relaytest.LogBuffer)
	p.Stdout, p.Stderr = log, log
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(startTimeout)
	for !strings.Contains(log.String(), "relay serving") {
		if time.Now().After(deadline) {
			p.Process.Kill()
			p.Wait()
			t.Fatalf("installed relay did not serve:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Process.Signal(syscall.SIGTERM)
	if err := p.Wait(); err != nil {
		t.Errorf("installed relay: %v\n%s", err, log)
	}
	if _, err := os.Stat("/var/lib/cairn/relay-key"); err != nil {
		t.Errorf("relay made no key in /var/lib/cairn: %v", err)
	}

	run("dpkg", "-r", "cairn")
	for _, gone := range []string{"/usr/bin/cairn", "/lib/systemd/system/cairn.service", "/usr/share/doc/cairn"} {
		if _, err := os.Stat(gone); err == nil {
			t.Errorf("%s left after dpkg -r", gone)
		}
	}
	for _, kept := range []string{"/etc/cairn/cairn.toml", "/var/lib/cairn/relay-key"} {
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("dpkg -r removed %s: %v", kept, err)
		}
	}
	run("dpkg", "-P", "cairn")
	for _, gone := range []string{"/etc/cairn", "/var/lib/cairn"} {
		if _, err := os.Stat(gone); err == nil {
			t.Errorf("%s left after dpkg -P", gone)
		}
	}
	if out, _ := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Status}", "cairn").Output(); len(out) > 0 && string(out) != "not-installed" {
		t.Errorf("after purge dpkg says %q", out)
	}
}
