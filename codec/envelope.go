package codec

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"unicode/utf8"
)

// Spec constants from DESIGN.md "Envelope v1".
const (
	Version = 1 // the only envelope version

	envelopeItems = 7 // [version, kind, to, ttl, prio, hops, body]
)

// Implementation limits.
const (
	// MaxEnvelopeBytes is the largest encoded envelope any decoder accepts,
	// checked before parsing. Relays may configure a smaller cap. 64 KiB
	// holds a prekey bundle with an ML-KEM-768 key (1,184 bytes) many times
	// over and is about 270 full LoRa frames, already a day of airtime at SF12.
	MaxEnvelopeBytes = 64 << 10
	// MaxTTLSeconds is the largest ttl on the wire; relays cap further (7 days
	// by default).
	MaxTTLSeconds = 1<<32 - 1
	// MaxHops is the largest hop count on the wire.
	MaxHops = 255
)

// Kind says what an envelope carries.
type Kind uint8

const (
	KindMessage       Kind = 1
	KindReceipt       Kind = 2
	KindBundle        Kind = 3 // prekey bundle
	KindBundleRequest Kind = 4
	KindTransfer      Kind = 5
)

func (k Kind) valid() bool { return KindMessage <= k && k <= KindTransfer }

func (k Kind) String() string {
	switch k {
	case KindMessage:
		return "message"
	case KindReceipt:
		return "receipt"
	case KindBundle:
		return "bundle"
	case KindBundleRequest:
		return "bundle-request"
	case KindTransfer:
		return "transfer"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Prio is an envelope's priority. Higher values are delivered first and
// evicted last.
type Prio uint8

const (
	PrioBulk   Prio = 0
	PrioNormal Prio = 1
	PrioUrgent Prio = 2
)

func (p Prio) valid() bool { return p <= PrioUrgent }

func (p Prio) String() string {
	switch p {
	case PrioBulk:
		return "bulk"
	case PrioNormal:
		return "normal"
	case PrioUrgent:
		return "urgent"
	}
	return fmt.Sprintf("prio(%d)", uint8(p))
}

// Envelope is envelope v1. The version is implicit: it is always Version.
// The zero value is not valid; Encode it only after setting Kind.
type Envelope struct {
	Kind Kind
	To   Tag
	TTL  uint32 // seconds of life left
	Prio Prio
	Hops uint8 // relays passed
	Body []byte
}

// Encode returns the deterministic CBOR encoding of e, in one allocation of
// exactly EncodedSize bytes.
func (e *Envelope) Encode() []byte {
	b := make([]byte, 0, e.EncodedSize())
	b = appendHead(b, cborArray, envelopeItems)
	b = appendHead(b, cborUint, Version)
	b = appendHead(b, cborUint, uint64(e.Kind))
	b = appendHead(b, cborBytes, TagSize)
	b = append(b, e.To[:]...)
	b = appendHead(b, cborUint, uint64(e.TTL))
	b = appendHead(b, cborUint, uint64(e.Prio))
	b = appendHead(b, cborUint, uint64(e.Hops))
	b = appendHead(b, cborBytes, uint64(len(e.Body)))
	return append(b, e.Body...)
}

// EncodedSize returns len(e.Encode()) without encoding.
func (e *Envelope) EncodedSize() int {
	return 1 + headSize(Version) + headSize(uint64(e.Kind)) + headSize(TagSize) + TagSize +
		headSize(uint64(e.TTL)) + headSize(uint64(e.Prio)) + headSize(uint64(e.Hops)) +
		headSize(uint64(len(e.Body))) + len(e.Body)
}

// ID returns the envelope's id: the first IDSize bytes of the SHA-256 of
// the deterministic CBOR array [version, kind, to, prio, body]
// (docs/protocol.md). The encoding is written straight into the hash, so
// the body is not copied.
func (e *Envelope) ID() ID {
	var b [40]byte // the array up to the body's bytes: at most 1+1+2+9+2+9
	pre := appendHead(b[:0], cborArray, 5)
	pre = appendHead(pre, cborUint, Version)
	pre = appendHead(pre, cborUint, uint64(e.Kind))
	pre = appendHead(pre, cborBytes, TagSize)
	pre = append(pre, e.To[:]...)
	pre = appendHead(pre, cborUint, uint64(e.Prio))
	pre = appendHead(pre, cborBytes, uint64(len(e.Body)))
	h := sha256.New()
	h.Write(pre)
	h.Write(e.Body)
	var sum [sha256.Size]byte
	var id ID
	copy(id[:], h.Sum(sum[:0]))
	return id
}

// DecodeEnvelope decodes untrusted bytes into an envelope. It accepts only the
// exact encoding Encode produces for a valid envelope: at most
// MaxEnvelopeBytes, a definite-length array of exactly 7 items, no tags, no
// trailing bytes, shortest integers, an 8-byte tag, a known version, kind and
// priority. The envelope does not retain data.
//
// It refuses in the order of docs/protocol.md ("Decoding untrusted bytes"),
// with the sentinel the CBOR library-based decoder it replaces gave for every
// input (FuzzEnvelopeDifferential holds it to that).
func DecodeEnvelope(data []byte) (*Envelope, error) {
	if len(data) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), MaxEnvelopeBytes)
	}
	u, to, body, err := parseEnvelope(data)
	if err != nil {
		return nil, fmt.Errorf("decoding envelope: %w", err)
	}
	version, kind, ttl, prio, hops := u[0], u[1], u[3], u[4], u[5]
	switch {
	case version != Version:
		return nil, fmt.Errorf("%w: %d", ErrVersion, version)
	case kind > 255 || !Kind(kind).valid():
		return nil, fmt.Errorf("%w: %d", ErrKind, kind)
	case len(to) != TagSize:
		return nil, fmt.Errorf("%w: to is %d bytes, want %d", ErrShape, len(to), TagSize)
	case ttl > MaxTTLSeconds:
		return nil, fmt.Errorf("%w: ttl %d", ErrRange, ttl)
	case prio > 255 || !Prio(prio).valid():
		return nil, fmt.Errorf("%w: %d", ErrPrio, prio)
	case hops > MaxHops:
		return nil, fmt.Errorf("%w: hops %d", ErrRange, hops)
	}
	e := &Envelope{
		Kind: Kind(kind),
		TTL:  uint32(ttl),
		Prio: Prio(prio),
		Hops: uint8(hops),
		Body: bytes.Clone(body), // not nil, as before, for an empty body
	}
	copy(e.To[:], to)
	return e, nil
}

