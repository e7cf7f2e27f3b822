package codec

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Envelope streams (docs/protocol.md, "Envelope stream").
//
// `cairn store export` writes, and `cairn store import` reads, a CBOR
// sequence (RFC 8742): data items one after another with nothing between
// them, no header and no end marker. Every item is a definite-length byte
// string whose length is in the shortest form, holding one encoded envelope
// (Envelope.Encode) with its ttl as left at export. The byte-string wrapper
// frames each envelope, so a reader can skip an envelope it refuses and go
// on with the next; a framing error ends the stream.

// AppendStreamItem appends the stream item holding encoded, an encoded
// envelope, to dst.
func AppendStreamItem(dst, encoded []byte) []byte {
	n := len(encoded)
	switch {
	case n < 24:
		dst = append(dst, 0x40|byte(n))
	case n <= 0xff:
		dst = append(dst, 0x58, byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x59)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 0x5a)
		dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	}
	return append(dst, encoded...)
}

// StreamReader reads the items of an envelope stream from untrusted input.
// The zero value is not usable: call NewStreamReader. Not safe for
// concurrent use.
type StreamReader struct {
	r   *bufio.Reader
	off int64 // bytes consumed, for error messages
	err error // sticky: a framing error ends the stream
}

// NewStreamReader returns a reader of the stream r.
func NewStreamReader(r io.Reader) *StreamReader {
	return &StreamReader{r: bufio.NewReader(r)}
}

// Next returns the next item's content: an encoded envelope, still to be
// decoded with DecodeEnvelope. It returns io.EOF at the end of the stream,
// which is only ever between items. The slice is new for each call.
//
// Errors are final (the framing is lost) and wrap a sentinel: ErrMalformed
// (cut short, reserved length), ErrShape (an item that is not a byte
// string), ErrIndefinite, ErrTagged, ErrNotCanonical (a length not in the
// shortest form), ErrTooLarge (a length over MaxEnvelopeBytes, refused
// before reading it).
func (s *StreamReader) Next() ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	b, consumed, err := s.next()
	if err != nil {
		if err != io.EOF {
			err = fmt.Errorf("stream item at byte %d: %w", s.off, err)
		}
		s.err = err
		return nil, err
	}
	s.off += consumed
	return b, nil
}

// next reads one item and returns its content and its size in the stream.
func (s *StreamReader) next() ([]byte, int64, error) {
	head, err := s.r.ReadByte()
	if err != nil {
		return nil, 0, err // io.EOF: the end, between items
	}
	switch major := head >> 5; {
	case head == 0x5f:
		return nil, 0, fmt.Errorf("%w: indefinite-length byte string", ErrIndefinite)
	case major == 6:
		return nil, 0, fmt.Errorf("%w: tagged item", ErrTagged)
	case major != 2:
		return nil, 0, fmt.Errorf("%w: %s where a byte string belongs", ErrShape, majorName([]byte{head}))
	}
	var n uint64
	headBytes := 1
	switch ai := head & 0x1f; {
	case ai < 24:
		n = uint64(ai)
	case ai <= 27:
		var buf [8]byte
		size := 1 << (ai - 24) // 1, 2, 4 or 8 length bytes
		if _, err := io.ReadFull(s.r, buf[8-size:]); err != nil {
			return nil, 0, fmt.Errorf("%w: length cut short", ErrMalformed)
		}
		headBytes += size
		n = binary.BigEndian.Uint64(buf[:])
		// Shortest form: 24 … 255 in one byte, else above what half as
		// many bytes hold.
		if size == 1 && n < 24 || size > 1 && n < 1<<(8*size/2) {
			return nil, 0, fmt.Errorf("%w: length %d in %d bytes", ErrNotCanonical, n, size)
		}
	default:
		return nil, 0, fmt.Errorf("%w: byte string head %#x", ErrMalformed, head)
	}
	if n > MaxEnvelopeBytes {
		return nil, 0, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, MaxEnvelopeBytes)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(s.r, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, 0, fmt.Errorf("%w: item of %d bytes cut short", ErrMalformed, n)
		}
		return nil, 0, err
	}
	return b, int64(headBytes) + int64(n), nil
}
