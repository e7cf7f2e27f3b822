package radio

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/fuzz seeds")

// fuzzSeeds is the committed corpus of every fuzz target in this package:
// TestFuzzSeeds fails when a target's directory lacks one of them, and
// writes them with -update.
func fuzzSeeds() map[string]map[string][]byte {
	seeds := map[string]map[string][]byte{
		"FuzzKISSDecoder": {
			"detect":             AppendKISS(nil, CmdDetect, []byte{DetectReq}),
			"escaped-data":       AppendKISS(nil, CmdData, []byte{FEND, FESC, 0, TFEND, TFESC}),
			"garbage-then-frame": append([]byte("AT\r\n"), AppendKISS(nil, CmdFWVersion, []byte{1, 0x52})...),
			"bad-escape":         {FEND, 0, FESC, 0x41, FEND, CmdSF, 9, FEND},
			"fesc-at-end":        {FEND, 0, FESC, FEND},
			"idle-fill":          {FEND, FEND, FEND},
			"oversize":           append(append([]byte{FEND, 0}, make([]byte, 80)...), FEND),
			"empty":              {},
		},
	}
	seeds["FuzzDecodeLinkFrame"] = linkSeeds()
	seeds["FuzzReconcile"] = reconcileSeeds()
	return seeds
}

func seedFile(b []byte) string {
	return "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
}

func TestFuzzSeeds(t *testing.T) {
	for target, seeds := range fuzzSeeds() {
		dir := filepath.Join("testdata", "fuzz", target)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		names := make([]string, 0, len(seeds))
		for name := range seeds {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			path := filepath.Join(dir, name)
			want := seedFile(seeds[name])
			if *update {
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("seed %s: %v (run go test ./radio -run TestFuzzSeeds -update)", path, err)
				continue
			}
			if string(got) != want {
				t.Errorf("seed %s is stale (run go test ./radio -run TestFuzzSeeds -update)", path)
			}
		}
	}
}
