package radio

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/cairnmesh/cairn/codec"
)

// Anti-entropy between relays that meet (docs/radio.md, "Anti-entropy"):
// one relay streams a summary of the envelope ids it holds, the other
// subtracts its own and learns the difference both ways, then answers with
// a done frame listing what it lacks. The summary is a rateless Invertible
// Bloom Lookup Table (Yang, Gilad, Alizadeh, "Practical Rateless Set
// Reconciliation", SIGCOMM 2024): an endless sequence of cells, each the
// XOR of a pseudo-random subset of the items, cell i holding each item with
// probability about 1/(1 + i/2). Any prefix of about 1.35–2 × d cells
// recovers a difference of d items, whatever the sets' size, so the sender
// streams cells until the receiver says it has read them, and a lost frame
// only costs the cells it carried.
//
// Items are salted short ids: the first 8 bytes of SHA-256("cairn/ae/v1" ‖
// salt ‖ envelope id), the 4-byte salt chosen at random by the sender per
// session, so nobody can precompute envelopes whose short ids collide with
// another's to hide it from reconciliation.

// Wire constants of summary and done frames.
const (
	// SummaryCellBytes is one cell: the XOR of its items' salted ids (8
	// bytes) and of their checksums (4 bytes), both big-endian.
	SummaryCellBytes   = 12
	summaryHeaderBytes = 10 // salt 4, sender's set size 4, index of the first cell 2
	// MaxCellsPerFrame fit one summary frame: (254 − 3 − 10) / 12.
	MaxCellsPerFrame = (MaxFrameBytes - ControlHeaderBytes - summaryHeaderBytes) / SummaryCellBytes // 20

	doneHeaderBytes = 5 // salt 4, status 1 (after the 2-byte address of the summary's sender)
	// MaxWants is how many wanted salted ids one done frame carries.
	MaxWants = (MaxFrameBytes - ControlHeaderBytes - 2 - doneHeaderBytes) / 8 // 30

	DoneDecoded = 0 // read the summary; the wants are all the ids missing here
	DoneGaveUp  = 1 // the difference is too large for a summary; nothing inferred
	DonePartial = 2 // read the summary; more ids are missing than the MaxWants listed
)

// MaxSummaryCells bounds one summary stream and what a Reconciler keeps:
// about 150–200 differing items decode within it. Beyond that (a relay
// that was away for long, or new) a summary costs more airtime than it
// saves, and the receiver gives up (DoneGaveUp).
const MaxSummaryCells = 320

// ErrBadSummary is returned (wrapped) for a summary that cannot be used.
var ErrBadSummary = errors.New("bad summary")

// Cell is one coded symbol of a summary.
type Cell struct {
	Sum   uint64 // XOR of salted ids
	Check uint32 // XOR of their checksums
}

func (c Cell) empty() bool { return c.Sum == 0 && c.Check == 0 }

func (c *Cell) toggle(x uint64, salt uint32) {
	c.Sum ^= x
	c.Check ^= checksum(x, salt)
}

// Summary is the content of one summary frame.
type Summary struct {
	Salt    uint32
	SetSize uint32 // items the sender summarises (a lower bound of the difference: |n₁ − n₂|)
	First   uint16 // index of Cells[0] in the stream
	// Cells: 1 … MaxCellsPerFrame. When First is 0 they are cells 0, 1, …;
	// otherwise Cells[0] is cell 0 again and Cells[1:] are First, First+1, ….
	Cells []Cell
}

// AppendSummary appends a summary frame from sender.
func AppendSummary(dst []byte, sender uint16, s Summary) ([]byte, error) {
	if len(s.Cells) == 0 || len(s.Cells) > MaxCellsPerFrame {
		return nil, fmt.Errorf("summary: %d cells, want 1 … %d", len(s.Cells), MaxCellsPerFrame)
	}
	data := make([]byte, 0, summaryHeaderBytes+len(s.Cells)*SummaryCellBytes)
	data = binary.BigEndian.AppendUint32(data, s.Salt)
	data = binary.BigEndian.AppendUint32(data, s.SetSize)
	data = binary.BigEndian.AppendUint16(data, s.First)
	for _, c := range s.Cells {
		data = binary.BigEndian.AppendUint64(data, c.Sum)
		data = binary.BigEndian.AppendUint32(data, c.Check)
	}
	return LinkFrame{Type: LinkControl, Control: ControlSummary, Sender: sender, Data: data}.Append(dst), nil
}

