package ratchet

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/big"

	"golang.org/x/crypto/chacha20"
)

// Options configure a new session. A nil *Options means the defaults.
type Options struct {
	// Classical sets the session up with X3DH instead of PQXDH: no ML-KEM
	// ciphertext, so the initial messages are 1,088 bytes smaller (one LoRa
	// frame instead of five), and the session has no protection against a
	// future quantum computer. For contacts reached over LoRa alone.
	Classical bool
	// RekeyInterval: see (*Session).SetRekeyInterval. 0 means
	// DefaultRekeyInterval.
	RekeyInterval int
}

// encapsulate is ML-KEM encapsulation; tests replace it with the
// derandomized mlkemtest.Encapsulate768 to build fixed vectors.
var encapsulate = func(ek *mlkem.EncapsulationKey768) (shared, ciphertext []byte, err error) {
	shared, ciphertext = ek.Encapsulate()
	return shared, ciphertext, nil
}

// deriveSK is the X3DH/PQXDH KDF (X3DH section 2.2, PQXDH section 2.2):
// HKDF-SHA256 with a zero salt over F ‖ KM, F being 32 0xFF bytes, KM the
// concatenated DH outputs and, for PQXDH, the KEM shared secret.
func deriveSK(pq bool, km ...[]byte) [keySize]byte {
	ikm := make([]byte, keySize, keySize*6)
	for i := range ikm {
		ikm[i] = 0xff
	}
	for _, k := range km {
		ikm = append(ikm, k...)
	}
	info := infoX3DH
	if pq {
		info = infoPQXDH
	}
	out, err := hkdf.Key(sha256.New, ikm, make([]byte, sha256.Size), info, keySize)
	if err != nil {
		panic("ratchet: HKDF: " + err.Error())
	}
	return [keySize]byte(out)
}

// sealStream returns the ChaCha20 keystream that hides the sealed part of
// an initial message. Its key comes from DH(EK, IK_B) and DH(EK, SPK_B),
// which the recipient can compute before it knows who the sender is; the
// key is unique to the ephemeral key EK, so the zero nonce is never reused
// with another plaintext.
func sealStream(dh2, dh3, ek, spk []byte, n int) []byte {
	ikm := append(append(append(append([]byte{}, dh2...), dh3...), ek...), spk...)
	key, err := hkdf.Key(sha256.New, ikm, nil, infoSeal, chacha20.KeySize)
	if err != nil {
		panic("ratchet: HKDF: " + err.Error())
	}
	c, err := chacha20.NewUnauthenticatedCipher(key, make([]byte, chacha20.NonceSize))
	if err != nil {
		panic("ratchet: ChaCha20: " + err.Error())
	}
	ks := make([]byte, n)
	c.XORKeyStream(ks, ks)
	return ks
}

// initialKeys derives the first root key and the header key of the
// initiator's first chain from SK.
func initialKeys(sk *[keySize]byte) (rk, hk [keySize]byte) {
	out, err := hkdf.Key(sha256.New, sk[:], nil, infoInit, 2*keySize)
	if err != nil {
		panic("ratchet: HKDF: " + err.Error())
	}
	copy(rk[:], out)
	copy(hk[:], out[keySize:])
	return rk, hk
}

