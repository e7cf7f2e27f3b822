package relay

import (
	"cmp"
	"slices"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/store"
)

// Answering bundle requests from stored bundles (docs/crypto.md, "Bundle
// exchange through relays"). A client publishes its bundle — without
// one-time prekeys — as a kind-3 envelope to its own tag; a relay that
// stores a kind-4 request for that tag answers it with a copy of that body
// addressed to the request's reply tag, so the owner need not be online.
//
// The relay reads the request body (codec.DecodeBundleRequest) and nothing
// of the bundle: it holds no keys and cannot tell a genuine bundle from a
// forged one. The requester verifies the signatures. So that a forged
// kind-3 published to someone else's tag cannot hide the genuine one by
// being newer, a relay answers with up to maxBundleAnswers stored bundles,
// newest first; the owner's client acknowledges (deletes) every kind-3 for
// its tag but its current one when it next reads its inbox.
const (
	maxBundleAnswers = 3
	// maxBundleAnswerTTL caps an answer's life (seconds): the requester is
	// connected and waiting, an answer it has not read by then is waste.
	maxBundleAnswerTTL = 600
)

// answerBundleRequest answers req, a kind-4 envelope not seen before, from
// the bundles stored for req.To. It runs on the ingesting goroutine and
// queues the answers through the one ingest path, after req.
func (r *Relay) answerBundleRequest(req *codec.Envelope) {
	br, err := codec.DecodeBundleRequest(req.Body)
	if err != nil {
		r.log.Debug("bundle request not answered", "tag", req.To, "reason", codec.Reason(err))
		return
	}
	if br.Reply == req.To {
		return // the answer would be the owner's own bundle, to itself
	}
	// Scan gives urgent first, then oldest first; keep the newest by Seq.
	var found []store.Item
	err = r.store.Scan(req.To, func(it store.Item) bool {
		if it.Envelope.Kind == codec.KindBundle {
			found = append(found, it)
			if len(found) > maxBundleAnswers {
				sortNewestFirst(found)
				found = found[:maxBundleAnswers]
			}
		}
		return true
	})
	if err != nil {
		r.log.Warn("bundle request not answered", "tag", req.To, "err", err)
		return
	}
	sortNewestFirst(found)
	for _, it := range found {
		ans := &codec.Envelope{Kind: codec.KindBundle, To: br.Reply, Prio: req.Prio,
			TTL: min(req.TTL, it.Envelope.TTL, maxBundleAnswerTTL), Body: it.Envelope.Body}
		r.ingest(ans.Encode(), store.LinkLocal, "relay", func(codec.ID, error) {})
	}
	r.log.Debug("bundle request answered", "tag", req.To, "reply_to", br.Reply, "answers", len(found))
}

func sortNewestFirst(items []store.Item) {
	slices.SortFunc(items, func(a, b store.Item) int { return cmp.Compare(b.Seq, a.Seq) })
}
