package codec_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/codec/codectest"
)

// readStream reads every item of data, and the error that ended it (nil at
// a clean end).
func readStream(data []byte) ([][]byte, error) {
	r := codec.NewStreamReader(bytes.NewReader(data))
	var items [][]byte
	for {
		b, err := r.Next()
		if err == io.EOF {
			return items, nil
		}
		if err != nil {
			return items, err
		}
		items = append(items, b)
	}
}

func TestStreamGood(t *testing.T) {
	data, _ := hex.DecodeString(codectest.GoodStream)
	items, err := readStream(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{codectest.GoodEnvelopes[0].Hex, codectest.GoodEnvelopes[4].Hex}
	if len(items) != len(want) {
		t.Fatalf("%d items, want %d", len(items), len(want))
	}
	var again []byte
	for i, b := range items {
		if hex.EncodeToString(b) != want[i] {
			t.Errorf("item %d: %x, want %s", i, b, want[i])
		}
		if _, err := codec.DecodeEnvelope(b); err != nil {
			t.Errorf("item %d: %v", i, err)
		}
		again = codec.AppendStreamItem(again, b)
	}
	if !bytes.Equal(again, data) {
		t.Errorf("written back: %x", again)
	}
	// One byte at a time, as from a slow pipe.
	r := codec.NewStreamReader(iotest.OneByteReader(bytes.NewReader(data)))
	for range want {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last item: %v, want io.EOF", err)
	}
	if items, err := readStream(nil); len(items) != 0 || err != nil {
		t.Fatalf("empty stream: %d items, %v", len(items), err)
	}
}

// Every length head writes in the shortest form and reads back.
func TestStreamItemSizes(t *testing.T) {
	for _, n := range []int{0, 1, 23, 24, 255, 256, 65535, codec.MaxEnvelopeBytes} {
		item := codec.AppendStreamItem(nil, bytes.Repeat([]byte{7}, n))
		items, err := readStream(item)
		if err != nil || len(items) != 1 || len(items[0]) != n {
			t.Errorf("%d bytes: %d items, %v", n, len(items), err)
		}
	}
}

func TestStreamBad(t *testing.T) {
	for _, c := range codectest.BadStreams {
		t.Run(c.Name, func(t *testing.T) {
			r := codec.NewStreamReader(bytes.NewReader(c.Bytes()))
			var err error
			for err == nil {
				_, err = r.Next()
			}
			if !errors.Is(err, c.Want) {
				t.Fatalf("%v, want %v", err, c.Want)
			}
			if _, again := r.Next(); again != err {
				t.Fatalf("after the error: %v, want it again", again)
			}
		})
	}
}

func FuzzReadStream(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := readStream(data)
		if err != nil {
			requireSentinel(t, err)
			return
		}
		var again []byte
		for _, b := range items {
			again = codec.AppendStreamItem(again, b)
			if _, err := codec.DecodeEnvelope(b); err != nil {
				requireSentinel(t, err)
			}
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("read %x, writes back as %x", data, again)
		}
	})
}
