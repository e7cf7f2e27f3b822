package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// Every command and subcommand that `cairn help` lists is in cairn(1), so
// the two cannot drift apart; groff finds nothing to warn about in it.
func TestManPageCoversHelp(t *testing.T) {
	page := readMan(t, "../../docs/man/cairn.1")
	out, errOut, code := runCairn(t, "help")
	if code != 0 {
		t.Fatalf("cairn help: exit %d: %s", code, errOut)
	}
	// "  store check|compact|export|import [--data DIR]  …": the command,
	// then subcommands joined by | up to the first flag or argument.
	line := regexp.MustCompile(`^  ([a-z]+)((?: [a-z]+(?:\|[a-z]+)*)?)(?:\s|$)`)
	commands := 0
	for _, l := range strings.Split(out, "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		commands++
		words := []string{m[1]}
		if m[2] != "" {
			words = append(words, strings.Split(strings.TrimSpace(m[2]), "|")...)
		}
		for _, w := range words {
			if !page.hasCm(w) {
				t.Errorf("cairn(1) has no .Cm %s (from %q in cairn help)", w, strings.TrimSpace(l))
			}
		}
		// Each command also has its own entry in DESCRIPTION.
		if !strings.Contains(page.text, "\n.It Cm "+m[1]) {
			t.Errorf("cairn(1) has no .It Cm %s entry", m[1])
		}
	}
	if commands < 10 {
		t.Fatalf("found only %d commands in cairn help:\n%s", commands, out)
	}
	lintMan(t, "../../docs/man/cairn.1")
}

// Every key of configs/cairn.toml (commented-out [[uplink]] and [[radio]]
// keys included) has an entry in cairn.toml(5).
func TestManPageCoversConfig(t *testing.T) {
	page := readMan(t, "../../docs/man/cairn.toml.5")
	conf, err := os.ReadFile("../../configs/cairn.toml")
	if err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`^(?:# )?([a-z_]+) = `)
	sections := regexp.MustCompile(`^(?:# )?(\[\[?[a-z]+\]\]?)$`)
	section := ""
	n := 0
	for _, l := range strings.Split(string(conf), "\n") {
		if m := sections.FindStringSubmatch(l); m != nil {
			section = m[1]
			if !strings.Contains(page.text, ".Ss "+section+"\n") {
				t.Errorf("cairn.toml(5) has no section %s", section)
			}
			continue
		}
		m := key.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n++
		if !page.hasIc(m[1]) {
			t.Errorf("cairn.toml(5) has no entry for %s %s", section, m[1])
		}
	}
	if n < 40 {
		t.Fatalf("found only %d keys in configs/cairn.toml", n)
	}
	lintMan(t, "../../docs/man/cairn.toml.5")
}

type manPage struct{ text string }

func readMan(t *testing.T, path string) manPage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return manPage{string(b)}
}

// hasCm reports whether word is a command (.Cm) anywhere in the page.
func (p manPage) hasCm(word string) bool {
	return p.macroArg("Cm", word)
}

// hasIc reports whether key starts an entry (.It Ic key …) of the page.
func (p manPage) hasIc(key string) bool {
	for _, l := range strings.Split(p.text, "\n") {
		if !strings.HasPrefix(l, ".It Ic ") {
			continue
		}
		for _, f := range strings.Fields(strings.TrimPrefix(l, ".It Ic ")) {
			if f == "No" {
				break
			}
			if f == key {
				return true
			}
		}
	}
	return false
}

// macroArg reports whether some line calls macro with word among the
// arguments that follow it (up to the next macro name).
func (p manPage) macroArg(macro, word string) bool {
	for _, l := range strings.Split(p.text, "\n") {
		if !strings.HasPrefix(l, ".") {
			continue
		}
		fields := strings.Fields(strings.TrimPrefix(l, "."))
		in := false
		for _, f := range fields {
			switch {
			case f == macro:
				in = true
			case len(f) == 2 && f[0] >= 'A' && f[0] <= 'Z' && f[1] >= 'a' && f[1] <= 'z':
				in = false // another macro
			case in && f == word:
				return true
			}
		}
	}
	return false
}

// lintMan formats the page with groff's warnings on, where groff is
// installed; lintian checks it again in the .deb (make deb-check).
func lintMan(t *testing.T, path string) {
	t.Helper()
	if _, err := exec.LookPath("groff"); err != nil {
		t.Logf("groff not installed: %s not linted here", path)
		return
	}
	out, err := exec.Command("groff", "-mandoc", "-ww", "-z", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("groff -ww %s: %v\n%s", path, err, out)
	}
}
