package client

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/ratchet"
)

// Bundle exchange through relays (docs/crypto.md, "Bundle exchange").
//
// A bundle request (kind 4) is addressed to the tag of the identity whose
// bundle is wanted. Its body (codec.BundleRequest, 82 01 48 <reply tag>)
// names where to answer. The reply tag is the tag of a one-time Ed25519 key
// the requester makes for this request; it reads the answer by
// authenticating a separate connection with that key. So the request names
// no one: a relay learns that someone asked for the bundle of a tag, and
// where the answer went, but not who asked — beyond what the connection
// itself shows (its address, timing).
//
// Two parties answer, each with a kind-3 envelope to the reply tag:
//
//   - relays, from the relay copy the owner published (publishRelayBundle):
//     signed prekey and ML-KEM prekey, no one-time prekeys, since a relay
//     may serve it any number of times;
//   - the owner's client, if it reads its inbox meanwhile, with its full
//     bundle including one-time prekeys, living no longer than the request
//     had left (at most maxBundleReplyTTL).
//
// Bundles are signed; the requester checks the identity is the one it
// asked for, and prefers an answer with one-time prekeys (bundleGrace).
const (
	// maxBundleReplyTTL caps how long an answer waits for a requester
	// that has likely given up.
	maxBundleReplyTTL = 3600
	// DefaultBundleWait is how long FetchBundle waits for an answer.
	DefaultBundleWait = 30 * time.Second
	// bundleGrace is how long FetchBundle, holding a valid bundle without
	// one-time prekeys (a relay's answer), waits for the owner's own
	// answer with them: an online owner answers within a round trip.
	bundleGrace = 2 * time.Second
)

// relayBundle returns the bundle published for relays to serve: the
// current one without one-time prekeys. ks.mu held.
func (ks *Keystore) relayBundle() *ratchet.Bundle {
	b := ks.prekeys.Bundle(ks.id)
	b.OneTime = nil
	return b
}

// publishRelayBundle hands the relay copy of our bundle to the relay: a
// kind-3 envelope to our own tag, with the longest ttl the relay keeps.
// Its id depends only on the bundle, so while the relay holds it a new
// publication is a duplicate and costs nothing there; once it has
// expired, the next connection stores it again.
func (c *Client) publishRelayBundle(ctx context.Context) error {
	c.ks.mu.Lock()
	body := c.ks.relayBundle().Encode()
	c.ks.mu.Unlock()
	e := &codec.Envelope{Kind: codec.KindBundle, To: c.ks.id.Public().Tag(), TTL: codec.MaxTTLSeconds, Prio: codec.PrioNormal, Body: body}
	return c.publish(ctx, c.mc, e)
}

// FetchBundle asks the relay for pub's prekey bundle and waits for the
// answer until ctx ends or DefaultBundleWait passes. A relay that holds
// the owner's published bundle answers at once, without one-time prekeys;
// an online owner's client answers with them, and such an answer is taken
// if it comes within bundleGrace of the first. An owner that has never
// connected to a relay on the path has published nothing: then it must be
// online meanwhile, or exchange contact cards.
func (c *Client) FetchBundle(ctx context.Context, pub ratchet.PublicIdentity) (*ratchet.Bundle, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultBundleWait)
	defer cancel()
	deadline, _ := ctx.Deadline()
	epub, ekey, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	etag := codec.TagOf(epub)
	answers := make(chan []byte, 4)
	mo := c.mqttOptions().
		SetUsername(codec.FormatDIDKey(epub)).
		SetPassword(codec.SignAuthToken(ekey, uint64(c.opts.Now().UnixMilli()))).
		SetAutoReconnect(false)
	mc := mqtt.NewClient(mo)
	if err := c.connect(ctx, mc); err != nil {
		return nil, err
	}
	defer mc.Disconnect(100)
	onAnswer := func(_ mqtt.Client, m mqtt.Message) {
		select {
		case answers <- m.Payload():
		default: // answers beyond the first few are not needed
		}
	}
	if err := c.subscribe(ctx, mc, etag, onAnswer); err != nil {
		return nil, err
	}
	ttl := uint32(max(time.Until(deadline)/time.Second, 1))
	req := &codec.Envelope{Kind: codec.KindBundleRequest, To: pub.Tag(), TTL: ttl, Prio: codec.PrioNormal, Body: (&codec.BundleRequest{Reply: etag}).Encode()}
	if err := c.publish(ctx, mc, req); err != nil {
		return nil, err
	}
	var (
		best  *ratchet.Bundle
		bestE codec.ID
		grace <-chan time.Time
	)
	take := func(b *ratchet.Bundle, id codec.ID) (*ratchet.Bundle, error) {
		// Let the relay drop the answer; the one-time key is then
		// forgotten.
		c.sendReceipts(ctx, mc, ekey, []codec.ID{id})
		return b, nil
	}
	for {
		select {
		case <-ctx.Done():
			if best != nil {
				return take(best, bestE)
			}
			return nil, fmt.Errorf("%w for %s: no answer to the bundle request within %v; its owner has published no bundle to this relay and is not online (or exchange contact cards: cairn id show, cairn contact add CARD)",
				ErrNoBundle, pub.DID(), DefaultBundleWait)
		case <-grace:
			return take(best, bestE)
		case raw := <-answers:
			e, err := codec.DecodeEnvelope(raw)
			if err != nil || e.Kind != codec.KindBundle {
				continue
			}
			b, err := ratchet.ParseBundle(e.Body)
			if err != nil || b.Identity != pub || b.Verify() != nil {
				c.log.Warn("bundle answer dropped", "reason", "not the bundle asked for", "err", err)
				continue
			}
			if len(b.OneTime) > 0 {
				return take(b, e.ID())
			}
			if best == nil || b.Generation > best.Generation {
				best, bestE = b, e.ID()
			}
			if grace == nil {
				grace = time.After(bundleGrace)
			}
		}
	}
}
