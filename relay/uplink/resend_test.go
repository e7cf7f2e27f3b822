package uplink

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
)

func TestResendWaits(t *testing.T) {
	s := newResendSchedule(time.Minute, time.Hour, 24, MaxResend)
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
	for n, w := range want {
		if got := s.wait(n); got != w*time.Minute {
			t.Errorf("wait after resend %d = %v, want %v", n, got, w*time.Minute)
		}
	}
}

func TestResendSchedule(t *testing.T) {
	s := newResendSchedule(time.Hour, time.Hour, 2, 3)
	ids := make([]codec.ID, 4)
	for i := range ids {
		ids[i][0] = byte(i + 1)
		s.add(ids[i])
	}
	s.add(ids[3]) // already there: keeps its place
	if n, dropped := s.size(); n != 3 || dropped != 1 {
		t.Fatalf("size %d, dropped %d; want 3 and 1 (the bound)", n, dropped)
	}
	if got := s.due(10); len(got) != 0 {
		t.Fatalf("due before the first wait: %v", got)
	}
	s.start = s.start.Add(-2 * time.Hour) // two hours pass
	if got := s.due(2); len(got) != 2 || got[0] != ids[1] || got[1] != ids[2] {
		t.Fatalf("due: %v, want the two scheduled longest ago", got)
	}
	if got := s.due(10); len(got) != 1 || got[0] != ids[3] {
		t.Fatalf("due: %v, want the third; the others wait again", got)
	}
	s.remove(ids[3])

	// Saved and loaded: what is left, with its resends and wait.
	var b bytes.Buffer
	s.appendTo(&b, "uplink:0")
	path := filepath.Join(t.TempDir(), resendFile)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	l := newResendSchedule(time.Hour, time.Hour, 2, 3)
	if err := loadResend(path, map[string]*resendSchedule{"uplink:0": l}); err != nil {
		t.Fatal(err)
	}
	if n, _ := l.size(); n != 2 || l.isDirty() {
		t.Fatalf("loaded %d entries (dirty %v), want 2", n, l.isDirty())
	}
	l.start = l.start.Add(-2 * time.Hour)
	if got := l.due(10); len(got) != 2 {
		t.Fatalf("due after load: %v", got)
	}
	if n, _ := l.size(); n != 0 {
		t.Errorf("%d entries after their last resend, want none", n)
	}

	if err := os.WriteFile(path, []byte("uplink:0 zz 1 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := loadResend(path, map[string]*resendSchedule{"uplink:0": l}); err == nil {
		t.Error("a bad line loaded")
	}
}
