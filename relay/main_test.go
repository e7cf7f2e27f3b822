package relay_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every relay a test starts is closed in its cleanup; no goroutine of the
// relay, its store or its sessions may outlive it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
