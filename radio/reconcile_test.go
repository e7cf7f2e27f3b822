package radio

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
)

func testIDs(seed, n int) []codec.ID {
	ids := make([]codec.ID, n)
	for i := range ids {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:], uint64(seed))
		binary.BigEndian.PutUint64(b[8:], uint64(i))
		h := sha256.Sum256(b[:])
		copy(ids[i][:], h[:])
	}
	return ids
}

// sets returns two sets sharing common ids, with onlyA and onlyB ids of
// their own.
func sets(common, onlyA, onlyB int) (a, b []codec.ID) {
	shared := testIDs(0, common)
	a = append(slices.Clone(shared), testIDs(1, onlyA)...)
	b = append(slices.Clone(shared), testIDs(2, onlyB)...)
	return a, b
}

// reconcile streams A's summary (salt) to B frame by frame, through the
// wire encoding, until B's reconciler completes or gives up. It returns B's
// reconciler and the frames sent.
func reconcile(t testing.TB, salt uint32, a, b []codec.ID, lost func(frame int) bool) (*Reconciler, *Sketch, [][]byte) {
	sa := NewSketch(salt, a)
	r := NewReconciler(NewSketch(salt, b))
	var frames [][]byte
	for k := 0; !r.Complete() && !r.Hopeless(); k++ {
		sum, ok := sa.Frame(k)
		if !ok {
			break
		}
		frame, err := AppendSummary(nil, 0xA, sum)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, frame)
		if lost != nil && lost(len(frames)-1) {
			continue
		}
		f, err := DecodeLinkFrame(frame)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ParseSummary(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	return r, sa, frames
}

func TestReconcile(t *testing.T) {
	for _, tc := range []struct {
		common, onlyA, onlyB int
		lossy                bool
	}{
		{0, 0, 0, false}, {100, 0, 0, false}, {0, 3, 0, false}, {0, 0, 3, false},
		{1000, 1, 0, false}, {1000, 5, 5, false}, {1000, 60, 40, false},
		{1000, 5, 5, true}, {1000, 30, 30, true},
	} {
		t.Run(fmt.Sprintf("%d+%d/%d lossy=%v", tc.common, tc.onlyA, tc.onlyB, tc.lossy), func(t *testing.T) {
			a, b := sets(tc.common, tc.onlyA, tc.onlyB)
			var lost func(int) bool
			if tc.lossy {
				lost = func(i int) bool { return i%3 == 0 } // the first frame (cell 0) among them
			}
			r, sa, _ := reconcile(t, 0xC0FFEE, a, b, lost)
			if !r.Complete() {
				t.Fatalf("not complete")
			}
			if got, want := len(r.LocalOnly()), tc.onlyB; got != want {
				t.Errorf("B knows %d ids A lacks, want %d", got, want)
			}
			for _, id := range r.LocalOnly() {
				if !slices.Contains(b[tc.common:], id) {
					t.Errorf("B thinks A lacks %s", id)
				}
			}
			var peer []codec.ID
			for _, x := range r.PeerOnly() {
				id, ok := sa.Lookup(x)
				if !ok {
					t.Fatalf("salted id %x is not A's", x)
				}
				peer = append(peer, id)
			}
			slices.SortFunc(peer, func(x, y codec.ID) int { return slices.Compare(x[:], y[:]) })
			want := slices.Clone(a[tc.common:])
			slices.SortFunc(want, func(x, y codec.ID) int { return slices.Compare(x[:], y[:]) })
			if !slices.Equal(peer, want) {
				t.Errorf("B lacks %d ids by the summary, %d in fact", len(peer), len(want))
			}
		})
	}
}

func TestReconcileHopeless(t *testing.T) {
	a, b := sets(10, 500, 0)
	r, _, frames := reconcile(t, 1, a, b, nil)
	if !r.Hopeless() || r.Complete() || len(frames) != 1 {
		t.Fatalf("hopeless %v complete %v after %d frames", r.Hopeless(), r.Complete(), len(frames))
	}
}

func TestReconcileSalt(t *testing.T) {
	ids := testIDs(3, 2)
	if SaltedID(1, ids[0]) == SaltedID(2, ids[0]) || SaltedID(1, ids[0]) == SaltedID(1, ids[1]) {
		t.Fatal("salted ids do not depend on salt and id")
	}
	r := NewReconciler(NewSketch(1, ids))
	other, _ := NewSketch(2, ids).Frame(0)
	if err := r.Add(other); !errors.Is(err, ErrBadSummary) {
		t.Fatalf("other salt: %v", err)
	}
	if err := r.Add(Summary{Salt: 1, First: MaxSummaryCells - 1, Cells: make([]Cell, 3)}); !errors.Is(err, ErrBadSummary) {
		t.Fatalf("past MaxSummaryCells: %v", err)
	}
}

// The cell mapping is part of the wire format: pin it.
func TestSummaryVector(t *testing.T) {
	s := NewSketch(0x01020304, testIDs(4, 3))
	sum, _ := s.Frame(0)
	sum.Cells = sum.Cells[:2]
	f, err := AppendSummary(nil, 0x0007, sum)
	if err != nil {
		t.Fatal(err)
	}
	const want = "720007010203040000000300008f9602404b1e2083d827c978ad81db18699865c7dbf97a84"
	if got := fmt.Sprintf("%x", f); got != want {
		t.Errorf("summary frame\n got %s\nwant %s", got, want)
	}
	d, _ := AppendDone(nil, 0x0009, Done{Of: 7, Salt: 0x01020304, Status: DoneDecoded, Wants: []uint64{0x1122334455667788}})
	if got := fmt.Sprintf("%x", d); got != "73000900070102030400"+"1122334455667788" {
		t.Errorf("done frame %s", got)
	}
}

// TestReconcileBytes measures what anti-entropy costs on air against full
// id lists, for two stores of 10,000 envelopes that differ by 10 and by
// 100 (half on each side), averaged over salts; docs/radio.md has the
// table. Run with -v to see it.
func TestReconcileBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	const n, runs = 10_000, 20
	sf9 := Modulation{BandwidthHz: 125000, SF: 9, CR: 5}
	airtime := func(frames [][]byte) time.Duration {
		var d time.Duration
		for _, f := range frames {
			d += sf9.Airtime(len(f) + RNodeHeaderBytes)
		}
		return d
	}
	// Full list: every 16-byte id in frames of 15 (254-byte frames with a
	// 3-byte control header); short: 8-byte id prefixes, 31 a frame.
	listFrames := func(idBytes int) [][]byte {
		per := (MaxFrameBytes - ControlHeaderBytes) / idBytes
		var out [][]byte
		for left := n; left > 0; left -= per {
			out = append(out, make([]byte, ControlHeaderBytes+min(left, per)*idBytes))
		}
		return out
	}
	full, short := listFrames(codec.IDSize), listFrames(ShortIDBytes)
	t.Logf("| difference | summary cells | summary frames | summary bytes | done bytes | airtime SF9 | full id list (16 B) | 8-byte ids |")
	t.Logf("|---|---|---|---|---|---|---|---|")
	for _, d := range []int{10, 100} {
		a, b := sets(n-d/2, d/2, d/2)
		var cells, frames, bytes, doneBytes int
		var air time.Duration
		for run := range runs {
			r, _, fs := reconcile(t, uint32(run+1)*0x9E3779B9, a, b, nil)
			if !r.Complete() {
				t.Fatalf("d=%d salt run %d: not complete after %d frames", d, run, len(fs))
			}
			done, _ := AppendDone(nil, 0xB, Done{Status: DoneDecoded, Wants: r.PeerOnly()[:min(len(r.PeerOnly()), MaxWants)]})
			for w := r.PeerOnly()[min(len(r.PeerOnly()), MaxWants):]; len(w) > 0; w = w[min(len(w), MaxWants):] {
				more, _ := AppendDone(nil, 0xB, Done{Status: DonePartial, Wants: w[:min(len(w), MaxWants)]})
				done = append(done, more...) // counted in bytes, one frame each
				air += sf9.Airtime(len(more) + RNodeHeaderBytes)
			}
			frames += len(fs)
			for _, f := range fs {
				bytes += len(f)
				cells += (len(f) - ControlHeaderBytes - summaryHeaderBytes) / SummaryCellBytes
			}
			doneBytes += len(done)
			air += airtime(fs) + sf9.Airtime(min(len(done), MaxFrameBytes)+RNodeHeaderBytes)
		}
		fullBytes, shortBytes := 0, 0
		for _, f := range full {
			fullBytes += len(f)
		}
		for _, f := range short {
			shortBytes += len(f)
		}
		t.Logf("| %d | %.0f | %.1f | %.0f | %.0f | %.2f s | %d B, %d frames, %.0f s | %d B, %d frames, %.0f s |",
			d, float64(cells)/runs, float64(frames)/runs, float64(bytes)/runs, float64(doneBytes)/runs, (air / runs).Seconds(),
			fullBytes, len(full), airtime(full).Seconds(), shortBytes, len(short), airtime(short).Seconds())
	}
}

