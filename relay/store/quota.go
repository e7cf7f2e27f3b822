package store

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/cairnmesh/cairn/codec"
)

// Quota policy.
//
// Two bounds hold at every commit, in encoded envelope bytes: MaxTotalBytes
// over the whole store and MaxTagBytes per recipient tag. When an incoming
// envelope would break either, Put evicts stored envelopes in the same
// transaction: lowest priority first, then least life left (earliest
// expiry), and only envelopes whose priority is at most the incoming one's.
// The tag quota is satisfied first from that tag's envelopes, then the total
// quota from all envelopes. If that cannot make room, Put refuses with
// ErrQuota and changes nothing. Envelopes met on the way whose life has
// already ended (the sweeper has not reached them) are removed as expired,
// not evicted.
//
// Ties in expiry (ages have whole seconds) go oldest first. The global
// order is the eviction index, prio ‖ expiry ‖ seq, so finding victims
// there costs O(victims · log n).
//
// Per tag, "least life left" is taken within a window: the tag index
// (tag ‖ 255−prio ‖ seq → expiry) is read in arrival order, tagWindow
// entries of the lowest priority at a time, and each window is evicted in
// expiry order before the next is read. A Put into a full tag so costs
// O(tagWindow) however many envelopes the tag holds (format 2 read and
// sorted all of the tag's lowest priority, up to ~160,000 entries, on every
// such Put). The order differs from the exact one only when an envelope
// more than tagWindow arrivals younger has less life left than every older
// one — with the alike ttls of real traffic (clients send the default,
// relays subtract hold time) arrival order is expiry order anyway. An exact
// per-tag order would need its own index of random inserts, paid on every
// Put in commit bytes and ~5 MiB per 100,000 envelopes.
const tagWindow = 256

// Eviction reasons, as logged.
const (
	reasonQuotaTotal = "quota_total"
	reasonQuotaTag   = "quota_tag"
	reasonExpired    = "expired"
)

type victim struct {
	seq    uint64
	id     codec.ID
	tag    codec.Tag
	prio   codec.Prio
	reason string
}

// planEvictions chooses what to remove so that size more bytes for tag at
// prio fit both quotas. It only reads.
func (w *writer) planEvictions(tag codec.Tag, prio codec.Prio, size int) ([]victim, error) {
	o := &w.s.opts
	if int64(size) > o.MaxTagBytes || int64(size) > o.MaxTotalBytes {
		return nil, fmt.Errorf("%w: %d bytes exceeds the quota itself", ErrQuota, size)
	}
	var (
		victims []victim
		chosen  = map[uint64]bool{}
		freed   int64 // bytes of all victims so far
	)
	// choose makes the envelope under seq a victim unless it was chosen
	// already or is gone, and returns the bytes it frees.
	choose := func(seq uint64, expiry time.Duration, reason string) int64 {
		if chosen[seq] {
			return 0
		}
		r, found := w.recordAt(seq)
		if !found || !r.stored() {
			return 0
		}
		if expiry <= w.age {
			reason = reasonExpired
		}
		chosen[seq] = true
		victims = append(victims, victim{seq: seq, id: r.id, tag: r.to, prio: r.prio, reason: reason})
		freed += int64(r.size)
		return int64(r.size)
	}
	if need := w.tagBytesOf(tag) + int64(size) - o.MaxTagBytes; need > 0 {
		for p := codec.PrioBulk; p <= prio && need > 0; p++ {
			prefix := append(tag[:len(tag):len(tag)], 255-byte(p))
			for from := prefix; from != nil && need > 0; {
				var window []tagEntry
				window, from = w.tagWindow(prefix, from)
				for _, e := range window {
					if need <= 0 {
						break
					}
					need -= choose(e.seq, e.expiry, reasonQuotaTag)
				}
			}
		}
		if need > 0 {
			return nil, fmt.Errorf("%w: tag %s holds too little of priority %s or lower", ErrQuota, tag, prio)
		}
	}
	if need := int64(w.meta.bytes) - freed + int64(size) - o.MaxTotalBytes; need > 0 {
		c := w.evict.Cursor()
		for k, _ := c.First(); need > 0 && k != nil; k, _ = c.Next() {
			p, exp, seq := parseEvictKey(k)
			if p > prio {
				// Higher priorities are never evicted for this envelope;
				// their expired entries are the sweeper's.
				break
			}
			need -= choose(seq, exp, reasonQuotaTotal)
		}
		if need > 0 {
			return nil, fmt.Errorf("%w: store holds too little of priority %s or lower", ErrQuota, prio)
		}
	}
	return victims, nil
}

type tagEntry struct {
	expiry time.Duration
	seq    uint64
}

// tagWindow returns up to tagWindow entries of the tag index with prefix
// (tag ‖ 255−prio) from key from on, least life left first, ties oldest
// first (as in the eviction index); next is where the following window
// starts, nil at the end.
func (w *writer) tagWindow(prefix, from []byte) (window []tagEntry, next []byte) {
	c := w.tag.Cursor()
	for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(window) == tagWindow {
			next = bytes.Clone(k)
			break
		}
		seq, exp := parseTagEntry(k, v)
		window = append(window, tagEntry{exp, seq})
	}
	// Stable: entries come in seq order.
	slices.SortStableFunc(window, func(a, b tagEntry) int { return cmp.Compare(a.expiry, b.expiry) })
	return window, next
}
