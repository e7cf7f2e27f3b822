package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/cairnmesh/cairn/codec"
)

// Bucket names. Every bucket is top level except the per-link owed buckets,
// which are nested in bucketOwed so that Open can list and drop them.
var (
	bucketMeta     = []byte("meta")     // name → big-endian uint64 counter
	bucketEnv      = []byte("env")      // id → record (seen entry, optionally with the stored envelope)
	bucketTag      = []byte("tag")      // tag ‖ 255−prio ‖ seq → id ‖ expiry; delivery and per-tag eviction order
	bucketEvict    = []byte("evict")    // prio ‖ expiry ‖ seq → id; global eviction and expiry order
	bucketSeenExp  = []byte("seenexp")  // seen expiry ‖ seq → id; forgetting seen ids
	bucketTagBytes = []byte("tagbytes") // tag → stored bytes for that tag (absent when 0)
	bucketOwed     = []byte("owed")     // link name → bucket of seq → id
	bucketAuth     = []byte("auth")     // Ed25519 key → stamp ‖ accepted number
	bucketAuthAge  = []byte("authage")  // accepted number → Ed25519 key; forgetting the oldest
)

// Keys in bucketMeta.
var (
	metaSchema    = []byte("schema")    // schemaVersion
	metaAge       = []byte("age")       // store age checkpoint, nanoseconds (records and keys use seconds)
	metaSeq       = []byte("seq")       // last Seq handed out
	metaCount     = []byte("count")     // stored envelopes
	metaBytes     = []byte("bytes")     // their encoded bytes
	metaAuthSeq   = []byte("authseq")   // last accepted-stamp number
	metaAuthCount = []byte("authcount") // keys in bucketAuth
)

// schemaVersion is the on-disk layout described in this file and in
// docs/store.md. Open refuses any other.
//
//	1: ages in nanoseconds, per-tag eviction index (bucket "evicttag").
//	2: ages in whole seconds, no "evicttag" (the tag index carries expiry),
//	   one-byte size overhead in records, every stored envelope in "tag".
const schemaVersion = 2

// Record layout, the value in bucketEnv. All integers big-endian; ages are
// whole seconds of store age (uint32: 136 years). A seen expiry is rounded
// up (an id is remembered at least SeenRetention); an envelope's expiry is
// rounded down, so that its ttl reads back as stored, never more (it loses
// under a second of life here and, by rounding up on read, gains under one
// per hop).
//
//	[0]      flags
//	[1:5]    seen expiry: the id counts as seen until then
//	[5:13]   seq: of the envelope, or for a seen entry alone its own
//	--- only when flags&flagStored ---
//	[13:17]  expiry
//	[17]     size − len(body): the CBOR overhead of the encoded envelope, as
//	         counted against the quotas at Put (at most 25 bytes)
//	[18]     kind
//	[19]     prio
//	[20]     hops
//	[21:29]  to (routing tag)
//	[29:]    body
//
// The envelope is kept as fields rather than CBOR: it is smaller and needs
// no decoding on Scan. Its ttl is derived from expiry.
const (
	flagStored = 1 << 0 // the record holds an envelope, not only a seen entry
	flagLocal  = 1 << 1 // the envelope is delivered to LinkLocal (Scan returns it)

	seenRecordBytes = 13
	recordHeader    = 29
	ageBytes        = 4 // an age in keys and records: uint32 seconds
)

// ageUnit is the resolution of ages on disk.
const ageUnit = time.Second

// ceilAge and floorAge round a store age to ageUnit; every age written to
// disk is rounded by one of them.
func ceilAge(d time.Duration) time.Duration  { return (d + ageUnit - 1) / ageUnit * ageUnit }
func floorAge(d time.Duration) time.Duration { return d / ageUnit * ageUnit }

func appendAge(b []byte, d time.Duration) []byte {
	return binary.BigEndian.AppendUint32(b, uint32(d/ageUnit))
}

func readAge(b []byte) time.Duration {
	return time.Duration(binary.BigEndian.Uint32(b)) * ageUnit
}

type record struct {
	flags   byte
	seenExp time.Duration
	seq     uint64
	expiry  time.Duration
	size    int
	kind    codec.Kind
	prio    codec.Prio
	hops    uint8
	to      codec.Tag
	body    []byte // aliases bbolt memory: valid only inside the transaction
}

