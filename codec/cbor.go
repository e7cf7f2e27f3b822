package codec

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/fxamacker/cbor/v2"
)

// Implementation limits of the strict decoder. They bound work and memory for
// any input, before the shape checks in each decoder.
const (
	maxNestedLevels  = 4    // envelope ⊃ receipt body ⊃ id list: 3 levels used
	maxArrayElements = 4096 // ids in one receipt are the longest array
	maxMapPairs      = 16   // no format has a map; the library needs a bound
)

var (
	// encMode is RFC 8949 section 4.2.1 core deterministic encoding.
	encMode cbor.EncMode
	// decMode refuses everything the encoder would never produce that the
	// library can spot while parsing; decodeStrict re-encodes for the rest.
	decMode cbor.DecMode
)

func init() {
	var err error
	opts := cbor.CoreDetEncOptions()
	// A nil body must still be a byte string (0x40), never null (0xf6):
	// decoders would otherwise accept null and re-encode it unchanged.
	opts.NilContainers = cbor.NilContainerAsEmpty
	if encMode, err = opts.EncMode(); err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		MaxNestedLevels:  maxNestedLevels,
		MaxArrayElements: maxArrayElements,
		MaxMapPairs:      maxMapPairs,
		IntDec:           cbor.IntDecConvertNone,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// wireValue is a wire struct that decodeStrict can check for null.
type wireValue interface {
	// hasNull reports whether a byte-string or array field is nil after
	// decoding. The library decodes CBOR null and undefined into a nil
	// slice without error, and a nil slice encodes as an empty one, so the
	// re-encode check alone would call null "not canonical" when it is
	// really a value of the wrong type.
	hasNull() bool
}

// decodeStrict decodes data into v and then checks that v encodes back to
// exactly data. That one check refuses non-shortest integers and lengths
// and every other alternative spelling the library accepts, so each value
// has a single wire form.
func decodeStrict(data []byte, v wireValue) error {
	if err := decMode.Unmarshal(data, v); err != nil {
		return classify(err)
	}
	if v.hasNull() {
		return fmt.Errorf("%w: null where a byte string or array belongs", ErrShape)
	}
	again, err := encMode.Marshal(v)
	if err != nil {
		return classify(err)
	}
	if string(again) != string(data) {
		return ErrNotCanonical
	}
	return nil
}

// CBOR major types (RFC 8949 §3.1), shifted into a head's first byte.
const (
	cborUint   = 0 << 5
	cborBytes  = 2 << 5
	cborText   = 3 << 5
	cborArray  = 4 << 5
	cborMap    = 5 << 5
	cborTag    = 6 << 5
	cborSimple = 7 << 5 // simple values, floats and the break code
)

// appendHead appends the shortest CBOR head of major type major and
// argument n (RFC 8949 §3 and §4.2.1: the deterministic encoding).
func appendHead(b []byte, major byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, major|byte(n))
	case n <= math.MaxUint8:
		return append(b, major|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, major|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, major|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, major|27), n)
}

// headSize is len(appendHead(nil, major, n)) for any major type.
func headSize(n uint64) int {
	switch {
	case n < 24:
		return 1
	case n <= math.MaxUint8:
		return 2
	case n <= math.MaxUint16:
		return 3
	case n <= math.MaxUint32:
		return 5
	}
	return 9
}

func mustMarshal(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		// Only our own fixed types are marshalled; they always encode.
		panic("codec: encoding " + err.Error())
	}
	return b
}

// bstr is a CBOR byte string in a wire struct. The library would also decode
// an array of small integers into a []byte (and null into nil); bstr accepts
// only major type 2, so every other type is a wrong shape, not a second
// spelling of the same bytes.
type bstr []byte

// UnmarshalCBOR is called by the library with exactly one well-formed data
// item of definite length (indefinite lengths and tags are refused before).
func (b *bstr) UnmarshalCBOR(item []byte) error {
	if len(item) == 0 || item[0]>>5 != 2 {
		return fmt.Errorf("%w: %s where a byte string belongs", ErrShape, majorName(item))
	}
	head := 1
	switch ai := item[0] & 0x1f; {
	case ai < 24:
	case ai <= 27:
		head += 1 << (ai - 24) // 1, 2, 4 or 8 length bytes
	default:
		return fmt.Errorf("%w: byte string head %#x", ErrMalformed, item[0])
	}
	if head > len(item) {
		return fmt.Errorf("%w: byte string head cut short", ErrMalformed)
	}
	// Copy: item aliases the caller's input, which decoders do not retain.
	*b = append(make(bstr, 0, len(item)-head), item[head:]...)
	return nil
}

func majorName(item []byte) string {
	if len(item) == 0 {
		return "nothing"
	}
	if item[0] == 0xf6 || item[0] == 0xf7 {
		return "null or undefined"
	}
	return [...]string{"unsigned integer", "negative integer", "byte string", "text string",
		"array", "map", "tag", "simple value or float"}[item[0]>>5]
}

