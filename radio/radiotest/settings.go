package radiotest

// FakeSettings are the radio settings a FakeRNode holds now, as the host
// last set them (0 until set; TxPowerDBm -1 until set).
type FakeSettings struct {
	FrequencyHz, BandwidthHz uint32
	SpreadingFactor          uint8
	CodingRate               uint8 // denominator, 5…8
	TxPowerDBm               int
	Online                   bool // radio on
}

// Settings returns what the host configured, for tests that check a driver
// (re)configured the modem.
func (f *FakeRNode) Settings() FakeSettings {
	f.mu.Lock()
	defer f.mu.Unlock()
	txp := f.txp
	if txp == 0xFF {
		txp = -1
	}
	return FakeSettings{FrequencyHz: f.freq, BandwidthHz: f.bw, SpreadingFactor: f.sf,
		CodingRate: f.cr, TxPowerDBm: txp, Online: f.online}
}
