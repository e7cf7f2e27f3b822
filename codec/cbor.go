package codec

import (
	"fmt"

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

func mustMarshal(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		// Only our own fixed types are marshalled; they always encode.
		panic("codec: encoding " + err.Error())
	}
	return b
}
