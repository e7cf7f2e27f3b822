package client

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/ratchet"
)

// Keystore file format (docs/crypto.md, "Keystore"):
//
//	[ "cairn/keystore", 1, kdf, nonce, data ]
//	kdf   = null, or [1 (scrypt), salt (16), log2 N, r, p]
//	nonce = empty, or 24 bytes (XChaCha20-Poly1305)
//	data  = the state, or its XChaCha20-Poly1305 sealing under the scrypt key
//	        with the encoding of the first four items (data empty) as
//	        associated data
const (
	keystoreName    = "keystore"
	keystoreMagic   = "cairn/keystore"
	keystoreVersion = 1
	kdfScrypt       = 1
	saltSize        = 16
)

// Implementation limits.
const (
	// maxKeystoreBytes bounds what OpenKeystore reads. Sessions are at most
	// 128 KiB each (ratchet), a handful per contact.
	maxKeystoreBytes = 64 << 20
	// maxSessionsPerContact is how many sessions with one peer are kept,
	// most recently used first. A second one appears when both sides set up
	// a session at once, or a peer reinstalls; the oldest is dropped.
	maxSessionsPerContact = 3
	// initialOneTimePrekeys is how many one-time prekeys a new identity
	// makes; refillBelow and refillTo keep the stock up as they are used.
	initialOneTimePrekeys = 20
	refillBelow           = 5
	refillTo              = 20
	// maxScryptLogN refuses work factors a keystore could use to make
	// opening take minutes.
	maxScryptLogN = 22
)

// scrypt parameters for new keystores: N = 2^15, r = 8, p = 1 is 32 MiB and
// about 0.1 s on a desktop, ~0.5 s on a Pi 4 (the 2017 interactive
// recommendation in the scrypt paper's update; age uses 2^18 for files
// opened rarely — a handheld opens its keystore on every command). Tests
// lower it.
var scryptLogN uint8 = 15

const scryptR, scryptP = 8, 1

// Errors that callers branch on; returned wrapped with detail.
var (
	ErrNoKeystore       = errors.New("no keystore")
	ErrKeystoreExists   = errors.New("keystore already exists")
	ErrPassphraseNeeded = errors.New("keystore is encrypted and no passphrase was given")
	ErrWrongPassphrase  = errors.New("wrong passphrase or damaged keystore")
	ErrBadKeystore      = errors.New("bad keystore")
	ErrInsecure         = errors.New("keystore is readable by others")
	ErrInUse            = errors.New("keystore in use by another process")
)

type keystoreFile struct {
	_       struct{} `cbor:",toarray"`
	Magic   string
	Version uint
	KDF     *kdfParams
	Nonce   []byte
	Data    []byte
}

type kdfParams struct {
	_    struct{} `cbor:",toarray"`
	Alg  uint
	Salt []byte
	LogN uint8
	R, P uint32
}

// state is the keystore's plaintext, a CBOR map with small integer keys so
// that fields can be added.
type state struct {
	Identity   []byte      `cbor:"1,keyasint"` // Ed25519 seed
	Prekeys    []byte      `cbor:"2,keyasint"` // (*ratchet.Prekeys).Marshal
	Contacts   []contactV1 `cbor:"3,keyasint"`
	AuthMillis uint64      `cbor:"4,keyasint"` // stamp of the last auth token made
	Seen       []byte      `cbor:"5,keyasint"` // ids of handled envelopes, 16 bytes each, oldest first
}

type contactV1 struct {
	Identity  []byte   `cbor:"1,keyasint"` // Ed25519 public key
	Name      string   `cbor:"2,keyasint,omitempty"`
	Unknown   bool     `cbor:"3,keyasint,omitempty"`
	Classical bool     `cbor:"4,keyasint,omitempty"`
	Bundle    []byte   `cbor:"5,keyasint,omitempty"` // (*ratchet.Bundle).Encode
	Sessions  [][]byte `cbor:"6,keyasint,omitempty"` // (*ratchet.Session).Marshal, most recently used first
}

var (
	encMode, _ = cbor.CoreDetEncOptions().EncMode()
	decMode, _ = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		MaxArrayElements: 1 << 20,
	}.DecMode()
)