// cursor reads CBOR data items from untrusted bytes without the library, for
// the decoders on a relay's hot path. It checks well-formedness as decMode
// does, and gives each fault the sentinel classify gives the library's error
// for it, so that a decoder built on it refuses every input with the same
// reason as one built on decodeStrict.
type cursor struct {
	data []byte
	off  int
}

// head reads the head of the next data item: its major type (cborUint …
// cborSimple), additional information and argument (0 for an indefinite
// length). It fails with ErrMalformed where the input ends, on reserved
// additional information, on an indefinite length where the major type has
// none (the break code outside an indefinite item among them) and on a
// two-byte simple value below 32.
func (c *cursor) head() (major, ai byte, arg uint64, err error) {
	if c.off >= len(c.data) {
		return 0, 0, 0, fmt.Errorf("%w: input ends where a data item belongs", ErrMalformed)
	}
	b := c.data[c.off]
	c.off++
	major, ai = b&0xe0, b&0x1f
	if ai < 24 {
		return major, ai, uint64(ai), nil
	}
	rest := c.data[c.off:]
	switch {
	case ai == 24 && len(rest) >= 1:
		arg = uint64(rest[0])
	case ai == 25 && len(rest) >= 2:
		arg = uint64(binary.BigEndian.Uint16(rest))
	case ai == 26 && len(rest) >= 4:
		arg = uint64(binary.BigEndian.Uint32(rest))
	case ai == 27 && len(rest) >= 8:
		arg = binary.BigEndian.Uint64(rest)
	case ai < 28:
		return 0, 0, 0, fmt.Errorf("%w: input ends in a head", ErrMalformed)
	case ai < 31:
		return 0, 0, 0, fmt.Errorf("%w: reserved additional information %d", ErrMalformed, ai)
	case b == 0xff:
		return 0, 0, 0, fmt.Errorf("%w: break code outside an indefinite-length item", ErrMalformed)
	case major == cborBytes || major == cborText || major == cborArray || major == cborMap:
		return major, ai, 0, nil
	default:
		return 0, 0, 0, fmt.Errorf("%w: %s with an indefinite length", ErrMalformed, majorName([]byte{b}))
	}
	c.off += 1 << (ai - 24)
	if b == 0xf8 && arg < 32 {
		return 0, 0, 0, fmt.Errorf("%w: simple value %d in two bytes", ErrMalformed, arg)
	}
	return major, ai, arg, nil
}

// item reads the next data item whole, at nesting depth depth (0 for the top
// level), and returns its head; a string's content is the arg bytes before
// c.off. Beyond head's faults it refuses, in the library's order, a string
// longer than the input left (ErrMalformed), nesting deeper than
// maxNestedLevels (ErrShape), an indefinite length (ErrIndefinite), a length
// that overflows an int (ErrMalformed), more than maxArrayElements items
// (ErrShape) or maxMapPairs pairs (ErrMalformed, as classify has it), and any
// tag (ErrTagged). Every fault is a well-formedness fault: it outranks
// whatever a decoder found wrong in the items before.
func (c *cursor) item(depth int) (major, ai byte, arg uint64, err error) {
	if major, ai, arg, err = c.head(); err != nil {
		return 0, 0, 0, err
	}
	switch major {
	case cborBytes, cborText:
		if ai == 31 {
			return 0, 0, 0, fmt.Errorf("%w: indefinite-length %s", ErrIndefinite, majorName([]byte{major}))
		}
		if left := len(c.data) - c.off; arg > uint64(left) {
			return 0, 0, 0, fmt.Errorf("%w: string of %d bytes, %d left", ErrMalformed, arg, left)
		}
		c.off += int(arg)
	case cborArray, cborMap:
		if depth++; depth > maxNestedLevels {
			return 0, 0, 0, fmt.Errorf("%w: nested deeper than %d", ErrShape, maxNestedLevels)
		}
		n := arg
		switch {
		case ai == 31:
			return 0, 0, 0, fmt.Errorf("%w: indefinite-length %s", ErrIndefinite, majorName([]byte{major}))
		case arg > math.MaxInt64:
			return 0, 0, 0, fmt.Errorf("%w: length %d", ErrMalformed, arg)
		case major == cborArray && arg > maxArrayElements:
			return 0, 0, 0, fmt.Errorf("%w: array of %d items, limit %d", ErrShape, arg, maxArrayElements)
		case major == cborMap && arg > maxMapPairs:
			return 0, 0, 0, fmt.Errorf("%w: map of %d pairs, limit %d", ErrMalformed, arg, maxMapPairs)
		case major == cborMap:
			n *= 2
		}
		for range n {
			if _, _, _, err := c.item(depth); err != nil {
				return 0, 0, 0, err
			}
		}
	case cborTag:
		return 0, 0, 0, fmt.Errorf("%w: tag %d", ErrTagged, arg)
	}
	return major, ai, arg, nil
}