// ParseSummary reads a decoded summary frame.
func ParseSummary(f LinkFrame) (Summary, error) {
	if f.Type != LinkControl || f.Control != ControlSummary || len(f.Data) < summaryHeaderBytes+SummaryCellBytes ||
		(len(f.Data)-summaryHeaderBytes)%SummaryCellBytes != 0 {
		return Summary{}, fmt.Errorf("%w: not a summary frame", ErrBadSummary)
	}
	d := f.Data
	s := Summary{Salt: binary.BigEndian.Uint32(d), SetSize: binary.BigEndian.Uint32(d[4:]), First: binary.BigEndian.Uint16(d[8:])}
	for d = d[summaryHeaderBytes:]; len(d) > 0; d = d[SummaryCellBytes:] {
		s.Cells = append(s.Cells, Cell{Sum: binary.BigEndian.Uint64(d), Check: binary.BigEndian.Uint32(d[8:])})
	}
	return s, nil
}

// Done is the content of a done frame: Sender has read the summary of
// salt Salt from Of.
type Done struct {
	Of     uint16
	Salt   uint32
	Status byte     // DoneDecoded, DoneGaveUp, DonePartial
	Wants  []uint64 // salted ids Sender lacks, at most MaxWants
}

// AppendDone appends a done frame from sender.
func AppendDone(dst []byte, sender uint16, d Done) ([]byte, error) {
	if len(d.Wants) > MaxWants || d.Status > DonePartial || (d.Status == DoneGaveUp && len(d.Wants) > 0) {
		return nil, fmt.Errorf("done: status %d with %d wants", d.Status, len(d.Wants))
	}
	data := binary.BigEndian.AppendUint32(make([]byte, 0, doneHeaderBytes+8*len(d.Wants)), d.Salt)
	data = append(data, d.Status)
	for _, w := range d.Wants {
		data = binary.BigEndian.AppendUint64(data, w)
	}
	return LinkFrame{Type: LinkControl, Control: ControlDone, Sender: sender, To: d.Of, Data: data}.Append(dst), nil
}

// ParseDone reads a decoded done frame.
func ParseDone(f LinkFrame) (Done, error) {
	if f.Type != LinkControl || f.Control != ControlDone || len(f.Data) < doneHeaderBytes || (len(f.Data)-doneHeaderBytes)%8 != 0 {
		return Done{}, fmt.Errorf("%w: not a done frame", ErrBadSummary)
	}
	d := Done{Of: f.To, Salt: binary.BigEndian.Uint32(f.Data), Status: f.Data[4]}
	for w := f.Data[doneHeaderBytes:]; len(w) > 0; w = w[8:] {
		d.Wants = append(d.Wants, binary.BigEndian.Uint64(w))
	}
	return d, nil
}

// SaltedID is id's item in a summary of salt.
func SaltedID(salt uint32, id codec.ID) uint64 {
	var b [11 + 4 + codec.IDSize]byte
	copy(b[:], "cairn/ae/v1")
	binary.BigEndian.PutUint32(b[11:], salt)
	copy(b[15:], id[:])
	h := sha256.Sum256(b[:])
	return binary.BigEndian.Uint64(h[:8])
}

// checksum tells a cell holding exactly one item from one holding several:
// a keyed mix (MurmurHash3's fmix64) of the salted id.
func checksum(x uint64, salt uint32) uint32 {
	x ^= uint64(salt) * 0x9E3779B97F4A7C15
	x ^= x >> 33
	x *= 0xFF51AFD7ED558CCD
	x ^= x >> 33
	x *= 0xC4CEB9FE1A85EC53
	x ^= x >> 33
	return uint32(x)
}

// indexes walks the cells an item belongs to: 0 first, then gaps drawn so
// that cell i holds it with probability about 1/(1 + i/2) (the paper's
// mapping; the same PRNG and formula as its reference implementation).
// Every float64 operation is explicitly rounded, so that relays on any
// architecture agree.
type indexes struct {
	prng, last uint64
}

