package relay

import (
	"errors"
	"syscall"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/store"
)

// Reason codes a PUBACK may carry (MQTT 5 §3.4.2.1).
var (
	codeSuccess        = packets.CodeSuccess
	codeUnspecified    = packets.Code{Code: 0x80, Reason: "unspecified error"}
	codeImplementation = packets.Code{Code: 0x83, Reason: "implementation specific error"}
	codeNotAuthorized  = packets.Code{Code: 0x87, Reason: "not authorized"}
	codeQuotaExceeded  = packets.Code{Code: 0x97, Reason: "quota exceeded"}
	codePayloadInvalid = packets.Code{Code: 0x99, Reason: "payload format invalid"}
)

// refusal maps an error from the ingest path to the PUBACK reason code and
// the short reason used in logs and counters. This is the one place where
// errors become reason codes.
func refusal(err error) (packets.Code, string) {
	switch {
	case err == nil, errors.Is(err, store.ErrDuplicate):
		return codeSuccess, ""
	case errors.Is(err, codec.ErrBadSignature), errors.Is(err, codec.ErrWrongOwner):
		return codeNotAuthorized, codec.Reason(err)
	case errors.Is(err, store.ErrQuota):
		return codeQuotaExceeded, "quota"
	case errors.Is(err, syscall.ENOSPC): // the store's disk is full: nothing was written
		return codeQuotaExceeded, "disk_full"
	case errors.Is(err, store.ErrTooLarge), errors.Is(err, codec.ErrTooLarge):
		return codeQuotaExceeded, "too_large"
	case errors.Is(err, store.ErrExpired):
		return codeImplementation, "expired"
	case errors.Is(err, store.ErrHopLimit):
		return codeImplementation, "hop_limit"
	case errors.Is(err, errWrongTopic):
		return codeNotAuthorized, "wrong_topic"
	}
	if r := codec.Reason(err); r != "other" {
		return codePayloadInvalid, r
	}
	return codeUnspecified, "internal"
}
