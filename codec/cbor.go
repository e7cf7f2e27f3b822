package codec

import "github.com/fxamacker/cbor/v2"

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

// decodeStrict decodes data into v and then checks that v encodes back to
// exactly data. That one check refuses non-shortest integers and lengths,
// text strings where byte strings belong, and every other alternative
// spelling, so each value has a single wire form.
func decodeStrict(data []byte, v any) error {
	if err := decMode.Unmarshal(data, v); err != nil {
		return classify(err)
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
