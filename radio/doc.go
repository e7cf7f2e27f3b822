// Package radio links Cairn relays over LoRa: the RNode host protocol to a
// serial modem (KISS framing, RNode's command set), LoRa time-on-air and
// duty-cycle budgets per region, and the link frames that carry envelopes
// and fragments of envelopes over the air.
//
// The specs it implements are cited where their constants live
// (constants.go): KISS (Chepponis and Karn, "The KISS TNC", ARRL 6th
// Computer Networking Conference, 1987), the RNode host protocol as written
// in markqvist/RNode_Firmware (Framing.h, RNode_Firmware.ino, Utilities.h)
// and used by Reticulum's RNodeInterface.py, and the LoRa time-on-air
// formula of Semtech's SX1276 datasheet §4.1.1.7 and AN1200.13. The on-air
// link format and the simulated air are Cairn's own; docs/radio.md gives
// them byte by byte.
//
// Files: kiss.go (framing), rnode.go (driver and its state machine),
// airtime.go (time on air), region.go (region plans), dutycycle.go (the
// airtime ledger), link.go (link frames), reassembly.go (fragments),
// config.go (the [[radio]] table).
package radio
