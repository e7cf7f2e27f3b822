package store

import (
	"bytes"
	"fmt"

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
// The order comes from two indexes, prio ‖ expiry ‖ id globally and
// tag ‖ prio ‖ expiry ‖ id per tag, so finding victims costs O(victims ·
// log n), never a scan of the store.

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
		for k, _ := c.Seek(prefix); need > 0 && k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			p, exp, id := parseEvictKey(k[len(prefix):])
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
		if !take(w.evictTag, tag[:], need, reasonQuotaTag) {
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
