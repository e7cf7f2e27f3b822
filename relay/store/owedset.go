package store

import (
	"fmt"
	"math/bits"

	"go.etcd.io/bbolt"
)

// Owed lists on disk.
//
// A link's owed list is a set of seqs kept as a bitmap in chunks: key
// seq / owedChunkSeqs (8 bytes), value owedChunkBytes whose bit
// seq % owedChunkSeqs (byte i/8, bit 1<<(i%8)) is set while the link owes
// that envelope. A chunk with no bit set is deleted. Seqs are dense (every
// Put takes the next), so a list that owes most of a range costs about a
// bit per envelope plus 24 bytes per 256 — 100,000 owed envelopes take 22
// KiB instead of 2.3 MiB as one key per envelope — and Put sets bits in the
// last chunk, so the list only ever appends. At worst (one owed envelope
// per chunk, when a link has caught up but for stragglers) an entry costs
// 56 bytes, against 24 for a key of its own.
const (
	owedChunkSeqs  = 256
	owedChunkBytes = owedChunkSeqs / 8
)

func owedChunk(seq uint64) (key []byte, byteIdx int, mask byte) {
	i := seq % owedChunkSeqs
	return u64(seq / owedChunkSeqs), int(i / 8), 1 << (i % 8)
}

// owedAdd records that the list b owes seq.
func (w *writer) owedAdd(b *bbolt.Bucket, seq uint64) {
	k, i, m := owedChunk(seq)
	v := make([]byte, owedChunkBytes) // a new slice: bbolt keeps it until the commit
	if old := b.Get(k); len(old) == owedChunkBytes {
		copy(v, old)
	}
	v[i] |= m
	w.put(b, k, v)
}

// owedRemove records that the list b no longer owes seq.
func (w *writer) owedRemove(b *bbolt.Bucket, seq uint64) {
	k, i, m := owedChunk(seq)
	old := b.Get(k)
	if len(old) != owedChunkBytes || old[i]&m == 0 {
		return
	}
	v := make([]byte, owedChunkBytes)
	copy(v, old)
	v[i] &^= m
	for _, x := range v {
		if x != 0 {
			w.put(b, k, v)
			return
		}
	}
	w.del(b, k)
}

// owes reports whether the list b owes seq.
func owes(b *bbolt.Bucket, seq uint64) bool {
	k, i, m := owedChunk(seq)
	v := b.Get(k)
	return len(v) == owedChunkBytes && v[i]&m != 0
}

// eachOwed calls fn with the seqs the list b owes above afterSeq, in
// order, until fn returns false or an error.
func eachOwed(b *bbolt.Bucket, afterSeq uint64, fn func(seq uint64) (bool, error)) error {
	if afterSeq == ^uint64(0) || b == nil { // nil: the link was dropped meanwhile (SetLinks)
		return nil
	}
	from := afterSeq + 1
	c := b.Cursor()
	for k, v := c.Seek(u64(from / owedChunkSeqs)); k != nil; k, v = c.Next() {
		if len(k) != seqBytes || len(v) != owedChunkBytes {
			return fmt.Errorf("owed chunk %x of %d bytes", k, len(v))
		}
		base := getU64Key(k) * owedChunkSeqs
		for i, x := range v {
			for x != 0 {
				bit := bits.TrailingZeros8(x)
				x &^= 1 << bit
				seq := base + uint64(i*8+bit)
				if seq < from {
					continue
				}
				if more, err := fn(seq); !more || err != nil {
					return err
				}
			}
		}
	}
	return nil
}
