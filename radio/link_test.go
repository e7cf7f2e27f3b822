package radio

import (
	"bytes"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
)

func linkSeeds() map[string][]byte {
	env := bytes.Repeat([]byte{0x87}, 600)
	frags, _ := Fragment(0xBEEF, 0x123, env)
	r := NewReassembler(ReassemblyOptions{})
	d, _ := DecodeLinkFrame(frags[0])
	r.Add(d)
	nack, _ := r.Missing(0xBEEF, 0x123)
	whole, _ := AppendWhole(nil, []byte{0x87, 1, 1})
	directed, _ := AppendDirected(nil, 0x00A2, []byte{0x87, 1, 1})
	sum, _ := NewSketch(0x01020304, nil).Frame(1)
	summary, _ := AppendSummary(nil, 0x0007, sum)
	done, _ := AppendDone(nil, 0x0009, Done{Of: 7, Salt: 0x01020304, Status: DonePartial, Wants: []uint64{1, 2}})
	serves, _ := AppendServes(nil, 0x00A1, []codec.Tag{{1, 2, 3, 4, 5, 6, 7, 8}, {0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7}})
	servesFull, _ := AppendServes(nil, 0xFFFF, make([]codec.Tag, MaxServesTags))
	return map[string][]byte{
		"serves":         serves,
		"serves-full":    servesFull,
		"serves-empty":   {0x74, 0x00, 0xA1},
		"serves-ragged":  append(slices.Clone(serves), 9),
		"control-5":      {0x75, 0x00, 0x07, 1, 2, 3, 4, 5, 6, 7, 8},
		"directed":       directed,
		"directed-short": {0x41, 0, 0xA2},
		"summary":        summary,
		"summary-ragged": append(slices.Clone(summary), 0),
		"done":           done,
		"done-gave-up":   {0x73, 0, 9, 0, 7, 1, 2, 3, 4, DoneGaveUp, 0, 0, 0, 0, 0, 0, 0, 1},
		"whole":          whole,
		"fragment-first": frags[0],
		"fragment-last":  frags[len(frags)-1],
		"nack":           nack,
		"bad-version":    {0x80, 1},
		"bad-reserved":   {0x41, 1},
		"short-fragment": {0x51, 0x23, 0xBE, 0xEF, 0, 2, 1, 2, 3},
		"nack-trailing0": {0x61, 0x23, 0xBE, 0xEF, 0, 1, 0},
		"type-3":         {0x70, 0},
		"ack":            {0x70, 0xBE, 0xEF, 1, 2, 3, 4, 5, 6, 7, 8},
		"beacon":         {0x71, 0x00, 0x07, 0x80, 0, 0, 0, 0, 0, 0, 1},
		"control-2":      {0x72, 0x00, 0x07},
		"empty":          {},
	}
}

func FuzzDecodeLinkFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeLinkFrame(b)
		if err != nil {
			if !errors.Is(err, ErrBadLinkFrame) {
				t.Fatalf("error without ErrBadLinkFrame: %v", err)
			}
			return
		}
		if again := fr.Append(nil); !bytes.Equal(again, b) {
			t.Fatalf("decoded %x, encodes to %x", b, again)
		}
		if fr.Type == LinkFragment {
			r := NewReassembler(ReassemblyOptions{MaxBytes: 64 << 10})
			if _, err := r.Add(fr); err != nil && fr.Last < 255 {
				t.Logf("add: %v", err)
			}
		}
		if fr.Type == LinkControl && fr.Control == ControlServes {
			if again, err := AppendServes(nil, fr.Sender, ServedTags(fr)); err != nil || !bytes.Equal(again, b) {
				t.Fatalf("serves %x: tags encode to %x, %v", b, again, err)
			}
		}
		if fr.Type == LinkNack {
			for _, i := range MissingIndexes(fr) {
				_ = i
			}
		}
	})
}

