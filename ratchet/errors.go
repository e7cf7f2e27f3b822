package ratchet

import "errors"

// Sentinel errors, returned wrapped with detail; branch with errors.Is.
var (
	// ErrUndecryptable means no key of the session (or, for AcceptSession,
	// of the prekeys) opens the message. Trial decryption cannot tell
	// apart a message for another session, a forgery, a replay, a message
	// whose key was dropped, and one more than MaxSkip ahead, so all get
	// this error. The session is unchanged.
	ErrUndecryptable = errors.New("no key opens the message")
	ErrBadIdentity   = errors.New("bad identity key")
	ErrBadBundle     = errors.New("bad prekey bundle")
	ErrBadSignature  = errors.New("bad prekey signature")
	ErrNoKEM         = errors.New("bundle has no ML-KEM prekey")
	ErrBadPrekeys    = errors.New("bad prekeys")
	ErrBadSession    = errors.New("bad session")
	ErrTooLarge      = errors.New("too large")
	// ErrChainExhausted means the sending chain reached 2^32 messages
	// without a reply that lets the session start a new one.
	ErrChainExhausted = errors.New("sending chain exhausted")
)
