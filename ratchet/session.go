package ratchet

import (
	"crypto/ecdh"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"math"
)

// Session is one side of an end-to-end encrypted conversation with one
// peer: the Double Ratchet state after X3DH or PQXDH. Make one with
// InitiateSession or AcceptSession, or restore one with UnmarshalSession.
// A Session is not safe for concurrent use.
//
// Every Encrypt and every successful Decrypt changes the state; persist it
// (Marshal) before the result leaves the process, or a restart may reuse a
// message key (after Encrypt) or lose one (after Decrypt). A failed Decrypt
// changes nothing.
//
// # Ratchet steps
//
// A DH ratchet step is taken by one party, the introducer, which sends a
// new ratchet public key. The step opens two chains: the introducer's new
// sending chain and a new sending chain for the responder, who moves to it
// as soon as it reads the key. The parties take turns: a party may introduce
// a key only after it has read the peer's latest one, so the root chain
// never forks. An introducer sends its key in every message (keyed form)
// until it reads a message that proves the peer has it; after that its
// messages carry a 5-byte header. Unlike Signal's Double Ratchet, where a
// reply always brings a new key, a party takes its turn only every
// RekeyInterval messages it sends, so a conversation does not pay 33 bytes
// on every change of direction (docs/crypto.md, "Ratchet").
type Session struct {
	local, remote PublicIdentity
	initiator     bool

	rk  [keySize]byte
	dhs *ecdh.PrivateKey // our current ratchet key
	dhr [keySize]byte    // the peer's current ratchet public key

	send           chain
	sendKeyed      bool   // send our ratchet key: the peer has not shown it has it
	sentSinceRekey uint32 // messages sent since our last ratchet key
	rekeyInterval  uint32
	myTurn         bool          // we may introduce the next ratchet key
	nhk            [keySize]byte // header key of the chain the next step opens for its introducer

	recv    []chain      // the peer's sending chains, newest first
	skipped []skippedKey // oldest first

	// The initial message's prefix (the initiator's ephemeral key and
	// sealed part) goes on every message the initiator sends until the
	// responder answers. prefix is the initiator's copy, nil once answered;
	// both sides keep its hash to recognise it.
	prefix     []byte
	prefixEK   [keySize]byte
	prefixHash [sha256.Size]byte
	prefixLen  uint32 // 0: no prefix
}

type chain struct {
	hk, ck [keySize]byte
	n      uint32 // number of the next message
	// acks is set on receiving chains that depend on our latest ratchet
	// key: reading a message on one proves the peer has the key.
	acks bool
}

type skippedKey struct {
	hk [keySize]byte
	n  uint32
	mk [keySize]byte
}

// Local returns our identity in the session.
func (s *Session) Local() PublicIdentity { return s.local }

// Remote returns the peer's identity. For a session made by AcceptSession
// it is what the peer's first message proved; check it against the
// expected contact before trusting the messages.
func (s *Session) Remote() PublicIdentity { return s.remote }

// SetRekeyInterval sets how many messages the session sends between ratchet
// keys of its own (when it is its turn): 1 gives Signal's behaviour, a new
// key on every change of direction, for links where 33 bytes do not matter;
// larger values save those bytes on LoRa at the cost of slower recovery
// from a compromised device. n < 1 means DefaultRekeyInterval.
func (s *Session) SetRekeyInterval(n int) {
	if n < 1 || uint64(n) > math.MaxUint32 {
		n = DefaultRekeyInterval
	}
	s.rekeyInterval = uint32(n)
}

// associatedData is AD = IK_initiator ‖ IK_responder (X3DH section 3.3),
// then the hash of the initial prefix for a message that carries it, then
// the plaintext header.
func (s *Session) associatedData(hdr []byte, prefixed bool) []byte {
	ad := make([]byte, 0, 2*keySize+sha256.Size+keyedHeaderSize)
	if s.initiator {
		ad = append(append(ad, s.local.signing[:]...), s.remote.signing[:]...)
	} else {
		ad = append(append(ad, s.remote.signing[:]...), s.local.signing[:]...)
	}
	if prefixed {
		ad = append(ad, s.prefixHash[:]...)
	}
	return append(ad, hdr...)
}

