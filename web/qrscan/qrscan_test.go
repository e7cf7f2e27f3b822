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
// identity's) in frames of several kinds. It is fixed because not every
// card decodes: TestDecodeCards measures how many do not.
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
// Measured 2026-11-26: 9 of 300 cards (all version 9, 61 modules) failed
// at 4, 5 and 6 pixels, 3 of them at 3 as well (docs/web.md).
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

func TestDecodeNoCode(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	gray := make([]byte, 640*480)
	for i := range gray {
		gray[i] = byte(100 + rng.IntN(40))
	}
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
