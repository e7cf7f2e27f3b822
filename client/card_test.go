package client

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCardRoundTrip(t *testing.T) {
	ks, _ := newKeystore(t, "")
	card := ks.Card()
	if !strings.HasPrefix(card, CardPrefix) || len(card) != 194 {
		t.Errorf("card %q: %d characters, want 194 starting %q", card, len(card), CardPrefix)
	}
	b, err := DecodeCard(card)
	if err != nil {
		t.Fatal(err)
	}
	if b.Identity.DID() != ks.DID() || b.HasKEM() || len(b.OneTime) != 0 {
		t.Errorf("decoded card: identity %s, KEM %v, one-time %d", b.Identity.DID(), b.HasKEM(), len(b.OneTime))
	}
	if EncodeCard(b) != card {
		t.Error("encode(decode(card)) differs")
	}
}

func TestCardRefused(t *testing.T) {
	ks, _ := newKeystore(t, "")
	card := ks.Card()
	full := ks.Bundle()
	withKEM := CardPrefix + b64(full.Encode())
	forged := *full.WithoutKEM()
	forged.SignedPrekey[0] ^= 1
	for name, s := range map[string]string{
		"empty":          "",
		"no prefix":      strings.TrimPrefix(card, CardPrefix),
		"upper prefix":   strings.ToUpper(CardPrefix) + strings.TrimPrefix(card, CardPrefix),
		"padding":        card + "=",
		"truncated":      card[:len(card)-3],
		"bad character":  card[:20] + "!" + card[21:],
		"trailing space": card + " ",
		"with KEM":       withKEM,
		"bad signature":  CardPrefix + b64(forged.Encode()),
		"too long":       card + strings.Repeat("A", 100),
	} {
		if _, err := DecodeCard(s); !errors.Is(err, ErrBadCard) {
			t.Errorf("%s: %v, want ErrBadCard", name, err)
		}
	}
}

// FuzzDecodeCard: a card decodes and encodes back to the same string, or
// is refused with ErrBadCard; never a panic.
func FuzzDecodeCard(f *testing.F) {
	f.Add("cairn1:")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := DecodeCard(s)
		if err != nil {
			if !errors.Is(err, ErrBadCard) {
				t.Fatalf("error without ErrBadCard: %v", err)
			}
			return
		}
		if got := EncodeCard(b); got != s {
			t.Fatalf("decode→encode changed the card:\n in  %q\n out %q", s, got)
		}
	})
}

// TestFuzzSeeds fails when committed seeds are missing, so that each fuzz
// target always starts from valid and nearly valid inputs.
func TestFuzzSeeds(t *testing.T) {
	for target, want := range map[string]struct {
		n      int
		writer string
	}{
		"FuzzDecodeCard":   {3, "TestWriteCardSeeds"},
		"FuzzParseControl": {len(noticeSeeds()), "TestWriteNoticeSeeds"},
	} {
		dir := filepath.Join("testdata", "fuzz", target)
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) < want.n {
			t.Errorf("%s has %d seeds, want at least %d (CAIRN_WRITE_SEEDS=1 go test -run %s writes them): %v",
				dir, len(entries), want.n, want.writer, err)
			continue
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil || !strings.HasPrefix(string(b), "go test fuzz v1\n") {
				t.Errorf("seed %s/%s is not a corpus file: %v", target, e.Name(), err)
			}
		}
	}
}

// TestWriteCardSeeds writes the fuzz seeds: a valid card, one with a bad
// signature and a truncated one.
func TestWriteCardSeeds(t *testing.T) {
	if os.Getenv("CAIRN_WRITE_SEEDS") == "" {
		t.Skip("set CAIRN_WRITE_SEEDS=1 to rewrite testdata/fuzz/FuzzDecodeCard")
	}
	ks, _ := newKeystore(t, "")
	full := ks.Bundle()
	forged := *full.WithoutKEM()
	forged.SignedPrekeySig[0] ^= 1
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeCard")
	os.MkdirAll(dir, 0o755)
	for name, s := range map[string]string{
		"valid":         ks.Card(),
		"bad-signature": CardPrefix + b64(forged.Encode()),
		"truncated":     CardPrefix + b64(full.WithoutKEM().Encode()[:50]),
	} {
		body := "go test fuzz v1\nstring(" + strconvQuote(s) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
