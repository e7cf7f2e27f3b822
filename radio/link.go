package radio

import (
	"errors"
	"fmt"

	"github.com/cairnmesh/cairn/codec"
)

// Link frame format v1 (docs/radio.md, "Link frames"). The first byte is
// VVTT IIII: version 01, type, and for fragments and NACKs the high four
// bits of a 12-bit transfer id.
//
//	whole    40                      envelope (1 … 253 bytes)
//	directed 41 dd dd                envelope (1 … 251 bytes) for neighbour d only
//	fragment 5i ii ss ss xx ll       data: transfer id i, sender s, index x, last index l
//	nack     6i ii ss ss bb          bitmap (1 … 32 bytes): fragments base+k missing, bit k LSB first
//	ack      70 ss ss                short ids (1 … 31 × 8 bytes) that sender s holds durably
//	beacon   71 ss ss                tag filter (0 … 64 bytes) of the tags sender s serves
//	summary  72 ss ss                salt, set size, first cell, cells (1 … 20 × 12 bytes): anti-entropy
//	done     73 ss ss oo oo          salt, status, wanted salted ids (0 … 30 × 8 bytes): s has read o's summary
//	serves   74 ss ss                routing tags (1 … 31 × 8 bytes) sender s serves, for a neighbour's uplink
const (
	linkVersion = 0x40 // 01 in the top two bits

	LinkWhole    = 0x0 // an unfragmented envelope; header 1 byte
	LinkFragment = 0x1 // one fragment of an envelope; header 6 bytes
	LinkNack     = 0x2 // selective repeat: the fragments a receiver lacks
	LinkControl  = 0x3 // link control; the low nibble says which (ControlAck, ControlBeacon)

	ControlAck     = 0x0 // a relay holds these envelopes durably
	ControlBeacon  = 0x1 // a relay announces itself and the tags it serves
	ControlSummary = 0x2 // anti-entropy: part of a relay's summary of what it holds
	ControlDone    = 0x3 // anti-entropy: a relay has read a summary (or gives up on it)
	ControlServes  = 0x4 // a relay without an uplink lists tags it serves, exactly (beacons carry only a filter)

	// wholeDirected in the low nibble of a whole frame's first byte: a
	// 2-byte next-hop address follows; only that neighbour takes it.
	wholeDirected = 0x1

	WholeHeaderBytes    = 1
	DirectedHeaderBytes = 3
	FragmentHeaderBytes = 6
	NackHeaderBytes     = 5
	ControlHeaderBytes  = 3

	// ShortIDBytes is the prefix of an envelope id an ack carries;
	// MaxAckIDs of them fit one frame.
	ShortIDBytes = 8
	MaxAckIDs    = (MaxFrameBytes - ControlHeaderBytes) / ShortIDBytes // 31
	// MaxBeaconFilter bounds a beacon's tag filter.
	MaxBeaconFilter = 64
	// MaxServesTags routing tags fit one serves frame.
	MaxServesTags = (MaxFrameBytes - ControlHeaderBytes) / codec.TagSize // 31

	// MaxWholeEnvelope fits one frame of MaxFrameBytes.
	MaxWholeEnvelope = MaxFrameBytes - WholeHeaderBytes // 253
	// MaxDirectedEnvelope fits one directed frame.
	MaxDirectedEnvelope = MaxFrameBytes - DirectedHeaderBytes // 251
	// FragmentDataBytes is the data in every fragment but the last, which
	// carries 1 … FragmentDataBytes.
	FragmentDataBytes = MaxFrameBytes - FragmentHeaderBytes // 248
	// MaxFragments and MaxLinkEnvelope bound a fragmented envelope: 256 ×
	// 248 = 63,488 bytes. Larger envelopes (codec allows 64 KiB) are not
	// carried over radio: Fragment refuses them.
	MaxFragments    = 256
	MaxLinkEnvelope = MaxFragments * FragmentDataBytes
	maxNackBitmap   = MaxFragments / 8
	MaxTransferID   = 0xFFF
)

