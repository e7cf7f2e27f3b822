// Package codec defines every byte that crosses a Cairn wire in the clear:
// envelope v1, envelope ids, routing tags, signed receipts, bundle request
// bodies, did:key strings for Ed25519 keys and the MQTT authentication token.
//
// The contract is ../shared/DESIGN.md ("Envelope v1", "MQTT"); docs/protocol.md
// shows each format byte by byte. Envelopes are CBOR (RFC 8949) in core
// deterministic encoding (section 4.2.1). Decoders accept exactly the bytes
// the encoders produce: any input that does not re-encode to itself is refused,
// so an envelope has one and only one wire form and one id.
//
// Decoders take untrusted bytes. They check the size cap before parsing and
// return one of the sentinel errors in errors.go, wrapped with detail; callers
// branch with errors.Is.
package codec