// InitiateSession verifies bob's bundle and sets up a session with him as
// X3DH/PQXDH's Alice. Nothing is sent yet: the first Encrypt returns the
// initial message, and every message until Bob answers carries the same
// initial prefix, so that any one of them sets up the session on his side.
// The bundle's one-time prekey, if any, is chosen at random; a caller that
// caches bundles should drop it from the cache.
func InitiateSession(id *Identity, bob *Bundle, opts *Options) (*Session, error) {
	if opts == nil {
		opts = &Options{}
	}
	if err := bob.Verify(); err != nil {
		return nil, err
	}
	if bob.Identity == id.public {
		return nil, fmt.Errorf("%w: a session with oneself", ErrBadBundle)
	}
	pq := !opts.Classical
	if pq && !bob.HasKEM() {
		return nil, ErrNoKEM
	}
	ek, err := newX25519Key()
	if err != nil {
		return nil, err
	}
	ra, err := newX25519Key() // our first ratchet key
	if err != nil {
		return nil, err
	}
	dh1, err := id.agreement.ECDH(mustPublic(bob.SignedPrekey[:]))
	if err != nil {
		return nil, fmt.Errorf("%w: signed prekey: %v", ErrBadBundle, err)
	}
	dh2, err := dh(ek, bob.Identity.agreement[:])
	if err != nil {
		return nil, fmt.Errorf("%w: identity key: %v", ErrBadBundle, err)
	}
	dh3, err := dh(ek, bob.SignedPrekey[:])
	if err != nil {
		return nil, fmt.Errorf("%w: signed prekey: %v", ErrBadBundle, err)
	}
	km := [][]byte{dh1, dh2, dh3}

	flags := innerBase
	inner := make([]byte, 1, innerMaxSize)
	inner = append(inner, id.public.signing[:]...)
	inner = append(inner, ra.PublicKey().Bytes()...)
	if len(bob.OneTime) > 0 {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(bob.OneTime))))
		if err != nil {
			return nil, fmt.Errorf("choosing a one-time prekey: %w", err)
		}
		opk := bob.OneTime[i.Int64()]
		dh4, err := dh(ek, opk.Key[:])
		if err != nil {
			return nil, fmt.Errorf("%w: one-time prekey %d: %v", ErrBadBundle, opk.ID, err)
		}
		km = append(km, dh4)
		flags |= innerHasOPK
		inner = binary.BigEndian.AppendUint32(inner, opk.ID)
	}
	if pq {
		kemKey, err := mlkem.NewEncapsulationKey768(bob.KEMPrekey)
		if err != nil {
			return nil, fmt.Errorf("%w: KEM prekey: %v", ErrBadBundle, err)
		}
		ss, ct, err := encapsulate(kemKey)
		if err != nil {
			return nil, fmt.Errorf("ML-KEM encapsulation: %w", err)
		}
		km = append(km, ss)
		flags |= innerHasKEM
		inner = append(inner, ct...)
	}
	inner[0] = flags
	sk := deriveSK(pq, km...)

	prefix := make([]byte, 0, keySize+len(inner))
	prefix = append(prefix, ek.PublicKey().Bytes()...)
	ks := sealStream(dh2, dh3, prefix[:keySize], bob.SignedPrekey[:], len(inner))
	for i := range inner {
		prefix = append(prefix, inner[i]^ks[i])
	}

	// Our first ratchet key against Bob's signed prekey is the first DH
	// ratchet step, as in Signal's RatchetInitAlice.
	rk0, hk0 := initialKeys(&sk)
	shared, err := dh(ra, bob.SignedPrekey[:])
	if err != nil {
		return nil, fmt.Errorf("%w: signed prekey: %v", ErrBadBundle, err)
	}
	st := kdfRK(&rk0, shared)
	s := &Session{
		local: id.public, remote: bob.Identity, initiator: true,
		rk: st.rk, dhs: ra, dhr: bob.SignedPrekey,
		send:   chain{hk: hk0, ck: st.ckIntro},
		recv:   []chain{{hk: st.hkResp, ck: st.ckResp, acks: true}},
		nhk:    st.nhk,
		prefix: prefix,
	}
	s.setPrefix(prefix)
	s.SetRekeyInterval(opts.RekeyInterval)
	return s, nil
}

func mustPublic(b []byte) *ecdh.PublicKey {
	p, err := ecdh.X25519().NewPublicKey(b)
	if err != nil {
		panic("ratchet: X25519 public key of 32 bytes refused: " + err.Error())
	}
	return p
}

