package codec

import (
	"crypto/ed25519"
	"fmt"
)

// Spec constants from DESIGN.md "Envelope v1", receipts.
const (
	receiptContext = "cairn/receipt/v1"
	receiptItems   = 3 // [owner key, [id, …], signature]
)

// MaxReceiptIDs is the most ids one receipt may acknowledge (implementation
// limit). 1,024 ids encode in about 18 KiB, well under MaxEnvelopeBytes.
const MaxReceiptIDs = 1024

// Receipt is the body of a kind-2 envelope: the recipient's signed statement
// that it holds the listed envelopes, so relays may delete their copies.
type Receipt struct {
	Owner     ed25519.PublicKey // the recipient's identity key; tag(Owner) must equal the envelope's To
	IDs       []ID
	Signature []byte // Ed25519 by Owner over "cairn/receipt/v1" ‖ IDs
}

type wireReceipt struct {
	_         struct{} `cbor:",toarray"`
	Owner     bstr
	IDs       []bstr
	Signature bstr
}

func (w *wireReceipt) hasNull() bool {
	if w.Owner == nil || w.IDs == nil || w.Signature == nil {
		return true
	}
	for _, id := range w.IDs {
		if id == nil {
			return true
		}
	}
	return false
}

// SignReceipt returns a receipt for ids signed by key.
func SignReceipt(key ed25519.PrivateKey, ids []ID) *Receipt {
	return &Receipt{
		Owner:     key.Public().(ed25519.PublicKey),
		IDs:       append([]ID(nil), ids...),
		Signature: ed25519.Sign(key, receiptMessage(ids)),
	}
}

func receiptMessage(ids []ID) []byte {
	m := make([]byte, 0, len(receiptContext)+IDSize*len(ids))
	m = append(m, receiptContext...)
	for _, id := range ids {
		m = append(m, id[:]...)
	}
	return m
}

// Envelope wraps the receipt in a kind-2 envelope addressed to its owner's
// own tag, as relays require.
func (r *Receipt) Envelope(ttlSeconds uint32, prio Prio) *Envelope {
	return &Envelope{Kind: KindReceipt, To: TagOf(r.Owner), TTL: ttlSeconds, Prio: prio, Body: r.Encode()}
}

// Encode returns the deterministic CBOR encoding of the receipt body.
func (r *Receipt) Encode() []byte {
	w := wireReceipt{Owner: bstr(r.Owner), IDs: make([]bstr, len(r.IDs)), Signature: r.Signature}
	for i := range r.IDs {
		w.IDs[i] = r.IDs[i][:]
	}
	return mustMarshal(&w)
}

// DecodeReceipt strictly decodes a receipt body. It checks shape and sizes,
// not the signature: call Verify for that.
func DecodeReceipt(body []byte) (*Receipt, error) {
	if len(body) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("%w: receipt of %d bytes", ErrTooLarge, len(body))
	}
	var w wireReceipt
	if err := decodeStrict(body, &w); err != nil {
		return nil, fmt.Errorf("decoding receipt: %w", err)
	}
	switch {
	case len(w.Owner) != ed25519.PublicKeySize:
		return nil, fmt.Errorf("%w: owner key is %d bytes, want %d", ErrShape, len(w.Owner), ed25519.PublicKeySize)
	case len(w.Signature) != ed25519.SignatureSize:
		return nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrShape, len(w.Signature), ed25519.SignatureSize)
	case len(w.IDs) == 0:
		return nil, ErrEmptyReceipt
	case len(w.IDs) > MaxReceiptIDs:
		return nil, fmt.Errorf("%w: %d ids, limit %d", ErrTooLarge, len(w.IDs), MaxReceiptIDs)
	}
	r := &Receipt{Owner: ed25519.PublicKey(w.Owner), IDs: make([]ID, len(w.IDs)), Signature: []byte(w.Signature)}
	for i, id := range w.IDs {
		if len(id) != IDSize {
			return nil, fmt.Errorf("%w: id %d is %d bytes, want %d", ErrShape, i, len(id), IDSize)
		}
		copy(r.IDs[i][:], id)
	}
	return r, nil
}

// Verify checks the signature and that the owner's key owns to, the tag the
// receipt envelope was addressed to. It also refuses the shapes DecodeReceipt
// refuses, so a Receipt built by hand cannot pass where its encoding would
// not (and a short key cannot make ed25519.Verify panic).
func (r *Receipt) Verify(to Tag) error {
	switch {
	case len(r.Owner) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: owner key is %d bytes, want %d", ErrShape, len(r.Owner), ed25519.PublicKeySize)
	case len(r.Signature) != ed25519.SignatureSize:
		return fmt.Errorf("%w: signature is %d bytes, want %d", ErrShape, len(r.Signature), ed25519.SignatureSize)
	case len(r.IDs) == 0:
		return ErrEmptyReceipt
	case len(r.IDs) > MaxReceiptIDs:
		return fmt.Errorf("%w: %d ids, limit %d", ErrTooLarge, len(r.IDs), MaxReceiptIDs)
	}
	if TagOf(r.Owner) != to {
		return ErrWrongOwner
	}
	if !ed25519.Verify(r.Owner, receiptMessage(r.IDs), r.Signature) {
		return ErrBadSignature
	}
	return nil
}

// OpenReceipt decodes and verifies the receipt carried by e.
func OpenReceipt(e *Envelope) (*Receipt, error) {
	if e.Kind != KindReceipt {
		return nil, ErrNotAReceipt
	}
	r, err := DecodeReceipt(e.Body)
	if err != nil {
		return nil, err
	}
	if err := r.Verify(e.To); err != nil {
		return nil, fmt.Errorf("verifying receipt: %w", err)
	}
	return r, nil
}
