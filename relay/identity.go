package relay

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// relayKeyFile holds the relay's identity key in the data directory: the
// 32-byte Ed25519 seed as 64 lower-case hex digits, mode 0600, made once
// at random. Its did:key names the relay in discovery (TXT "did") and on
// the status page. It opens no message and signs nothing yet: a relay holds
// no keys that open messages (DESIGN.md). It lives beside relay-id (the
// uplink's client-id stem, uplink.RelayID), which stays as it is.
const relayKeyFile = "relay-key"

// loadRelayKey returns the key kept in dir, creating it if there is none.
func loadRelayKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, relayKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		seed, herr := hex.DecodeString(strings.TrimSpace(string(b)))
		if herr != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("relay key in %s: not %d hex digits", path, 2*ed25519.SeedSize)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading relay key: %w", err)
	}
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	if err := writeFileAtomic(path, []byte(hex.EncodeToString(seed)+"\n")); err != nil {
		return nil, fmt.Errorf("writing relay key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// writeFileAtomic replaces path with data (mode 0600) so that a crash
// leaves either the old file or the new one: temporary file, fsync,
// rename, fsync directory.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// DID is the relay's did:key.
func (r *Relay) DID() string { return r.did }
