// Package bench is Cairn's MQTT load generator: N publishers and M
// subscribers exchanging valid envelopes (package codec) through a broker,
// either a Cairn relay (publishers anonymous to {prefix}/send, subscribers
// authenticated with a did:key and token on their own {prefix}/inbox/{tag})
// or any plain MQTT broker (the same envelopes published straight to the
// inbox topics, no authentication).
//
// It measures what docs/performance.md reports: messages per second
// delivered, end-to-end latency percentiles from a log-linear histogram
// (Histogram; the send time travels in the envelope body), and the broker's
// resident memory when its process is visible (ProcMemory).
//
// Config.Rate > 0 runs an open loop: publishers send on a fixed schedule
// and latency is counted from the scheduled time, so a broker that falls
// behind is not excused by the generator waiting for it (no coordinated
// omission). Rate 0 runs a closed loop: each publisher keeps at most
// Config.Inflight publishes awaiting their PUBACK (saturation).
//
// `cairn bench` is this package behind flags; bench/sidebyside runs it
// against Cairn, Mosquitto and NATS in turn (`make bench`); bench/growth
// against a relay holding 1,000 to 1,000,000 envelopes (`make bench-growth`).
package bench