// ErrBadLinkFrame is returned (wrapped) for every malformed link frame.
var ErrBadLinkFrame = errors.New("bad link frame")

// LinkFrame is a decoded link frame.
type LinkFrame struct {
	Type     byte
	Directed bool   // whole: for neighbour To only
	To       uint16 // whole, directed: the next hop; done: whose summary was read
	Control  byte   // control: ControlAck, ControlBeacon, ControlSummary, ControlDone or ControlServes
	Transfer uint16 // fragment, nack: 0 … MaxTransferID
	Sender   uint16 // fragment, control: the sender; nack: the sender of the transfer
	Index    uint8  // fragment
	Last     uint8  // fragment: index of the last fragment
	Base     uint8  // nack: index of bit 0
	Data     []byte // whole: the envelope; fragment: its data; nack: the bitmap; ack: short ids; beacon: the filter; serves: tags; summary, done: after the header
}

// Append encodes f after dst. It does not check f; DecodeLinkFrame does.
func (f LinkFrame) Append(dst []byte) []byte {
	switch f.Type {
	case LinkWhole:
		if f.Directed {
			dst = append(dst, linkVersion|wholeDirected, byte(f.To>>8), byte(f.To))
		} else {
			dst = append(dst, linkVersion)
		}
	case LinkFragment:
		dst = append(dst, linkVersion|LinkFragment<<4|byte(f.Transfer>>8&0x0F), byte(f.Transfer), byte(f.Sender>>8), byte(f.Sender), f.Index, f.Last)
	case LinkNack:
		dst = append(dst, linkVersion|LinkNack<<4|byte(f.Transfer>>8&0x0F), byte(f.Transfer), byte(f.Sender>>8), byte(f.Sender), f.Base)
	case LinkControl:
		dst = append(dst, linkVersion|LinkControl<<4|f.Control&0x0F, byte(f.Sender>>8), byte(f.Sender))
		if f.Control == ControlDone {
			dst = append(dst, byte(f.To>>8), byte(f.To))
		}
	}
	return append(dst, f.Data...)
}

