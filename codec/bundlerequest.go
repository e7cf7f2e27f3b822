package codec

import "fmt"

// Spec constants of the bundle request body (docs/crypto.md, "Bundle
// exchange through relays").
const (
	bundleRequestVersion = 1
	bundleRequestItems   = 2 // [version, reply tag]
)

// BundleRequest is the body of a kind-4 envelope: where the answer to a
// request for the prekey bundle of the envelope's To goes. Relays read it
// to answer from the bundles they hold; owners' clients read it to answer
// with their own. The encoding is 11 bytes: 82 01 48 <reply tag>.
type BundleRequest struct {
	Reply Tag // tag of a one-time key the requester reads the answer with
}

type wireBundleRequest struct {
	_       struct{} `cbor:",toarray"`
	Version uint64
	Reply   bstr
}

func (w *wireBundleRequest) hasNull() bool { return w.Reply == nil }

// Encode returns the deterministic CBOR encoding of the request body.
func (r *BundleRequest) Encode() []byte {
	return mustMarshal(&wireBundleRequest{Version: bundleRequestVersion, Reply: bstr(r.Reply[:])})
}

// DecodeBundleRequest strictly decodes a bundle request body: exactly the
// bytes Encode produces, version 1, an 8-byte reply tag. It does not retain
// body.
func DecodeBundleRequest(body []byte) (*BundleRequest, error) {
	if len(body) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("%w: bundle request of %d bytes", ErrTooLarge, len(body))
	}
	var w wireBundleRequest
	if err := decodeStrict(body, &w); err != nil {
		return nil, fmt.Errorf("decoding bundle request: %w", err)
	}
	switch {
	case w.Version != bundleRequestVersion:
		return nil, fmt.Errorf("%w: bundle request version %d", ErrVersion, w.Version)
	case len(w.Reply) != TagSize:
		return nil, fmt.Errorf("%w: reply tag is %d bytes, want %d", ErrShape, len(w.Reply), TagSize)
	}
	r := &BundleRequest{}
	copy(r.Reply[:], w.Reply)
	return r, nil
}
