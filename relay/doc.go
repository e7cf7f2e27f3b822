// Package relay is the Cairn daemon. It embeds an MQTT broker (mochi-mqtt v2)
// for handhelds, and its hooks implement the contract in DESIGN.md ("How data
// flows", "MQTT"):
//
//   - A publish to {prefix}/send is decoded and validated (package codec),
//     made durable (package relay/store) and only then acknowledged. PUBACKs
//     leave in the order their PUBLISHes arrived (MQTT 3.1.1 §4.6), while the
//     store shares fsyncs between everything in flight.
//   - Refused input gets an MQTT 5 reason code (see reason.go), a log line
//     naming the client and a counter; nothing is stored and the client stays
//     connected. MQTT 3.1.1 has no reason codes, so its clients get the plain
//     PUBACK the spec requires (§3.3.5) and the refusal is only logged.
//   - Clients authenticate with a did:key and a signed token; a token must be
//     newer than the last accepted for its key. Anonymous clients may publish
//     to send and nothing else; an authenticated client may also subscribe to
//     its own inbox, {prefix}/inbox/{tag}, and no other topic.
//   - An inbox subscriber receives what the store holds for its tag, urgent
//     first then oldest first, with at most delivery_window unacknowledged.
//     Delivery deletes nothing: a signed receipt or expiry does.
//
// Two traps of mochi-mqtt are avoided by design. Its inline client publishes
// at QoS 0, and its in-flight map shares one packet-identifier space between
// the client's inbound flows and the server's outbound ones
// (mochi-mqtt/server#545: an inbound PUBLISH can delete or overwrite a
// delivery with the same id). The relay therefore never routes envelopes
// through mochi's topic tree or in-flight map: deliverers write PUBLISH
// packets themselves with identifiers from their own space and consume the
// matching PUBACKs in a packet-read hook, and the broker's maximum QoS is 1.
package relay
