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
		MaxMapPairs:      16,
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
	cborUint  = 0 << 5
	cborBytes = 2 << 5
	cborArray = 4 << 5
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
