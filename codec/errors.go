package codec

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Sentinel errors returned (wrapped) by the decoders and verifiers. Relays map
// them to MQTT reason codes and counter labels; see Reason.
var (
	ErrTooLarge     = errors.New("too large")
	ErrMalformed    = errors.New("malformed CBOR")
	ErrIndefinite   = errors.New("indefinite length not allowed")
	ErrTagged       = errors.New("CBOR tags not allowed")
	ErrTrailing     = errors.New("trailing bytes")
	ErrShape        = errors.New("wrong shape")
	ErrNotCanonical = errors.New("not in deterministic encoding")
	ErrVersion      = errors.New("unsupported version")
	ErrKind         = errors.New("unknown kind")
	ErrPrio         = errors.New("unknown priority")
	ErrRange        = errors.New("value out of range")
	ErrBadSignature = errors.New("bad signature")
	ErrWrongOwner   = errors.New("receipt key does not own the tag")
	ErrBadDID       = errors.New("bad did:key")
	ErrBadToken     = errors.New("bad auth token")
	ErrEmptyReceipt = errors.New("receipt lists no ids")
	ErrNotAReceipt  = errors.New("envelope is not a receipt")
	ErrBadTagString = errors.New("bad routing tag string")
)

// Reason names the sentinel error behind err in a short, stable form for
// logs and metric labels ("too_large", "bad_signature", …). It returns
// "other" for errors that did not come from this package.
func Reason(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "other"
}

var reasons = []struct {
	err  error
	name string
}{
	{ErrTooLarge, "too_large"},
	{ErrMalformed, "malformed"},
	{ErrIndefinite, "indefinite_length"},
	{ErrTagged, "cbor_tag"},
	{ErrTrailing, "trailing_bytes"},
	{ErrShape, "wrong_shape"},
	{ErrNotCanonical, "not_canonical"},
	{ErrVersion, "bad_version"},
	{ErrKind, "bad_kind"},
	{ErrPrio, "bad_prio"},
	{ErrRange, "out_of_range"},
	{ErrBadSignature, "bad_signature"},
	{ErrWrongOwner, "wrong_owner"},
	{ErrBadDID, "bad_did"},
	{ErrBadToken, "bad_token"},
	{ErrEmptyReceipt, "empty_receipt"},
	{ErrNotAReceipt, "not_a_receipt"},
	{ErrBadTagString, "bad_tag_string"},
}

// classify turns an error from the CBOR library into one of our sentinels.
// Errors from our own UnmarshalCBOR methods already carry one.
func classify(err error) error {
	if Reason(err) != "other" {
		return err
	}
	var (
		indef *cbor.IndefiniteLengthError
		tags  *cbor.TagsMdError
		extra *cbor.ExtraneousDataError
		typ   *cbor.UnmarshalTypeError
		maxa  *cbor.MaxArrayElementsError
		maxn  *cbor.MaxNestedLevelError
	)
	switch {
	case errors.As(err, &indef):
		return fmt.Errorf("%w: %v", ErrIndefinite, err)
	case errors.As(err, &tags):
		return fmt.Errorf("%w: %v", ErrTagged, err)
	case errors.As(err, &extra):
		return fmt.Errorf("%w: %v", ErrTrailing, err)
	case errors.As(err, &typ), errors.As(err, &maxa), errors.As(err, &maxn):
		return fmt.Errorf("%w: %v", ErrShape, err)
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}
