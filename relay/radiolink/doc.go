// Package radiolink carries the relay's envelopes over one LoRa radio: a
// store link ("radio:0", …) whose owed envelopes it sends as link frames
// (package radio) through the modem driver, within the radio's duty-cycle
// ledger, and whose received frames it hands to the relay's one ingest path.
//
// The protocol between relays on one channel (docs/radio.md, "Forwarding"):
//
//   - Link acks. A relay acks an envelope (ack frame: 8-byte short ids) only
//     after the store has made it durable, or found it a duplicate (already
//     durable). The sender marks an envelope sent (store.MarkSent) only
//     once every neighbour it knows has acked it, and at least one has;
//     until then it retransmits with a doubling, jittered wait.
//
//   - Neighbours are learned from beacons (relay address and a Bloom filter
//     of the tags it serves, every BeaconInterval and in answer to a new
//     neighbour) and from acks; one silent for NeighbourTimeout is
//     forgotten.
//
//   - Managed flooding. An envelope heard on the air is stored with from =
//     HeardFrom(link), so it is owed to this radio too: the relay
//     rebroadcasts it with hops + 1 after a random delay that grows with the
//     SNR it was heard at (far neighbours, heard weakly, go first), and
//     stays silent when during that delay it hears the same id again with
//     more hops (a neighbour already rebroadcast it). Duplicates are
//     suppressed by the store's seen set; the store refuses hops > max_hops
//     and the link does not send an envelope past it.
//
//   - Receipts are envelopes like any other: they flood back, and each relay's
//     store deletes the copies they name.
//
//   - Rate shaping. Among owed envelopes of one priority the link sends
//     next the one whose flow (recipient tag: sealed sender hides the
//     source, the tag is what a relay can see) used the least airtime
//     lately, so one busy flow cannot starve the others; the ledger's
//     priority shares keep the last of the budget for urgent traffic.
//
//   - Directed forwarding. An envelope whose tag a live neighbour's beacon
//     filter claims goes in a directed frame to that neighbour alone and is
//     done when it acks; after 3 unacked tries it is flooded. Receipts and
//     fragmented envelopes always flood; an envelope that reached the relay
//     serving its tag goes no further.
//
//   - Serving neighbours' tags upstream. A relay without a working uplink
//     follows each beacon with a serves frame listing its tags exactly
//     (31 a frame, the next ones after the next beacon); a relay with an
//     uplink hands the tags it hears to Options.OnNeighbourTags, which
//     subscribes for them upstream while the neighbour is known.
//
//   - Anti-entropy (antientropy.go). Relays that meet, and every
//     AntiEntropyInterval when idle, compare what they hold with a rateless
//     IBLT summary over salted short ids (radio.Sketch) and push only what
//     the other lacks.
package radiolink