// Encrypt encrypts plaintext for the peer and returns the envelope body.
// In an established session the body is len(plaintext)+MessageOverhead
// bytes; a message that carries a new ratchet key adds 32, and the
// initiator's messages before the first answer carry the initial prefix
// (InitialOverheadClassical or InitialOverheadPQ in all).
func (s *Session) Encrypt(plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintextBytes {
		return nil, fmt.Errorf("%w: plaintext of %d bytes, limit %d", ErrTooLarge, len(plaintext), MaxPlaintextBytes)
	}
	if s.myTurn && s.sentSinceRekey >= s.rekeyInterval {
		if err := s.rekey(); err != nil {
			return nil, err
		}
	}
	if s.send.n == math.MaxUint32 {
		return nil, ErrChainExhausted
	}
	mk, next := kdfCK(&s.send.ck)
	h := header{keyed: s.sendKeyed, n: s.send.n}
	if h.keyed {
		copy(h.key[:], s.dhs.PublicKey().Bytes())
	}
	out := make([]byte, 0, len(s.prefix)+h.size()+len(plaintext)+tagSize)
	out = append(out, s.prefix...)
	out = h.appendTo(out)
	hdr := out[len(s.prefix):]
	out = sealMessage(out, &mk, plaintext, s.associatedData(hdr, s.prefix != nil))
	protect(&s.send.hk, out[len(s.prefix):], h.size())

	s.send.ck = next
	s.send.n++
	if s.sentSinceRekey < math.MaxUint32 {
		s.sentSinceRekey++
	}
	return out, nil
}

// rekey takes a DH ratchet step as introducer: a new ratchet key, our next
// sending chain keyed by it, and the peer's responder chain.
func (s *Session) rekey() error {
	priv, err := newX25519Key()
	if err != nil {
		return err
	}
	shared, err := dh(priv, s.dhr[:])
	if err != nil {
		return fmt.Errorf("ratchet step: %w", err) // cannot happen: dhr was used before
	}
	st := kdfRK(&s.rk, shared)
	s.rk = st.rk
	s.dhs = priv
	s.send = chain{hk: s.nhk, ck: st.ckIntro}
	s.sendKeyed = true
	s.sentSinceRekey = 0
	for i := range s.recv {
		s.recv[i].acks = false
	}
	s.pushRecv(chain{hk: st.hkResp, ck: st.ckResp, acks: true})
	s.nhk = st.nhk
	s.myTurn = false
	return nil
}

func (s *Session) pushRecv(c chain) {
	s.recv = append([]chain{c}, s.recv...)
	if len(s.recv) > MaxReceivingChains {
		s.recv = s.recv[:MaxReceivingChains]
	}
}

func (s *Session) addSkipped(keys []skippedKey) {
	s.skipped = append(s.skipped, keys...)
	if over := len(s.skipped) - MaxSkippedKeys; over > 0 {
		s.skipped = append([]skippedKey(nil), s.skipped[over:]...)
	}
}

// acked records that the peer has our latest ratchet key (or, for the
// initiator, the session): our messages no longer need to carry it.
func (s *Session) acked() {
	s.sendKeyed = false
	s.prefix = nil
}

func (s *Session) setPrefix(p []byte) {
	copy(s.prefixEK[:], p)
	s.prefixHash = sha256.Sum256(p)
	s.prefixLen = uint32(len(p))
}

// stripPrefix returns the ratchet message inside body, and whether body
// carried this session's initial prefix.
func (s *Session) stripPrefix(body []byte) ([]byte, bool) {
	n := int(s.prefixLen)
	if n == 0 || len(body) < n+MessageOverhead || subtle.ConstantTimeCompare(body[:keySize], s.prefixEK[:]) != 1 {
		return body, false
	}
	if h := sha256.Sum256(body[:n]); h != s.prefixHash {
		return body, false
	}
	return body[n:], true
}