// Keystore is an identity with its prekeys, contacts, sessions and the
// client's small bookkeeping, held in one file in a home directory (or in
// another Storage) and rewritten crash-safely after every change. The zero
// value is not usable; make one with CreateKeystore or OpenKeystore (or
// CreateKeystoreIn, OpenKeystoreIn) and Close it. Safe for
// concurrent use; the methods of Client take the same lock.
type Keystore struct {
	home string  // "" unless in a home directory
	st   Storage // where the encoded keystore lives; used under mu, not after Close

	mu         sync.Mutex // guards everything below
	key        []byte     // XChaCha20-Poly1305 key; nil when not encrypted
	kdf        *kdfParams
	id         *ratchet.Identity
	prekeys    *ratchet.Prekeys
	contacts   []*contact
	authMillis uint64
	seen       seenSet
	closed     bool
}

// contact is a peer: its identity, what the user calls it, what we know of
// its prekeys and our sessions with it.
type contact struct {
	pub       ratchet.PublicIdentity
	name      string
	unknown   bool // added because it wrote to us, not by the user
	classical bool // set up sessions without ML-KEM
	bundle    *ratchet.Bundle
	sessions  []*ratchet.Session // most recently used first
}

// CreateKeystore makes home (mode 0700) if needed and a new identity in it,
// encrypted under passphrase unless passphrase is empty. It refuses to
// overwrite an existing keystore.
func CreateKeystore(home string, passphrase []byte) (*Keystore, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("creating home: %w", err)
	}
	st, err := openDirStorage(home)
	if err != nil {
		return nil, err
	}
	if _, err := os.Lstat(st.path()); err == nil {
		st.Close()
		return nil, fmt.Errorf("%w: %s", ErrKeystoreExists, st.path())
	}
	ks, err := CreateKeystoreIn(st, passphrase)
	if err != nil {
		return nil, err
	}
	ks.home = home
	return ks, nil
}

// CreateKeystoreIn makes a new identity and saves it in st, encrypted under
// passphrase unless passphrase is empty. It refuses a Storage that already
// holds something. The keystore owns st from then on, and closes it, on
// failure too.
func CreateKeystoreIn(st Storage, passphrase []byte) (*Keystore, error) {
	if _, err := st.Load(); !errors.Is(err, fs.ErrNotExist) {
		st.Close()
		if err == nil {
			err = ErrKeystoreExists
		}
		return nil, err
	}
	ks := &Keystore{st: st}
	var err error
	if ks.id, err = ratchet.GenerateIdentity(); err == nil {
		ks.prekeys, err = ratchet.NewPrekeys(initialOneTimePrekeys)
	}
	if err == nil && len(passphrase) > 0 {
		err = ks.setPassphrase(passphrase)
	}
	if err == nil {
		err = ks.save()
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return ks, nil
}

func (ks *Keystore) setPassphrase(passphrase []byte) error {
	p := &kdfParams{Alg: kdfScrypt, Salt: make([]byte, saltSize), LogN: scryptLogN, R: scryptR, P: scryptP}
	if _, err := rand.Read(p.Salt); err != nil {
		return err
	}
	key, err := deriveKey(passphrase, p)
	if err != nil {
		return err
	}
	ks.kdf, ks.key = p, key
	return nil
}

func deriveKey(passphrase []byte, p *kdfParams) ([]byte, error) {
	if p.Alg != kdfScrypt || len(p.Salt) != saltSize || p.LogN < 10 || p.LogN > maxScryptLogN || p.R < 1 || p.R > 32 || p.P < 1 || p.P > 16 {
		return nil, fmt.Errorf("%w: key derivation parameters out of range", ErrBadKeystore)
	}
	key, err := scrypt.Key(passphrase, p.Salt, 1<<p.LogN, int(p.R), int(p.P), chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("deriving key: %w", err)
	}
	return key, nil
}

// OpenKeystore opens the keystore in home. passphrase is needed, and used,
// only if it is encrypted.
func OpenKeystore(home string, passphrase []byte) (*Keystore, error) {
	if _, err := os.Stat(home); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNoKeystore, home)
	}
	st, err := openDirStorage(home)
	if err != nil {
		return nil, err
	}
	ks, err := OpenKeystoreIn(st, passphrase)
	if err != nil {
		return nil, err
	}
	ks.home = home
	return ks, nil
}

