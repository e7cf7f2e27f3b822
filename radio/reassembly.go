package radio

import (
	"fmt"
	"sync"
	"time"
)

// Reassembly bounds and their defaults (ReassemblyOptions). Policy at the
// bounds: when a new transfer would exceed MaxTransfers or MaxBytes, the
// transfers with the oldest progress are evicted, counted in
// ReassemblyStats.Evicted; a transfer with no new fragment for Timeout is
// dropped (Expired). A transfer is never larger than MaxLinkEnvelope.
const (
	DefaultReassemblyTransfers = 16
	DefaultReassemblyBytes     = 256 << 10
	DefaultReassemblyTimeout   = 10 * time.Minute
)

// ReassemblyOptions configure NewReassembler; zero fields take defaults.
type ReassemblyOptions struct {
	MaxTransfers int
	MaxBytes     int // sum of the buffers of all transfers in progress
	Timeout      time.Duration
	Now          func() time.Time
}

// ReassemblyStats counts the reassembler's work.
type ReassemblyStats struct {
	Completed, Evicted, Expired, Duplicates, Inconsistent uint64
}

// Reassembler puts fragmented envelopes back together, for any number of
// senders, and says which fragments are still missing so the receiver can
// ask for exactly those (selective repeat). Safe for concurrent use.
type Reassembler struct {
	opts ReassemblyOptions

	mu    sync.Mutex // guards the fields below
	xfers map[xferKey]*xfer
	bytes int
	stats ReassemblyStats
}

type xferKey struct{ sender, transfer uint16 }

type xfer struct {
	last     uint8
	buf      []byte // (last+1) × FragmentDataBytes, trimmed when done
	have     [MaxFragments / 64]uint64
	got      int
	lastLen  int // data in the last fragment, 0 until it arrived
	progress time.Time
}

// NewReassembler returns a Reassembler with opts' bounds.
func NewReassembler(opts ReassemblyOptions) *Reassembler {
	if opts.MaxTransfers <= 0 {
		opts.MaxTransfers = DefaultReassemblyTransfers
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultReassemblyBytes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultReassemblyTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Reassembler{opts: opts, xfers: map[xferKey]*xfer{}}
}

// Stats returns the counters.
func (r *Reassembler) Stats() ReassemblyStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Add takes a decoded fragment. When it completes its envelope, Add returns
// the envelope; the caller decodes it like any untrusted envelope.
func (r *Reassembler) Add(f LinkFrame) ([]byte, error) {
	if f.Type != LinkFragment {
		return nil, fmt.Errorf("reassembly: frame type %d is not a fragment", f.Type)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Now()
	r.expire(now)
	k := xferKey{f.Sender, f.Transfer}
	x := r.xfers[k]
	if x != nil && x.last != f.Last {
		// The id was reused for another envelope, or a frame is corrupt.
		r.stats.Inconsistent++
		r.drop(k)
		x = nil
	}
	if x == nil {
		size := (int(f.Last) + 1) * FragmentDataBytes
		if size > r.opts.MaxBytes {
			return nil, fmt.Errorf("reassembly: %d bytes exceed the %d-byte bound", size, r.opts.MaxBytes)
		}
		for len(r.xfers) >= r.opts.MaxTransfers || r.bytes+size > r.opts.MaxBytes {
			r.evictOldest()
		}
		x = &xfer{last: f.Last, buf: make([]byte, size)}
		r.xfers[k] = x
		r.bytes += size
	}
	if x.have[f.Index/64]&(1<<(f.Index%64)) != 0 {
		r.stats.Duplicates++
		return nil, nil
	}
	x.have[f.Index/64] |= 1 << (f.Index % 64)
	x.got++
	x.progress = now
	copy(x.buf[int(f.Index)*FragmentDataBytes:], f.Data)
	if f.Index == f.Last {
		x.lastLen = len(f.Data)
	}
	if x.got < int(x.last)+1 {
		return nil, nil
	}
	env := x.buf[:int(x.last)*FragmentDataBytes+x.lastLen]
	r.drop(k)
	r.stats.Completed++
	return env, nil
}

// Missing returns the NACK frame for a transfer in progress, listing the
// fragments not yet received, or false if there is no such transfer.
func (r *Reassembler) Missing(sender, transfer uint16) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	x := r.xfers[xferKey{sender, transfer}]
	if x == nil {
		return nil, false
	}
	base := -1
	var bitmap []byte
	for i := 0; i <= int(x.last); i++ {
		if x.have[i/64]&(1<<(i%64)) != 0 {
			continue
		}
		if base < 0 {
			base = i
		}
		k := i - base
		for len(bitmap) <= k/8 {
			bitmap = append(bitmap, 0)
		}
		bitmap[k/8] |= 1 << (k % 8)
	}
	if base < 0 {
		return nil, false
	}
	return LinkFrame{Type: LinkNack, Transfer: transfer, Sender: sender, Base: uint8(base), Data: bitmap}.Append(nil), true
}

// MissingIndexes lists the fragment indexes a NACK asks for.
func MissingIndexes(nack LinkFrame) []uint8 {
	var out []uint8
	for k := 0; k < 8*len(nack.Data); k++ {
		if nack.Data[k/8]&(1<<(k%8)) != 0 && int(nack.Base)+k < MaxFragments {
			out = append(out, uint8(int(nack.Base)+k))
		}
	}
	return out
}

func (r *Reassembler) drop(k xferKey) {
	if x := r.xfers[k]; x != nil {
		r.bytes -= len(x.buf)
		delete(r.xfers, k)
	}
}

func (r *Reassembler) evictOldest() {
	var oldest xferKey
	var t time.Time
	first := true
	for k, x := range r.xfers {
		if first || x.progress.Before(t) {
			oldest, t, first = k, x.progress, false
		}
	}
	r.drop(oldest)
	r.stats.Evicted++
}

func (r *Reassembler) expire(now time.Time) {
	for k, x := range r.xfers {
		if now.Sub(x.progress) >= r.opts.Timeout {
			r.drop(k)
			r.stats.Expired++
		}
	}
}
