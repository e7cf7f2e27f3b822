package radio

// MaxKISSFrameBytes bounds a decoded KISS frame, command byte included. The
// longest frame an RNode sends in normal use is a DATA frame of RNodeMTU
// (508) bytes; 1024 leaves room for the informational frames of newer
// firmware. Policy at the bound: the frame is dropped, counted in
// KISSStats.Oversize, and the decoder skips to the next FEND.
const MaxKISSFrameBytes = 1024

// AppendKISS appends the KISS frame FEND cmd payload FEND to dst, escaping
// FEND and FESC in the command and the payload, and returns the result.
func AppendKISS(dst []byte, cmd byte, payload []byte) []byte {
	dst = append(dst, FEND)
	dst = appendEscaped(dst, cmd)
	for _, b := range payload {
		dst = appendEscaped(dst, b)
	}
	return append(dst, FEND)
}

func appendEscaped(dst []byte, b byte) []byte {
	switch b {
	case FEND:
		return append(dst, FESC, TFEND)
	case FESC:
		return append(dst, FESC, TFESC)
	}
	return append(dst, b)
}

// KISSStats counts what a KISSDecoder threw away.
type KISSStats struct {
	Frames    uint64 // frames delivered
	Garbage   uint64 // bytes outside any frame (before the first FEND)
	Oversize  uint64 // frames longer than the decoder's limit
	BadEscape uint64 // frames with FESC followed by anything but TFEND or TFESC
}

// KISSDecoder splits a byte stream from an untrusted serial line into KISS
// frames. It resynchronises on every FEND: bytes before the first FEND are
// garbage, an empty frame (FEND FEND) is the idle fill KISS allows, and a
// frame that is too long or badly escaped is dropped whole.
//
// The zero value is ready to use with limit MaxKISSFrameBytes. A
// KISSDecoder is not safe for concurrent use.
type KISSDecoder struct {
	Max int // largest decoded frame, command included; 0 means MaxKISSFrameBytes

	buf     []byte
	state   kissState
	escaped bool
	stats   KISSStats
}

type kissState uint8

const (
	kissHunting  kissState = iota // before the first FEND
	kissInFrame                   // after a FEND
	kissSkipping                  // dropping a bad frame until the next FEND
)

// Feed decodes p and calls fn for each complete frame, in order. The
// payload slice is valid only during the call.
func (d *KISSDecoder) Feed(p []byte, fn func(cmd byte, payload []byte)) {
	limit := d.Max
	if limit <= 0 {
		limit = MaxKISSFrameBytes
	}
	for _, b := range p {
		if b == FEND {
			if d.state == kissInFrame && d.escaped {
				d.stats.BadEscape++
			} else if d.state == kissInFrame && len(d.buf) > 0 {
				d.stats.Frames++
				fn(d.buf[0], d.buf[1:])
			}
			d.state, d.escaped, d.buf = kissInFrame, false, d.buf[:0]
			continue
		}
		switch d.state {
		case kissHunting:
			d.stats.Garbage++
			continue
		case kissSkipping:
			continue
		}
		if d.escaped {
			d.escaped = false
			switch b {
			case TFEND:
				b = FEND
			case TFESC:
				b = FESC
			default:
				d.stats.BadEscape++
				d.state = kissSkipping
				continue
			}
		} else if b == FESC {
			d.escaped = true
			continue
		}
		if len(d.buf) >= limit {
			d.stats.Oversize++
			d.state = kissSkipping
			continue
		}
		d.buf = append(d.buf, b)
	}
}

// Reset forgets any partial frame and hunts for the next FEND, as after
// reopening a port.
func (d *KISSDecoder) Reset() {
	d.state, d.escaped, d.buf = kissHunting, false, d.buf[:0]
}

// Stats returns the decoder's counters.
func (d *KISSDecoder) Stats() KISSStats { return d.stats }