func (m *indexes) next() uint64 {
	m.prng *= 0xDA942042E4DD58B5
	q := float64(float64(1<<32) / math.Sqrt(float64(float64(m.prng)+1)))
	gap := math.Ceil(float64(float64(float64(m.last)+1.5) * float64(q-1)))
	if gap < 1 {
		gap = 1
	}
	if gap > 1<<32 { // beyond any stream
		m.last = math.MaxUint64
		return m.last
	}
	m.last += uint64(gap)
	return m.last
}

// Sketch is one side's set of envelope ids under a salt. It is not safe
// for concurrent use; the zero value is an empty set of salt 0.
type Sketch struct {
	salt  uint32
	items []uint64
	ids   map[uint64]codec.ID
}

// NewSketch summarises ids under salt.
func NewSketch(salt uint32, ids []codec.ID) *Sketch {
	s := &Sketch{salt: salt, items: make([]uint64, 0, len(ids)), ids: make(map[uint64]codec.ID, len(ids))}
	for _, id := range ids {
		x := SaltedID(salt, id)
		if _, dup := s.ids[x]; dup {
			continue
		}
		s.ids[x] = id
		s.items = append(s.items, x)
	}
	return s
}

// Salt is the sketch's salt.
func (s *Sketch) Salt() uint32 { return s.salt }

// Len is the number of items.
func (s *Sketch) Len() int { return len(s.items) }

// Lookup returns the envelope id of a salted id of this sketch.
func (s *Sketch) Lookup(x uint64) (codec.ID, bool) {
	id, ok := s.ids[x]
	return id, ok
}

// Cells returns cells first … first+n−1 of the stream.
func (s *Sketch) Cells(first, n int) []Cell {
	cells := make([]Cell, n)
	for _, x := range s.items {
		addItem(cells, first, x, s.salt)
	}
	return cells
}

// Frame returns the content of the k-th summary frame of the stream (k =
// 0, 1, …), and false past MaxSummaryCells. Frame 0 carries cells 0 … 19;
// every later frame carries cell 0 again first, then the next 19: cell 0
// holds every item, and a receiver that has read it empty knows the
// difference is complete, so no single lost frame can keep it from
// finishing.
func (s *Sketch) Frame(k int) (Summary, bool) {
	first, n := 0, MaxCellsPerFrame
	if k > 0 {
		first, n = MaxCellsPerFrame+(k-1)*(MaxCellsPerFrame-1), MaxCellsPerFrame-1
	}
	if first >= MaxSummaryCells {
		return Summary{}, false
	}
	n = min(n, MaxSummaryCells-first)
	sum := Summary{Salt: s.salt, SetSize: uint32(min(uint64(len(s.items)), math.MaxUint32)), First: uint16(first)}
	if first > 0 {
		sum.Cells = append(s.Cells(0, 1), s.Cells(first, n)...)
	} else {
		sum.Cells = s.Cells(0, n)
	}
	return sum, true
}

// addItem toggles x in the cells of window (first … first+len(cells)−1) it
// belongs to.
func addItem(cells []Cell, first int, x uint64, salt uint32) {
	end := uint64(first + len(cells))
	m := indexes{prng: x}
	for i := uint64(0); i < end; i = m.next() {
		if i >= uint64(first) {
			cells[i-uint64(first)].toggle(x, salt)
		}
	}
}

// Reconciler reads a peer's summary stream against the local set: it
// subtracts the local cells and peels cells holding a single item. The
// summary is untrusted: garbage makes it fail or never finish, within
// MaxSummaryCells of memory, never panic. Not safe for concurrent use.
type Reconciler struct {
	local    *Sketch
	peerSize uint32
	cells    []Cell // the difference: peer's cells XOR local cells XOR decoded items
	have     []bool
	coverage float64 // Σ over cells read of the chance a given item is in it
	decoded  map[uint64]bool
	order    []uint64 // decoded, in order
	failed   error
}

// NewReconciler reads summaries of local's salt against local.
func NewReconciler(local *Sketch) *Reconciler {
	return &Reconciler{local: local, decoded: map[uint64]bool{}}
}

