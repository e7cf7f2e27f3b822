package client

import (
	"bytes"
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
// bundle is wanted. Its body names where to answer:
//
//	82        array(2)
//	01        version 1
//	48 …      reply tag, 8 bytes
//
// The reply tag is the tag of a one-time Ed25519 key the requester makes
// for this request; it reads the answer by authenticating a separate
// connection with that key. So the request names no one: a relay learns
// that someone asked for the bundle of a tag, and where the answer went,
// but not who asked — beyond what the connection itself shows (its
// address, timing).
//
// The answer (kind 3) is the owner's full bundle — ML-KEM prekey and
// one-time prekeys — addressed to the reply tag, living no longer than the
// request had left (at most maxBundleReplyTTL). Bundles are signed; the
// requester checks the identity is the one it asked for.
const (
	bundleRequestSize = 11
	// maxBundleReplyTTL caps how long an answer waits for a requester
	// that has likely given up.
	maxBundleReplyTTL = 3600
	// DefaultBundleWait is how long FetchBundle waits for an answer.
	DefaultBundleWait = 30 * time.Second
)

func encodeBundleRequest(reply codec.Tag) []byte {
	return append([]byte{0x82, 0x01, 0x40 | codec.TagSize}, reply[:]...)
}

// parseBundleRequest accepts exactly what encodeBundleRequest produces.
func parseBundleRequest(body []byte) (codec.Tag, error) {
	var t codec.Tag
	if len(body) != bundleRequestSize || !bytes.Equal(body[:3], []byte{0x82, 0x01, 0x40 | codec.TagSize}) {
		return t, fmt.Errorf("bad bundle request: % x", body[:min(len(body), 16)])
	}
	copy(t[:], body[3:])
	return t, nil
}

// FetchBundle asks the relay for pub's prekey bundle and waits for the
// answer until ctx ends or DefaultBundleWait passes. The owner's client
// answers when it next reads its inbox, so it must be online (or come
// online) meanwhile; otherwise exchange contact cards.
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
	req := &codec.Envelope{Kind: codec.KindBundleRequest, To: pub.Tag(), TTL: ttl, Prio: codec.PrioNormal, Body: encodeBundleRequest(etag)}
	if err := c.publish(ctx, mc, req); err != nil {
		return nil, err
	}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w for %s: no answer to the bundle request within %v; its owner must be online to answer (or exchange contact cards: cairn id show, cairn contact add CARD)",
				ErrNoBundle, pub.DID(), DefaultBundleWait)
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
			// Let the relay drop the answer; the one-time key is then
			// forgotten.
			c.sendReceipts(ctx, mc, ekey, []codec.ID{e.ID()})
			return b, nil
		}
	}
}
