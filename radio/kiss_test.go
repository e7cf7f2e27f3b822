package radio

import (
	"bytes"
	"encoding/hex"
	"testing"
)

type kissFrame struct {
	cmd     byte
	payload []byte
}

func decodeAll(d *KISSDecoder, p []byte) []kissFrame {
	var out []kissFrame
	d.Feed(p, func(cmd byte, payload []byte) {
		out = append(out, kissFrame{cmd, bytes.Clone(payload)})
	})
	return out
}

func TestAppendKISS(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cmd     byte
		payload string
		want    string
	}{
		{"detect", CmdDetect, "73", "c00873c0"},
		{"frequency 868.1 MHz", CmdFrequency, "33bdb2a0", "c00133bdb2a0c0"},
		{"escapes FEND and FESC", CmdData, "c0dbc1", "c000dbdcdbddc1c0"},
		{"empty payload", CmdFWVersion, "", "c050c0"},
		{"escaped command", 0xC0, "", "c0dbdcc0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := hex.DecodeString(tc.payload)
			got := hex.EncodeToString(AppendKISS(nil, tc.cmd, p))
			if got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestKISSDecoder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		want  []string // "cmd:payload"
		stats KISSStats
	}{
		{"one frame", "c00873c0", []string{"08:73"}, KISSStats{Frames: 1}},
		{"garbage before", "41414141c00873c0", []string{"08:73"}, KISSStats{Frames: 1, Garbage: 4}},
		{"shared FEND", "c00873c050c0", []string{"08:73", "50:"}, KISSStats{Frames: 2}},
		{"idle fill", "c0c0c0c00873c0c0", []string{"08:73"}, KISSStats{Frames: 1}},
		{"unescape", "c000dbdcdbddc1c0", []string{"00:c0dbc1"}, KISSStats{Frames: 1}},
		{"bad escape dropped, next frame kept", "c00001db41ffc00873c0", []string{"08:73"}, KISSStats{Frames: 1, BadEscape: 1}},
		{"FESC then FEND", "c00001dbc00873c0", []string{"08:73"}, KISSStats{Frames: 1, BadEscape: 1}},
		{"unterminated", "c0000102", nil, KISSStats{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, _ := hex.DecodeString(tc.in)
			var d KISSDecoder
			var got []string
			for _, f := range decodeAll(&d, in) {
				got = append(got, hex.EncodeToString([]byte{f.cmd})+":"+hex.EncodeToString(f.payload))
			}
			if !equalStrings(got, tc.want) {
				t.Fatalf("frames %v, want %v", got, tc.want)
			}
			if d.Stats() != tc.stats {
				t.Fatalf("stats %+v, want %+v", d.Stats(), tc.stats)
			}
		})
	}
}

func TestKISSDecoderOversizeResyncs(t *testing.T) {
	d := KISSDecoder{Max: 8}
	in := AppendKISS(nil, CmdData, bytes.Repeat([]byte{1}, 8)) // 9 bytes with the command
	in = AppendKISS(in, CmdData, bytes.Repeat([]byte{2}, 7))
	got := decodeAll(&d, in)
	if len(got) != 1 || !bytes.Equal(got[0].payload, bytes.Repeat([]byte{2}, 7)) {
		t.Fatalf("got %v", got)
	}
	if s := d.Stats(); s.Oversize != 1 || s.Frames != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestKISSDecoderByteByByte(t *testing.T) {
	payload := []byte{0xC0, 0xDB, 0x00, 0xDC, 0xDD}
	in := AppendKISS(nil, CmdData, payload)
	var d KISSDecoder
	var got []kissFrame
	for i := range in {
		got = append(got, decodeAll(&d, in[i:i+1])...)
	}
	if len(got) != 1 || got[0].cmd != CmdData || !bytes.Equal(got[0].payload, payload) {
		t.Fatalf("got %v", got)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzKISSDecoder: every frame the decoder delivers encodes to a frame that
// decodes to exactly it again, and no frame exceeds the limit. A well-formed
// stream (the encoding of the frames) decodes to the same frames.
func FuzzKISSDecoder(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		d := KISSDecoder{Max: 64}
		frames := decodeAll(&d, data)
		var again []byte
		for _, fr := range frames {
			if 1+len(fr.payload) > 64 {
				t.Fatalf("frame of %d bytes passed a limit of 64", 1+len(fr.payload))
			}
			again = AppendKISS(again, fr.cmd, fr.payload)
		}
		var d2 KISSDecoder
		frames2 := decodeAll(&d2, again)
		if len(frames2) != len(frames) {
			t.Fatalf("re-encoded %d frames, decoded %d", len(frames), len(frames2))
		}
		for i := range frames {
			if frames[i].cmd != frames2[i].cmd || !bytes.Equal(frames[i].payload, frames2[i].payload) {
				t.Fatalf("frame %d: %x/%x became %x/%x", i, frames[i].cmd, frames[i].payload, frames2[i].cmd, frames2[i].payload)
			}
		}
		if s := d2.Stats(); s.Garbage+s.BadEscape+s.Oversize != 0 {
			t.Fatalf("clean stream counted drops: %+v", s)
		}
		// The input as one frame's payload survives encode→decode exactly.
		if len(data) < 64 {
			var d3 KISSDecoder
			got := decodeAll(&d3, AppendKISS(nil, CmdData, data))
			if len(got) != 1 || !bytes.Equal(got[0].payload, data) {
				t.Fatalf("payload %x did not round-trip: %v", data, got)
			}
		}
	})
}
