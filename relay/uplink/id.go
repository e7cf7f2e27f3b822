package uplink

import (
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

// relayIDFile holds the relay id in the data directory: 12 lower-case hex
// digits, made once at random. Brokers see it in client ids, so it names
// this relay's persistent sessions for as long as the data directory lives.
const relayIDFile = "relay-id"

// RelayID returns the relay id kept in dir, creating it if there is none.
func RelayID(dir string) (string, error) {
	path := filepath.Join(dir, relayIDFile)
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if _, herr := hex.DecodeString(id); herr != nil || len(id) != 12 {
			return "", fmt.Errorf("relay id in %s: %q is not 12 hex digits", path, id)
		}
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading relay id: %w", err)
	}
	var raw [6]byte
	rand.Read(raw[:])
	id := hex.EncodeToString(raw[:])
	if err := atomicfile.Write(path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("writing relay id: %w", err)
	}
	return id, nil
}
