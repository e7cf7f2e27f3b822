package config

import (
	"strings"
	"testing"
)

func TestRadioTables(t *testing.T) {
	c, err := Parse([]byte(`
[[radio]]
port = "/dev/ttyUSB0"
region = "EU868"
frequency_hz = 869525000

[[radio]]
port = "/dev/ttyACM0"
region = "eu868"
frequency_hz = 868100000
spreading_factor = 7
duty_cycle_percent = 0.5
`))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.ResolveRadios()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Modulation.SF != 9 || rs[0].BandwidthHz != 125000 || rs[0].TxPowerDBm != 14 ||
		rs[0].DutyCyclePercent != 10 || rs[1].Modulation.SF != 7 || rs[1].DutyCyclePercent != 0.5 {
		t.Errorf("resolved %+v", rs)
	}
}

func TestRadioErrorsNameTheKey(t *testing.T) {
	const base = "[[radio]]\nport = \"/dev/ttyUSB0\"\nregion = \"EU868\"\nfrequency_hz = 869525000\n"
	for _, tc := range []struct{ name, toml, wantKey string }{
		{"unknown key", base + "sf = 9\n", "radio.sf"},
		{"no port", "[[radio]]\nregion = \"EU868\"\nfrequency_hz = 869525000\n", "radio[0].port"},
		{"unknown region", "[[radio]]\nport = \"x\"\nregion = \"MARS\"\nfrequency_hz = 1\n", "radio[0].region"},
		{"out of band", "[[radio]]\nport = \"x\"\nregion = \"EU868\"\nfrequency_hz = 915000000\n", "radio[0].frequency_hz"},
		{"bad sf", base + "spreading_factor = 13\n", "radio[0].spreading_factor"},
		{"bad cr", base + "coding_rate = 9\n", "radio[0].coding_rate"},
		{"too loud", base + "tx_power_dbm = 30\n", "radio[0].tx_power_dbm"},
		{"duty above band", base + "duty_cycle_percent = 50.0\n", "radio[0].duty_cycle_percent"},
		{"second radio", base + "[[radio]]\nport = \"y\"\nregion = \"EU868\"\n", "radio[1].frequency_hz"},
		{"same port twice", base + base, "radio[1].port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.toml))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.wantKey) {
				t.Errorf("error %q does not name %q", err, tc.wantKey)
			}
		})
	}
}