// OpenKeystoreIn opens the keystore held in st; ErrNoKeystore when st holds
// none. passphrase is needed, and used, only if it is encrypted. The
// keystore owns st from then on, and closes it, on failure too.
func OpenKeystoreIn(st Storage, passphrase []byte) (*Keystore, error) {
	ks := &Keystore{st: st}
	if err := ks.load(passphrase); err != nil {
		st.Close()
		return nil, err
	}
	return ks, nil
}

func (ks *Keystore) load(passphrase []byte) error {
	raw, err := ks.st.Load()
	if errors.Is(err, fs.ErrNotExist) && !errors.Is(err, ErrNoKeystore) {
		return fmt.Errorf("%w: %w", ErrNoKeystore, err)
	}
	if err != nil {
		return err
	}
	if len(raw) > maxKeystoreBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrBadKeystore, len(raw), maxKeystoreBytes)
	}
	var kf keystoreFile
	if err := decMode.Unmarshal(raw, &kf); err != nil {
		return fmt.Errorf("%w: %v", ErrBadKeystore, err)
	}
	if kf.Magic != keystoreMagic || kf.Version != keystoreVersion {
		return fmt.Errorf("%w: not a version %d Cairn keystore", ErrBadKeystore, keystoreVersion)
	}
	data := kf.Data
	if kf.KDF != nil {
		if len(passphrase) == 0 {
			return ErrPassphraseNeeded
		}
		key, err := deriveKey(passphrase, kf.KDF)
		if err != nil {
			return err
		}
		aead, _ := chacha20poly1305.NewX(key)
		if len(kf.Nonce) != aead.NonceSize() {
			return fmt.Errorf("%w: nonce of %d bytes", ErrBadKeystore, len(kf.Nonce))
		}
		data, err = aead.Open(nil, kf.Nonce, kf.Data, associatedData(&kf))
		if err != nil {
			return ErrWrongPassphrase
		}
		ks.kdf, ks.key = kf.KDF, key
	}
	return ks.decodeState(data)
}

// associatedData binds the header (format, KDF parameters, nonce) to the
// ciphertext.
func associatedData(kf *keystoreFile) []byte {
	h := *kf
	h.Data = []byte{}
	b, err := encMode.Marshal(&h)
	if err != nil {
		panic("client: encoding keystore header: " + err.Error())
	}
	return b
}

func (ks *Keystore) decodeState(data []byte) error {
	var st state
	if err := decMode.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("%w: state: %v", ErrBadKeystore, err)
	}
	var err error
	if ks.id, err = ratchet.ParseIdentity(st.Identity); err != nil {
		return fmt.Errorf("%w: %w", ErrBadKeystore, err)
	}
	if ks.prekeys, err = ratchet.UnmarshalPrekeys(st.Prekeys); err != nil {
		return fmt.Errorf("%w: %w", ErrBadKeystore, err)
	}
	for i, cv := range st.Contacts {
		c, err := decodeContact(&cv)
		if err != nil {
			return fmt.Errorf("%w: contact %d: %w", ErrBadKeystore, i, err)
		}
		ks.contacts = append(ks.contacts, c)
	}
	ks.authMillis = st.AuthMillis
	if len(st.Seen)%codec.IDSize != 0 {
		return fmt.Errorf("%w: seen ids of %d bytes", ErrBadKeystore, len(st.Seen))
	}
	for b := st.Seen; len(b) > 0; b = b[codec.IDSize:] {
		ks.seen.add(codec.ID(b[:codec.IDSize]))
	}
	return nil
}

func decodeContact(cv *contactV1) (*contact, error) {
	pub, err := ratchet.NewPublicIdentity(cv.Identity)
	if err != nil {
		return nil, err
	}
	c := &contact{pub: pub, name: cv.Name, unknown: cv.Unknown, classical: cv.Classical}
	if len(cv.Bundle) > 0 {
		if c.bundle, err = ratchet.ParseBundle(cv.Bundle); err != nil {
			return nil, err
		}
	}
	if len(cv.Sessions) > maxSessionsPerContact {
		return nil, fmt.Errorf("%d sessions, limit %d", len(cv.Sessions), maxSessionsPerContact)
	}
	for _, sb := range cv.Sessions {
		s, err := ratchet.UnmarshalSession(sb)
		if err != nil {
			return nil, err
		}
		c.sessions = append(c.sessions, s)
	}
	return c, nil
}

