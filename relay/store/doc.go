// Package store is the relay's durable store-and-forward queue of
// envelopes, on one bbolt file. It implements the storage side of the
// guarantees in DESIGN.md "Guarantees": an envelope is durable (fsync'd)
// before Put returns nil; it leaves the store only through a receipt
// (PutReceipt), the end of its life (Sweep) or the quota policy (quota.go),
// each counted and the last logged; an id once seen is remembered for
// SeenRetention (at least MaxTTL) so duplicates and replays are not stored
// again; and nothing depends on a wall clock.
//
// # Time
//
// The store keeps its own clock, the store age: the age checkpointed in the
// file plus monotonic time (Options.Now) since Open. Every commit writes the
// checkpoint, and the sweeper commits at least every SweepInterval (default
// 1 min), so a crash loses at most that much age. An envelope's expiry and
// an id's seen expiry are store ages; an envelope's ttl when read is expiry
// minus age, rounded up to whole seconds. Time while the relay is off does
// not count: envelopes live longer than their ttl in wall time, never
// shorter.
//
// # Writes
//
// All writes go to one committer goroutine that commits every request
// already queued in one bbolt transaction and one fsync (group commit, at
// most 1,024 requests per commit, no added delay; see commit.go). PutAsync
// and PutReceiptAsync queue without waiting and call done after the commit,
// in queue order, so a caller can pipeline and still see outcomes in call
// order. Reads (Get, Scan, Unsent, Pending, Seen) are bbolt read
// transactions that never wait for the committer; Get and Seen find an id
// through an index in memory that Open builds from the log (idindex.go).
//
// # Bounds
//
//   - ttl capped at MaxTTL (default 7 days); hops at most MaxHops (default
//     16); encoded envelope at most MaxEnvelopeBytes (default 64 KiB).
//   - MaxTotalBytes (default 512 MiB) over all stored envelopes and
//     MaxTagBytes (default 16 MiB) per tag, counted in encoded bytes and kept
//     exact in the file: eviction lowest priority first, then least life
//     left (per tag: among its 256 oldest of that priority, then the next
//     256), never of a priority above the incoming envelope's; else
//     ErrQuota.
//   - Seen ids: every id stored or received as a receipt in the last
//     SeenRetention (default MaxTTL); forgotten by the sweeper after that.
//   - Auth stamps: at most MaxAuthKeys keys (default 100,000); the key
//     accepted longest ago is forgotten first.
//   - Group commit: 1,024 requests per transaction; Sweep: 4,096 removals
//     per transaction; Scan: 64 items per read transaction; Pending: 4,096
//     items per call.
//
// # Logging
//
// Info: envelopes evicted by quota, auth keys forgotten, a link's owed
// list dropped at Open. Warn: receipts' onward copies dropped for quota, a
// failed sweep or group commit. Error: a commit that failed (callers get
// the error too). Debug: sweep results, and each eviction, forgotten key
// and dropped copy: at Info and Warn those are summarized, at most one line
// per kind every 10 s with a count (relay/internal/floodlog), because a
// client can cause one per request.
//
// The on-disk layout (format version 4, checked at Open) is in record.go; docs/store.md explains the design and
// the measurements behind it.
package store
