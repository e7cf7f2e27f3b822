package client

import "github.com/cairnmesh/cairn/codec"

// seenCapacity is how many envelope ids the client remembers (16 bytes
// each, kept in the keystore). Relays deliver an envelope again on every
// connection until its receipt lands, so the set needs to cover only what
// arrived since the last receipts were acknowledged; 1,024 covers a
// client that crashed before sending receipts for a full delivery window
// (32) many times over. At the bound the oldest id is forgotten. A
// forgotten id that comes back is not shown twice anyway: its message key
// is gone from the session, so it does not decrypt and is acknowledged as
// undecryptable — the set saves that work and the log line.
const seenCapacity = 1024

// seenSet is a FIFO set of envelope ids. Not safe for concurrent use; the
// zero value is empty and ready.
type seenSet struct {
	order []codec.ID // oldest first
	index map[codec.ID]struct{}
}

func (s *seenSet) has(id codec.ID) bool {
	_, ok := s.index[id]
	return ok
}

// add records id and reports whether it was new.
func (s *seenSet) add(id codec.ID) bool {
	if s.index == nil {
		s.index = make(map[codec.ID]struct{})
	}
	if s.has(id) {
		return false
	}
	if len(s.order) == seenCapacity {
		delete(s.index, s.order[0])
		s.order = append(s.order[:0], s.order[1:]...)
	}
	s.order = append(s.order, id)
	s.index[id] = struct{}{}
	return true
}

func (s *seenSet) bytes() []byte {
	b := make([]byte, 0, len(s.order)*codec.IDSize)
	for _, id := range s.order {
		b = append(b, id[:]...)
	}
	return b
}