func BenchmarkReconcile(b *testing.B) {
	for _, d := range []int{10, 100} {
		b.Run(fmt.Sprintf("n=10000/d=%d", d), func(b *testing.B) {
			x, y := sets(10_000-d/2, d/2, d/2)
			for i := 0; b.Loop(); i++ {
				reconcile(b, uint32(i), x, y, nil)
			}
		})
	}
}

// fuzzSalt and fuzzLocal are the local side FuzzReconcile reads against.
const fuzzSalt = 0x01020304

func fuzzLocal() *Sketch { return NewSketch(fuzzSalt, testIDs(5, 40)) }

// reconcileSeeds are streams of summary frames, each frame preceded by its
// length in one byte, as FuzzReconcile reads them.
func reconcileSeeds() map[string][]byte {
	stream := func(ids []codec.ID, frames ...int) []byte {
		s := NewSketch(fuzzSalt, ids)
		var out []byte
		for _, k := range frames {
			sum, _ := s.Frame(k)
			f, _ := AppendSummary(nil, 0xA, sum)
			out = append(append(out, byte(len(f))), f...)
		}
		return out
	}
	local := testIDs(5, 40)
	return map[string][]byte{
		"same":         stream(local, 0),
		"peer-has-3":   stream(append(slices.Clone(local), testIDs(6, 3)...), 0),
		"local-has-5":  stream(local[5:], 0, 1),
		"both-ways":    stream(append(slices.Clone(local[10:]), testIDs(6, 12)...), 0, 1, 2),
		"frame-1-only": stream(append(slices.Clone(local[2:]), testIDs(6, 2)...), 1),
		"other-salt":   append([]byte{byte(len(stream(local, 0)) - 1)}, stream(local, 0)[1:]...),
		"garbage":      {5, 0x72, 0, 1, 2, 3},
		"empty":        {},
	}
}

