package qrscan

import (
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/cairnmesh/cairn/client"
)

// frame draws text as a QR code (level L, as the app shows a card) scaled
// by scale pixels a module, in a frame of w × h mid-grey pixels at (x0, y0),
// dark and light at the given levels, with noise of ±noise on every pixel.
func frame(t testing.TB, text string, w, h, x0, y0, scale int, dark, light byte, noise int, rng *rand.Rand) []byte {
	t.Helper()
	q, err := qrcode.New(text, qrcode.Low)
	if err != nil {
		t.Fatal(err)
	}
	bm := q.Bitmap() // with the quiet zone
	gray := make([]byte, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := 128
			mx, my := (x-x0)/scale, (y-y0)/scale
			if x >= x0 && y >= y0 && my < len(bm) && mx < len(bm) {
				v = int(light)
				if bm[my][mx] {
					v = int(dark)
				}
			}
			if noise > 0 {
				v += rng.IntN(2*noise+1) - noise
			}
			gray[y*w+x] = byte(min(max(v, 0), 255))
		}
	}
	return gray
}

// TestDecodeCard reads one fixed card (testdata/card.txt, a real
// identity's) in frames of several kinds. It is fixed so that a failure
// can be run again; TestDecodeCards counts over fresh cards and
// TestDecodeUnreadCards keeps the cards that were once not read.
func TestDecodeCard(t *testing.T) {
	b, err := os.ReadFile("testdata/card.txt")
	if err != nil {
		t.Fatal(err)
	}
	card := strings.TrimSpace(string(b))
	if _, err := client.DecodeCard(card); err != nil {
		t.Fatalf("testdata/card.txt: %v", err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name                string
		w, h, x0, y0, scale int
		dark, light         byte
		noise               int
	}{
		{"clean 4px", 640, 480, 100, 40, 4, 0, 255, 0},
		{"off centre 3px noisy", 640, 480, 300, 200, 3, 30, 220, 25},
		{"low contrast 5px", 640, 480, 20, 10, 5, 70, 180, 10},
		{"small frame", 320, 240, 40, 30, 2, 10, 240, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gray := frame(t, card, tc.w, tc.h, tc.x0, tc.y0, tc.scale, tc.dark, tc.light, tc.noise, rng)
			got, err := Decode(gray, tc.w, tc.h)
			if err != nil {
				t.Fatal(err)
			}
			if got != card {
				t.Errorf("decoded %q, want %q", got, card)
			}
		})
	}
}

// TestDecodeCards counts the cards of fresh identities that the scanner
// cannot read even in a clean frame, at 3 to 6 pixels a module. Run with
// CAIRN_QR_CARDS=N; it fails if any card fails, and logs which.
// Measured 2026-11-26: before the multi-code fallback in Decode, 9 of 300
// cards failed at 4, 5 and 6 pixels, 3 of them at 3 as well (those are
// testdata/unread-cards.txt); with it, none of 1,000 (docs/web.md).
func TestDecodeCards(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CAIRN_QR_CARDS"))
	if n <= 0 {
		t.Skip("set CAIRN_QR_CARDS=300 to count the cards the scanner cannot read")
	}
	failed := 0
	for range n {
		ks, err := client.CreateKeystore(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		card := ks.Card()
		ks.Close()
		var read []bool
		for scale := 3; scale <= 6; scale++ {
			_, err := Decode(frame(t, card, 640, 480, 20, 10, scale, 0, 255, 0, nil), 640, 480)
			read = append(read, err == nil)
		}
		if slices.Contains(read, false) {
			failed++
			t.Logf("read at 3, 4, 5, 6 px a module: %v: %s", read, card)
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d cards not read at some scale", failed, n)
	}
}

// TestDecodeUnreadCards reads the cards that gozxing's QR reader alone did
// not (testdata/unread-cards.txt, from TestDecodeCards): each holds a
// finder-like shape in its data that ended the reader's search for finder
// patterns before it reached the real bottom-left one, so Decode read them
// only through its fallback. Clean frames at 3 to 6 pixels a module, as
// TestDecodeCards draws them.
func TestDecodeUnreadCards(t *testing.T) {
	b, err := os.ReadFile("testdata/unread-cards.txt")
	if err != nil {
		t.Fatal(err)
	}
	var cards []string
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			cards = append(cards, line)
		}
	}
	if len(cards) != 9 {
		t.Fatalf("testdata/unread-cards.txt: %d cards, want 9", len(cards))
	}
	for i, card := range cards {
		if _, err := client.DecodeCard(card); err != nil {
			t.Fatalf("card %d: %v", i+1, err)
		}
		for scale := 3; scale <= 6; scale++ {
			got, err := Decode(frame(t, card, 640, 480, 20, 10, scale, 0, 255, 0, nil), 640, 480)
			if err != nil {
				t.Errorf("card %d at %d px a module: %v", i+1, scale, err)
			} else if got != card {
				t.Errorf("card %d at %d px a module: decoded %q", i+1, scale, got)
			}
		}
	}
}

// noiseFrame is a 640 × 480 frame of grey noise, with no code in it.
func noiseFrame() []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	gray := make([]byte, 640*480)
	for i := range gray {
		gray[i] = byte(100 + rng.IntN(40))
	}
	return gray
}

func TestDecodeNoCode(t *testing.T) {
	gray := noiseFrame()
	if _, err := Decode(gray, 640, 480); !errors.Is(err, ErrNotFound) {
		t.Errorf("noise: %v, want ErrNotFound", err)
	}
	if _, err := Decode(gray, 640, 479); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("wrong size: %v, want a size error", err)
	}
}

// BenchmarkDecode reads a 640 × 480 frame, the largest the app sends
// (docs/web.md gives the figure under js/wasm, in Node).
func BenchmarkDecode(b *testing.B) {
	gray := frame(b, "cairn1:"+strings.Repeat("A", 187), 640, 480, 150, 60, 5, 30, 220, 10, rand.New(rand.NewPCG(5, 6)))
	for b.Loop() {
		if _, err := Decode(gray, 640, 480); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeNoCode reads a frame with no code, as most frames are
// while the camera is aimed: both of Decode's readers search it.
func BenchmarkDecodeNoCode(b *testing.B) {
	gray := noiseFrame()
	for b.Loop() {
		if _, err := Decode(gray, 640, 480); !errors.Is(err, ErrNotFound) {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeFallback reads a card that only the multi-code reader
// reads (the first of testdata/unread-cards.txt), at 5 pixels a module.
func BenchmarkDecodeFallback(b *testing.B) {
	const card = "cairn1:iAFYINEPQuYwVYRLG7d963878-DLzhH1Rqr4ZG01MmmnxTplAVggGqSEUm2eeNu7VJsIBg10Fp07id3dyaH5wW-e0oao6E9YQLcp_UMdGAb_6dzXV9oCw7_7DoL4HiS6rWNmz1_gapw2Ics2k5h44XYnnYTpkHIdZan4YZFG1_v4lLLczk0bUwJAQIA"
	gray := frame(b, card, 640, 480, 20, 10, 5, 0, 255, 0, nil)
	for b.Loop() {
		if text, err := Decode(gray, 640, 480); err != nil || text != card {
			b.Fatal(text, err)
		}
	}
}
