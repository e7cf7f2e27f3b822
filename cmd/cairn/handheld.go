package main

// Flags and errors shared by the handheld subcommands (id, contact, send,
// inbox, chat): which keystore (--home, CAIRN_HOME, ~/.cairn), which relay
// (--relay), and error messages that say what to do.

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/cairnmesh/cairn/client"
)

type handheldFlags struct {
	home  *string
	relay *string
}

func addHomeFlag(fs *flag.FlagSet) *handheldFlags {
	return &handheldFlags{home: fs.String("home", "", "keystore `directory` (default $CAIRN_HOME, else ~/.cairn)")}
}

func addRelayFlags(fs *flag.FlagSet) *handheldFlags {
	h := addHomeFlag(fs)
	h.relay = fs.String("relay", client.DefaultRelay, "relay `address`, mqtt://host:port")
	return h
}

func (h *handheldFlags) homeDir() (string, error) {
	if *h.home != "" {
		return *h.home, nil
	}
	if env := os.Getenv("CAIRN_HOME"); env != "" {
		return env, nil
	}
	u, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory (%v): give --home DIR or set CAIRN_HOME", err)
	}
	return filepath.Join(u, ".cairn"), nil
}

// passphrase is CAIRN_PASSPHRASE, the only way to give one (a flag would
// show in ps).
func passphrase() []byte { return []byte(os.Getenv("CAIRN_PASSPHRASE")) }

func (h *handheldFlags) open() (*client.Keystore, error) {
	home, err := h.homeDir()
	if err != nil {
		return nil, err
	}
	ks, err := client.OpenKeystore(home, passphrase())
	return ks, explain(err, home)
}

// explain adds what to do to the errors a user can fix.
func explain(err error, home string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, client.ErrNoKeystore):
		return fmt.Errorf("%w: create an identity with `cairn id new --home %s`, or pick another with --home DIR", err, home)
	case errors.Is(err, client.ErrKeystoreExists):
		return fmt.Errorf("%w: `cairn id show --home %s` shows it; pick another directory with --home DIR for a second identity", err, home)
	case errors.Is(err, client.ErrPassphraseNeeded):
		return fmt.Errorf("%w: set CAIRN_PASSPHRASE", err)
	case errors.Is(err, client.ErrWrongPassphrase):
		return fmt.Errorf("%w: check CAIRN_PASSPHRASE", err)
	case errors.Is(err, client.ErrInsecure):
		return fmt.Errorf("%w: run chmod 600 %s (and check who else may have read it)", err, filepath.Join(home, "keystore"))
	case errors.Is(err, client.ErrInUse):
		return fmt.Errorf("%w: another cairn (chat or inbox --follow?) has it open; stop it first", err)
	case errors.Is(err, client.ErrRelay):
		return fmt.Errorf("%w: is `cairn relay` running there? pick a relay with --relay mqtt://host:port", err)
	case errors.Is(err, client.ErrNoContact):
		return fmt.Errorf("%w: add it with `cairn contact add CARD|DID --name NAME` (`cairn contact list` shows contacts)", err)
	case errors.Is(err, client.ErrBadCard):
		return fmt.Errorf("%w: a card is the cairn1:… line `cairn id show` prints", err)
	}
	return err
}

func (h *handheldFlags) clientOptions() *client.Options {
	return &client.Options{
		Relay:  *h.relay,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// parseInterspersed parses flags wherever they appear among the
// positional arguments ("send bob hi --urgent") and returns the positional
// ones. Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, rest = args[:i], args[i+1:]
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if args = fs.Args(); len(args) == 0 {
			return append(pos, rest...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// printable replaces control characters in text from the network, so a
// message cannot move the cursor or rewrite the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || unicode.IsPrint(r) {
			return r
		}
		return '\uFFFD'
	}, s)
}
