package store

import (
	"fmt"
	"time"

	"github.com/cairnmesh/cairn/codec"
)

// Put stores e, received from link from (LinkLocal for the local broker),
// and returns its id. It returns nil only once the envelope is durable.
//
// Put refuses, changing nothing: ttl 0 (ErrExpired), Hops > MaxHops
// (ErrHopLimit), an encoding over MaxEnvelopeBytes (ErrTooLarge), an id seen
// within SeenRetention (ErrDuplicate; the first copy is already durable, so
// callers acknowledge it as success) and an envelope the quota policy cannot
// make room for (ErrQuota; see quota.go). Put caps ttl at MaxTTL and records
// the envelope as owed to every link in Options.Links except from.
//
// Put is PutAsync waiting for done.
func (s *Store) Put(e *codec.Envelope, from string) (codec.ID, error) {
	type result struct {
		id  codec.ID
		err error
	}
	c := make(chan result, 1)
	s.PutAsync(e, from, func(id codec.ID, err error) { c <- result{id, err} })
	r := <-c
	return r.id, r.err
}

// PutAsync queues e like Put and returns at once; done gets what Put would
// return. Requests are committed in the order PutAsync (and the other
// writes) are called — across all callers, the order of the committer's
// queue — so the Seqs of one caller's envelopes increase in call order.
//
// done is called exactly once: after the commit holding the request is
// durable, or with the refusal, on the committer goroutine, in queue order
// (a refusal decided before queueing, such as ErrTooLarge, still waits for
// its turn, so a caller sees outcomes in call order). done must not block
// and must not call the Store's write methods, whose queue it would wait
// on. If the store is closed, done gets ErrClosed at once, on the caller's
// goroutine. Close waits for every queued done.
//
// The queue holds 1,024 requests; when it is full PutAsync blocks until
// the committer takes the next batch (back-pressure on the caller). e and
// its Body must not be modified until done is called.
func (s *Store) PutAsync(e *codec.Envelope, from string, done func(codec.ID, error)) {
	id := e.ID()
	if err := s.enter(); err != nil {
		done(id, err)
		return
	}
	r := &request{done: func(err error) {
		defer s.leave()
		done(id, err)
	}}
	env, size, err := s.admit(e)
	if err != nil {
		s.countRefused()
		r.refusal = err
	} else {
		r.fn = func(w *writer) error { return w.store(id, env, size, from, true) }
	}
	s.enqueue(r)
}

// admit checks what needs no transaction and returns a copy of e with its
// ttl capped, and its encoded size.
func (s *Store) admit(e *codec.Envelope) (*codec.Envelope, int, error) {
	switch {
	case e.TTL == 0:
		return nil, 0, ErrExpired
	case e.Hops > s.opts.MaxHops:
		return nil, 0, fmt.Errorf("%w: %d hops, limit %d", ErrHopLimit, e.Hops, s.opts.MaxHops)
	case e.Prio > codec.PrioUrgent:
		return nil, 0, fmt.Errorf("storing envelope: %w: %d", codec.ErrPrio, e.Prio)
	}
	env := *e
	env.TTL = min(env.TTL, uint32(s.opts.MaxTTL/time.Second))
	size := env.EncodedSize()
	if size > s.opts.MaxEnvelopeBytes {
		return nil, 0, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, size, s.opts.MaxEnvelopeBytes)
	}
	return &env, size, nil
}

// store is Put inside the transaction. local says whether the envelope is
// delivered to LinkLocal (indexed for Scan).
func (w *writer) store(id codec.ID, e *codec.Envelope, size int, from string, local bool) error {
	old, found := w.lookup(id)
	if found && old.seenExp > w.age {
		w.fx.duplicates++
		return ErrDuplicate
	}
	victims, err := w.planEvictions(e.To, e.Prio, size)
	if err != nil {
		w.fx.refused++
		return err
	}
	// Decided: from here on only writes.
	if found {
		w.forget(old)
	}
	for _, v := range victims {
		w.expunge(v.seq)
		if v.reason == reasonExpired {
			w.fx.expired++
			continue
		}
		w.fx.evicted++
		w.fx.evictions = append(w.fx.evictions, v)
	}

	w.meta.seq++
	r := record{
		flags:   flagStored,
		seenExp: ceilAge(w.age + w.s.opts.SeenRetention),
		id:      id,
		seq:     w.meta.seq,
		expiry:  floorAge(w.age + time.Duration(e.TTL)*time.Second),
		size:    size,
		kind:    e.Kind,
		prio:    e.Prio,
		hops:    e.Hops,
		to:      e.To,
		body:    e.Body,
	}
	if local {
		r.flags |= flagLocal
	}
	w.put(w.log, u64(r.seq), r.marshal())
	w.indexID(id, r.seq)
	// Every stored envelope is in the tag index (per-tag eviction walks
	// it); Scan returns only the local ones.
	w.put(w.tag, tagKey(e.To, e.Prio, r.seq), tagValue(r.expiry))
	w.put(w.evict, evictKey(e.Prio, r.expiry, r.seq), nil)
	for link, b := range w.owed {
		if link != from {
			w.owedAdd(b, r.seq)
		}
	}
	w.addTagBytes(e.To, int64(size))
	w.meta.count++
	w.meta.bytes += uint64(size)

	w.fx.stored++
	if local {
		it, _ := r.item(w.age)
		w.fx.newItems = append(w.fx.newItems, it)
	}
	return nil
}