func (r *record) stored() bool { return r.flags&flagStored != 0 }
func (r *record) local() bool  { return r.flags&flagLocal != 0 }

func (r *record) marshal() []byte {
	b := make([]byte, 0, recordHeader+len(r.body))
	b = append(b, r.flags)
	b = appendAge(b, r.seenExp)
	b = binary.BigEndian.AppendUint64(b, r.seq)
	if !r.stored() {
		return b
	}
	b = appendAge(b, r.expiry)
	b = append(b, byte(r.size-len(r.body)), byte(r.kind), byte(r.prio), r.hops)
	b = append(b, r.to[:]...)
	return append(b, r.body...)
}

func unmarshalRecord(b []byte) (record, error) {
	var r record
	if len(b) < seenRecordBytes {
		return r, fmt.Errorf("record of %d bytes", len(b))
	}
	r.flags = b[0]
	r.seenExp = readAge(b[1:])
	r.seq = binary.BigEndian.Uint64(b[5:])
	if !r.stored() {
		return r, nil
	}
	if len(b) < recordHeader {
		return r, fmt.Errorf("stored record of %d bytes", len(b))
	}
	r.expiry = readAge(b[13:])
	r.kind = codec.Kind(b[18])
	r.prio = codec.Prio(b[19])
	r.hops = b[20]
	copy(r.to[:], b[21:29])
	r.body = b[29:]
	r.size = int(b[17]) + len(r.body)
	return r, nil
}

// item turns a stored record into an Item as seen at store age now. It copies
// the body out of bbolt memory. ok is false once the envelope has expired.
func (r *record) item(id codec.ID, now time.Duration) (Item, bool) {
	if !r.stored() || r.expiry <= now {
		return Item{}, false
	}
	return Item{
		ID:  id,
		Seq: r.seq,
		Envelope: &codec.Envelope{
			Kind: r.kind,
			To:   r.to,
			TTL:  ttlSeconds(r.expiry - now),
			Prio: r.prio,
			Hops: r.hops,
			Body: append([]byte{}, r.body...),
		},
		Size: r.size,
	}, true
}

// ttlSeconds rounds remaining life up to whole seconds, so that an envelope
// that is still alive never reads as ttl 0. Each hop can so add less than a
// second of life (and storing, which rounds expiry down, takes less than
// one); hops are capped, so the total is bounded.
func ttlSeconds(remaining time.Duration) uint32 {
	s := (remaining + time.Second - 1) / time.Second
	if s > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(s)
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func tagKey(tag codec.Tag, prio codec.Prio, seq uint64) []byte {
	k := make([]byte, 0, codec.TagSize+1+8)
	k = append(k, tag[:]...)
	k = append(k, 255-byte(prio))
	return binary.BigEndian.AppendUint64(k, seq)
}

// tagValue is the tag index's value: id ‖ expiry, so that per-tag eviction
// needs no record reads.
func tagValue(id codec.ID, expiry time.Duration) []byte {
	return appendAge(append(make([]byte, 0, codec.IDSize+ageBytes), id[:]...), expiry)
}

func parseTagValue(v []byte) (codec.ID, time.Duration) {
	return codec.ID(v[:codec.IDSize]), readAge(v[codec.IDSize:])
}

// evictKey is prio ‖ expiry ‖ seq; the value is the id. Ages have whole
// seconds, so envelopes often share an expiry: seq breaks the tie, oldest
// first.
func evictKey(prio codec.Prio, expiry time.Duration, seq uint64) []byte {
	k := make([]byte, 0, 1+ageBytes+8)
	k = append(k, byte(prio))
	k = appendAge(k, expiry)
	return binary.BigEndian.AppendUint64(k, seq)
}

// parseEvictKey reads prio ‖ expiry ‖ seq.
func parseEvictKey(k []byte) (codec.Prio, time.Duration) {
	return codec.Prio(k[0]), readAge(k[1:])
}

// seenKey is seen expiry ‖ seq; the value is the id. Seen expiries have
// whole seconds: seq keeps the keys growing within one, so the bucket only
// appends.
func seenKey(exp time.Duration, seq uint64) []byte {
	k := appendAge(make([]byte, 0, ageBytes+8), exp)
	return binary.BigEndian.AppendUint64(k, seq)
}
