package radio

import (
	"fmt"
	"time"
)

// Modulation is a LoRa channel setting, as far as time on air goes. The
// zero value is not valid; fill BandwidthHz, SF and CR.
type Modulation struct {
	BandwidthHz     uint32 // 7800 … 500000
	SF              uint8  // spreading factor 5 … 12
	CR              uint8  // coding rate denominator 5 … 8, i.e. 4/5 … 4/8
	PreambleSymbols uint16 // programmed preamble length; 0 means 8
	ImplicitHeader  bool   // no PHY header; Cairn always uses the explicit header
	NoCRC           bool   // no payload CRC; Cairn always sends one
	LDRO            LDRO   // low-data-rate optimisation
}

// LDRO selects low-data-rate optimisation.
type LDRO uint8

const (
	LDROAuto LDRO = iota // on when a symbol lasts longer than 16 ms, as the datasheets mandate
	LDROOn
	LDROOff
)

// Spec constants of the time-on-air formula (SX1276 datasheet rev. 7
// §4.1.1.7 and AN1200.13; SX1261/2 datasheet rev. 2.1 §6.1.4 for SF5 and
// SF6, which only the SX126x family has).
const (
	defaultPreambleSymbols = 8
	ldroSymbolThreshold    = 16 * time.Millisecond
)

// Validate reports the first field out of range.
func (m Modulation) Validate() error {
	switch {
	case m.BandwidthHz < 7800 || m.BandwidthHz > 500000:
		return fmt.Errorf("bandwidth %d Hz: want 7800 … 500000", m.BandwidthHz)
	case m.SF < MinSF || m.SF > MaxSF:
		return fmt.Errorf("spreading factor %d: want %d … %d", m.SF, MinSF, MaxSF)
	case m.CR < MinCR || m.CR > MaxCR:
		return fmt.Errorf("coding rate 4/%d: want 4/5 … 4/8", m.CR)
	}
	return nil
}

// SymbolTime is 2^SF / bandwidth.
func (m Modulation) SymbolTime() time.Duration {
	return time.Duration(uint64(1)<<m.SF) * time.Second / time.Duration(m.BandwidthHz)
}

func (m Modulation) ldro() bool {
	switch m.LDRO {
	case LDROOn:
		return true
	case LDROOff:
		return false
	}
	return m.SymbolTime() > ldroSymbolThreshold
}

// Symbols returns the length of a packet with payloadBytes of PHY payload
// in quarter symbols (the preamble ends in a quarter symbol).
//
//	SF7…12:  Npreamble + 4.25 + 8 + ceil(max(8PL + 16CRC − 4SF + 8 + 20H, 0) / 4(SF − 2LDRO)) · (CR)
//	SF5, 6:  Npreamble + 6.25 + 8 + ceil(max(8PL + 16CRC − 4SF + 20H, 0) / 4SF) · (CR)
//
// with H = 1 for the explicit header, CRC = 1 with a payload CRC, and CR
// the denominator 5…8 (the datasheets' CR + 4).
func (m Modulation) quarterSymbols(payloadBytes int) int64 {
	pre := int64(m.PreambleSymbols)
	if pre == 0 {
		pre = defaultPreambleSymbols
	}
	sf := int64(m.SF)
	bits := 8*int64(payloadBytes) - 4*sf
	if !m.NoCRC {
		bits += 16
	}
	if !m.ImplicitHeader {
		bits += 20
	}
	fixedQuarters := int64(17) // 4.25 symbols
	if m.SF >= 7 {
		bits += 8
	} else {
		fixedQuarters = 25 // 6.25 symbols
	}
	den := 4 * sf
	if m.ldro() {
		den = 4 * (sf - 2)
	}
	blocks := int64(0)
	if bits > 0 {
		blocks = (bits + den - 1) / den
	}
	return 4*(pre+8+blocks*int64(m.CR)) + fixedQuarters
}

// Airtime is the time on air of one LoRa packet with payloadBytes of PHY
// payload, rounded up to the nanosecond.
func (m Modulation) Airtime(payloadBytes int) time.Duration {
	q := m.quarterSymbols(payloadBytes)
	num := uint64(q) * (uint64(1) << m.SF) * uint64(time.Second)
	den := 4 * uint64(m.BandwidthHz)
	return time.Duration((num + den - 1) / den)
}
