package radio

import (
	"fmt"
	"strings"
)

// Config is one [[radio]] table of the relay's TOML; its toml tags are the
// keys. Validate names the key that is wrong.
type Config struct {
	Port             string  `toml:"port"`               // serial device, e.g. /dev/ttyUSB0
	Region           string  `toml:"region"`             // a plan in configs/regions, e.g. "EU868"
	FrequencyHz      uint32  `toml:"frequency_hz"`       // channel centre
	BandwidthHz      uint32  `toml:"bandwidth_hz"`       // default 125000
	SpreadingFactor  uint8   `toml:"spreading_factor"`   // default 9
	CodingRate       uint8   `toml:"coding_rate"`        // denominator 5…8, default 5 (4/5)
	TxPowerDBm       int8    `toml:"tx_power_dbm"`       // default 14
	DutyCyclePercent float64 `toml:"duty_cycle_percent"` // override, only lower than the band's; 0 = the band's
}

// Defaults of Config.
const (
	DefaultBandwidthHz     = 125000
	DefaultSpreadingFactor = 9
	DefaultCodingRate      = 5
	DefaultTxPowerDBm      = 14
)

// Resolved is a validated Config with the band it sits in.
type Resolved struct {
	Config
	Band       Band
	Modulation Modulation
}

// Validate fills defaults and checks c against regions (see LoadRegions),
// returning the band and the effective duty cycle. key prefixes error
// messages, e.g. "radio[0]".
func (c Config) Validate(key string, regions map[string]*Region) (Resolved, error) {
	bad := func(field, format string, args ...any) (Resolved, error) {
		return Resolved{}, fmt.Errorf("%s.%s: %s", key, field, fmt.Sprintf(format, args...))
	}
	if c.BandwidthHz == 0 {
		c.BandwidthHz = DefaultBandwidthHz
	}
	if c.SpreadingFactor == 0 {
		c.SpreadingFactor = DefaultSpreadingFactor
	}
	if c.CodingRate == 0 {
		c.CodingRate = DefaultCodingRate
	}
	if c.TxPowerDBm == 0 {
		c.TxPowerDBm = DefaultTxPowerDBm
	}
	if c.Port == "" {
		return bad("port", "missing")
	}
	m := Modulation{BandwidthHz: c.BandwidthHz, SF: c.SpreadingFactor, CR: c.CodingRate}
	switch {
	case c.BandwidthHz < 7800 || c.BandwidthHz > 500000:
		return bad("bandwidth_hz", "%d: want 7800 … 500000", c.BandwidthHz)
	case c.SpreadingFactor < MinSF || c.SpreadingFactor > MaxSF:
		return bad("spreading_factor", "%d: want %d … %d", c.SpreadingFactor, MinSF, MaxSF)
	case c.CodingRate < MinCR || c.CodingRate > MaxCR:
		return bad("coding_rate", "%d: want 5 … 8 (4/5 … 4/8)", c.CodingRate)
	}
	r := regions[strings.ToUpper(c.Region)]
	if r == nil {
		return bad("region", "%q: unknown region plan", c.Region)
	}
	if c.FrequencyHz == 0 {
		return bad("frequency_hz", "missing")
	}
	b, ok := r.Band(c.FrequencyHz, c.BandwidthHz)
	if !ok {
		return bad("frequency_hz", "%d Hz with %d Hz bandwidth is not inside one band of %s", c.FrequencyHz, c.BandwidthHz, r.Name)
	}
	if int(c.TxPowerDBm) > b.MaxEIRPdBm {
		return bad("tx_power_dbm", "%d dBm exceeds the %d dBm EIRP of %s band %s", c.TxPowerDBm, b.MaxEIRPdBm, r.Name, b.Name)
	}
	switch {
	case c.DutyCyclePercent < 0:
		return bad("duty_cycle_percent", "%v is negative", c.DutyCyclePercent)
	case c.DutyCyclePercent > b.DutyCyclePercent:
		return bad("duty_cycle_percent", "%v exceeds the %v %% of %s band %s", c.DutyCyclePercent, b.DutyCyclePercent, r.Name, b.Name)
	case c.DutyCyclePercent == 0:
		c.DutyCyclePercent = b.DutyCyclePercent
	}
	return Resolved{Config: c, Band: b, Modulation: m}, nil
}

// RNodeOptions returns the driver options for a resolved radio: the modem's
// long-term airtime lock is set to the duty cycle, a backstop behind the
// host's Ledger.
func (r Resolved) RNodeOptions() RNodeOptions {
	lock := uint16(0)
	if r.DutyCyclePercent < 100 {
		lock = uint16(r.DutyCyclePercent * 100)
	}
	return RNodeOptions{
		Open:        SerialOpener(r.Port),
		FrequencyHz: r.FrequencyHz,
		Modulation:  r.Modulation,
		TxPowerDBm:  r.TxPowerDBm,
		LTALock:     lock,
	}
}
