package radiolink_test

import (
	"flag"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

// parallelTests is how many tests run at once unless -parallel says
// otherwise. The A–B–C tests wait on simulated air in real time and use
// little CPU (a 15 s run of three relays takes about 0.2 s of CPU under
// -race), so the default of GOMAXPROCS would leave a 2-core machine
// waiting on them two at a time.
const parallelTests = 8

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", strconv.Itoa(parallelTests))
	}
	goleak.VerifyTestMain(m)
}
