package relay

import (
	"bytes"
	"errors"
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/store"
)

// hook connects the broker's events to the relay.
type hook struct {
	mqtt.HookBase
	r *Relay
}

func (h *hook) ID() string { return "cairn" }

func (h *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnectAuthenticate,
		mqtt.OnACLCheck,
		mqtt.OnSessionEstablished,
		mqtt.OnDisconnect,
		mqtt.OnPacketRead,
		mqtt.OnPublish,
		mqtt.OnSubscribed,
		mqtt.OnUnsubscribed,
	}, []byte{b})
}

// OnConnectAuthenticate admits anonymous clients and clients whose username
// is a did:key and whose password is a valid token newer than the last one
// accepted for that key (DESIGN.md "MQTT").
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	r := h.r
	user, pass := string(pk.Connect.Username), string(pk.Connect.Password)
	refuse := func(reason string, err error) bool {
		r.stats.authFail(reason)
		r.floods.Event(slog.LevelWarn, "connection refused", "connections refused", reason,
			slog.String("client", cl.ID), slog.String("remote", cl.Net.Remote), slog.Any("err", err))
		return false
	}
	// A client id in use by an identity can be taken over only by that
	// identity; otherwise anyone could knock a handheld off by reusing its id.
	if old, ok := r.broker.Clients.Get(cl.ID); ok {
		if owner := string(old.Properties.Username); owner != "" && owner != user {
			return refuse("client_id_in_use", nil)
		}
	}
	if user == "" {
		if len(pass) > 0 {
			return refuse("password_without_username", nil)
		}
		return true
	}
	tok, err := codec.VerifyAuthToken(user, pass)
	if err != nil {
		return refuse("bad_token", err)
	}
	if err := r.store.CheckAuthStamp(tok.Key, tok.UnixMill); err != nil {
		if errors.Is(err, store.ErrStaleAuth) {
			return refuse("stale_token", err)
		}
		return refuse("internal", err)
	}
	return true
}

// OnACLCheck lets every client publish to send only, and lets an
// authenticated client read its own inbox only.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if write {
		return topic == h.r.topics.send
	}
	s := h.r.session(cl)
	if s == nil || s.key == nil {
		return false
	}
	tag, ok := h.r.topics.inboxTag(topic)
	return ok && tag == s.tag
}

func (h *hook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	r := h.r
	var s *session
	if user := string(cl.Properties.Username); user != "" {
		key, err := codec.ParseDIDKey(user) // verified in OnConnectAuthenticate
		if err != nil {
			r.log.Error("authenticated client has no key", "client", cl.ID, "err", err)
			cl.Stop(err)
			return
		}
		s = newSession(r, cl, key)
	} else {
		s = newSession(r, cl, nil)
	}
	r.mu.Lock()
	r.sessions[cl] = s
	r.mu.Unlock()
	r.log.Debug("client connected", "client", s.who(), "remote", cl.Net.Remote)

	// A resumed session keeps its subscriptions without a new SUBSCRIBE.
	if s.key != nil {
		if sub, ok := cl.State.Subscriptions.Get(r.topics.inbox(s.tag)); ok {
			s.subscribed(min(sub.Qos, 1))
		}
	}
}

func (h *hook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	r := h.r
	r.mu.Lock()
	s := r.sessions[cl]
	delete(r.sessions, cl)
	r.mu.Unlock()
	if s != nil {
		s.end()
		r.log.Debug("client disconnected", "client", s.who(), "err", err)
	}
}

// OnPacketRead consumes the PUBACKs for the relay's own deliveries. Mochi
// finds no such packet id in its in-flight map and ignores them.
func (h *hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type == packets.Puback {
		if s := h.r.session(cl); s != nil {
			s.puback(pk.PacketID)
		}
	}
	return pk, nil
}

// OnPublish takes every publish out of mochi's hands: the relay acknowledges
// it itself once it is durable, and mochi neither routes nor acknowledges it.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	s := h.r.session(cl)
	if s == nil {
		return pk, packets.ErrRejectPacket
	}
	s.publish(pk)
	return pk, packets.ErrRejectPacket
}

func (h *hook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, reasonCodes []byte) {
	s := h.r.session(cl)
	if s == nil || s.key == nil {
		return
	}
	for i, f := range pk.Filters {
		if i < len(reasonCodes) && reasonCodes[i] <= 2 && f.Filter == h.r.topics.inbox(s.tag) {
			s.subscribed(min(reasonCodes[i], 1))
		}
	}
}

func (h *hook) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	s := h.r.session(cl)
	if s == nil || s.key == nil {
		return
	}
	for _, f := range pk.Filters {
		if f.Filter == h.r.topics.inbox(s.tag) {
			s.unsubscribed()
		}
	}
}

func (r *Relay) session(cl *mqtt.Client) *session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions[cl]
}