// DecodeLinkFrame decodes an untrusted frame from the air strictly, so that
// Append gives back exactly b. Data aliases b.
func DecodeLinkFrame(b []byte) (LinkFrame, error) {
	bad := func(format string, args ...any) (LinkFrame, error) {
		return LinkFrame{}, fmt.Errorf("%w: %s", ErrBadLinkFrame, fmt.Sprintf(format, args...))
	}
	if len(b) == 0 || len(b) > MaxFrameBytes {
		return bad("%d bytes", len(b))
	}
	if b[0]&0xC0 != linkVersion {
		return bad("version bits %02b", b[0]>>6)
	}
	f := LinkFrame{Type: b[0] >> 4 & 0x3}
	switch f.Type {
	case LinkWhole:
		switch b[0] & 0x0F {
		case 0:
			f.Data = b[1:]
		case wholeDirected:
			if len(b) < DirectedHeaderBytes {
				return bad("directed frame of %d bytes", len(b))
			}
			f.Directed, f.To, f.Data = true, uint16(b[1])<<8|uint16(b[2]), b[3:]
		default:
			return bad("reserved bits set")
		}
		if len(f.Data) == 0 {
			return bad("empty envelope")
		}
	case LinkFragment:
		if len(b) <= FragmentHeaderBytes {
			return bad("fragment without data")
		}
		f.Transfer = uint16(b[0]&0x0F)<<8 | uint16(b[1])
		f.Sender = uint16(b[2])<<8 | uint16(b[3])
		f.Index, f.Last, f.Data = b[4], b[5], b[6:]
		switch {
		case f.Last == 0:
			return bad("a fragmented envelope has at least two fragments")
		case f.Index > f.Last:
			return bad("fragment %d of %d", f.Index, int(f.Last)+1)
		case f.Index < f.Last && len(f.Data) != FragmentDataBytes:
			return bad("fragment %d carries %d bytes, not %d", f.Index, len(f.Data), FragmentDataBytes)
		}
	case LinkNack:
		if len(b) <= NackHeaderBytes || len(b) > NackHeaderBytes+maxNackBitmap {
			return bad("nack bitmap of %d bytes", len(b)-NackHeaderBytes)
		}
		f.Transfer = uint16(b[0]&0x0F)<<8 | uint16(b[1])
		f.Sender = uint16(b[2])<<8 | uint16(b[3])
		f.Base, f.Data = b[4], b[5:]
		if f.Data[len(f.Data)-1] == 0 {
			return bad("nack bitmap with a trailing zero byte")
		}
		if int(f.Base)+8*len(f.Data) > MaxFragments+7 {
			return bad("nack bitmap past fragment 255")
		}
	case LinkControl:
		f.Control = b[0] & 0x0F
		if len(b) < ControlHeaderBytes {
			return bad("control frame of %d bytes", len(b))
		}
		f.Sender = uint16(b[1])<<8 | uint16(b[2])
		f.Data = b[3:]
		switch n := len(f.Data); f.Control {
		case ControlAck:
			if n == 0 || n%ShortIDBytes != 0 {
				return bad("ack of %d bytes, not 1 … %d short ids", n, MaxAckIDs)
			}
		case ControlBeacon:
			if n > MaxBeaconFilter {
				return bad("beacon filter of %d bytes", n)
			}
		case ControlSummary:
			if n < summaryHeaderBytes+SummaryCellBytes || (n-summaryHeaderBytes)%SummaryCellBytes != 0 {
				return bad("summary of %d bytes", n)
			}
		case ControlDone:
			if n < 2+doneHeaderBytes || (n-2-doneHeaderBytes)%8 != 0 {
				return bad("done of %d bytes", n)
			}
			f.To, f.Data = uint16(f.Data[0])<<8|uint16(f.Data[1]), f.Data[2:]
			switch st := f.Data[4]; {
			case st > DonePartial:
				return bad("done status %d", st)
			case st == DoneGaveUp && len(f.Data) > doneHeaderBytes:
				return bad("done: gave up, yet wants ids")
			}
		case ControlServes:
			if n == 0 || n%codec.TagSize != 0 {
				return bad("serves of %d bytes, not 1 … %d tags", n, MaxServesTags)
			}
		default:
			return bad("control %d", f.Control)
		}
	}
	return f, nil
}

// AppendDirected appends the frame carrying env unfragmented for neighbour
// to only.
func AppendDirected(dst []byte, to uint16, env []byte) ([]byte, error) {
	if len(env) == 0 || len(env) > MaxDirectedEnvelope {
		return nil, fmt.Errorf("directed frame: envelope of %d bytes, want 1 … %d", len(env), MaxDirectedEnvelope)
	}
	return LinkFrame{Type: LinkWhole, Directed: true, To: to, Data: env}.Append(dst), nil
}

// AppendWhole appends the frame carrying env unfragmented.
func AppendWhole(dst, env []byte) ([]byte, error) {
	if len(env) == 0 || len(env) > MaxWholeEnvelope {
		return nil, fmt.Errorf("whole frame: envelope of %d bytes, want 1 … %d", len(env), MaxWholeEnvelope)
	}
	return LinkFrame{Type: LinkWhole, Data: env}.Append(dst), nil
}

