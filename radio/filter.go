package radio

import (
	"encoding/binary"

	"github.com/cairnmesh/cairn/codec"
)

// TagFilter is the compact filter of routing tags a beacon carries: a Bloom
// filter of 8·len bits with three probes per tag. Tags are SHA-256
// prefixes, already uniform, so the probes are the tag's first three
// big-endian 16-bit words modulo the filter's bit count; no further hashing.
// An empty filter holds no tag. The zero value is empty.
type TagFilter []byte

// tagFilterBitsPerTag sizes a filter: 10 bits per tag with 3 probes gives
// about 1.7 % false positives.
const tagFilterBitsPerTag = 10

// NewTagFilter builds the smallest filter, in steps of 8 bytes up to
// MaxBeaconFilter, that holds tags at about 10 bits each. Beyond 51 tags the
// filter stays at MaxBeaconFilter bytes and false positives rise (100 tags:
// about 11 %); a false positive only costs a directed copy some airtime.
func NewTagFilter(tags []codec.Tag) TagFilter {
	if len(tags) == 0 {
		return nil
	}
	n := (len(tags)*tagFilterBitsPerTag + 63) / 64 * 8
	f := make(TagFilter, min(n, MaxBeaconFilter))
	for _, t := range tags {
		for _, bit := range f.probes(t) {
			f[bit/8] |= 1 << (bit % 8)
		}
	}
	return f
}

func (f TagFilter) probes(t codec.Tag) [3]int {
	m := 8 * len(f)
	return [3]int{
		int(binary.BigEndian.Uint16(t[0:])) % m,
		int(binary.BigEndian.Uint16(t[2:])) % m,
		int(binary.BigEndian.Uint16(t[4:])) % m,
	}
}

// Has reports whether t may be in the filter (never false for a tag that is).
func (f TagFilter) Has(t codec.Tag) bool {
	if len(f) == 0 {
		return false
	}
	for _, bit := range f.probes(t) {
		if f[bit/8]&(1<<(bit%8)) == 0 {
			return false
		}
	}
	return true
}