func (ks *Keystore) encodeState() []byte {
	st := state{
		Identity:   ks.id.Bytes(),
		Prekeys:    ks.prekeys.Marshal(),
		AuthMillis: ks.authMillis,
		Seen:       ks.seen.bytes(),
		Contacts:   make([]contactV1, 0, len(ks.contacts)),
	}
	for _, c := range ks.contacts {
		cv := contactV1{Identity: c.pub.SigningKey(), Name: c.name, Unknown: c.unknown, Classical: c.classical}
		if c.bundle != nil {
			cv.Bundle = c.bundle.Encode()
		}
		for _, s := range c.sessions {
			cv.Sessions = append(cv.Sessions, s.Marshal())
		}
		st.Contacts = append(st.Contacts, cv)
	}
	b, err := encMode.Marshal(&st)
	if err != nil {
		panic("client: encoding keystore state: " + err.Error())
	}
	return b
}

// save writes the keystore crash-safely. ks.mu must be held (or ks not yet
// shared).
func (ks *Keystore) save() error {
	if ks.closed {
		return errors.New("keystore closed")
	}
	kf := keystoreFile{Magic: keystoreMagic, Version: keystoreVersion, KDF: ks.kdf, Nonce: []byte{}}
	data := ks.encodeState()
	if ks.key != nil {
		aead, _ := chacha20poly1305.NewX(ks.key)
		kf.Nonce = make([]byte, aead.NonceSize())
		if _, err := rand.Read(kf.Nonce); err != nil {
			return err
		}
		data = aead.Seal(nil, kf.Nonce, data, associatedData(&kf))
	}
	kf.Data = data
	b, err := encMode.Marshal(&kf)
	if err != nil {
		panic("client: encoding keystore: " + err.Error())
	}
	if err := ks.st.Save(b); err != nil {
		return fmt.Errorf("saving keystore: %w", err)
	}
	return nil
}

// Close releases the keystore's storage (the home directory's lock). It
// does not write: every change was written when it was made.
func (ks *Keystore) Close() error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.closed {
		return nil
	}
	ks.closed = true
	return ks.st.Close()
}

// Home returns the keystore's directory, "" for one in another Storage.
func (ks *Keystore) Home() string { return ks.home }

// Identity returns the identity.
func (ks *Keystore) Identity() *ratchet.Identity { return ks.id }

// DID returns the identity's did:key, the user's address.
func (ks *Keystore) DID() string { return ks.id.Public().DID() }

// Encrypted reports whether the keystore is protected by a passphrase.
func (ks *Keystore) Encrypted() bool {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.key != nil
}

// Bundle returns the current prekey bundle, with the ML-KEM prekey and the
// one-time prekeys left: what a bundle request is answered with.
func (ks *Keystore) Bundle() *ratchet.Bundle {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.prekeys.Bundle(ks.id)
}

// Card returns the identity's contact card (see EncodeCard).
func (ks *Keystore) Card() string { return EncodeCard(ks.Bundle()) }

// NextAuthStamp returns the time for a new MQTT auth token: now in Unix
// milliseconds, or one more than the last one made, whichever is larger, and
// records it before returning. Relays accept only increasing stamps, so a
// clock that goes backwards (a Pi without RTC) still yields tokens they take.
func (ks *Keystore) NextAuthStamp(now time.Time) (uint64, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	stamp := max(uint64(max(now.UnixMilli(), 0)), ks.authMillis+1)
	old := ks.authMillis
	ks.authMillis = stamp
	if err := ks.save(); err != nil {
		ks.authMillis = old
		return 0, err
	}
	return stamp, nil
}

// refillPrekeys adds one-time prekeys when few are left. ks.mu held.
func (ks *Keystore) refillPrekeys() {
	if n := ks.prekeys.OneTimeCount(); n < refillBelow {
		ks.prekeys.AddOneTime(min(refillTo-n, ratchet.MaxOneTimePrekeys-n))
	}
}

func (c *contact) addSession(s *ratchet.Session) {
	c.sessions = slices.Insert(c.sessions, 0, s)
	if len(c.sessions) > maxSessionsPerContact {
		c.sessions = c.sessions[:maxSessionsPerContact]
	}
}
