package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/internal/floodlog"
)

// LinkLocal names the local MQTT inbox. It is never in Options.Links: local
// delivery reads the tag index through Scan instead of an owed list.
const LinkLocal = "local"

// Defaults for Options, filled in by Open.
const (
	DefaultMaxTTL        = 7 * 24 * time.Hour
	DefaultMaxHops       = 16
	DefaultMaxTotalBytes = 512 << 20
	DefaultMaxTagBytes   = 16 << 20
	DefaultMaxAuthKeys   = 100_000
	DefaultSweepInterval = time.Minute
)

// Implementation limits.
const (
	maxBatch        = 1024 // requests in one group commit; the request channel holds as many
	sweepChunk      = 4096 // deletions per sweep transaction, so a backlog never makes one huge commit
	scanChunk       = 64   // items Scan reads per read transaction before calling fn
	maxPendingLimit = 4096 // items one Pending call returns at most
	openLockTimeout = 2 * time.Second
	fillAppend      = 1.0  // bbolt fill for buckets whose keys only grow (seq, accepted number)
	fillEvict       = 0.95 // bbolt fill for the eviction index: keys grow while ttls are alike
)

// Sentinel errors. Put and PutReceipt wrap some of them with detail; use
// errors.Is.
var (
	ErrDuplicate = errors.New("duplicate envelope")
	ErrTooLarge  = errors.New("envelope too large")
	ErrQuota     = errors.New("store quota exceeded")
	ErrExpired   = errors.New("envelope expired")
	ErrHopLimit  = errors.New("hop limit exceeded")
	ErrClosed    = errors.New("store closed")
	ErrStaleAuth = errors.New("stale auth stamp")
	ErrFormat    = errors.New("unknown store file format") // Open: the file's format version is not this build's
)

// Options configures a Store. Only Path is required; Open fills in every
// default in one place (see withDefaults).
type Options struct {
	Path             string        // bbolt file; required
	MaxTTL           time.Duration // default 7*24h; Put caps an envelope's ttl to this
	MaxHops          uint8         // default 16; Put refuses Hops > MaxHops with ErrHopLimit
	MaxEnvelopeBytes int           // default codec.MaxEnvelopeBytes; encoded size cap, ErrTooLarge
	MaxTotalBytes    int64         // default 512 MiB, quota over all stored envelopes (encoded bytes)
	MaxTagBytes      int64         // default 16 MiB, quota per recipient tag
	SeenRetention    time.Duration // default MaxTTL; Open fails if less than MaxTTL
	MaxAuthKeys      int           // default 100_000 keys remembered by CheckAuthStamp; oldest-accepted forgotten first
	Links            []string      // outbound links (e.g. "uplink:0", "radio:0") that owe a copy of every envelope
	NoGroupCommit    bool          // benchmarks only: one fsync'd bbolt transaction per request
	// Now is monotonic time since an arbitrary origin, never decreasing.
	// Default: time since Open on the monotonic clock. Tests inject a fake.
	Now           func() time.Duration
	SweepInterval time.Duration // default 1 min: expiry sweeps and the age checkpoint when idle
	// OnStored is called after each Put's commit for a newly stored envelope
	// (not duplicates), from the committer goroutine: it must not block and
	// must not call back into the Store synchronously. May be nil.
	OnStored func(Item)
	Logger   *slog.Logger // default slog.Default()
}

