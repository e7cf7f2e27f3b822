package store

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"

	"github.com/cairnmesh/cairn/codec"
)

// Auth stamps.
//
// DESIGN.md "MQTT": a relay accepts an auth token only if its timestamp is
// greater than the last one accepted for that key, kept on disk. bucketAuth
// maps key → last stamp ‖ accepted number; bucketAuthAge maps accepted
// number → key, so that past MaxAuthKeys keys the one accepted longest ago
// is forgotten (logged, summarized, at Info; counted in Stats.AuthForgotten). A
// forgotten key's next token is accepted whatever its stamp, so an old token
// of that key could be replayed once: the bound trades that for memory.

// CheckAuthStamp accepts unixMilli for key if it is greater than the last
// stamp accepted for key, recording it durably, and otherwise returns
// ErrStaleAuth.
func (s *Store) CheckAuthStamp(key ed25519.PublicKey, unixMilli uint64) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("checking auth stamp: %w: key of %d bytes", codec.ErrShape, len(key))
	}
	return s.submit(func(w *writer) error { return w.checkAuth(key, unixMilli) })
}

func (w *writer) checkAuth(key ed25519.PublicKey, unixMilli uint64) error {
	if v := w.auth.Get(key); len(v) == 16 {
		if unixMilli <= binary.BigEndian.Uint64(v) {
			return fmt.Errorf("%w: %d, last accepted %d", ErrStaleAuth, unixMilli, binary.BigEndian.Uint64(v))
		}
		w.del(w.authAge, v[8:16])
	} else {
		w.meta.authCount++
	}
	w.meta.authSeq++
	v := binary.BigEndian.AppendUint64(u64(unixMilli), w.meta.authSeq)
	w.put(w.auth, key, v)
	w.put(w.authAge, u64(w.meta.authSeq), key)

	limit := uint64(w.s.opts.MaxAuthKeys)
	if w.meta.authCount <= limit {
		return nil
	}
	var old [][2][]byte // accepted number, key
	c := w.authAge.Cursor()
	for k, v := c.First(); k != nil && w.meta.authCount-uint64(len(old)) > limit; k, v = c.Next() {
		old = append(old, [2][]byte{append([]byte{}, k...), append([]byte{}, v...)})
	}
	for _, o := range old {
		w.del(w.authAge, o[0])
		w.del(w.auth, o[1])
		w.meta.authCount--
		w.fx.authForgotten++
		w.fx.forgotten = append(w.fx.forgotten, o[1])
	}
	return nil
}
