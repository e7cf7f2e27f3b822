package codectest

import "github.com/cairnmesh/cairn/codec"

// GoodStream is an envelope stream (codec.StreamReader) of the GoodEnvelopes
// message-20 and receipt, in that order.
const GoodStream = "5828" + "870101488f54b4ddca02918b1a00015180010054000102030405060708090a0b0c0d0e0f10111213" +
	"589d" + "870102488f54b4ddca02918b1a00093a80020058888358208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3948250b48ac4c7d9228c1c7bb28a4d344c5daa500036434f4b566f8164e10590d9b3115b5840022d998e68fdba0a62e256503224d0ec74611164a661099078678a0be1e5be0d7c4d53e791d5c0a7a8ceba22029a57fbd6d8f38bd5a1112c7957b370e471770a"

// BadStreams are envelope streams whose framing codec.StreamReader must
// refuse with Want. Each is read from the start: the items before the bad
// one are returned, then the error.
var BadStreams = []Bad{
	{"cut-in-item", "5828" + "870101488f54b4ddca02918b1a0001518001", codec.ErrMalformed, "an item shorter than its length"},
	{"cut-in-length", "59" + "01", codec.ErrMalformed, "a two-byte length with one byte"},
	{"reserved-length", "5c", codec.ErrMalformed, "additional information 28 is reserved"},
	{"indefinite", "5f" + "4101" + "ff", codec.ErrIndefinite, "an indefinite-length byte string of chunks"},
	{"tagged", "d818" + "4101", codec.ErrTagged, "tag 24 (encoded CBOR data item) around the item"},
	{"text", "6161", codec.ErrShape, "a text string where a byte string belongs"},
	{"array", "870101488f54b4ddca02918b1a00015180010054000102030405060708090a0b0c0d0e0f10111213",
		codec.ErrShape, "a bare envelope, not wrapped in a byte string"},
	{"null", "f6", codec.ErrShape, "null"},
	{"long-length-1", "5803" + "010203", codec.ErrNotCanonical, "length 3 in one extra byte"},
	{"long-length-2", "590018" + "000102030405060708090a0b0c0d0e0f1011121314151617", codec.ErrNotCanonical, "length 24 in two bytes"},
	{"oversize", "5a00010001", codec.ErrTooLarge, "65,537 bytes declared: refused before reading them"},
	{"huge", "5bffffffffffffffff", codec.ErrTooLarge, "2⁶⁴−1 bytes declared"},
	{"after-good", "4101" + "7f", codec.ErrShape, "a good item (not an envelope: the stream does not care) then an indefinite text string"},
}
