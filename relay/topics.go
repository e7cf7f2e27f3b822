package relay

import (
	"strings"

	"github.com/cairnmesh/cairn/codec"
)

// topics are the broker's topic names under the configured prefix
// (DESIGN.md "MQTT").
type topics struct {
	send        string // {prefix}/send
	inboxPrefix string // {prefix}/inbox/
}

func newTopics(prefix string) topics {
	return topics{send: prefix + "/send", inboxPrefix: prefix + "/inbox/"}
}

func (t topics) inbox(tag codec.Tag) string { return t.inboxPrefix + tag.String() }

// inboxTag returns the tag of an inbox topic. Filters with wildcards, upper
// case or anything else are not inbox topics.
func (t topics) inboxTag(topic string) (codec.Tag, bool) {
	rest, ok := strings.CutPrefix(topic, t.inboxPrefix)
	if !ok {
		return codec.Tag{}, false
	}
	tag, err := codec.ParseTag(rest)
	return tag, err == nil
}
