package ratchet

import "crypto/mlkem"

// Spec constants: sizes fixed by the primitives and by the Signal
// specifications.
const (
	keySize    = 32 // X25519 keys, chain, root, header and message keys
	tagSize    = 16 // Poly1305 tag
	sampleSize = 16 // RFC 9001 section 5.4.2: ciphertext sampled for the header mask

	ckMessageInput = 0x01 // Double Ratchet section 5.2: KDF_CK input for a message key
	ckChainInput   = 0x02 // and for the next chain key

	kemCiphertextSize = mlkem.CiphertextSize768
	kemKeySize        = mlkem.EncapsulationKeySize768
	kemSeedSize       = mlkem.SeedSize
)

// Protocol strings. Each KDF use has its own, so no two derive the same
// bytes. The X3DH and PQXDH info strings follow the specifications' advice
// to name the application, curve, hash and KEM.
const (
	infoX3DH  = "Cairn_X3DH_CURVE25519_SHA-256"
	infoPQXDH = "Cairn_PQXDH_CURVE25519_SHA-256_ML-KEM-768"
	infoSeal  = "cairn/seal/v1"
	infoInit  = "cairn/ratchet/init/v1"
	infoRoot  = "cairn/ratchet/root/v1"
	infoMsg   = "cairn/ratchet/msg/v1"
	ctxSPK    = "cairn/spk/v1" // signature context of a signed prekey
	ctxKEM    = "cairn/kem/v1" // signature context of an ML-KEM prekey
)

// Wire constants of the ratchet message (docs/crypto.md, "Message format").
const (
	wireVersion = 1

	formShort byte = wireVersion<<4 | 0 // header: form, counter
	formKeyed byte = wireVersion<<4 | 1 // header: form, ratchet key, counter

	shortHeaderSize = 1 + 4
	keyedHeaderSize = 1 + keySize + 4

	innerBase    byte = wireVersion << 4 // first byte of the sealed part of an initial message
	innerHasOPK  byte = 0x01
	innerHasKEM  byte = 0x02
	innerMinSize      = 1 + keySize + keySize // flags, sender identity, first ratchet key
	innerMaxSize      = innerMinSize + 4 + kemCiphertextSize

	// MessageOverhead is what an established session adds to a plaintext:
	// a 5-byte protected header and a 16-byte tag.
	MessageOverhead = shortHeaderSize + tagSize
	// KeyedMessageOverhead is the overhead of a message that carries a new
	// ratchet public key, sent until the peer shows it has the key.
	KeyedMessageOverhead = keyedHeaderSize + tagSize
	// InitialOverheadClassical and InitialOverheadPQ are the overheads of
	// the messages that set up a session, with a one-time prekey.
	InitialOverheadClassical = keySize + innerMinSize + 4 + MessageOverhead
	InitialOverheadPQ        = InitialOverheadClassical + kemCiphertextSize
)

// Implementation limits. Each bounds memory or work for any input.
const (
	// MaxSkip is how far ahead of the next expected counter a message on
	// one receiving chain may be. A message further ahead is refused and
	// changes nothing.
	MaxSkip = 500
	// MaxSkippedKeys caps the message keys kept for messages that have not
	// arrived, over all chains of a session. At the cap the oldest is
	// dropped, and its message can no longer be read.
	MaxSkippedKeys = 1000
	// MaxReceivingChains is how many of the peer's sending chains a session
	// keeps open for late messages. A ratchet step that opens one more
	// closes the oldest.
	MaxReceivingChains = 5
	// DefaultRekeyInterval is how many messages a session sends between
	// new ratchet keys of its own, when it is its turn to send one.
	DefaultRekeyInterval = 16
	// MaxPlaintextBytes is the largest plaintext Encrypt accepts. An
	// envelope body must fit codec.MaxEnvelopeBytes with the overheads.
	MaxPlaintextBytes = 60 << 10
	// MaxOneTimePrekeys is the most one-time prekeys a bundle carries and
	// the most Prekeys keeps.
	MaxOneTimePrekeys = 100

	maxBundleBytes  = 16 << 10
	maxPrekeysBytes = 16 << 10
	maxSessionBytes = 128 << 10
)