func (o Options) withDefaults() (Options, error) {
	if o.Path == "" {
		return o, errors.New("store: Options.Path is required")
	}
	if o.MaxTTL == 0 {
		o.MaxTTL = DefaultMaxTTL
	}
	if o.MaxTTL < time.Second || o.MaxTTL > codec.MaxTTLSeconds*time.Second {
		return o, fmt.Errorf("store: Options.MaxTTL %v out of range [1s, %ds]", o.MaxTTL, uint64(codec.MaxTTLSeconds))
	}
	if o.MaxHops == 0 {
		o.MaxHops = DefaultMaxHops
	}
	if o.MaxEnvelopeBytes == 0 {
		o.MaxEnvelopeBytes = codec.MaxEnvelopeBytes
	}
	if o.MaxEnvelopeBytes < 0 || o.MaxEnvelopeBytes > codec.MaxEnvelopeBytes {
		return o, fmt.Errorf("store: Options.MaxEnvelopeBytes %d out of range [1, %d]", o.MaxEnvelopeBytes, codec.MaxEnvelopeBytes)
	}
	if o.MaxTotalBytes == 0 {
		o.MaxTotalBytes = DefaultMaxTotalBytes
	}
	if o.MaxTagBytes == 0 {
		o.MaxTagBytes = DefaultMaxTagBytes
	}
	if o.MaxTotalBytes < 0 || o.MaxTagBytes < 0 {
		return o, errors.New("store: Options.MaxTotalBytes and MaxTagBytes must not be negative")
	}
	if o.SeenRetention == 0 {
		o.SeenRetention = o.MaxTTL
	}
	if o.SeenRetention < o.MaxTTL {
		return o, fmt.Errorf("store: Options.SeenRetention %v is less than MaxTTL %v: replays of live envelopes would be stored again", o.SeenRetention, o.MaxTTL)
	}
	if o.MaxAuthKeys == 0 {
		o.MaxAuthKeys = DefaultMaxAuthKeys
	}
	if o.MaxAuthKeys < 0 {
		return o, errors.New("store: Options.MaxAuthKeys must not be negative")
	}
	seen := map[string]bool{}
	for _, l := range o.Links {
		switch {
		case l == "" || l == LinkLocal:
			return o, fmt.Errorf("store: Options.Links: invalid link name %q", l)
		case seen[l]:
			return o, fmt.Errorf("store: Options.Links: %q listed twice", l)
		}
		seen[l] = true
	}
	o.Links = slices.Clone(o.Links)
	if o.Now == nil {
		start := time.Now()
		o.Now = func() time.Duration { return time.Since(start) } // monotonic reading
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	if o.SweepInterval < 0 {
		return o, errors.New("store: Options.SweepInterval must not be negative")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// Item is a stored envelope as read at one moment.
type Item struct {
	ID       codec.ID
	Seq      uint64          // store-wide arrival order, increasing
	Envelope *codec.Envelope // TTL: remaining life in whole seconds, rounded up (>0); Hops as stored
	Size     int             // encoded bytes, as counted against the quotas
}

// Stats are the store's size and counters. Count and Bytes are exact (kept
// in the file, in the same transactions as the data); the rest count events
// since Open.
type Stats struct {
	Count         int    // stored envelopes
	Bytes         int64  // their encoded bytes
	Stored        uint64 // envelopes newly stored by Put and PutReceipt
	Duplicates    uint64 // Put and PutReceipt calls refused with ErrDuplicate
	Evicted       uint64 // envelopes removed by the quota policy
	Expired       uint64 // envelopes removed because their life ended
	Deleted       uint64 // envelopes removed by receipts
	Refused       uint64 // Put and PutReceipt calls refused for any other reason (quota, size, ttl, hops)
	AuthForgotten uint64 // auth keys forgotten at MaxAuthKeys
	Forwarded     uint64 // link-only copies (receipts) dropped once every link had sent them
	Commits       uint64 // read-write transactions committed, each fsync'd (two fdatasyncs)
}

// Store is the durable store-and-forward queue. It is safe for concurrent
// use. The zero value is not usable: call Open.
type Store struct {
	opts   Options
	db     *bbolt.DB
	log    *slog.Logger
	floods *floodlog.Log // evictions, forgotten auth keys, receipt copies not kept

	linksMu sync.RWMutex    // guards links and opts.Links, which SetLinks replaces
	links   map[string]bool // opts.Links as a set

	ids             *idIndex // every record's id → its seq; see idindex.go
	idsFromSnapshot bool     // Open read ids from the last Close's snapshot, not from the log

	ageBase  time.Duration // store age checkpointed in the file, read at Open
	openedAt time.Duration // opts.Now() at Open

	reqs          chan *request // to the committer; closed by Close once no caller is left
	committerDone chan struct{}
	stopSweeper   chan struct{}
	sweeperDone   chan struct{}

	closeMu sync.RWMutex   // guards closed; held shared while a call registers in ops
	closed  bool           // set once by Close
	ops     sync.WaitGroup // calls in flight; Close waits for them before stopping the committer

	statsMu sync.Mutex // guards stats
	stats   Stats

	commits atomic.Uint64 // read-write transactions committed (Stats.Commits)
}

// Open opens or creates the store at opts.Path and starts its committer
// and sweeper goroutines. Links that were configured before but are not in
// opts.Links lose their owed lists.
func Open(opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	db, err := bbolt.Open(opts.Path, 0o600, boltOptions())
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	s := &Store{
		opts:          opts,
		db:            db,
		log:           opts.Logger,
		floods:        floodlog.New(opts.Logger, 0),
		links:         map[string]bool{},
		openedAt:      opts.Now(),
		reqs:          make(chan *request, maxBatch),
		committerDone: make(chan struct{}),
		stopSweeper:   make(chan struct{}),
		sweeperDone:   make(chan struct{}),
	}
	for _, l := range opts.Links {
		s.links[l] = true
	}
	if err := db.Update(s.init); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening store: %w", err)
	}
	go s.commitLoop()
	go s.sweepLoop()
	return s, nil
}

// noFreelistSync is false in production; the memory test flips it to
// measure the alternative.
var noFreelistSync = false

// boltOptions is the bbolt configuration, chosen by measurement (see
// docs/store.md, "Memory"): the freelist is synced to disk so that Open
// does not walk, and so map into memory, every page of the file.
func boltOptions() *bbolt.Options {
	return &bbolt.Options{
		Timeout:        openLockTimeout,
		NoFreelistSync: noFreelistSync,
		FreelistType:   bbolt.FreelistMapType,
	}
}

// init creates the buckets, checks the format (converting format 3),
// indexes the ids and loads the counters.
func (s *Store) init(tx *bbolt.Tx) error {
	if tx.Bucket(bucketMeta) != nil {
		meta, v, err := checkFormat(tx)
		if err != nil {
			return err
		}
		if v == migratableVersion {
			if err := tx.DeleteBucket(bucketFormat3ID); err != nil {
				return fmt.Errorf("converting format %d to %d: %w", v, schemaVersion, err)
			}
			if err := meta.Put(metaSchema, u64(schemaVersion)); err != nil {
				return err
			}
			s.log.Info("store converted", "from_format", v, "to_format", schemaVersion)
		}
	} else if tx.Bucket(bucketLog) != nil || tx.Bucket([]byte("env")) != nil {
		return fmt.Errorf("%w: file has no format version", ErrFormat)
	}
	for _, name := range buckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("creating bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	if getU64(meta, metaSchema) == 0 {
		if err := meta.Put(metaSchema, u64(schemaVersion)); err != nil {
			return err
		}
	}
	ids, fromSnapshot, err := openIDIndex(tx, s.log)
	if err != nil {
		return fmt.Errorf("indexing ids: %w", err)
	}
	s.ids, s.idsFromSnapshot = ids, fromSnapshot
	s.ageBase = time.Duration(getU64(meta, metaAge))
	s.stats.Count = int(getU64(meta, metaCount))
	s.stats.Bytes = int64(getU64(meta, metaBytes))

	owed := tx.Bucket(bucketOwed)
	var stale [][]byte
	if err := owed.ForEachBucket(func(name []byte) error {
		if !s.links[string(name)] {
			stale = append(stale, bytes.Clone(name))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, name := range stale {
		s.log.Info("link dropped", "link", string(name), "reason", "not configured")
		if err := owed.DeleteBucket(name); err != nil {
			return fmt.Errorf("dropping link %s: %w", name, err)
		}
	}
	for l := range s.links {
		if _, err := owed.CreateBucketIfNotExists([]byte(l)); err != nil {
			return fmt.Errorf("creating link %s: %w", l, err)
		}
	}
	return nil
}

func getU64(b *bbolt.Bucket, key []byte) uint64 {
	v := b.Get(key)
	if len(v) != 8 {
		return 0
	}
	return uint64(v[0])<<56 | uint64(v[1])<<48 | uint64(v[2])<<40 | uint64(v[3])<<32 |
		uint64(v[4])<<24 | uint64(v[5])<<16 | uint64(v[6])<<8 | uint64(v[7])
}

// age is the store's clock: the checkpointed age plus monotonic time since
// Open. Time while the store is closed does not count.
func (s *Store) age() time.Duration {
	return s.ageBase + s.opts.Now() - s.openedAt
}

// enter registers a call so that Close waits for it.
func (s *Store) enter() error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.ops.Add(1)
	return nil
}

func (s *Store) leave() { s.ops.Done() }

// Close stops the sweeper, waits for calls in flight, checkpoints the age,
// stops the committer and closes the file. Calls after Close return
// ErrClosed. Close must not be called from a Scan callback or OnStored.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.closeMu.Unlock()

	close(s.stopSweeper)
	<-s.sweeperDone
	s.ops.Wait()
	// Every commit writes the age; the last one also the id index, for
	// the next Open.
	err := s.submit(func(w *writer) error { w.saveIDSnapshot(); return nil })
	if err != nil { // a full disk, say: the age at least
		s.log.Warn("id snapshot not written; the next Open indexes the log", "err", err)
		err = s.submit(func(*writer) error { return nil })
	}
	close(s.reqs)
	<-s.committerDone
	s.floods.Close()
	if cerr := s.db.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("closing store: %w", cerr))
	}
	return err
}

// Stats returns the size of the store and its counters.
func (s *Store) Stats() Stats {
	s.statsMu.Lock()
	st := s.stats
	s.statsMu.Unlock()
	st.Commits = s.commits.Load()
	return st
}

func (s *Store) countRefused() {
	s.statsMu.Lock()
	s.stats.Refused++
	s.statsMu.Unlock()
}