// Decrypt opens a message from the peer and returns its plaintext. It
// changes the session only when the message authenticates: a forgery, a
// replay, a message for another session and one more than MaxSkip ahead
// all return ErrUndecryptable and leave the session as it was.
//
// The message is tried, in order, against the keys kept for skipped
// messages, the peer's open sending chains, and the chain the peer's next
// ratchet key would open. Each try costs one ChaCha20 block to unmask the
// header; only a header that parses and lies in a chain's window costs
// key derivation and an AEAD open.
func (s *Session) Decrypt(body []byte) ([]byte, error) {
	if len(body) > maxSessionBytes+MaxPlaintextBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrUndecryptable, len(body))
	}
	msg, prefixed := s.stripPrefix(body)
	if len(msg) < MessageOverhead {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrUndecryptable, len(msg))
	}
	if pt, ok := s.trySkipped(msg, prefixed); ok {
		return pt, nil
	}
	for i := range s.recv {
		if pt, ok := s.tryChain(i, msg, prefixed); ok {
			return pt, nil
		}
	}
	if pt, ok := s.tryNextStep(msg, prefixed); ok {
		return pt, nil
	}
	return nil, ErrUndecryptable
}

func (s *Session) open(mk *[keySize]byte, msg, hdr []byte, prefixed bool) ([]byte, bool) {
	pt, err := openMessage(mk, msg[len(hdr):], s.associatedData(hdr, prefixed))
	return pt, err == nil
}

func (s *Session) trySkipped(msg []byte, prefixed bool) ([]byte, bool) {
	tried := map[[keySize]byte]bool{}
	for i := range s.skipped {
		hk := s.skipped[i].hk
		if tried[hk] {
			continue
		}
		tried[hk] = true
		h, hdr, ok := unprotect(&hk, msg)
		if !ok {
			continue
		}
		j := s.findSkipped(hk, h.n)
		if j < 0 {
			continue
		}
		pt, ok := s.open(&s.skipped[j].mk, msg, hdr, prefixed)
		if !ok {
			continue
		}
		s.skipped = append(s.skipped[:j], s.skipped[j+1:]...)
		for _, c := range s.recv {
			if c.hk == hk && c.acks {
				s.acked()
			}
		}
		return pt, true
	}
	return nil, false
}

func (s *Session) findSkipped(hk [keySize]byte, n uint32) int {
	for i := range s.skipped {
		if s.skipped[i].n == n && s.skipped[i].hk == hk {
			return i
		}
	}
	return -1
}

// advance derives the message key for number n of a chain whose next
// number is from and whose key is ck, and the keys of the messages it
// skips. It does not touch the session.
func advance(hk, ck [keySize]byte, from, n uint32) (mk, next [keySize]byte, skipped []skippedKey) {
	for i := from; i < n; i++ {
		var k [keySize]byte
		k, ck = kdfCK(&ck)
		skipped = append(skipped, skippedKey{hk: hk, n: i, mk: k})
	}
	mk, next = kdfCK(&ck)
	return mk, next, skipped
}

func (s *Session) tryChain(i int, msg []byte, prefixed bool) ([]byte, bool) {
	c := &s.recv[i]
	h, hdr, ok := unprotect(&c.hk, msg)
	if !ok || h.n < c.n || h.n-c.n > MaxSkip {
		return nil, false
	}
	mk, next, skipped := advance(c.hk, c.ck, c.n, h.n)
	pt, ok := s.open(&mk, msg, hdr, prefixed)
	if !ok {
		return nil, false
	}
	c.ck, c.n = next, h.n+1
	s.addSkipped(skipped)
	if c.acks {
		s.acked()
	}
	return pt, true
}

// tryNextStep tries msg as the first message read of the peer's next
// ratchet key: a keyed header under the next header key.
func (s *Session) tryNextStep(msg []byte, prefixed bool) ([]byte, bool) {
	if s.myTurn {
		return nil, false
	}
	h, hdr, ok := unprotect(&s.nhk, msg)
	if !ok || !h.keyed || h.n > MaxSkip {
		return nil, false
	}
	shared, err := dh(s.dhs, h.key[:])
	if err != nil {
		return nil, false
	}
	st := kdfRK(&s.rk, shared)
	mk, next, skipped := advance(s.nhk, st.ckIntro, 0, h.n)
	pt, ok := s.open(&mk, msg, hdr, prefixed)
	if !ok {
		return nil, false
	}
	// The peer's key depends on our latest one, so it acknowledges it.
	s.rk = st.rk
	s.pushRecv(chain{hk: s.nhk, ck: next, n: h.n + 1, acks: true})
	s.addSkipped(skipped)
	s.send = chain{hk: st.hkResp, ck: st.ckResp}
	s.dhr = h.key
	s.nhk = st.nhk
	s.myTurn = true
	s.acked()
	return pt, true
}
