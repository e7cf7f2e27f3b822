package ratchet

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/mlkem"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
)

// OneTimePrekey is a one-time X25519 prekey as published in a bundle.
type OneTimePrekey struct {
	ID  uint32
	Key [keySize]byte
}

// Bundle is a user's published prekey bundle (X3DH section 3.2, PQXDH
// section 3.2): the identity, a signed X25519 prekey, optionally a signed
// ML-KEM-768 prekey, and one-time X25519 prekeys. The signed prekey and the
// KEM prekey belong to one generation and are signed separately, so a
// bundle without its 1,184-byte KEM key (for a QR code or a LoRa-only
// contact) still verifies. One-time prekeys are not signed, as in X3DH.
//
// Wire format, a CBOR array in deterministic encoding:
//
//	[1, identity (32), generation, spk (32), spk sig (64),
//	 kem (1184 or empty), kem sig (64 or empty), [[id, key (32)], …]]
type Bundle struct {
	Identity        PublicIdentity
	Generation      uint32 // names the signed prekey and the KEM prekey
	SignedPrekey    [keySize]byte
	SignedPrekeySig [ed25519.SignatureSize]byte
	KEMPrekey       []byte // nil, or an ML-KEM-768 encapsulation key
	KEMPrekeySig    []byte // nil, or its signature
	OneTime         []OneTimePrekey
}

const bundleItems = 8

// HasKEM reports whether the bundle carries an ML-KEM prekey.
func (b *Bundle) HasKEM() bool { return b.KEMPrekey != nil }

// WithoutKEM returns a copy of the bundle without its ML-KEM prekey and
// without one-time prekeys: the least that sets up a classical session.
func (b *Bundle) WithoutKEM() *Bundle {
	c := *b
	c.KEMPrekey, c.KEMPrekeySig, c.OneTime = nil, nil, nil
	return &c
}

func signedPrekeyMessage(gen uint32, spk []byte) []byte {
	m := binary.BigEndian.AppendUint32([]byte(ctxSPK), gen)
	return append(m, spk...)
}

func kemPrekeyMessage(gen uint32, kem []byte) []byte {
	m := binary.BigEndian.AppendUint32([]byte(ctxKEM), gen)
	return append(m, kem...)
}

// Verify checks the signatures of the signed prekey and, if present, of the
// KEM prekey by the bundle's identity, and that the KEM key is well formed.
func (b *Bundle) Verify() error {
	pub := b.Identity.signing[:]
	if !ed25519.Verify(pub, signedPrekeyMessage(b.Generation, b.SignedPrekey[:]), b.SignedPrekeySig[:]) {
		return fmt.Errorf("%w: signed prekey", ErrBadSignature)
	}
	if (b.KEMPrekey == nil) != (b.KEMPrekeySig == nil) {
		return fmt.Errorf("%w: KEM prekey without signature or signature without key", ErrBadBundle)
	}
	if b.KEMPrekey != nil {
		if !ed25519.Verify(pub, kemPrekeyMessage(b.Generation, b.KEMPrekey), b.KEMPrekeySig) {
			return fmt.Errorf("%w: KEM prekey", ErrBadSignature)
		}
		if _, err := mlkem.NewEncapsulationKey768(b.KEMPrekey); err != nil {
			return fmt.Errorf("%w: KEM prekey: %v", ErrBadBundle, err)
		}
	}
	if len(b.OneTime) > MaxOneTimePrekeys {
		return fmt.Errorf("%w: %d one-time prekeys, limit %d", ErrBadBundle, len(b.OneTime), MaxOneTimePrekeys)
	}
	return nil
}

// Encode returns the bundle's wire form.
func (b *Bundle) Encode() []byte {
	var w cborWriter
	w.array(bundleItems)
	w.uint(wireVersion)
	w.bytes(b.Identity.signing[:])
	w.uint(uint64(b.Generation))
	w.bytes(b.SignedPrekey[:])
	w.bytes(b.SignedPrekeySig[:])
	w.bytes(b.KEMPrekey)
	w.bytes(b.KEMPrekeySig)
	w.array(len(b.OneTime))
	for _, o := range b.OneTime {
		w.array(2)
		w.uint(uint64(o.ID))
		w.bytes(o.Key[:])
	}
	return w.b
}

