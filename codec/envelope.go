package codec

import (
	"crypto/sha256"
	"fmt"
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

// wireEnvelope is the CBOR array on the wire.
type wireEnvelope struct {
	_       struct{} `cbor:",toarray"`
	Version uint64
	Kind    uint64
	To      bstr
	TTL     uint64
	Prio    uint64
	Hops    uint64
	Body    bstr
}

func (w *wireEnvelope) hasNull() bool { return w.To == nil || w.Body == nil }

// Encode returns the deterministic CBOR encoding of e.
func (e *Envelope) Encode() []byte {
	return mustMarshal(&wireEnvelope{
		Version: Version,
		Kind:    uint64(e.Kind),
		To:      e.To[:],
		TTL:     uint64(e.TTL),
		Prio:    uint64(e.Prio),
		Hops:    uint64(e.Hops),
		Body:    e.Body,
	})
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
func DecodeEnvelope(data []byte) (*Envelope, error) {
	if len(data) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), MaxEnvelopeBytes)
	}
	var w wireEnvelope
	if err := decodeStrict(data, &w); err != nil {
		return nil, fmt.Errorf("decoding envelope: %w", err)
	}
	switch {
	case w.Version != Version:
		return nil, fmt.Errorf("%w: %d", ErrVersion, w.Version)
	case w.Kind > 255 || !Kind(w.Kind).valid():
		return nil, fmt.Errorf("%w: %d", ErrKind, w.Kind)
	case len(w.To) != TagSize:
		return nil, fmt.Errorf("%w: to is %d bytes, want %d", ErrShape, len(w.To), TagSize)
	case w.TTL > MaxTTLSeconds:
		return nil, fmt.Errorf("%w: ttl %d", ErrRange, w.TTL)
	case w.Prio > 255 || !Prio(w.Prio).valid():
		return nil, fmt.Errorf("%w: %d", ErrPrio, w.Prio)
	case w.Hops > MaxHops:
		return nil, fmt.Errorf("%w: hops %d", ErrRange, w.Hops)
	}
	e := &Envelope{
		Kind: Kind(w.Kind),
		TTL:  uint32(w.TTL),
		Prio: Prio(w.Prio),
		Hops: uint8(w.Hops),
		Body: []byte(w.Body),
	}
	copy(e.To[:], w.To)
	return e, nil
}
