package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"

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
// order is the eviction index, prio ‖ expiry ‖ seq → id, so finding
// victims there costs O(victims · log n). The per-tag order comes from the
// tag index (tag ‖ 255−prio ‖ seq → id ‖ expiry): its entries of the
// lowest priority present are read and sorted by expiry. That costs
// O(envelopes of that priority in the tag) per eviction — at the default
// 16 MiB tag quota and 60-byte bodies up to ~160,000 sequential key reads,
// a few ms — in exchange for no per-tag eviction index (7 MiB per 100,000
// envelopes; docs/store.md "Memory").

// Eviction reasons, as logged.
const (
	reasonQuotaTotal = "quota_total"
	reasonQuotaTag   = "quota_tag"
	reasonExpired    = "expired"
)

type victim struct {
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
		chosen  = map[codec.ID]bool{}
		freed   int64 // bytes of all victims so far
	)
	// take walks an eviction index from the first key with prefix, choosing
	// victims until need bytes are freed. It reports whether it got there.
	take := func(b *bbolt.Bucket, prefix []byte, need int64, reason string) bool {
		c := b.Cursor()
		for k, v := c.Seek(prefix); need > 0 && k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			p, exp := parseEvictKey(k[len(prefix):])
			id := codec.ID(v)
			if p > prio {
				// Higher priorities are never evicted for this envelope;
				// their expired entries are the sweeper's.
				break
			}
			if chosen[id] {
				continue
			}
			r, found := w.record(id)
			if !found || !r.stored() {
				continue
			}
			why := reason
			if exp <= w.age {
				why = reasonExpired
			}
			chosen[id] = true
			victims = append(victims, victim{id: id, tag: r.to, prio: r.prio, reason: why})
			need -= int64(r.size)
			freed += int64(r.size)
		}
		return need <= 0
	}
	if need := w.tagBytesOf(tag) + int64(size) - o.MaxTagBytes; need > 0 {
		for p := codec.PrioBulk; p <= prio && need > 0; p++ {
			for _, e := range w.tagByExpiry(tag, p) {
				if need <= 0 {
					break
				}
				r, found := w.record(e.id)
				if !found || !r.stored() {
					continue
				}
				why := reasonQuotaTag
				if e.expiry <= w.age {
					why = reasonExpired
				}
				chosen[e.id] = true
				victims = append(victims, victim{id: e.id, tag: r.to, prio: r.prio, reason: why})
				need -= int64(r.size)
				freed += int64(r.size)
			}
		}
		if need > 0 {
			return nil, fmt.Errorf("%w: tag %s holds too little of priority %s or lower", ErrQuota, tag, prio)
		}
	}
	if need := int64(w.meta.bytes) - freed + int64(size) - o.MaxTotalBytes; need > 0 {
		if !take(w.evict, nil, need, reasonQuotaTotal) {
			return nil, fmt.Errorf("%w: store holds too little of priority %s or lower", ErrQuota, prio)
		}
	}
	return victims, nil
}

type tagEntry struct {
	expiry time.Duration
	seq    uint64
	id     codec.ID
}

// tagByExpiry returns tag's envelopes of priority prio, least life left
// first, ties oldest first (as in the eviction index).
func (w *writer) tagByExpiry(tag codec.Tag, prio codec.Prio) []tagEntry {
	prefix := append(tag[:len(tag):len(tag)], 255-byte(prio))
	var out []tagEntry
	c := w.tag.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		id, exp := parseTagValue(v)
		out = append(out, tagEntry{exp, binary.BigEndian.Uint64(k[len(prefix):]), id})
	}
	// Stable: entries come in seq order.
	slices.SortStableFunc(out, func(a, b tagEntry) int { return cmp.Compare(a.expiry, b.expiry) })
	return out
}