// recordSeen remembers id for SeenRetention without storing anything: a
// tombstone appended to the log.
func (w *writer) recordSeen(id codec.ID) {
	if old, found := w.lookup(id); found {
		w.forget(old)
	}
	w.meta.seq++
	r := record{seenExp: ceilAge(w.age + w.s.opts.SeenRetention), id: id}
	w.put(w.log, u64(w.meta.seq), r.marshal())
	w.indexID(id, w.meta.seq)
}

// forget removes an old record whose seen expiry has passed but that was
// not swept yet, with its stored envelope if any (it expired too: an
// envelope's expiry never passes its seen expiry). The caller writes the
// id's new entry.
func (w *writer) forget(old record) {
	if old.stored() {
		w.expunge(old.seq)
		w.fx.expired++
	}
	w.del(w.log, u64(old.seq))
	w.unindexID(old.id, old.seq)
}

// expunge removes the envelope under seq from every index and rewrites its
// record as a tombstone, so its id stays seen. It does nothing if seq holds
// no envelope, so a victim chosen twice is removed once.
func (w *writer) expunge(seq uint64) {
	r, found := w.recordAt(seq)
	if !found || !r.stored() {
		return
	}
	w.del(w.tag, tagKey(r.to, r.prio, seq))
	w.del(w.evict, evictKey(r.prio, r.expiry, seq))
	for _, b := range w.owed {
		w.owedRemove(b, seq)
	}
	w.addTagBytes(r.to, -int64(r.size))
	w.meta.count--
	w.meta.bytes -= uint64(r.size)
	w.put(w.log, u64(seq), r.tombstone())
}

// PutReceipt applies a kind-2 receipt e that the caller has verified; ids
// are the ids it lists. In one durable transaction it deletes every stored
// envelope with one of those ids whose To equals e.To, records e's id as
// seen, and stores e itself only if some link in Options.Links other than
// from must carry it onward. A receipt is never delivered to LinkLocal.
//
// A duplicate receipt returns ErrDuplicate and applies nothing. Receipts
// are refused like Put refuses envelopes (ttl 0, hops, size), but quota is
// not a reason to refuse one: if no room can be made for the onward copy,
// the deletions still apply and the copy is dropped (logged at Warn and
// counted in Stats.Refused).
//
// PutReceipt is PutReceiptAsync waiting for done.
func (s *Store) PutReceipt(e *codec.Envelope, ids []codec.ID, from string) (deleted int, err error) {
	type result struct {
		deleted int
		err     error
	}
	c := make(chan result, 1)
	s.PutReceiptAsync(e, ids, from, func(n int, err error) { c <- result{n, err} })
	r := <-c
	return r.deleted, r.err
}

// PutReceiptAsync queues the receipt e like PutReceipt and returns at once;
// done gets what PutReceipt would return. Ordering, done and back-pressure
// are as for PutAsync, in the same queue. e and ids must not be modified
// until done is called.
func (s *Store) PutReceiptAsync(e *codec.Envelope, ids []codec.ID, from string, done func(deleted int, err error)) {
	if err := s.enter(); err != nil {
		done(0, err)
		return
	}
	deleted := 0
	r := &request{done: func(err error) {
		defer s.leave()
		if err != nil {
			deleted = 0
		}
		done(deleted, err)
	}}
	defer s.enqueue(r)
	if e.Kind != codec.KindReceipt {
		s.countRefused()
		r.refusal = fmt.Errorf("storing receipt: %w", codec.ErrNotAReceipt)
		return
	}
	id := e.ID()
	env, size, err := s.admit(e)
	if err != nil {
		s.countRefused()
		r.refusal = err
		return
	}
	onward := false
	for _, l := range s.linkNames() {
		onward = onward || l != from
	}
	r.fn = func(w *writer) error {
		deleted = 0
		if old, found := w.lookup(id); found && old.seenExp > w.age {
			w.fx.duplicates++
			return ErrDuplicate
		}
		for _, target := range ids {
			if r, found := w.lookup(target); found && r.stored() && r.to == e.To {
				w.expunge(r.seq)
				deleted++
			}
		}
		w.fx.deleted += uint64(deleted)
		if onward {
			err := w.store(id, env, size, from, false)
			if err == nil {
				return nil
			}
			// store refused for quota only: duplicates were ruled out above.
			w.fx.notKept = append(w.fx.notKept, id)
		}
		w.recordSeen(id)
		return nil
	}
}
