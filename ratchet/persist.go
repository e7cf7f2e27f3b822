package ratchet

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
)

const sessionItems = 19

// Marshal returns the session's state for persistence. It holds secret
// keys: store it where the identity is stored, with the same protection.
//
//	[1, local (32), remote (32), initiator, rk (32), dhs secret (32), dhr (32),
//	 [send hk, ck, n], send keyed, sent since rekey, rekey interval, my turn, nhk,
//	 [[hk, ck, n, acks], …], [[hk, n, mk], …],
//	 prefix, prefix ek (32), prefix hash (32), prefix length]
//
// Booleans are 0 or 1.
func (s *Session) Marshal() []byte {
	var w cborWriter
	w.array(sessionItems)
	w.uint(wireVersion)
	w.bytes(s.local.signing[:])
	w.bytes(s.remote.signing[:])
	w.bool(s.initiator)
	w.bytes(s.rk[:])
	w.bytes(s.dhs.Bytes())
	w.bytes(s.dhr[:])
	w.array(3)
	w.bytes(s.send.hk[:])
	w.bytes(s.send.ck[:])
	w.uint(uint64(s.send.n))
	w.bool(s.sendKeyed)
	w.uint(uint64(s.sentSinceRekey))
	w.uint(uint64(s.rekeyInterval))
	w.bool(s.myTurn)
	w.bytes(s.nhk[:])
	w.array(len(s.recv))
	for _, c := range s.recv {
		w.array(4)
		w.bytes(c.hk[:])
		w.bytes(c.ck[:])
		w.uint(uint64(c.n))
		w.bool(c.acks)
	}
	w.array(len(s.skipped))
	for _, k := range s.skipped {
		w.array(3)
		w.bytes(k.hk[:])
		w.uint(uint64(k.n))
		w.bytes(k.mk[:])
	}
	w.bytes(s.prefix)
	w.bytes(s.prefixEK[:])
	w.bytes(s.prefixHash[:])
	w.uint(uint64(s.prefixLen))
	return w.b
}

// UnmarshalSession restores a session from what Marshal returned. The
// bytes come from disk, so it checks them as untrusted: exact encoding,
// sizes, limits and consistency.
func UnmarshalSession(data []byte) (*Session, error) {
	if len(data) > maxSessionBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), maxSessionBytes)
	}
	r := cborReader{b: data}
	r.array(sessionItems, sessionItems)
	if v := r.uint(255); r.err == nil && v != wireVersion {
		return nil, fmt.Errorf("%w: version %d", ErrBadSession, v)
	}
	s := &Session{}
	local := r.bytes(ed25519.PublicKeySize)
	remote := r.bytes(ed25519.PublicKeySize)
	s.initiator = r.bool()
	s.rk = r.key()
	dhs := r.bytes(keySize)
	s.dhr = r.key()
	r.array(3, 3)
	s.send.hk = r.key()
	s.send.ck = r.key()
	s.send.n = r.uint32()
	s.sendKeyed = r.bool()
	s.sentSinceRekey = r.uint32()
	s.rekeyInterval = r.uint32()
	s.myTurn = r.bool()
	s.nhk = r.key()
	for range r.array(0, MaxReceivingChains) {
		r.array(4, 4)
		c := chain{hk: r.key(), ck: r.key(), n: r.uint32(), acks: r.bool()}
		s.recv = append(s.recv, c)
	}
	for range r.array(0, MaxSkippedKeys) {
		r.array(3, 3)
		k := skippedKey{hk: r.key(), n: r.uint32(), mk: r.key()}
		s.skipped = append(s.skipped, k)
	}
	prefix := r.bytesUpTo(keySize + innerMaxSize)
	s.prefixEK = r.key()
	copy(s.prefixHash[:], r.bytes(sha256.Size))
	s.prefixLen = r.uint32()
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSession, err)
	}
	if len(prefix) > 0 {
		s.prefix = append([]byte(nil), prefix...)
	}
	var err error
	if s.local, err = NewPublicIdentity(local); err != nil {
		return nil, fmt.Errorf("%w: local: %w", ErrBadSession, err)
	}
	if s.remote, err = NewPublicIdentity(remote); err != nil {
		return nil, fmt.Errorf("%w: remote: %w", ErrBadSession, err)
	}
	s.dhs, _ = ecdh.X25519().NewPrivateKey(dhs) // 32 bytes: cannot fail
	switch {
	case s.rekeyInterval == 0:
		return nil, fmt.Errorf("%w: rekey interval 0", ErrBadSession)
	case s.prefix != nil && (!s.initiator || uint32(len(s.prefix)) != s.prefixLen || sha256.Sum256(s.prefix) != s.prefixHash):
		return nil, fmt.Errorf("%w: prefix does not match its hash", ErrBadSession)
	case s.prefixLen != 0 && (s.prefixLen < keySize+innerMinSize || s.prefixLen > keySize+innerMaxSize):
		return nil, fmt.Errorf("%w: prefix length %d", ErrBadSession, s.prefixLen)
	}
	return s, nil
}