// AcceptSession sets up a session from an initial message (a body that no
// existing session could decrypt) as X3DH/PQXDH's Bob, and returns it with
// the message's plaintext. It tries the current and the previous prekey
// generation. On success a one-time prekey the message used is deleted from
// pk: persist pk and the session before acknowledging the message. On
// failure nothing changes and the error is ErrUndecryptable.
//
// X3DH section 4.2: a replayed initial message that used no one-time
// prekey sets up the same session again; the caller should keep existing
// sessions and compare (*Session).Remote against its contacts.
func AcceptSession(id *Identity, pk *Prekeys, body []byte, opts *Options) (*Session, []byte, error) {
	if opts == nil {
		opts = &Options{}
	}
	if len(body) < keySize+innerMinSize+MessageOverhead || len(body) > maxSessionBytes+MaxPlaintextBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes is no initial message", ErrUndecryptable, len(body))
	}
	ek := body[:keySize]
	dh2, err := dh(id.agreement, ek)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: ephemeral key: %v", ErrUndecryptable, err)
	}
	for _, g := range pk.gens {
		s, pt, opk, ok := accept(id, pk, g, body, dh2)
		if !ok {
			continue
		}
		if opk != nil {
			pk.deleteOneTime(*opk)
		}
		s.SetRekeyInterval(opts.RekeyInterval)
		// Our first message introduces a fresh ratchet key, so the session
		// stops depending on the signed prekey, which outlives it.
		s.sentSinceRekey = s.rekeyInterval
		return s, pt, nil
	}
	return nil, nil, ErrUndecryptable
}

func accept(id *Identity, pk *Prekeys, g *generation, body, dh2 []byte) (*Session, []byte, *uint32, bool) {
	ek := body[:keySize]
	spk := g.spk.PublicKey().Bytes()
	dh3, err := dh(g.spk, ek)
	if err != nil {
		return nil, nil, nil, false
	}
	avail := min(len(body)-keySize-MessageOverhead, innerMaxSize)
	ks := sealStream(dh2, dh3, ek, spk, avail)
	flags := body[keySize] ^ ks[0]
	if flags&^(innerHasOPK|innerHasKEM) != innerBase {
		return nil, nil, nil, false
	}
	n := innerMinSize
	if flags&innerHasOPK != 0 {
		n += 4
	}
	if flags&innerHasKEM != 0 {
		n += kemCiphertextSize
	}
	if n > avail {
		return nil, nil, nil, false
	}
	inner := make([]byte, n)
	for i := range inner {
		inner[i] = body[keySize+i] ^ ks[i]
	}
	alice, err := NewPublicIdentity(inner[1 : 1+keySize])
	if err != nil || alice == id.public {
		return nil, nil, nil, false
	}
	ra := inner[1+keySize : innerMinSize]
	rest := inner[innerMinSize:]

	dh1, err := dh(g.spk, alice.agreement[:])
	if err != nil {
		return nil, nil, nil, false
	}
	km := [][]byte{dh1, dh2, dh3}
	var opkID *uint32
	if flags&innerHasOPK != 0 {
		oid := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		opk := pk.findOneTime(oid)
		if opk == nil {
			return nil, nil, nil, false
		}
		dh4, err := dh(opk, ek)
		if err != nil {
			return nil, nil, nil, false
		}
		km = append(km, dh4)
		opkID = &oid
	}
	pq := flags&innerHasKEM != 0
	if pq {
		ss, err := g.kem.Decapsulate(rest)
		if err != nil {
			return nil, nil, nil, false
		}
		km = append(km, ss)
	}
	sk := deriveSK(pq, km...)
	rk0, hk0 := initialKeys(&sk)
	shared, err := dh(g.spk, ra)
	if err != nil {
		return nil, nil, nil, false
	}
	st := kdfRK(&rk0, shared)
	s := &Session{
		local: id.public, remote: alice,
		rk: st.rk, dhs: g.spk, dhr: [keySize]byte(ra),
		send:   chain{hk: st.hkResp, ck: st.ckResp},
		recv:   []chain{{hk: hk0, ck: st.ckIntro, acks: true}},
		nhk:    st.nhk,
		myTurn: true,
	}
	s.setPrefix(body[:keySize+n])
	pt, err := s.Decrypt(body)
	if err != nil {
		return nil, nil, nil, false
	}
	return s, pt, opkID, true
}
