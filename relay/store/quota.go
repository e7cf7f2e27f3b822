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
// Per tag, "least life left" is taken within a window: the oldest
// tagWindow entries of the lowest priority in the tag index (tag ‖
// 255−prio ‖ seq → expiry), in expiry order; an envelope evicted from it is
// replaced by the next in arrival order. A transaction reads a tag's window
// once (tagCursor) and keeps it up to date as it evicts, so a flood into a
// full tag — one eviction per Put, dozens of Puts per commit — costs a
// window read per commit and a cursor seek per eviction, however many
// envelopes the tag holds (format 2 read and sorted all of the tag's lowest
// priority, up to ~160,000 entries, on every such Put; format 3 read the
// window on every Put). The order differs from the exact one only when an
// envelope more than tagWindow arrivals younger has less life left than
// every older one — with the alike ttls of real traffic (clients send the
// default, relays subtract hold time) arrival order is expiry order
// anyway. An exact per-tag order would need its own index of random
// inserts, paid on every Put in commit bytes and ~5 MiB per 100,000
// envelopes.
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
			tc := w.tagCursor(tag, p)
			for _, e := range tc.window {
				if need <= 0 {
					break
				}
				need -= choose(e.seq, e.expiry, reasonQuotaTag)
			}
			// Rarely (an envelope larger than a window of small ones) the
			// window is not enough: the following ones, a window at a time.
			for from := tc.after; need > 0; {
				window, last := w.tagWindowAfter(tc.prefix, from)
				if len(window) == 0 {
					break
				}
				from = last
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

func cmpTagEntry(a, b tagEntry) int {
	if c := cmp.Compare(a.expiry, b.expiry); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// tagCursor is one tag and priority's eviction window in a transaction:
// the oldest tagWindow envelopes still stored, least life left first, ties
// oldest first (as in the eviction index).
type tagCursor struct {
	prefix []byte     // tag ‖ 255−prio
	window []tagEntry // sorted by cmpTagEntry
	after  []byte     // the last tag index key read: the window's next member comes after it
}

// tagCursor returns the window of tag at prio, read at the first call in
// the transaction. At later calls, entries at its head whose envelopes are
// gone (evicted by an earlier Put in this transaction) leave it, and it is
// filled up again with the next entries in arrival order (including any
// this transaction added). An envelope that left the window's middle
// another way (a receipt in the same transaction) keeps its place until it
// reaches the head: the window is then briefly smaller, never wrong, since
// choose skips what is not stored.
func (w *writer) tagCursor(tag codec.Tag, prio codec.Prio) *tagCursor {
	prefix := append(tag[:len(tag):len(tag)], 255-byte(prio))
	tc := w.tagCursors[string(prefix)]
	if tc == nil {
		tc = &tagCursor{prefix: prefix, after: prefix}
		if w.tagCursors == nil {
			w.tagCursors = map[string]*tagCursor{}
		}
		w.tagCursors[string(prefix)] = tc
	}
	for len(tc.window) > 0 {
		if r, found := w.recordAt(tc.window[0].seq); found && r.stored() {
			break
		}
		tc.window = tc.window[1:]
	}
	if len(tc.window) < tagWindow {
		var more []tagEntry
		more, tc.after = w.tagEntriesAfter(tc.prefix, tc.after, tagWindow-len(tc.window))
		for _, e := range more { // in arrival order, which alike ttls make expiry order: appends
			i, _ := slices.BinarySearchFunc(tc.window, e, cmpTagEntry)
			tc.window = slices.Insert(tc.window, i, e)
		}
	}
	return tc
}

// tagWindowAfter returns up to tagWindow entries of the tag index with
// prefix (tag ‖ 255−prio) after key after (from the prefix's start if
// after is the prefix), sorted by cmpTagEntry, and the last key read.
func (w *writer) tagWindowAfter(prefix, after []byte) (window []tagEntry, last []byte) {
	window, last = w.tagEntriesAfter(prefix, after, tagWindow)
	slices.SortFunc(window, cmpTagEntry)
	return window, last
}

// tagEntriesAfter reads up to n entries with prefix after key after (or
// from it, if it is the prefix itself), in index order, and the last key
// read; after itself if there were none.
func (w *writer) tagEntriesAfter(prefix, after []byte, n int) (entries []tagEntry, last []byte) {
	c := w.tag.Cursor()
	k, v := c.Seek(after)
	if k != nil && bytes.Equal(k, after) && len(after) > len(prefix) {
		k, v = c.Next()
	}
	last = after
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(entries) < n; k, v = c.Next() {
		seq, exp := parseTagEntry(k, v)
		entries = append(entries, tagEntry{exp, seq})
		last = k
	}
	return entries, bytes.Clone(last)
}