var envelopeItemNames = [envelopeItems]string{"version", "kind", "to", "ttl", "prio", "hops", "body"}

// parseEnvelope reads data as one envelope array and returns its integers by
// position (u[2] and u[6] unused), and its to and body, which alias data. The
// values are not checked; all else is, in the order decodeStrict found
// faults: the first well-formedness fault, reading front to back (trailing
// bytes last), then the first item of the wrong type, then any head not in
// the shortest form.
func parseEnvelope(data []byte) (u [envelopeItems]uint64, to, body []byte, err error) {
	c := cursor{data: data}
	major, ai, n, err := c.head()
	if err != nil {
		return u, nil, nil, err
	}
	if major != cborArray || ai == 31 || n != envelopeItems {
		return u, nil, nil, refuseEnvelope(data)
	}
	canonical := c.off == 1
	// The first item of the wrong type (or text that is not UTF-8): it is
	// reported only if the whole input is well formed.
	var typeErr error
	for i := range envelopeItems {
		start := c.off
		major, ai, n, err := c.item(1)
		if err != nil {
			return u, nil, nil, err
		}
		switch {
		case i == 2 || i == 6:
			if major != cborBytes {
				break
			}
			canonical = canonical && c.off-start-int(n) == headSize(n)
			if i == 2 {
				to = data[c.off-int(n) : c.off]
			} else {
				body = data[c.off-int(n) : c.off]
			}
			continue
		case major == cborUint:
			canonical = canonical && c.off-start == headSize(n)
			u[i] = n
			continue
		case major == cborSimple && ai != 20 && ai != 21 && ai < 25: // neither a bool nor a float
			// The library decoded null and undefined into an integer as 0,
			// and any other simple value as its number, without error: the
			// re-encoding check refused them.
			canonical = false
			continue
		case major == cborText && typeErr == nil && !utf8.Valid(data[c.off-int(n):c.off]):
			// The library checked text for UTF-8 before its type.
			typeErr = fmt.Errorf("%w: %s is text, not UTF-8", ErrMalformed, envelopeItemNames[i])
			continue
		}
		if typeErr == nil {
			want := "unsigned integer"
			if i == 2 || i == 6 {
				want = "byte string"
			}
			typeErr = fmt.Errorf("%w: %s is %s, want %s", ErrShape, envelopeItemNames[i], majorName(data[start:]), want)
		}
	}
	switch {
	case c.off != len(data):
		return u, nil, nil, fmt.Errorf("%w: %d bytes after the envelope", ErrTrailing, len(data)-c.off)
	case typeErr != nil:
		return u, nil, nil, typeErr
	case !canonical:
		return u, nil, nil, fmt.Errorf("%w: a head not in the shortest form", ErrNotCanonical)
	}
	return u, to, body, nil
}

// refuseEnvelope explains why data, whose first head is not that of a definite
// array of 7, is not an envelope.
func refuseEnvelope(data []byte) error {
	c := cursor{data: data}
	major, _, n, err := c.item(0)
	switch {
	case err != nil:
		return err
	case c.off != len(data):
		return fmt.Errorf("%w: %d bytes after the data item", ErrTrailing, len(data)-c.off)
	case major == cborText && !utf8.Valid(data[c.off-int(n):]):
		return fmt.Errorf("%w: text, not UTF-8", ErrMalformed)
	case major == cborArray:
		return fmt.Errorf("%w: array of %d items, want %d", ErrShape, n, envelopeItems)
	}
	return fmt.Errorf("%w: %s, want an array", ErrShape, majorName(data))
}