// FuzzReconcile feeds untrusted summary frames to a reconciler: it must
// never panic, keep its bounds, and report as lacking only ids it holds.
func FuzzReconcile(f *testing.F) {
	local := fuzzLocal()
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReconciler(local)
		for len(b) > 0 {
			n := int(b[0])
			b = b[1:]
			if n > len(b) {
				return
			}
			frame := b[:n]
			b = b[n:]
			fr, err := DecodeLinkFrame(frame)
			if err != nil {
				continue
			}
			s, err := ParseSummary(fr)
			if err != nil {
				continue
			}
			if err := r.Add(s); err != nil && !errors.Is(err, ErrBadSummary) {
				t.Fatalf("error without ErrBadSummary: %v", err)
			}
			if len(r.cells) > MaxSummaryCells || len(r.order) > 2*MaxSummaryCells {
				t.Fatalf("%d cells, %d decoded", len(r.cells), len(r.order))
			}
			for _, id := range r.LocalOnly() {
				if _, ok := local.Lookup(SaltedID(fuzzSalt, id)); !ok {
					t.Fatalf("lacks %s, which is not held here", id)
				}
			}
			r.Complete()
			r.Hopeless()
			if len(r.PeerOnly())+len(r.LocalOnly()) != len(r.order) {
				t.Fatal("decoded items lost")
			}
		}
	})
}
