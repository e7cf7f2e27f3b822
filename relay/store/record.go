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
	bucketLog      = []byte("log")      // seq → record (an envelope, or a tombstone: a seen id only); appended
	bucketTag      = []byte("tag")      // tag ‖ 255−prio ‖ seq → expiry; delivery and per-tag eviction order
	bucketEvict    = []byte("evict")    // prio ‖ expiry ‖ seq → (empty); global eviction and expiry order
	bucketTagBytes = []byte("tagbytes") // tag → stored bytes for that tag (absent when 0)
	bucketOwed     = []byte("owed")     // link name → bucket of seq → (empty)
	bucketAuth     = []byte("auth")     // Ed25519 key → stamp ‖ accepted number
	bucketAuthAge  = []byte("authage")  // accepted number → Ed25519 key; forgetting the oldest
	bucketIDSnap   = []byte("idsnap")   // chunk number → id index entries; only from a clean Close to the next Open
)

// buckets are the top-level buckets of the current format.
var buckets = [][]byte{bucketMeta, bucketLog, bucketTag, bucketEvict,
	bucketTagBytes, bucketOwed, bucketAuth, bucketAuthAge}

// Keys in bucketMeta.
var (
	metaSchema    = []byte("schema")    // schemaVersion
	metaAge       = []byte("age")       // store age checkpoint, nanoseconds (records and keys use seconds)
	metaSeq       = []byte("seq")       // last Seq handed out
	metaCount     = []byte("count")     // stored envelopes
	metaBytes     = []byte("bytes")     // their encoded bytes
	metaAuthSeq   = []byte("authseq")   // last accepted-stamp number
	metaAuthCount = []byte("authcount") // keys in bucketAuth
	metaIDSnap    = []byte("idsnap")    // entries in bucketIDSnap; present only while it is valid
)

// schemaVersion is the on-disk layout described in this file and in
// docs/store.md. Open refuses any other.
//
//	1: ages in nanoseconds, per-tag eviction index (bucket "evicttag").
//	2: ages in whole seconds, no "evicttag" (the tag index carries expiry),
//	   one-byte size overhead in records, every stored envelope in "tag".
//	3: records in an append-only log keyed by seq ("log") with an index
//	   id[:8] ‖ seq ("id"); indexes point by seq; seen ids are tombstones
//	   in the log, which is also the order of forgetting them (no
//	   "seenexp"); owed lists are bitmaps of 256 seqs per key.
//	4: no "id": the id index is built in memory from the log at Open,
//	   or read from "idsnap", which Close writes and Open deletes.
//	   Open turns a format 3 file into 4 by deleting "id".
const schemaVersion = 4

// migratableVersion is the one older format Open converts (3 → 4: delete
// bucketFormat3ID); any other is refused.
const migratableVersion = 3

var bucketFormat3ID = []byte("id") // format 3's id index: id[:8] ‖ seq → (empty)

// Record layout, the value in bucketLog under its seq. All integers
// big-endian; ages are whole seconds of store age (uint32: 136 years). A
// seen expiry is rounded up (an id is remembered at least SeenRetention);
// an envelope's expiry is rounded down, so that its ttl reads back as
// stored, never more (it loses under a second of life here and, by rounding
// up on read, gains under one per hop).
//
//	[0]      flags
//	[1:5]    seen expiry: the id counts as seen until then
//	[5:21]   id
//	--- only when flags&flagStored (else a tombstone: the id is only seen) ---
//	[21:25]  expiry
//	[25]     size − len(body): the CBOR overhead of the encoded envelope, as
//	         counted against the quotas at Put (at most 25 bytes)
//	[26]     kind
//	[27]     prio
//	[28]     hops
//	[29:37]  to (routing tag)
//	[37:]    body
//
// The envelope is kept as fields rather than CBOR: it is smaller and needs
// no decoding on Scan. Its ttl is derived from expiry. Removing an envelope
// rewrites its record as a tombstone under the same seq.
const (
	flagStored = 1 << 0 // the record holds an envelope, not only a seen id
	flagLocal  = 1 << 1 // the envelope is delivered to LinkLocal (Scan returns it)

	recordIDOffset = 5
	tombstoneBytes = 21
	recordHeader   = 37
	ageBytes       = 4 // an age in keys and records: uint32 seconds
	seqBytes       = 8
	idPrefixBytes  = 8 // of an id, as the in-memory id index's key
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
	id      codec.ID
	seq     uint64 // its key in bucketLog, not part of the value
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
	b = append(b, r.id[:]...)
	if !r.stored() {
		return b
	}
	b = appendAge(b, r.expiry)
	b = append(b, byte(r.size-len(r.body)), byte(r.kind), byte(r.prio), r.hops)
	b = append(b, r.to[:]...)
	return append(b, r.body...)
}

// tombstone is r without its envelope: the id stays seen until r.seenExp.
func (r *record) tombstone() []byte {
	t := record{seenExp: r.seenExp, id: r.id}
	return t.marshal()
}

func unmarshalRecord(seq uint64, b []byte) (record, error) {
	r := record{seq: seq}
	if len(b) < tombstoneBytes {
		return r, fmt.Errorf("record %d of %d bytes", seq, len(b))
	}
	r.flags = b[0]
	r.seenExp = readAge(b[1:])
	r.id = codec.ID(b[recordIDOffset:tombstoneBytes])
	if !r.stored() {
		return r, nil
	}
	if len(b) < recordHeader {
		return r, fmt.Errorf("stored record %d of %d bytes", seq, len(b))
	}
	r.expiry = readAge(b[21:])
	r.kind = codec.Kind(b[26])
	r.prio = codec.Prio(b[27])
	r.hops = b[28]
	r.to = codec.Tag(b[29:37])
	r.body = b[37:]
	r.size = int(b[25]) + len(r.body)
	return r, nil
}

// item turns a stored record into an Item as seen at store age now. It copies
// the body out of bbolt memory. ok is false once the envelope has expired.
func (r *record) item(now time.Duration) (Item, bool) {
	if !r.stored() || r.expiry <= now {
		return Item{}, false
	}
	return Item{
		ID:  r.id,
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

func getU64Key(k []byte) uint64 { return binary.BigEndian.Uint64(k) }

func tagKey(tag codec.Tag, prio codec.Prio, seq uint64) []byte {
	k := make([]byte, 0, codec.TagSize+1+seqBytes)
	k = append(k, tag[:]...)
	k = append(k, 255-byte(prio))
	return binary.BigEndian.AppendUint64(k, seq)
}

// tagValue is the tag index's value: the expiry, so that per-tag eviction
// reads no records to order its window.
func tagValue(expiry time.Duration) []byte { return appendAge(nil, expiry) }

// parseTagEntry reads the seq from a tag index key and the expiry from its
// value.
func parseTagEntry(k, v []byte) (seq uint64, expiry time.Duration) {
	return getU64Key(k[codec.TagSize+1:]), readAge(v)
}

// evictKey is prio ‖ expiry ‖ seq; the value is empty. Ages have whole
// seconds, so envelopes often share an expiry: seq breaks the tie, oldest
// first.
func evictKey(prio codec.Prio, expiry time.Duration, seq uint64) []byte {
	k := make([]byte, 0, 1+ageBytes+seqBytes)
	k = append(k, byte(prio))
	k = appendAge(k, expiry)
	return binary.BigEndian.AppendUint64(k, seq)
}

// parseEvictKey reads prio ‖ expiry ‖ seq.
func parseEvictKey(k []byte) (codec.Prio, time.Duration, uint64) {
	return codec.Prio(k[0]), readAge(k[1:]), getU64Key(k[1+ageBytes:])
}