// ParseBundle decodes untrusted bytes into a bundle. It accepts only the
// exact encoding Encode produces, with every size checked; it does not
// check signatures (Verify does, and InitiateSession calls it).
func ParseBundle(data []byte) (*Bundle, error) {
	if len(data) > maxBundleBytes {
		return nil, fmt.Errorf("%w: bundle of %d bytes, limit %d", ErrTooLarge, len(data), maxBundleBytes)
	}
	r := cborReader{b: data}
	r.array(bundleItems, bundleItems)
	if v := r.uint(255); r.err == nil && v != wireVersion {
		return nil, fmt.Errorf("%w: version %d", ErrBadBundle, v)
	}
	b := &Bundle{}
	ik := r.bytes(ed25519.PublicKeySize)
	b.Generation = r.uint32()
	b.SignedPrekey = r.key()
	copy(b.SignedPrekeySig[:], r.bytes(ed25519.SignatureSize))
	if kem := r.bytes(0, kemKeySize); len(kem) > 0 {
		b.KEMPrekey = slices.Clone(kem)
	}
	if sig := r.bytes(0, ed25519.SignatureSize); len(sig) > 0 {
		b.KEMPrekeySig = slices.Clone(sig)
	}
	n := r.array(0, MaxOneTimePrekeys)
	for range n {
		r.array(2, 2)
		o := OneTimePrekey{ID: r.uint32(), Key: r.key()}
		b.OneTime = append(b.OneTime, o)
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadBundle, err)
	}
	id, err := NewPublicIdentity(ik)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadBundle, err)
	}
	b.Identity = id
	return b, nil
}

// Prekeys holds the private halves of a user's prekeys: the current
// generation of signed prekey and ML-KEM prekey, the previous generation
// (so that messages sent to a bundle fetched before a rotation still open),
// and the one-time prekeys not yet used. The zero value is not usable; make
// one with NewPrekeys. Persist it (Marshal) after every change: Rotate,
// AddOneTime, and AcceptSession, which consumes a one-time prekey.
type Prekeys struct {
	gens    []*generation // newest first, at most 2
	oneTime []oneTimeSecret
	nextID  uint32 // next one-time prekey id
}

type generation struct {
	id      uint32
	spk     *ecdh.PrivateKey
	kemSeed [kemSeedSize]byte
	kem     *mlkem.DecapsulationKey768
}

type oneTimeSecret struct {
	id  uint32
	key *ecdh.PrivateKey
}

// NewPrekeys returns fresh prekeys: one generation and n one-time prekeys
// (at most MaxOneTimePrekeys).
func NewPrekeys(n int) (*Prekeys, error) {
	pk := &Prekeys{}
	if err := pk.Rotate(); err != nil {
		return nil, err
	}
	if err := pk.AddOneTime(n); err != nil {
		return nil, err
	}
	return pk, nil
}

func newGeneration(id uint32) (*generation, error) {
	g := &generation{id: id}
	var err error
	if g.spk, err = newX25519Key(); err != nil {
		return nil, err
	}
	if _, err := rand.Read(g.kemSeed[:]); err != nil {
		return nil, fmt.Errorf("generating ML-KEM key: %w", err)
	}
	if g.kem, err = mlkem.NewDecapsulationKey768(g.kemSeed[:]); err != nil {
		return nil, fmt.Errorf("generating ML-KEM key: %w", err)
	}
	return g, nil
}

// Rotate starts a new generation of signed prekey and KEM prekey, keeps the
// current one as the previous, and deletes the one before. Signal suggests
// rotating weekly or monthly; sessions set up with a deleted generation are
// not affected, but messages that set up new ones with it no longer open.
func (pk *Prekeys) Rotate() error {
	var id uint32 = 1
	if len(pk.gens) > 0 {
		id = pk.gens[0].id + 1
	}
	g, err := newGeneration(id)
	if err != nil {
		return err
	}
	pk.gens = append([]*generation{g}, pk.gens...)
	if len(pk.gens) > 2 {
		pk.gens = pk.gens[:2]
	}
	return nil
}

// AddOneTime adds n one-time prekeys, up to MaxOneTimePrekeys in all.
func (pk *Prekeys) AddOneTime(n int) error {
	if n < 0 || len(pk.oneTime)+n > MaxOneTimePrekeys {
		return fmt.Errorf("%w: %d one-time prekeys, limit %d", ErrBadPrekeys, len(pk.oneTime)+n, MaxOneTimePrekeys)
	}
	for range n {
		k, err := newX25519Key()
		if err != nil {
			return err
		}
		pk.oneTime = append(pk.oneTime, oneTimeSecret{id: pk.nextID, key: k})
		pk.nextID++
	}
	return nil
}

