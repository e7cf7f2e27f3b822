package web

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestWasmUnit runs web/wasm's own tests (wsconn_test.go: the send
// buffer's bound against a stand-in WebSocket) and web/qrscan's (the
// decoder as the scanner's worker runs it) built for js/wasm, under
// Node through Go's go_js_wasm_exec. Under CI=true a missing Node is a
// failure, not a skip.
func TestWasmUnit(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no node (make deps installs it)")
		}
		t.Skip("no node")
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	execDir := filepath.Join(strings.TrimSpace(string(out)), "lib", "wasm")
	cmd := exec.Command("go", "test", "-count=1", "./wasm", "./qrscan")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "PATH="+execDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=js GOARCH=wasm go test ./web/wasm ./web/qrscan: %v\n%s", err, out)
	}
}
