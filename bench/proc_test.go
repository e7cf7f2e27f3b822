package bench

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestProcCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	before, err := ProcCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin one goroutine for 300 ms of wall time.
	start := time.Now()
	for n := 0; time.Since(start) < 300*time.Millisecond; n++ {
		_ = n * n
	}
	wall := time.Since(start)
	after, err := ProcCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// A shared machine may take some of the 300 ms away; the test's other
	// goroutines may add a little. Ticks are 10 ms.
	if used := after - before; used < 100*time.Millisecond || used > wall*time.Duration(runtime.NumCPU())+20*time.Millisecond {
		t.Errorf("spinning %v of wall time used %v of CPU", wall, used)
	}
	if _, err := ProcCPU(1 << 30); err == nil {
		t.Error("no error for a process that does not exist")
	}
}
