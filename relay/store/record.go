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
	bucketTag      = []byte("tag")      // tag ‖ 255−prio ‖ seq → id; local delivery order
	bucketEvict    = []byte("evict")    // prio ‖ expiry ‖ id → nil; global eviction and expiry order
	bucketEvictTag = []byte("evicttag") // tag ‖ prio ‖ expiry ‖ id → nil; per-tag eviction order
	bucketSeenExp  = []byte("seenexp")  // seen expiry ‖ id → nil; forgetting seen ids
	bucketTagBytes = []byte("tagbytes") // tag → stored bytes for that tag (absent when 0)
	bucketOwed     = []byte("owed")     // link name → bucket of seq → id
	bucketAuth     = []byte("auth")     // Ed25519 key → stamp ‖ accepted number
	bucketAuthAge  = []byte("authage")  // accepted number → Ed25519 key; forgetting the oldest
)

// Keys in bucketMeta.
var (
	metaSchema    = []byte("schema")    // schemaVersion
	metaAge       = []byte("age")       // store age checkpoint, nanoseconds
	metaSeq       = []byte("seq")       // last Seq handed out
	metaCount     = []byte("count")     // stored envelopes
	metaBytes     = []byte("bytes")     // their encoded bytes
	metaAuthSeq   = []byte("authseq")   // last accepted-stamp number
	metaAuthCount = []byte("authcount") // keys in bucketAuth
)

// schemaVersion is the on-disk layout described in this file. Open refuses
// any other.
const schemaVersion = 1

// Record layout, the value in bucketEnv. All integers big-endian.
//
//	[0]      flags
//	[1:9]    seen expiry (store age, ns): the id counts as seen until then
//	--- only when flags&flagStored ---
//	[9:17]   seq
//	[17:25]  expiry (store age, ns)
//	[25:29]  size: encoded envelope bytes, as counted against the quotas
//	[29]     kind
//	[30]     prio
//	[31]     hops
//	[32:40]  to (routing tag)
//	[40:]    body
//
// The envelope is kept as fields rather than CBOR: it is 4 bytes smaller per
// envelope and needs no decoding on Scan. Its ttl is derived from expiry.
const (
	flagStored = 1 << 0 // the record holds an envelope, not only a seen entry
	flagLocal  = 1 << 1 // the envelope is in bucketTag (delivered to LinkLocal)

	seenRecordBytes = 9
	recordHeader    = 40
)

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
	if !r.stored() {
		b := make([]byte, seenRecordBytes)
		b[0] = r.flags
		binary.BigEndian.PutUint64(b[1:], uint64(r.seenExp))
		return b
	}
	b := make([]byte, recordHeader+len(r.body))
	b[0] = r.flags
	binary.BigEndian.PutUint64(b[1:], uint64(r.seenExp))
	binary.BigEndian.PutUint64(b[9:], r.seq)
	binary.BigEndian.PutUint64(b[17:], uint64(r.expiry))
	binary.BigEndian.PutUint32(b[25:], uint32(r.size))
	b[29] = byte(r.kind)
	b[30] = byte(r.prio)
	b[31] = r.hops
	copy(b[32:40], r.to[:])
	copy(b[40:], r.body)
	return b
}

func unmarshalRecord(b []byte) (record, error) {
	var r record
	if len(b) < seenRecordBytes {
		return r, fmt.Errorf("record of %d bytes", len(b))
	}
	r.flags = b[0]
	r.seenExp = time.Duration(binary.BigEndian.Uint64(b[1:]))
	if !r.stored() {
		return r, nil
	}
	if len(b) < recordHeader {
		return r, fmt.Errorf("stored record of %d bytes", len(b))
	}
	r.seq = binary.BigEndian.Uint64(b[9:])
	r.expiry = time.Duration(binary.BigEndian.Uint64(b[17:]))
	r.size = int(binary.BigEndian.Uint32(b[25:]))
	r.kind = codec.Kind(b[29])
	r.prio = codec.Prio(b[30])
	r.hops = b[31]
	copy(r.to[:], b[32:40])
	r.body = b[40:]
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
// second of life; hops are capped, so the total is bounded.
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

func evictKey(prio codec.Prio, expiry time.Duration, id codec.ID) []byte {
	k := make([]byte, 0, 1+8+codec.IDSize)
	k = append(k, byte(prio))
	k = binary.BigEndian.AppendUint64(k, uint64(expiry))
	return append(k, id[:]...)
}

func evictTagKey(tag codec.Tag, prio codec.Prio, expiry time.Duration, id codec.ID) []byte {
	k := make([]byte, 0, codec.TagSize+1+8+codec.IDSize)
	k = append(k, tag[:]...)
	return append(k, evictKey(prio, expiry, id)...)
}

// parseEvictKey reads prio ‖ expiry ‖ id (the tail of both eviction keys).
func parseEvictKey(k []byte) (codec.Prio, time.Duration, codec.ID) {
	var id codec.ID
	copy(id[:], k[9:])
	return codec.Prio(k[0]), time.Duration(binary.BigEndian.Uint64(k[1:9])), id
}

func seenKey(exp time.Duration, id codec.ID) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+codec.IDSize), uint64(exp))
	return append(k, id[:]...)
}
