package relay

import (
	"errors"
	"log/slog"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/store"
)

var errWrongTopic = errors.New("envelopes are published to the send topic only")

// Ingest takes one encoded envelope that arrived on link from (store.LinkLocal
// for handhelds) through the one path every source uses: decode, validate,
// store. It returns once the envelope is durable, or with the reason it was
// refused. A duplicate returns store.ErrDuplicate; it is already durable.
func (r *Relay) Ingest(raw []byte, from string) (codec.ID, error) {
	type result struct {
		id  codec.ID
		err error
	}
	ch := make(chan result, 1)
	r.ingest(raw, from, from, func(id codec.ID, err error) { ch <- result{id, err} })
	res := <-ch
	return res.id, res.err
}

// ingest decodes and validates raw on the caller's goroutine, then queues it
// for the store and returns, so that the caller can go on reading while the
// store gathers a group commit. Envelopes are committed in the order ingest
// is called. done is called exactly once: when the envelope is durable, or
// with the reason it was refused; it may run on the store's committer, so it
// must not block. who names the sender in logs.
func (r *Relay) ingest(raw []byte, from, who string, done func(codec.ID, error)) {
	finish := func(id codec.ID, err error) {
		r.account(id, err, who)
		done(id, err)
	}
	e, err := codec.DecodeEnvelope(raw)
	if err != nil {
		finish(codec.ID{}, err)
		return
	}
	if e.Kind == codec.KindBundleRequest {
		// Answered once, when first stored (relay/bundles.go); a lookup
		// error only means it may be answered again, harmlessly.
		seen, _ := r.store.Seen(e.ID())
		r.store.PutAsync(e, from, finish)
		if !seen {
			r.answerBundleRequest(e, from)
		}
		return
	}
	if e.Kind == codec.KindBundle {
		// A bundle newly stored answers the requests waiting for it
		// (relay/bundles.go). Once it is durable, so is every request
		// ingested before it.
		r.store.PutAsync(e, from, func(id codec.ID, err error) {
			finish(id, err)
			if err == nil {
				go r.answerWaitingRequests(e)
			}
		})
		return
	}
	if e.Kind != codec.KindReceipt {
		r.store.PutAsync(e, from, finish) // computes the id once, for done
		return
	}
	id := e.ID()
	receipt, err := codec.OpenReceipt(e)
	if err != nil {
		finish(id, err)
		return
	}
	r.store.PutReceiptAsync(e, receipt.IDs, from, func(n int, err error) {
		if err == nil {
			r.stats.receipts.Add(1)
			r.log.Debug("receipt applied", "from", who, "tag", e.To, "deleted", n)
		}
		finish(id, err)
	})
}

// account counts and logs the outcome of one ingest.
func (r *Relay) account(id codec.ID, err error, who string) {
	switch {
	case err == nil:
		r.stats.accepted.Add(1)
	case errors.Is(err, store.ErrDuplicate):
		r.stats.duplicates.Add(1)
	default:
		_, reason := refusal(err)
		r.stats.refuse(reason)
		attrs := []slog.Attr{slog.String("client", who), slog.Any("err", err)}
		if id != (codec.ID{}) { // it decoded far enough to have one
			attrs = append(attrs, slog.Any("id", id))
		}
		r.floods.Event(slog.LevelWarn, "envelope refused", "envelopes refused", reason, attrs...)
	}
}

// onStored wakes the deliverers of the stored envelope's tag. The store calls
// it after each commit; it must not block.
func (r *Relay) onStored(it store.Item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for d := range r.inboxes[it.Envelope.To] {
		d.poke()
	}
}
