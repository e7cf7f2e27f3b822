// Package radiotest holds test doubles for package radio: Air, a simulated
// LoRa channel over UDP on 127.0.0.1 (datagram format in docs/radio.md,
// spoken also by the firmware's host build), and FakeRNode, a modem with
// RNode's host-protocol semantics on a pty whose radio side is an Air.
package radiotest
