package relay

import (
	"cmp"
	"slices"
	"time"

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

// Bundles upstream (docs/uplink.md, "Prekey bundles"): an owner's own
// bundle is published retained on {prefix}/bundle/{tag}. A request this
// relay cannot answer, from a local client or a radio neighbour, makes
// the uplinks fetch the retained bundle for a while (uplink.FetchBundle);
// when an owner's bundle is newly stored, from there or from the owner,
// the requests still waiting for it are answered (answerWaitingRequests).
// A request that came from a broker is not fetched for again: the
// requester's relay does that.

// answerBundleRequest answers req, a kind-4 envelope not seen before that
// arrived on link from, from the bundles stored for req.To. It runs on the
// ingesting goroutine and queues the answers through the one ingest path,
// after req.
func (r *Relay) answerBundleRequest(req *codec.Envelope, from string) {
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
		r.answer(req, br, it.Envelope)
	}
	r.log.Debug("bundle request answered", "tag", req.To, "reply_to", br.Reply, "answers", len(found))
	if len(found) == 0 && !slices.Contains(r.uplink.Links(), from) {
		r.uplink.FetchBundle(req.To, time.Duration(req.TTL)*time.Second)
	}
}

// answer queues the answer to a request: a copy of bundle's body to the
// reply tag, through the one ingest path.
func (r *Relay) answer(req *codec.Envelope, br *codec.BundleRequest, bundle *codec.Envelope) {
	ans := &codec.Envelope{Kind: codec.KindBundle, To: br.Reply, Prio: req.Prio,
		TTL: min(req.TTL, bundle.TTL, maxBundleAnswerTTL), Body: bundle.Body}
	r.ingest(ans.Encode(), store.LinkLocal, "relay", func(codec.ID, error) {})
}

// answerWaitingRequests answers the requests stored for b.To with b, a
// kind-3 envelope just stored, if it is the owner's own bundle (an answer
// to a request or a forgery answers nothing).
func (r *Relay) answerWaitingRequests(b *codec.Envelope) {
	owner, err := codec.BundleOwner(b.Body)
	if err != nil || codec.TagOf(owner) != b.To {
		return
	}
	var reqs []*codec.Envelope
	err = r.store.Scan(b.To, func(it store.Item) bool {
		if it.Envelope.Kind == codec.KindBundleRequest {
			reqs = append(reqs, it.Envelope)
		}
		return true
	})
	if err != nil {
		r.log.Warn("waiting bundle requests not answered", "tag", b.To, "err", err)
		return
	}
	n := 0
	for _, req := range reqs {
		br, err := codec.DecodeBundleRequest(req.Body)
		if err != nil || br.Reply == req.To {
			continue
		}
		r.answer(req, br, b)
		n++
	}
	if n > 0 {
		r.log.Debug("waiting bundle requests answered", "tag", b.To, "answers", n)
	}
}

func sortNewestFirst(items []store.Item) {
	slices.SortFunc(items, func(a, b store.Item) int { return cmp.Compare(b.Seq, a.Seq) })
}