// Fragment splits env into fragment frames of transfer (0 … MaxTransferID)
// from sender. Envelopes that fit a whole frame should be sent whole.
func Fragment(sender, transfer uint16, env []byte) ([][]byte, error) {
	if len(env) <= FragmentDataBytes {
		return nil, fmt.Errorf("fragment: %d bytes fit one fragment; send whole", len(env))
	}
	if len(env) > MaxLinkEnvelope {
		return nil, fmt.Errorf("fragment: envelope of %d bytes exceeds %d", len(env), MaxLinkEnvelope)
	}
	if transfer > MaxTransferID {
		return nil, fmt.Errorf("fragment: transfer id %d exceeds %d", transfer, MaxTransferID)
	}
	n := (len(env) + FragmentDataBytes - 1) / FragmentDataBytes
	out := make([][]byte, n)
	for i := range n {
		end := min((i+1)*FragmentDataBytes, len(env))
		out[i] = LinkFrame{Type: LinkFragment, Transfer: transfer, Sender: sender, Index: uint8(i), Last: uint8(n - 1), Data: env[i*FragmentDataBytes : end]}.Append(nil)
	}
	return out, nil
}

// AppendAck appends an ack frame from sender for ids (1 … MaxAckIDs),
// each cut to its first ShortIDBytes.
func AppendAck(dst []byte, sender uint16, ids []codec.ID) ([]byte, error) {
	if len(ids) == 0 || len(ids) > MaxAckIDs {
		return nil, fmt.Errorf("ack: %d ids, want 1 … %d", len(ids), MaxAckIDs)
	}
	data := make([]byte, 0, len(ids)*ShortIDBytes)
	for _, id := range ids {
		data = append(data, id[:ShortIDBytes]...)
	}
	return LinkFrame{Type: LinkControl, Control: ControlAck, Sender: sender, Data: data}.Append(dst), nil
}

// ShortID is the prefix of an envelope id carried in acks.
type ShortID [ShortIDBytes]byte

// ShortOf returns id's short id.
func ShortOf(id codec.ID) ShortID { return ShortID(id[:ShortIDBytes]) }

// AckedIDs lists the short ids of a decoded ack frame.
func AckedIDs(f LinkFrame) []ShortID {
	out := make([]ShortID, 0, len(f.Data)/ShortIDBytes)
	for i := 0; i+ShortIDBytes <= len(f.Data); i += ShortIDBytes {
		out = append(out, ShortID(f.Data[i:i+ShortIDBytes]))
	}
	return out
}

// AppendBeacon appends a beacon frame from sender carrying filter (at
// most MaxBeaconFilter bytes; see TagFilter).
func AppendBeacon(dst []byte, sender uint16, filter TagFilter) ([]byte, error) {
	if len(filter) > MaxBeaconFilter {
		return nil, fmt.Errorf("beacon: filter of %d bytes exceeds %d", len(filter), MaxBeaconFilter)
	}
	return LinkFrame{Type: LinkControl, Control: ControlBeacon, Sender: sender, Data: filter}.Append(dst), nil
}

// AppendServes appends a serves frame from sender listing tags (1 …
// MaxServesTags routing tags it serves), so that a neighbour with an
// uplink can subscribe for them (docs/uplink.md, "Serving the tags radio
// neighbours announce").
func AppendServes(dst []byte, sender uint16, tags []codec.Tag) ([]byte, error) {
	if len(tags) == 0 || len(tags) > MaxServesTags {
		return nil, fmt.Errorf("serves: %d tags, want 1 … %d", len(tags), MaxServesTags)
	}
	data := make([]byte, 0, len(tags)*codec.TagSize)
	for _, t := range tags {
		data = append(data, t[:]...)
	}
	return LinkFrame{Type: LinkControl, Control: ControlServes, Sender: sender, Data: data}.Append(dst), nil
}

// ServedTags lists the tags of a decoded serves frame.
func ServedTags(f LinkFrame) []codec.Tag {
	out := make([]codec.Tag, 0, len(f.Data)/codec.TagSize)
	for i := 0; i+codec.TagSize <= len(f.Data); i += codec.TagSize {
		out = append(out, codec.Tag(f.Data[i:i+codec.TagSize]))
	}
	return out
}
