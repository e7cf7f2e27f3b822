// Package firmware holds the Go side of the modem firmware's tests. The
// firmware itself is C (core/, stm32wl/, host/; docs/firmware.md): these
// tests keep its airtime vectors equal to radio.Modulation.Airtime and
// drive two host-built modems with radio.OpenRNode over the simulated air
// of radio/radiotest, and run two relays on such modems end to end.
package firmware
