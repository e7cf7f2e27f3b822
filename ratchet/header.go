package ratchet

import (
	"encoding/binary"

	"golang.org/x/crypto/chacha20"
)

// header is the plaintext of a ratchet message header:
//
//	short: form (0x10) ‖ counter (4, big-endian)
//	keyed: form (0x11) ‖ ratchet public key (32) ‖ counter (4)
//
// On the wire it is masked with headerMask, and its plaintext is part of the
// associated data of the message, so any change to it fails the AEAD.
type header struct {
	keyed bool
	key   [keySize]byte // the sender's ratchet public key, if keyed
	n     uint32        // message number in the sending chain
}

func (h *header) size() int {
	if h.keyed {
		return keyedHeaderSize
	}
	return shortHeaderSize
}

func (h *header) appendTo(b []byte) []byte {
	if h.keyed {
		b = append(b, formKeyed)
		b = append(b, h.key[:]...)
	} else {
		b = append(b, formShort)
	}
	return binary.BigEndian.AppendUint32(b, h.n)
}

// headerMask returns n bytes of mask for a message whose last 16 bytes
// (the Poly1305 tag) are sample: the ChaCha20 header protection of RFC 9001
// section 5.4.4, with the header key as key, the first 4 sample bytes as
// the little-endian block counter and the other 12 as the nonce, extended
// from 5 bytes to the whole header. The tag is a pseudorandom function of
// the message key, which is never reused, so no two messages share a mask.
func headerMask(hk *[keySize]byte, sample []byte, n int) []byte {
	c, err := chacha20.NewUnauthenticatedCipher(hk[:], sample[4:sampleSize])
	if err != nil {
		panic("ratchet: ChaCha20: " + err.Error()) // only for wrong sizes
	}
	// n ≤ 64: one block, so even counter 2^32-1 does not overflow.
	c.SetCounter(binary.LittleEndian.Uint32(sample[:4]))
	mask := make([]byte, n)
	c.XORKeyStream(mask, mask)
	return mask
}

// protect masks the first hdrLen bytes of msg in place.
func protect(hk *[keySize]byte, msg []byte, hdrLen int) {
	mask := headerMask(hk, msg[len(msg)-tagSize:], hdrLen)
	for i := range mask {
		msg[i] ^= mask[i]
	}
}

// unprotect removes the mask of hk from a copy of msg's header and parses
// it. ok is false when the result is not a well-formed header: with a wrong
// header key, the form byte is valid with probability 2/256, so most wrong
// keys cost one ChaCha20 block and nothing more. raw is the unmasked header.
func unprotect(hk *[keySize]byte, msg []byte) (h header, raw []byte, ok bool) {
	avail := len(msg) - tagSize
	if avail < shortHeaderSize {
		return h, nil, false
	}
	mask := headerMask(hk, msg[avail:], min(avail, keyedHeaderSize))
	switch msg[0] ^ mask[0] {
	case formShort:
	case formKeyed:
		if avail < keyedHeaderSize {
			return h, nil, false
		}
		h.keyed = true
	default:
		return h, nil, false
	}
	raw = make([]byte, h.size())
	for i := range raw {
		raw[i] = msg[i] ^ mask[i]
	}
	if h.keyed {
		copy(h.key[:], raw[1:1+keySize])
	}
	h.n = binary.BigEndian.Uint32(raw[len(raw)-4:])
	return h, raw, true
}
