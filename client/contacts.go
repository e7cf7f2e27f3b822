package client

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/ratchet"
)

// Contact describes a peer in the keystore.
type Contact struct {
	DID       string
	Name      string // the user's name for it; may be empty
	Tag       codec.Tag
	Unknown   bool // added because it wrote first: its identity is not confirmed by the user
	Classical bool // sessions are set up without ML-KEM
	HasBundle bool // we hold a verified prekey bundle (from a card or a relay)
	HasKEM    bool // the bundle has an ML-KEM prekey
	Sessions  int
}

// ErrNoContact is returned, wrapped, when a name or did:key is not a contact.
var ErrNoContact = errors.New("no such contact")

func (c *contact) info() Contact {
	return Contact{
		DID: c.pub.DID(), Name: c.name, Tag: c.pub.Tag(), Unknown: c.unknown, Classical: c.classical,
		HasBundle: c.bundle != nil, HasKEM: c.bundle != nil && c.bundle.HasKEM(), Sessions: len(c.sessions),
	}
}

// Label is the contact's name, or a short form of its did:key.
func (c Contact) Label() string {
	if c.Name != "" {
		return c.Name
	}
	return ShortDID(c.DID)
}

// ShortDID abbreviates a did:key for display: "did:key:z6Mk…" and the last
// 6 characters.
func ShortDID(did string) string {
	if len(did) < 20 {
		return did
	}
	return did[:14] + "…" + did[len(did)-6:]
}

// Contacts returns the contacts in the order they were added.
func (ks *Keystore) Contacts() []Contact {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	out := make([]Contact, len(ks.contacts))
	for i, c := range ks.contacts {
		out[i] = c.info()
	}
	return out
}

// Contact finds a contact by did:key or name.
func (ks *Keystore) Contact(ref string) (Contact, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	c := ks.lookup(ref)
	if c == nil {
		return Contact{}, fmt.Errorf("%w: %q", ErrNoContact, ref)
	}
	return c.info(), nil
}

// lookup finds a contact by did:key or name. ks.mu held.
func (ks *Keystore) lookup(ref string) *contact {
	for _, c := range ks.contacts {
		if c.pub.DID() == ref || c.name != "" && c.name == ref {
			return c
		}
	}
	return nil
}

func (ks *Keystore) byIdentity(p ratchet.PublicIdentity) *contact {
	for _, c := range ks.contacts {
		if c.pub == p {
			return c
		}
	}
	return nil
}

// AddContact adds or updates a contact from a contact card (see
// DecodeCard) or a did:key. A card brings a verified bundle, enough to write
// first; a bare did:key needs the bundle fetched through a relay before the
// first message (Client.FetchBundle; Client.Send does it). name may be
// empty; it must not be another contact's. classical sets sessions up
// without ML-KEM (for contacts reached over LoRa alone). Adding a contact
// that wrote first confirms it: it is no longer Unknown.
func (ks *Keystore) AddContact(ref, name string, classical bool) (Contact, error) {
	ref = strings.TrimSpace(ref)
	var (
		pub    ratchet.PublicIdentity
		bundle *ratchet.Bundle
		err    error
	)
	switch {
	case strings.HasPrefix(ref, CardPrefix):
		if bundle, err = DecodeCard(ref); err != nil {
			return Contact{}, err
		}
		pub = bundle.Identity
	case strings.HasPrefix(ref, "did:"):
		if pub, err = ratchet.ParsePublicIdentity(ref); err != nil {
			return Contact{}, err
		}
	default:
		return Contact{}, fmt.Errorf("%w: want a contact card (%s…) or a did:key (did:key:z6Mk…)", ErrBadCard, CardPrefix)
	}
	if strings.HasPrefix(name, "did:") || strings.HasPrefix(name, CardPrefix) {
		return Contact{}, fmt.Errorf("a name may not start with did: or %s", CardPrefix)
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if pub == ks.id.Public() {
		return Contact{}, errors.New("that is this keystore's own identity")
	}
	if name != "" {
		if other := ks.lookup(name); other != nil && other.pub != pub {
			return Contact{}, fmt.Errorf("the name %q is taken by %s", name, other.pub.DID())
		}
	}
	c := ks.byIdentity(pub)
	if c == nil {
		c = &contact{pub: pub}
		ks.contacts = append(ks.contacts, c)
	}
	c.unknown = false
	c.classical = c.classical || classical
	if name != "" {
		c.name = name
	}
	// A card never replaces a fetched bundle of the same generation: that
	// one has the ML-KEM prekey.
	if bundle != nil && (c.bundle == nil || bundle.Generation > c.bundle.Generation) {
		c.bundle = bundle
	}
	if err := ks.save(); err != nil {
		return Contact{}, err
	}
	return c.info(), nil
}