// Add reads one summary frame's cells. Cells already read are ignored; a
// salt other than the local sketch's, or cells past MaxSummaryCells, are
// an error. After an error the reconciler stays failed.
func (r *Reconciler) Add(s Summary) error {
	if r.failed != nil {
		return r.failed
	}
	switch {
	case s.Salt != r.local.salt:
		return fmt.Errorf("%w: salt %08x, reading %08x", ErrBadSummary, s.Salt, r.local.salt)
	case len(s.Cells) == 0 || int(s.First)+len(s.Cells) > MaxSummaryCells+1:
		return fmt.Errorf("%w: cells %d … %d past %d", ErrBadSummary, s.First, int(s.First)+len(s.Cells)-1, MaxSummaryCells)
	}
	r.peerSize = s.SetSize
	first, cells := int(s.First), s.Cells
	if first > 0 {
		if len(cells) < 2 {
			return fmt.Errorf("%w: cell 0 alone", ErrBadSummary)
		}
		r.add(0, cells[:1])
		cells = cells[1:]
	}
	r.add(first, cells)
	return r.failed
}

// add reads cells first … first+len(cells)−1.
func (r *Reconciler) add(first int, cells []Cell) {
	n := len(cells)
	if end := first + n; end > len(r.cells) {
		r.cells = append(r.cells, make([]Cell, end-len(r.cells))...)
		r.have = append(r.have, make([]bool, end-len(r.have))...)
	}
	if !slices.Contains(r.have[first:first+n], false) {
		return
	}
	window := r.local.Cells(first, n)
	for _, x := range r.order {
		addItem(window, first, x, r.local.salt)
	}
	var fresh []int
	for i, c := range cells {
		j := first + i
		if r.have[j] {
			continue
		}
		r.have[j] = true
		r.coverage += 1 / (1 + float64(j)/2)
		r.cells[j] = Cell{Sum: c.Sum ^ window[i].Sum, Check: c.Check ^ window[i].Check}
		fresh = append(fresh, j)
	}
	r.peel(fresh)
}

// peel decodes every cell that holds a single item, removing it from the
// other cells it belongs to, until none is left.
func (r *Reconciler) peel(queue []int) {
	for len(queue) > 0 {
		j := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		c := r.cells[j]
		if c.empty() || c.Check != checksum(c.Sum, r.local.salt) {
			continue
		}
		x := c.Sum
		if r.decoded[x] || len(r.order) >= 2*MaxSummaryCells {
			r.failed = fmt.Errorf("%w: does not decode", ErrBadSummary) // only garbage repeats an item
			return
		}
		r.decoded[x] = true
		r.order = append(r.order, x)
		m := indexes{prng: x}
		for i := uint64(0); i < uint64(len(r.cells)); i = m.next() {
			if r.have[i] {
				r.cells[i].toggle(x, r.local.salt)
				queue = append(queue, int(i))
			}
		}
	}
}

// Complete reports whether the difference is fully known: every cell read
// is empty, and the cells read would have caught a remaining item with
// certainty (cell 0 holds every item) or a chance of at least 1 − e⁻¹⁶.
func (r *Reconciler) Complete() bool {
	if r.failed != nil || len(r.have) == 0 {
		return false
	}
	for j, c := range r.cells {
		if r.have[j] && !c.empty() {
			return false
		}
	}
	return r.have[0] || r.coverage >= 16
}

// Hopeless reports whether the stream cannot decode within
// MaxSummaryCells: the set sizes alone differ by more than half of it, or
// it failed. It is false until a summary was read.
func (r *Reconciler) Hopeless() bool {
	d := int64(r.peerSize) - int64(r.local.Len())
	return r.failed != nil || len(r.have) > 0 && (d > MaxSummaryCells/2 || -d > MaxSummaryCells/2)
}

// LocalOnly returns the ids held here that the peer lacks (decoded so far).
func (r *Reconciler) LocalOnly() []codec.ID {
	var out []codec.ID
	for _, x := range r.order {
		if id, ok := r.local.Lookup(x); ok {
			out = append(out, id)
		}
	}
	return out
}

// PeerOnly returns the salted ids the peer holds that are missing here.
func (r *Reconciler) PeerOnly() []uint64 {
	var out []uint64
	for _, x := range r.order {
		if _, ok := r.local.Lookup(x); !ok {
			out = append(out, x)
		}
	}
	return out
}
