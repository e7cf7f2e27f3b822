// Package ratchet is Cairn's end-to-end encryption: identity keys, prekey
// bundles, session setup and the Double Ratchet, with message headers and
// the sender's identity hidden from everyone but the recipient.
//
// It implements, with the Cairn-specific choices documented in
// docs/crypto.md:
//
//   - X3DH (signal.org/docs/specifications/x3dh, revision 1) and PQXDH
//     (signal.org/docs/specifications/pqxdh, revision 3) with X25519,
//     SHA-256 and ML-KEM-768 (FIPS 203, crypto/mlkem). A session may be set
//     up classical-only, without ML-KEM, to keep the first message small for
//     contacts reached over LoRa alone.
//   - The Double Ratchet (signal.org/docs/specifications/doubleratchet,
//     revision 4) with KDF_RK = HKDF-SHA256, KDF_CK = HMAC-SHA256 with inputs
//     0x01 and 0x02, and ChaCha20-Poly1305 (RFC 8439) as the AEAD, in its
//     header-encryption variant (section 4) with two changes made for LoRa:
//     header protection in the style of QUIC (RFC 9001 section 5.4.4)
//     instead of a second AEAD, and ratchet keys sent only until the peer
//     shows it has them, so that an established session adds 21 bytes to a
//     message.
//   - did:key (w3c-ccg.github.io/did-method-key) for identities: the
//     Ed25519 signing key is the identity and its did:key is the user's
//     address; the X25519 agreement key is derived from it by the birational
//     map, as the did:key method derives its keyAgreement key.
//
// A relay or eavesdropper sees only the envelope's routing tag and the
// lengths of bodies: ratchet public keys, counters and the sender's identity
// travel encrypted, in the first message too.
//
// The usual flow: each user calls GenerateIdentity once and NewPrekeys, and
// publishes (*Prekeys).Bundle. A sender fetches the recipient's Bundle and
// calls InitiateSession, then (*Session).Encrypt. The recipient, holding no
// session yet, tries (*Session).Decrypt on each session it has and, when
// none opens the body, AcceptSession. Sessions are persisted with
// (*Session).Marshal after every Encrypt and successful Decrypt.
//
// Nothing in this package is safe for concurrent use unless it says so.
package ratchet
