package uplink

import (
	"strings"

	"github.com/cairnmesh/cairn/codec"
)

// topics are the upstream topic names under one uplink's prefix (DESIGN.md
// "Upstream").
type topics struct{ prefix string }

func (t topics) inbox(tag codec.Tag) string   { return t.prefix + "/inbox/" + tag.String() }
func (t topics) receipt(tag codec.Tag) string { return t.prefix + "/receipt/" + tag.String() }
func (t topics) bundle(tag codec.Tag) string  { return t.prefix + "/bundle/" + tag.String() }

// publish returns where e goes upstream and whether the broker retains it:
// receipts to receipt/{to}; an identity's own prekey bundle retained on
// bundle/{to} (one per tag, the latest); everything else, answers to
// bundle requests included, to inbox/{to}.
func (t topics) publish(e *codec.Envelope) (topic string, retain bool) {
	switch {
	case e.Kind == codec.KindReceipt:
		return t.receipt(e.To), false
	case isOwnBundle(e):
		return t.bundle(e.To), true
	}
	return t.inbox(e.To), false
}

// isOwnBundle reports whether e is a prekey bundle its owner published to
// its own tag: the relay copy a client hands its relay (docs/crypto.md,
// "Bundle exchange through relays"), signed by the identity whose tag is
// e.To. An answer to a bundle request goes to the requester's reply tag,
// and a forgery is not signed by the tag's owner.
func isOwnBundle(e *codec.Envelope) bool {
	if e.Kind != codec.KindBundle {
		return false
	}
	owner, err := codec.BundleOwner(e.Body)
	return err == nil && codec.TagOf(owner) == e.To
}

// parse returns the kind of topic ("inbox", "receipt" or "bundle") and its
// tag; ok is false for anything else.
func (t topics) parse(topic string) (kind string, tag codec.Tag, ok bool) {
	rest, found := strings.CutPrefix(topic, t.prefix+"/")
	if !found {
		return "", tag, false
	}
	kind, hexTag, found := strings.Cut(rest, "/")
	if !found || (kind != "inbox" && kind != "receipt" && kind != "bundle") {
		return "", tag, false
	}
	tag, err := codec.ParseTag(hexTag)
	return kind, tag, err == nil
}
