package ratchet

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A minimal CBOR (RFC 8949) writer and strict reader for the few shapes this
// package stores and sends: unsigned integers, byte strings and
// definite-length arrays, all in core deterministic encoding (section
// 4.2.1). The reader accepts exactly what the writer produces, so every
// value has one encoding. (The fxamacker/cbor library that codec uses is
// outside what DESIGN.md lets ratchet import, and these shapes need little.)

const (
	majorUint  = 0
	majorBytes = 2
	majorArray = 4
)

type cborWriter struct{ b []byte }

func (w *cborWriter) head(major byte, n uint64) {
	m := major << 5
	switch {
	case n < 24:
		w.b = append(w.b, m|byte(n))
	case n <= 0xff:
		w.b = append(w.b, m|24, byte(n))
	case n <= 0xffff:
		w.b = binary.BigEndian.AppendUint16(append(w.b, m|25), uint16(n))
	case n <= 0xffffffff:
		w.b = binary.BigEndian.AppendUint32(append(w.b, m|26), uint32(n))
	default:
		w.b = binary.BigEndian.AppendUint64(append(w.b, m|27), n)
	}
}

func (w *cborWriter) uint(n uint64)  { w.head(majorUint, n) }
func (w *cborWriter) array(n int)    { w.head(majorArray, uint64(n)) }
func (w *cborWriter) bytes(b []byte) { w.head(majorBytes, uint64(len(b))); w.b = append(w.b, b...) }
func (w *cborWriter) bool(v bool) {
	if v {
		w.uint(1)
	} else {
		w.uint(0)
	}
}

var errCBOR = errors.New("CBOR")

// cborReader reads values in sequence. The first error sticks: later reads
// return zero values, and err reports it.
type cborReader struct {
	b   []byte
	err error
}

func (r *cborReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errCBOR, fmt.Sprintf(format, args...))
	}
}

func (r *cborReader) head(major byte) uint64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[0]
	if c>>5 != major {
		r.fail("major type %d, want %d", c>>5, major)
		return 0
	}
	ai := c & 0x1f
	var n uint64
	var size int
	switch {
	case ai < 24:
		r.b = r.b[1:]
		return uint64(ai)
	case ai == 24:
		size = 1
	case ai == 25:
		size = 2
	case ai == 26:
		size = 4
	case ai == 27:
		size = 8
	default:
		r.fail("additional information %d (indefinite or reserved)", ai)
		return 0
	}
	if len(r.b) < 1+size {
		r.fail("unexpected end")
		return 0
	}
	for _, x := range r.b[1 : 1+size] {
		n = n<<8 | uint64(x)
	}
	// Shortest form only: the smallest argument size that holds n.
	if least := [...]uint64{24, 0x100, 0x10000, 0x100000000}[ai-24]; n < least {
		r.fail("non-shortest integer")
		return 0
	}
	r.b = r.b[1+size:]
	return n
}

func (r *cborReader) uint(max uint64) uint64 {
	n := r.head(majorUint)
	if n > max {
		r.fail("integer %d above %d", n, max)
		return 0
	}
	return n
}

func (r *cborReader) uint32() uint32 { return uint32(r.uint(1<<32 - 1)) }

func (r *cborReader) bool() bool { return r.uint(1) == 1 }

func (r *cborReader) array(min, max int) int {
	n := r.head(majorArray)
	if r.err == nil && (n < uint64(min) || n > uint64(max)) {
		r.fail("array of %d items, want %d to %d", n, min, max)
		return 0
	}
	return int(n)
}

// bytes reads a byte string whose length is one of sizes. The result
// aliases the input.
func (r *cborReader) bytes(sizes ...int) []byte {
	n := r.head(majorBytes)
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("byte string of %d bytes, %d left", n, len(r.b))
		return nil
	}
	ok := false
	for _, s := range sizes {
		ok = ok || n == uint64(s)
	}
	if !ok {
		r.fail("byte string of %d bytes, want one of %v", n, sizes)
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

// bytesUpTo reads a byte string of at most max bytes.
func (r *cborReader) bytesUpTo(max int) []byte {
	n := r.head(majorBytes)
	if r.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(len(r.b)) {
		r.fail("byte string of %d bytes, limit %d, %d left", n, max, len(r.b))
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *cborReader) key() (k [keySize]byte) {
	copy(k[:], r.bytes(keySize))
	return k
}

// done reports the first error, or trailing bytes.
func (r *cborReader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}
