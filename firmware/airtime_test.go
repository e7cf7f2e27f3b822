package firmware

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/radio"
)

// airtimeVectors is test/testdata/airtime.txt: the Go time-on-air figures
// the C unit tests check core/airtime.c against, one "bw sf cr len µs" per
// line. TestAirtimeVectors fails when the file and radio.Airtime differ;
// CAIRN_UPDATE=1 rewrites it.
const airtimeVectors = "test/testdata/airtime.txt"

func airtimeTable() string {
	var b strings.Builder
	b.WriteString("# bw_hz sf cr payload_bytes airtime_us (radio.Modulation.Airtime, truncated to µs)\n")
	for _, bw := range []uint32{7800, 62500, 125000, 250000, 500000} {
		for sf := uint8(5); sf <= 12; sf++ {
			for _, cr := range []uint8{5, 8} {
				for _, n := range []int{1, 5, 13, 64, 65, 201, 255} {
					m := radio.Modulation{BandwidthHz: bw, SF: sf, CR: cr}
					fmt.Fprintf(&b, "%d %d %d %d %d\n", bw, sf, cr, n, m.Airtime(n)/time.Microsecond)
				}
			}
		}
	}
	return b.String()
}

func TestAirtimeVectors(t *testing.T) {
	want := airtimeTable()
	if os.Getenv("CAIRN_UPDATE") == "1" {
		if err := os.WriteFile(airtimeVectors, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(airtimeVectors)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s differs from radio.Modulation.Airtime; regenerate with CAIRN_UPDATE=1 go test ./firmware", airtimeVectors)
	}
}
