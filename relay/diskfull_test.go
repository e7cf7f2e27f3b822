//go:build linux

package relay_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/config"
	"github.com/cairnmesh/cairn/relay/relaytest"
	"github.com/cairnmesh/cairn/relay/store"
)

const (
	diskBytes   = 8 << 20 // the tmpfs the relay's data lives on
	fillerBytes = 1 << 20 // a file on it, deleted to free space
	bodyBytes   = 4 << 10 // per envelope
)

// A relay whose disk fills up refuses new envelopes with a reason and keeps
// running; nothing it acknowledged is lost or damaged, across a restart too;
// once space is freed it takes envelopes again. The disk is a small tmpfs,
// so the test needs root (CI runs as root). bbolt grows its file with
// ftruncate (sparse on tmpfs) and writes pages with pwrite, so a full disk
// shows as ENOSPC from a commit, never as SIGBUS on the mapping: this test
// would crash if it did.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounts a tmpfs to fill: needs root (CI runs as root)")
	}
	disk := t.TempDir()
	if err := syscall.Mount("tmpfs", disk, "tmpfs", 0, "size=8m"); err != nil {
		t.Fatalf("mount tmpfs: %v (root without CAP_SYS_ADMIN?)", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(disk, 0); err != nil {
			t.Errorf("unmount tmpfs: %v", err)
		}
	})
	filler := filepath.Join(disk, "filler")
	if err := os.WriteFile(filler, make([]byte, fillerBytes), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := relaytest.Config(t)
	cfg.DataDir = filepath.Join(disk, "data")

	r := startOwned(t, cfg)
	c := v5(t, r.Relay, nil, nil)
	var acked []codec.ID
	code, reason := byte(0), ""
	for i := 0; i < 2*diskBytes/bodyBytes && code == 0; i++ {
		e := relaytest.Message(codec.Tag{byte(i % 16)}, codec.PrioNormal, bodyBytes)
		if code, reason = publish5(t, c, "cairn/v1/send", e.Encode()); code == 0 {
			acked = append(acked, e.ID())
		}
	}
	t.Logf("disk full after %d envelopes of %d bytes: PUBACK %#x %q", len(acked), bodyBytes, code, reason)
	if code != 0x97 || reason != "relay storage: disk_full" || strings.Contains(reason, cfg.DataDir) {
		t.Fatalf("PUBACK %#x %q at disk full, want 0x97 (quota exceeded), \"relay storage: disk_full\", no paths", code, reason)
	}
	if len(acked) < (diskBytes-fillerBytes)/bodyBytes/4 {
		t.Fatalf("full after only %d envelopes", len(acked))
	}
	// Still full, still running, still refusing with the same reason.
	for range 5 {
		e := relaytest.Message(codec.Tag{99}, codec.PrioUrgent, bodyBytes)
		if code, _ := publish5(t, c, "cairn/v1/send", e.Encode()); code != 0x97 {
			t.Fatalf("publish on a full disk: PUBACK %#x, want 0x97", code)
		}
	}
	if n := r.Stats().Refused["disk_full"]; n < 6 {
		t.Errorf("refused as disk_full: %d, want 6 or more (%v)", n, r.Stats().Refused)
	}
	checkAcked(t, r.Store(), acked)

	// Space returns: envelopes are taken again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		e := relaytest.Message(codec.Tag{98}, codec.PrioNormal, bodyBytes)
		if code, reason := publish5(t, c, "cairn/v1/send", e.Encode()); code != 0 {
			t.Fatalf("publish %d after space was freed: PUBACK %#x %q", i, code, reason)
		}
		acked = append(acked, e.ID())
	}

	// Across a restart, nothing acknowledged is lost and the file is sound.
	if err := r.close(); err != nil {
		t.Fatalf("closing the relay: %v", err)
	}
	snap, err := store.OpenSnapshot(filepath.Join(cfg.DataDir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := snap.Check()
	snap.Close()
	if err != nil || !rep.OK() || rep.Envelopes != len(acked) {
		t.Fatalf("store check after disk full: %v, %d envelopes (want %d), problems %q", err, rep.Envelopes, len(acked), rep.Problems)
	}
	r = startOwned(t, cfg)
	checkAcked(t, r.Store(), acked)
}

// ownedRelay is a relay the test closes itself, or cleanup does if the
// test ends first.
type ownedRelay struct {
	*relay.Relay
	once sync.Once
	err  error
}

func (o *ownedRelay) close() error {
	o.once.Do(func() { o.err = o.Relay.Close() })
	return o.err
}

func startOwned(t *testing.T, cfg *config.Config) *ownedRelay {
	t.Helper()
	r, err := relay.New(relay.Options{Config: cfg, Logger: relaytest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Serve(); err != nil {
		r.Close()
		t.Fatal(err)
	}
	o := &ownedRelay{Relay: r}
	t.Cleanup(func() { o.close() })
	return o
}

func checkAcked(t *testing.T, st *store.Store, acked []codec.ID) {
	t.Helper()
	lost := 0
	for _, id := range acked {
		if _, ok, err := st.Get(id); !ok || err != nil {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged envelopes lost", lost, len(acked))
	}
}
