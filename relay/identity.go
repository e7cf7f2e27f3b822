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

	"github.com/cairnmesh/cairn/relay/internal/atomicfile"
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
	if err := atomicfile.Write(path, []byte(hex.EncodeToString(seed)+"\n")); err != nil {
		return nil, fmt.Errorf("writing relay key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// DID is the relay's did:key.
func (r *Relay) DID() string { return r.did }
