package radiotest

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cairnmesh/cairn/radio"
)

// Simulated-air datagram format, version 1 (docs/radio.md, "Simulated
// air"). All integers big-endian.
//
//	off size field
//	0   1    version = 1
//	1   1    type: 1 TX (node → air), 2 RX (air → node), 3 HELLO (node → air)
//	2   2    node: the sender for TX and HELLO, the transmitter for RX
//	4   4    frequency, Hz
//	8   4    bandwidth, Hz
//	12  1    spreading factor 5…12
//	13  1    coding rate denominator 5…8
//	14  4    airtime, µs (TX: the sender's own figure or 0; RX: the air's)
//	18  2    RSSI, dBm, signed (RX; 0 in TX and HELLO)
//	20  1    SNR, quarter dB, signed (RX; 0 in TX and HELLO)
//	21  1    reserved, 0
//	22  n    LoRa PHY payload, 1…255 bytes (TX, RX); none in HELLO
const (
	DatagramVersion = 1
	HeaderBytes     = 22
	MaxDatagram     = HeaderBytes + radio.MaxLoRaPayloadBytes

	TypeTX    = 1
	TypeRX    = 2
	TypeHello = 3
)

// Datagram is one simulated-air datagram.
type Datagram struct {
	Type        byte
	Node        uint16
	FrequencyHz uint32
	BandwidthHz uint32
	SF, CR      uint8
	AirtimeUs   uint32
	RSSIDBm     int16
	SNRQuarter  int8
	Payload     []byte
}

// ErrBadDatagram is returned (wrapped) for every malformed datagram.
var ErrBadDatagram = errors.New("bad air datagram")

// Append encodes d after dst.
func (d *Datagram) Append(dst []byte) []byte {
	dst = append(dst, DatagramVersion, d.Type)
	dst = binary.BigEndian.AppendUint16(dst, d.Node)
	dst = binary.BigEndian.AppendUint32(dst, d.FrequencyHz)
	dst = binary.BigEndian.AppendUint32(dst, d.BandwidthHz)
	dst = append(dst, d.SF, d.CR)
	dst = binary.BigEndian.AppendUint32(dst, d.AirtimeUs)
	dst = binary.BigEndian.AppendUint16(dst, uint16(d.RSSIDBm))
	dst = append(dst, byte(d.SNRQuarter), 0)
	return append(dst, d.Payload...)
}

// ParseDatagram decodes b strictly: known version and type, reserved byte
// zero, payload 1…255 bytes for TX and RX and none for HELLO. Payload
// aliases b.
func ParseDatagram(b []byte) (Datagram, error) {
	if len(b) < HeaderBytes || len(b) > MaxDatagram {
		return Datagram{}, fmt.Errorf("%w: %d bytes", ErrBadDatagram, len(b))
	}
	if b[0] != DatagramVersion {
		return Datagram{}, fmt.Errorf("%w: version %d", ErrBadDatagram, b[0])
	}
	d := Datagram{
		Type:        b[1],
		Node:        binary.BigEndian.Uint16(b[2:]),
		FrequencyHz: binary.BigEndian.Uint32(b[4:]),
		BandwidthHz: binary.BigEndian.Uint32(b[8:]),
		SF:          b[12],
		CR:          b[13],
		AirtimeUs:   binary.BigEndian.Uint32(b[14:]),
		RSSIDBm:     int16(binary.BigEndian.Uint16(b[18:])),
		SNRQuarter:  int8(b[20]),
		Payload:     b[HeaderBytes:],
	}
	if b[21] != 0 {
		return Datagram{}, fmt.Errorf("%w: reserved byte %d", ErrBadDatagram, b[21])
	}
	switch d.Type {
	case TypeTX, TypeRX:
		if len(d.Payload) == 0 {
			return Datagram{}, fmt.Errorf("%w: empty payload", ErrBadDatagram)
		}
	case TypeHello:
		if len(d.Payload) != 0 {
			return Datagram{}, fmt.Errorf("%w: HELLO with payload", ErrBadDatagram)
		}
	default:
		return Datagram{}, fmt.Errorf("%w: type %d", ErrBadDatagram, d.Type)
	}
	return d, nil
}

func (d *Datagram) modulation() radio.Modulation {
	return radio.Modulation{BandwidthHz: d.BandwidthHz, SF: d.SF, CR: d.CR}
}
