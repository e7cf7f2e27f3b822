// Package uplink syncs a relay with upstream MQTT brokers — Mosquitto, NATS
// in MQTT mode, EMQX, HiveMQ, or a cluster of them — whenever a connection
// exists (DESIGN.md "Upstream (internet relays)"; docs/uplink.md).
//
// Each configured broker is a link of the relay's store, "uplink:0",
// "uplink:1", …, and the store is its outbound queue: an Uplink publishes
// what its link owes, urgent first, at QoS 1 to {prefix}/inbox/{tag}
// (receipts to {prefix}/receipt/{tag}, prekey bundles retained on
// {prefix}/bundle/{tag}), at most max_inflight awaiting their PUBACK, and
// marks an envelope sent (durably, store.MarkSent) only after the broker's
// PUBACK. A crash or a lost connection between PUBLISH and PUBACK resends;
// the receiving relay's store drops the duplicate by id. After its PUBACK
// an envelope stays in a resend schedule (resend.go) and is published
// again on a doubling wait until a receipt or the end of its ttl removes it
// from the store, because a broker drops what arrives before any relay
// serving the recipient has subscribed.
//
// Upstream, each Uplink subscribes at QoS 1 to {prefix}/inbox/{tag} and
// {prefix}/receipt/{tag} for the tags the relay serves (its clients that
// subscribed to their inbox), and to {prefix}/receipt/{tag} for the tags it
// has published to, so that a recipient's receipt purges the copies here.
// Both sets are bounded and kept on disk (tags.go). What arrives goes
// through the relay's one ingest path with the uplink's link name as its
// source, so the store never owes it back to the same broker (no loops),
// and is acknowledged to the broker only once durable or refused. Arrivals
// are rate-shaped (receive_rate, default 200 envelopes/s): beyond it the
// uplink stops reading and the broker holds the rest.
//
// The session is persistent (clean session off; in MQTT 5 clean start off
// and a session that never expires) under a client id derived from the
// relay id kept in the data directory, so the broker keeps what arrives
// for this relay while it is away. Each uplink speaks MQTT 5
// (eclipse/paho.golang, mqtt5.go), setting every publish's message expiry
// from the envelope's remaining ttl, or 3.1.1 (paho.mqtt.golang, mqtt3.go),
// which has no expiry; "auto" tries 5 and falls back to 3.1.1 (NATS).
// Lost connections are retried with capped, jittered exponential backoff;
// the relay works the same offline.
//
// Logging: Info — connected, disconnected on Close, a tag dropped at a bound,
// the periodic "uplink status" line; Warn — a connection failed or was lost,
// a subscription refused, an arrival refused by the ingest path (logged
// there) or on the wrong topic; Error — the store cannot be read or written.
package uplink
