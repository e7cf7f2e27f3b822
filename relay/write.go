package relay

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Coalesced writes.
//
// mochi's Client.WritePacket makes one write(2) per packet. The relay sends
// its packets in runs — the PUBACKs one commit releases for a client, the
// window of envelopes a deliverer sends a subscriber — so it encodes a run
// into one buffer the way WritePacket would and writes it at once
// (profiled at 16 publishers → 16 subscribers, the per-packet writes were
// ~23 % of the relay's CPU). Only PUBLISH and PUBACK go this way; mochi's
// own packets (CONNACK, SUBACK, PINGRESP, …) still use WritePacket, and
// both take the client's lock around the write, so packets never interleave.
// mochi buffers a client's writes only while its outbound queue (for
// messages mochi routes itself) is non-empty; the relay routes everything
// itself, so that queue stays empty and nothing mochi buffered can be
// overtaken.

// maxWriteRun bounds a run: once its buffer holds this much it is written,
// so one write — over WebSocket, one message — is at most this plus one
// packet (a window of 64 KiB envelopes would otherwise be 2 MiB in one
// message; the web client closes a socket that buffers over 1 MiB).
const maxWriteRun = 64 << 10

// writeTimeout bounds one coalesced write. A client that takes longer to
// read a run (at most maxWriteRun plus one packet: 30 s is about 17 kbit/s)
// is stopped, so that a client that stops reading — a phone gone out of
// range, or one that never reads — does not hold its lock, ack loop and
// deliverer until TCP gives up, or for ever when its keepalive is 0. A
// variable for tests.
var writeTimeout = 30 * time.Second

// writeBuffers holds the buffers runs are encoded into, shared by every
// session and deliverer so that an idle client holds none. A buffer that
// grew beyond maxPooledWriteBuffer (a run ending in a large envelope) is
// dropped after its write rather than pooled.
var writeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledWriteBuffer = 4 * maxWriteRun

// writeBuffer returns an empty buffer for encodePacket; writeEncoded
// gives it back.
func writeBuffer() *bytes.Buffer { return writeBuffers.Get().(*bytes.Buffer) }

// releaseWriteBuffer gives buf back unwritten.
func releaseWriteBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledWriteBuffer {
		buf.Reset()
		writeBuffers.Put(buf)
	}
}

// encodePacket appends pk, encoded for cl as WritePacket would encode it,
// to buf. On error (packets.ErrPacketTooLarge: above the client's Maximum
// Packet Size) buf is left as it was.
func encodePacket(cl *mqtt.Client, pk packets.Packet, buf *bytes.Buffer) error {
	pk.ProtocolVersion = cl.Properties.ProtocolVersion
	if pk.Mods.MaxSize == 0 {
		pk.Mods.MaxSize = cl.Properties.Props.MaximumPacketSize
	}
	if cl.Properties.Props.RequestProblemInfoFlag && cl.Properties.Props.RequestProblemInfo == 0 {
		pk.Mods.DisallowProblemInfo = true // [MQTT-3.1.2-29]
	}
	pk.Mods.AllowResponseInfo = true // [MQTT-3.1.2-28]: any packet but CONNACK
	start := buf.Len()
	var err error
	switch pk.FixedHeader.Type {
	case packets.Publish:
		err = pk.PublishEncode(buf)
	case packets.Puback:
		err = pk.PubackEncode(buf)
	default:
		err = fmt.Errorf("%w: %v", packets.ErrNoValidPacketAvailable, pk.FixedHeader.Type)
	}
	if err == nil && pk.Mods.MaxSize > 0 && uint32(buf.Len()-start) > pk.Mods.MaxSize {
		err = packets.ErrPacketTooLarge // [MQTT-3.1.2-24] [MQTT-3.1.2-25]
	}
	if err != nil {
		buf.Truncate(start)
	}
	return err
}

// writeEncoded writes what encodePacket put in buf to cl in one write and
// returns buf to the pool; the caller must not use it again. It returns
// mqtt.ErrConnectionClosed if the client is gone; on any other error
// (writeTimeout passed) it has stopped the client.
func writeEncoded(cl *mqtt.Client, buf *bytes.Buffer) error {
	defer releaseWriteBuffer(buf)
	if buf.Len() == 0 {
		return nil
	}
	if cl.Closed() {
		return mqtt.ErrConnectionClosed
	}
	if cl.Net.Conn == nil {
		return nil
	}
	cl.Lock()
	// mochi sets both deadlines from the keepalive as each packet is read,
	// and its own writes answer what it read; this write has its own, and
	// leaves none behind for them.
	cl.Net.Conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := cl.Net.Conn.Write(buf.Bytes())
	cl.Net.Conn.SetWriteDeadline(time.Time{})
	cl.Unlock()
	if err != nil {
		// Part of a packet may have gone: the stream cannot go on.
		cl.Stop(fmt.Errorf("writing to the client: %w", err))
	}
	return err
}
