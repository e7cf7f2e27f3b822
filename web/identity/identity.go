// Package identity holds the web client's one identity: the keystore that
// the page (web/wasm) creates, unlocks or finds open, kept in one stored
// record (IndexedDB in the browser; docs/web.md).
//
// Opening is serialized and the keystore once open is kept: two Keystores
// over the same record would each save their own state over the other's,
// losing ratchet steps, and two creates would make two identities. A
// double click, or an unlock while the keystore is open, must not do that.
package identity

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cairnmesh/cairn/client"
)

// What State reports.
const (
	None   = "none"   // no identity stored yet: Create one
	Locked = "locked" // one under a passphrase: Unlock it
	Open   = "open"   // open: Keystore returns it
)

// Slot holds at most one open keystore over one stored record. Its zero
// value is not usable (see New); it is safe for concurrent use.
type Slot struct {
	storage func() client.Storage // a new handle on the record, one per open attempt

	opening sync.Mutex // serializes State, Create and Unlock

	mu sync.Mutex       // guards ks
	ks *client.Keystore // nil until opened; then kept for the page's life
}

// New returns a Slot over the record that storage gives handles on; each
// attempt to open takes a new handle, which the keystore owns (and closes
// if the attempt fails).
func New(storage func() client.Storage) *Slot {
	return &Slot{storage: storage}
}

// Keystore returns the open keystore, or nil when none is open yet. It
// does not wait for an open in progress.
func (s *Slot) Keystore() *client.Keystore {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ks
}

func (s *Slot) set(ks *client.Keystore) {
	s.mu.Lock()
	s.ks = ks
	s.mu.Unlock()
}

// State reports None, Locked or Open; a stored identity without a
// passphrase is opened on the way.
func (s *Slot) State() (string, error) {
	s.opening.Lock()
	defer s.opening.Unlock()
	if s.Keystore() != nil {
		return Open, nil
	}
	ks, err := client.OpenKeystoreIn(s.storage(), nil)
	switch {
	case errors.Is(err, client.ErrNoKeystore):
		return None, nil
	case errors.Is(err, client.ErrPassphraseNeeded):
		return Locked, nil
	case err != nil:
		return "", err
	}
	s.set(ks)
	return Open, nil
}

// Create makes a new identity, under passphrase unless it is empty, and
// opens it. It refuses (client.ErrKeystoreExists) when one is open or
// stored.
func (s *Slot) Create(passphrase []byte) (*client.Keystore, error) {
	s.opening.Lock()
	defer s.opening.Unlock()
	if s.Keystore() != nil {
		return nil, fmt.Errorf("%w: an identity is open", client.ErrKeystoreExists)
	}
	ks, err := client.CreateKeystoreIn(s.storage(), passphrase)
	if err != nil {
		return nil, err
	}
	s.set(ks)
	return ks, nil
}

// Unlock opens the stored identity with passphrase. When it is open
// already it returns that keystore, without checking passphrase: this
// page holds the keys anyway, and a second keystore must not be opened.
func (s *Slot) Unlock(passphrase []byte) (*client.Keystore, error) {
	s.opening.Lock()
	defer s.opening.Unlock()
	if ks := s.Keystore(); ks != nil {
		return ks, nil
	}
	ks, err := client.OpenKeystoreIn(s.storage(), passphrase)
	if err != nil {
		return nil, err
	}
	s.set(ks)
	return ks, nil
}
