package ratchet

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// fuzzTargets lists every fuzz target, with the least number of committed
// seeds each must have in testdata/fuzz/<name>.
var fuzzTargets = map[string]int{
	"FuzzDecrypt":          10,
	"FuzzAcceptSession":    2,
	"FuzzParseBundle":      3,
	"FuzzUnmarshalSession": 10,
	"FuzzUnmarshalPrekeys": 2,
	"FuzzUnprotectHeader":  10,
}

// TestFuzzSeeds fails when committed seeds are missing, so that the fuzz
// targets run on meaningful inputs in every plain go test.
func TestFuzzSeeds(t *testing.T) {
	for name, least := range fuzzTargets {
		entries, err := os.ReadDir(filepath.Join("testdata", "fuzz", name))
		if err != nil || len(entries) < least {
			t.Errorf("testdata/fuzz/%s has %d seeds, want at least %d (go test -run TestVectors -update writes them): %v",
				name, len(entries), least, err)
		}
	}
}

// writeFuzzSeeds writes seeds taken from the vectors, in the corpus file
// format of go test fuzzing.
func writeFuzzSeeds(t *testing.T, vf vectorFile) {
	write := func(target, name string, args ...any) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch a := a.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(a)))
			case uint8:
				fmt.Fprintf(&b, "byte(%d)\n", a)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for ci, vc := range vf.Cases {
		write("FuzzParseBundle", vc.Name, unhexT(vc.Bundle))
		b, _ := ParseBundle(unhexT(vc.Bundle))
		write("FuzzParseBundle", vc.Name+"-without-kem", b.WithoutKEM().Encode())
		write("FuzzUnmarshalPrekeys", vc.Name, unhexT(vc.BobPrekeys))
		write("FuzzAcceptSession", vc.Name, uint8(ci), unhexT(vc.Messages[0].Body))
		for mi, m := range vc.Messages {
			name := fmt.Sprintf("%s-%d", vc.Name, mi)
			write("FuzzUnmarshalSession", name, unhexT(m.After))
			if m.Before == "" {
				continue
			}
			write("FuzzDecrypt", name, uint8(ci), uint8(mi), unhexT(m.Body))
			write("FuzzUnprotectHeader", name, unhexT(m.Body))
		}
	}
	write("FuzzParseBundle", "empty", []byte{})
	write("FuzzDecrypt", "short", uint8(0), uint8(1), make([]byte, MessageOverhead))
}

func unhexT(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// vectorState returns the vector message chosen by two fuzz bytes.
func vectorState(t *testing.T, vf vectorFile, c, m uint8) (vectorMessage, bool) {
	vc := vf.Cases[int(c)%len(vf.Cases)]
	msg := vc.Messages[int(m)%len(vc.Messages)]
	return msg, msg.Before != ""
}

// FuzzDecrypt feeds mutated messages to sessions from the vectors: no
// panic, no state change on error, and nothing opens but a body the peer
// sent.
func FuzzDecrypt(f *testing.F) {
	vf := loadVectors(f)
	f.Fuzz(func(t *testing.T, c, m uint8, body []byte) {
		vm, ok := vectorState(t, vf, c, m)
		if !ok {
			return
		}
		before := unhexT(vm.Before)
		s, err := UnmarshalSession(before)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := s.Decrypt(body)
		if err != nil {
			if !errors.Is(err, ErrUndecryptable) {
				t.Fatalf("error %v is not ErrUndecryptable", err)
			}
			if !bytes.Equal(s.Marshal(), before) {
				t.Fatal("a failed Decrypt changed the session")
			}
			return
		}
		// A state may open later messages too (it skips ahead), but only
		// bodies its peer really sent, with their plaintext.
		vc := vf.Cases[int(c)%len(vf.Cases)]
		for _, sent := range vc.Messages {
			if sent.From != vm.From || !bytes.Equal(body, unhexT(sent.Body)) {
				continue
			}
			if string(pt) != sent.Plaintext {
				t.Fatalf("opened %q, sent %q", pt, sent.Plaintext)
			}
			return
		}
		t.Fatalf("a body the peer never sent opened: %q", pt)
	})
}

// FuzzAcceptSession feeds mutated initial messages to the vectors' prekeys:
// no panic, prekeys unchanged on error.
func FuzzAcceptSession(f *testing.F) {
	vf := loadVectors(f)
	f.Fuzz(func(t *testing.T, c uint8, body []byte) {
		vc := vf.Cases[int(c)%len(vf.Cases)]
		id, _ := ParseIdentity(unhexT(vc.BobSeed))
		before := unhexT(vc.BobPrekeys)
		pk, err := UnmarshalPrekeys(before)
		if err != nil {
			t.Fatal(err)
		}
		_, pt, err := AcceptSession(id, pk, body, nil)
		if err != nil {
			if !bytes.Equal(pk.Marshal(), before) {
				t.Fatal("a failed AcceptSession changed the prekeys")
			}
			return
		}
		// Every message alice sent before bob answered carries the prefix.
		for _, sent := range vc.Messages {
			if sent.From == "alice" && bytes.Equal(body, unhexT(sent.Body)) {
				if string(pt) != sent.Plaintext {
					t.Fatalf("opened %q, sent %q", pt, sent.Plaintext)
				}
				return
			}
		}
		t.Fatalf("a body alice never sent set up a session: %q", pt)
	})
}

func FuzzParseBundle(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBundle(data)
		if err != nil {
			return
		}
		if !bytes.Equal(b.Encode(), data) {
			t.Fatalf("Encode(ParseBundle(x)) != x")
		}
		b.Verify() // must not panic
	})
}

func FuzzUnmarshalSession(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := UnmarshalSession(data)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Marshal(), data) {
			t.Fatalf("Marshal(UnmarshalSession(x)) != x")
		}
		// A restored session must be usable without panicking.
		s.Decrypt(make([]byte, 64))
		s.Encrypt([]byte("x"))
	})
}

func FuzzUnmarshalPrekeys(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		pk, err := UnmarshalPrekeys(data)
		if err != nil {
			return
		}
		if !bytes.Equal(pk.Marshal(), data) {
			t.Fatalf("Marshal(UnmarshalPrekeys(x)) != x")
		}
	})
}

// FuzzUnprotectHeader checks the header decoder: a header it accepts
// re-encodes and re-masks to the input's bytes.
func FuzzUnprotectHeader(f *testing.F) {
	var hk [keySize]byte
	f.Fuzz(func(t *testing.T, msg []byte) {
		for _, k := range [][keySize]byte{hk, {1}} {
			h, raw, ok := unprotect(&k, msg)
			if !ok {
				continue
			}
			if enc := h.appendTo(nil); !bytes.Equal(enc, raw) {
				t.Fatalf("header %x re-encodes as %x", raw, enc)
			}
			out := append(append([]byte{}, raw...), msg[len(raw):]...)
			protect(&k, out, len(raw))
			if !bytes.Equal(out, msg) {
				t.Fatal("protect(unprotect(x)) != x")
			}
		}
	})
}