// TestLinkBudget is DESIGN.md's budget: a 20-byte text in an established
// session is a 62-byte envelope; with the 1-byte whole-frame header it is 63
// bytes from Cairn, 64 on air after RNode's own header byte.
func TestLinkBudget(t *testing.T) {
	env := codec.Envelope{Kind: codec.KindMessage, TTL: 86400, Prio: codec.PrioNormal}
	body := make([]byte, 41) // filler ciphertext making the 62-byte envelope of DESIGN.md
	env.Body = body
	b := env.Encode()
	if len(b) != 62 {
		t.Fatalf("envelope of %d bytes", len(b))
	}
	frame, err := AppendWhole(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(frame) != 63 || len(frame)+RNodeHeaderBytes != 64 {
		t.Fatalf("frame of %d bytes", len(frame))
	}
	m := Modulation{BandwidthHz: 125000, SF: 9, CR: 5}
	t.Logf("62-byte envelope: %d-byte frame, %d bytes on air, %v at SF9/125 kHz/CR4/5", len(frame), len(frame)+RNodeHeaderBytes, m.Airtime(len(frame)+RNodeHeaderBytes))
}

func TestLinkFrameExamples(t *testing.T) {
	whole, _ := AppendWhole(nil, []byte{0x87, 0x01, 0x01})
	if got := hex.EncodeToString(whole); got != "40870101" {
		t.Fatalf("whole %s", got)
	}
	frags, err := Fragment(0xBEEF, 0x123, bytes.Repeat([]byte{0xAA}, 300))
	if err != nil || len(frags) != 2 {
		t.Fatal(len(frags), err)
	}
	if got := hex.EncodeToString(frags[1][:8]); got != "5123beef0101aaaa" || len(frags[0]) != MaxFrameBytes || len(frags[1]) != 6+52 {
		t.Fatalf("fragment %s, lengths %d %d", got, len(frags[0]), len(frags[1]))
	}
	if _, err := Fragment(1, 1, make([]byte, MaxLinkEnvelope+1)); err == nil {
		t.Fatal("oversize envelope fragmented")
	}
	if _, err := Fragment(1, 1, make([]byte, FragmentDataBytes)); err == nil {
		t.Fatal("one-fragment envelope fragmented")
	}
	if _, err := AppendWhole(nil, make([]byte, MaxWholeEnvelope+1)); err == nil {
		t.Fatal("oversize whole frame")
	}
}

// TestSelectiveRepeat loses fragments, asks for exactly the missing ones,
// and reassembles.
func TestSelectiveRepeat(t *testing.T) {
	env := make([]byte, 10*FragmentDataBytes+17)
	for i := range env {
		env[i] = byte(i * 7)
	}
	frags, err := Fragment(7, 42, env)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReassembler(ReassemblyOptions{})
	lost := map[int]bool{1: true, 4: true, 5: true, 10: true}
	for i, fb := range frags {
		if lost[i] {
			continue
		}
		f, err := DecodeLinkFrame(fb)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := r.Add(f); got != nil || err != nil {
			t.Fatal("completed early", err)
		}
	}
	nackBytes, ok := r.Missing(7, 42)
	if !ok {
		t.Fatal("no nack")
	}
	t.Logf("nack: %x", nackBytes)
	nack, err := DecodeLinkFrame(nackBytes)
	if err != nil {
		t.Fatal(err)
	}
	idx := MissingIndexes(nack)
	if len(idx) != 4 || idx[0] != 1 || idx[1] != 4 || idx[2] != 5 || idx[3] != 10 {
		t.Fatalf("missing %v", idx)
	}
	var got []byte
	for _, i := range idx {
		f, _ := DecodeLinkFrame(frags[i])
		if got, err = r.Add(f); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, env) {
		t.Fatal("reassembled envelope differs")
	}
	if _, ok := r.Missing(7, 42); ok {
		t.Fatal("finished transfer still missing fragments")
	}
	// A duplicate after completion starts a new transfer, which times out.
	f, _ := DecodeLinkFrame(frags[0])
	r.Add(f)
	r.Add(f)
	if s := r.Stats(); s.Completed != 1 || s.Duplicates != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestReassemblyBounds(t *testing.T) {
	clk := &fakeClock{time.Unix(0, 0)}
	r := NewReassembler(ReassemblyOptions{MaxTransfers: 2, MaxBytes: 8 * FragmentDataBytes, Timeout: time.Minute, Now: clk.now})
	add := func(sender uint16, last uint8) {
		f := LinkFrame{Type: LinkFragment, Sender: sender, Transfer: 1, Index: 0, Last: last, Data: make([]byte, FragmentDataBytes)}
		if _, err := r.Add(f); err != nil {
			t.Fatal(err)
		}
		clk.advance(time.Second)
	}
	add(1, 1)
	add(2, 1)
	add(3, 1) // third transfer: evicts sender 1
	if _, ok := r.Missing(1, 1); ok {
		t.Fatal("oldest transfer not evicted")
	}
	add(4, 5) // 6 fragments: the transfer and byte bounds evict one more
	if s := r.Stats(); s.Evicted != 2 {
		t.Fatalf("stats %+v", s)
	}
	if _, err := r.Add(LinkFrame{Type: LinkFragment, Sender: 9, Last: 20, Data: make([]byte, FragmentDataBytes)}); err == nil {
		t.Fatal("transfer larger than the bound accepted")
	}
	clk.advance(time.Minute)
	r.Add(LinkFrame{Type: LinkFragment, Sender: 5, Last: 1, Data: make([]byte, FragmentDataBytes)})
	if s := r.Stats(); s.Expired != 2 { // transfers 3 and 4
		t.Fatalf("stats %+v", s)
	}
}

func TestControlFrames(t *testing.T) {
	var id1, id2 codec.ID
	for i := range id1 {
		id1[i], id2[i] = byte(i), byte(0xF0+i)
	}
	ack, err := AppendAck(nil, 0xBEEF, []codec.ID{id1, id2})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(ack), "70beef"+"0001020304050607"+"f0f1f2f3f4f5f6f7"; got != want {
		t.Fatalf("ack %s, want %s", got, want)
	}
	f, err := DecodeLinkFrame(ack)
	if err != nil || f.Type != LinkControl || f.Control != ControlAck || f.Sender != 0xBEEF {
		t.Fatalf("decoded %+v, %v", f, err)
	}
	if ids := AckedIDs(f); len(ids) != 2 || ids[0] != ShortOf(id1) || ids[1] != ShortOf(id2) {
		t.Fatalf("acked %x", ids)
	}
	if _, err := AppendAck(nil, 1, make([]codec.ID, MaxAckIDs+1)); err == nil {
		t.Error("ack of 32 ids accepted")
	}
	full, _ := AppendAck(nil, 1, make([]codec.ID, MaxAckIDs))
	if len(full) > MaxFrameBytes {
		t.Errorf("full ack of %d bytes", len(full))
	}

	var tags []codec.Tag
	for i := range 20 {
		var tg codec.Tag
		for j := range tg {
			tg[j] = byte(i*31 + j*7)
		}
		tags = append(tags, tg)
	}
	filter := NewTagFilter(tags)
	beacon, _ := AppendBeacon(nil, 0x0102, filter)
	f, err = DecodeLinkFrame(beacon)
	if err != nil || f.Control != ControlBeacon || f.Sender != 0x0102 || len(f.Data) != 32 {
		t.Fatalf("beacon %x decoded %+v, %v", beacon, f, err)
	}
	for _, tg := range tags {
		if !TagFilter(f.Data).Has(tg) {
			t.Errorf("filter lost %s", tg)
		}
	}
	if (TagFilter(nil)).Has(tags[0]) {
		t.Error("empty filter has a tag")
	}
	empty, _ := AppendBeacon(nil, 7, nil)
	if hex.EncodeToString(empty) != "710007" {
		t.Errorf("empty beacon %x", empty)
	}

	for _, bad := range [][]byte{
		{0x70, 0xBE},                               // short header
		{0x70, 0xBE, 0xEF},                         // ack without ids
		{0x70, 0xBE, 0xEF, 1, 2, 3},                // ack of 3 bytes
		{0x72, 0xBE, 0xEF},                         // summary without cells
		{0x74, 0xBE, 0xEF},                         // serves without tags
		{0x74, 0xBE, 0xEF, 1, 2, 3},                // serves of 3 bytes
		{0x75, 0xBE, 0xEF, 1, 2, 3, 4, 5, 6, 7, 8}, // control 5 reserved
		{0x7F, 0xBE, 0xEF},                         // control F reserved
		append([]byte{0x74, 0, 1}, make([]byte, 8*(MaxServesTags+1))...), // 32 tags: longer than a frame
		append([]byte{0x71, 0, 1}, make([]byte, 65)...),                  // filter too long
	} {
		if _, err := DecodeLinkFrame(bad); !errors.Is(err, ErrBadLinkFrame) {
			t.Errorf("%x: %v", bad, err)
		}
	}
}

// TestServesFrame: the serves frame of docs/radio.md both ways — encoded
// from tags to the documented bytes, decoded from them to the same tags —
// and its bounds.
func TestServesFrame(t *testing.T) {
	tags := []codec.Tag{{1, 2, 3, 4, 5, 6, 7, 8}, {0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7}}
	const vector = "7400a1" + "0102030405060708" + "f0f1f2f3f4f5f6f7"
	b, err := AppendServes(nil, 0x00A1, tags)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != vector {
		t.Fatalf("serves %s, want %s", got, vector)
	}
	raw, _ := hex.DecodeString(vector)
	f, err := DecodeLinkFrame(raw)
	if err != nil || f.Type != LinkControl || f.Control != ControlServes || f.Sender != 0x00A1 {
		t.Fatalf("decoded %+v, %v", f, err)
	}
	if got := ServedTags(f); !slices.Equal(got, tags) {
		t.Fatalf("tags %x, want %x", got, tags)
	}
	full, err := AppendServes(nil, 1, make([]codec.Tag, MaxServesTags))
	if err != nil || len(full) != ControlHeaderBytes+8*MaxServesTags || len(full) > MaxFrameBytes {
		t.Fatalf("31 tags: %d bytes, %v", len(full), err)
	}
	if _, err := DecodeLinkFrame(full); err != nil {
		t.Fatalf("31 tags: %v", err)
	}
	for _, n := range []int{0, MaxServesTags + 1} {
		if _, err := AppendServes(nil, 1, make([]codec.Tag, n)); err == nil {
			t.Errorf("serves of %d tags encoded", n)
		}
	}
}