// OneTimeCount returns how many one-time prekeys are left.
func (pk *Prekeys) OneTimeCount() int { return len(pk.oneTime) }

// Bundle returns the signed public bundle of the current generation with
// every one-time prekey left, signed by id.
func (pk *Prekeys) Bundle(id *Identity) *Bundle {
	g := pk.gens[0]
	b := &Bundle{Identity: id.public, Generation: g.id}
	copy(b.SignedPrekey[:], g.spk.PublicKey().Bytes())
	copy(b.SignedPrekeySig[:], ed25519.Sign(id.signing, signedPrekeyMessage(g.id, b.SignedPrekey[:])))
	b.KEMPrekey = g.kem.EncapsulationKey().Bytes()
	b.KEMPrekeySig = ed25519.Sign(id.signing, kemPrekeyMessage(g.id, b.KEMPrekey))
	for _, o := range pk.oneTime {
		ot := OneTimePrekey{ID: o.id}
		copy(ot.Key[:], o.key.PublicKey().Bytes())
		b.OneTime = append(b.OneTime, ot)
	}
	return b
}

func (pk *Prekeys) findOneTime(id uint32) *ecdh.PrivateKey {
	for _, o := range pk.oneTime {
		if o.id == id {
			return o.key
		}
	}
	return nil
}

func (pk *Prekeys) deleteOneTime(id uint32) {
	pk.oneTime = slices.DeleteFunc(pk.oneTime, func(o oneTimeSecret) bool { return o.id == id })
}

// Marshal returns the prekeys' secret state, for a keystore. Keep it secret.
//
//	[1, [[gen id, spk secret (32), kem seed (64)], …], [[id, secret (32)], …], next id]
func (pk *Prekeys) Marshal() []byte {
	var w cborWriter
	w.array(4)
	w.uint(wireVersion)
	w.array(len(pk.gens))
	for _, g := range pk.gens {
		w.array(3)
		w.uint(uint64(g.id))
		w.bytes(g.spk.Bytes())
		w.bytes(g.kemSeed[:])
	}
	w.array(len(pk.oneTime))
	for _, o := range pk.oneTime {
		w.array(2)
		w.uint(uint64(o.id))
		w.bytes(o.key.Bytes())
	}
	w.uint(uint64(pk.nextID))
	return w.b
}

// UnmarshalPrekeys decodes what Marshal returned.
func UnmarshalPrekeys(data []byte) (*Prekeys, error) {
	if len(data) > maxPrekeysBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), maxPrekeysBytes)
	}
	r := cborReader{b: data}
	r.array(4, 4)
	if v := r.uint(255); r.err == nil && v != wireVersion {
		return nil, fmt.Errorf("%w: version %d", ErrBadPrekeys, v)
	}
	pk := &Prekeys{}
	ng := r.array(1, 2)
	for range ng {
		r.array(3, 3)
		g := &generation{id: r.uint32()}
		spk := r.bytes(keySize)
		copy(g.kemSeed[:], r.bytes(kemSeedSize))
		if r.err != nil {
			break
		}
		g.spk, _ = ecdh.X25519().NewPrivateKey(spk) // 32 bytes: cannot fail
		g.kem, _ = mlkem.NewDecapsulationKey768(g.kemSeed[:])
		pk.gens = append(pk.gens, g)
	}
	no := r.array(0, MaxOneTimePrekeys)
	for range no {
		r.array(2, 2)
		id := r.uint32()
		k := r.bytes(keySize)
		if r.err != nil {
			break
		}
		key, _ := ecdh.X25519().NewPrivateKey(k)
		pk.oneTime = append(pk.oneTime, oneTimeSecret{id: id, key: key})
	}
	pk.nextID = r.uint32()
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPrekeys, err)
	}
	if len(pk.gens) == 2 && pk.gens[1].id >= pk.gens[0].id {
		return nil, fmt.Errorf("%w: generations out of order", ErrBadPrekeys)
	}
	for i, o := range pk.oneTime {
		if o.id >= pk.nextID || i > 0 && o.id <= pk.oneTime[i-1].id {
			return nil, fmt.Errorf("%w: one-time prekey ids out of order", ErrBadPrekeys)
		}
	}
	return pk, nil
}
