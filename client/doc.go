// Package client is the handheld side of Cairn: the keystore that holds an
// identity, its prekeys, contacts and sessions on disk; contact cards for
// exchanging keys without a server; and a connection to a relay over MQTT
// (docs/mqtt.md) that publishes envelopes, reads the inbox, decrypts with
// package ratchet, drops duplicates and acknowledges with signed receipts.
//
// The formats it adds — the keystore file, contact cards and the bodies of
// bundle requests and responses — are specified in docs/crypto.md, "The
// client".
//
// The usual flow:
//
//	ks, err := client.CreateKeystore(home, nil)   // once: `cairn id new`
//	ks, err := client.OpenKeystore(home, nil)     // every run
//	defer ks.Close()
//	c, err := client.Dial(ctx, ks, &client.Options{Relay: "mqtt://127.0.0.1:1883"})
//	defer c.Close()
//	res, err := c.Send(ctx, did, []byte("hello"), codec.PrioNormal)
//	err = c.Receive(ctx, false, func(m client.Message) { … })
//
// A Keystore holds an exclusive lock on its home directory while open, so
// two processes never write one keystore. Keystore and Client are safe for
// concurrent use.
package client
