package codec

import "fmt"

// The envelope codec as it was before DecodeEnvelope and Encode were written
// by hand: the CBOR library, the re-encoding check of decodeStrict, then the
// value checks. It stays as the specification the hand-written code is held
// to, byte for byte and error class for error class (FuzzEnvelopeDifferential),
// and as the baseline of the benchmarks.

// Exported for package codec_test; test builds only.
var (
	DecodeEnvelopeReference = decodeEnvelopeReference
	EncodeEnvelopeReference = encodeEnvelopeReference
)

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

func encodeEnvelopeReference(e *Envelope) []byte {
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

func decodeEnvelopeReference(data []byte) (*Envelope, error) {
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
