package radio

import (
	"encoding/binary"

	"fmt"
	"time"
)

// ProbeResult is what a modem said about itself and its current settings
// when probed. A setting the modem did not report is zero.
type ProbeResult struct {
	DeviceInfo
	FrequencyHz, BandwidthHz uint32
	TxPowerDBm               int8
	SF, CR                   uint8
	RadioOn                  bool
	RSSIDBm                  *int // channel RSSI, if the modem reported one (STAT_CHTM of newer firmware)
}

// Probe asks the modem on port, without configuring anything, whether it
// is an RNode and how it is set: DETECT with the firmware, platform and MCU
// queries (as the driver's detection), then the query form of frequency,
// bandwidth, TX power, SF, CR and radio state. It waits at most timeout
// for the answers and leaves port open. A device that does not answer
// DETECT gives ErrNoAnswer; one that answers wrongly, ErrNotRNode.
func Probe(port Port, timeout time.Duration) (ProbeResult, error) {
	var q []byte
	q = AppendKISS(q, CmdDetect, []byte{DetectReq})
	q = AppendKISS(q, CmdFWVersion, []byte{0})
	q = AppendKISS(q, CmdPlatform, []byte{0})
	q = AppendKISS(q, CmdMCU, []byte{0})
	q = AppendKISS(q, CmdFrequency, []byte{0, 0, 0, 0})
	q = AppendKISS(q, CmdBandwidth, []byte{0, 0, 0, 0})
	q = AppendKISS(q, CmdTxPower, []byte{QueryByte})
	q = AppendKISS(q, CmdSF, []byte{QueryByte})
	q = AppendKISS(q, CmdCR, []byte{QueryByte})
	q = AppendKISS(q, CmdRadioState, []byte{QueryByte})
	if _, err := port.Write(q); err != nil {
		return ProbeResult{}, fmt.Errorf("probe: writing port: %w", err)
	}

	type frame struct {
		cmd byte
		p   []byte
	}
	frames := make(chan frame, 64)
	readErr := make(chan error, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		var dec KISSDecoder
		buf := make([]byte, 256)
		for {
			n, err := port.Read(buf)
			dec.Feed(buf[:n], func(cmd byte, p []byte) {
				select {
				case frames <- frame{cmd, append([]byte(nil), p...)}:
				case <-stop:
				}
			})
			if err != nil || n == 0 {
				readErr <- err
				return
			}
		}
	}()

	var res ProbeResult
	detected := false
	want := map[byte]bool{CmdFWVersion: true, CmdPlatform: true, CmdMCU: true, CmdFrequency: true,
		CmdBandwidth: true, CmdTxPower: true, CmdSF: true, CmdCR: true, CmdRadioState: true}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !detected || len(want) > 0 {
		select {
		case f := <-frames:
			delete(want, f.cmd)
			switch {
			case f.cmd == CmdDetect:
				if len(f.p) != 1 || f.p[0] != DetectResp {
					return res, fmt.Errorf("probe: answer %x: %w", f.p, ErrNotRNode)
				}
				detected = true
			case f.cmd == CmdFWVersion && len(f.p) == 2:
				res.FirmwareMajor, res.FirmwareMinor = f.p[0], f.p[1]
			case f.cmd == CmdPlatform && len(f.p) == 1:
				res.Platform = f.p[0]
			case f.cmd == CmdMCU && len(f.p) == 1:
				res.MCU = f.p[0]
			case f.cmd == CmdFrequency && len(f.p) == 4:
				res.FrequencyHz = binary.BigEndian.Uint32(f.p)
			case f.cmd == CmdBandwidth && len(f.p) == 4:
				res.BandwidthHz = binary.BigEndian.Uint32(f.p)
			case f.cmd == CmdTxPower && len(f.p) == 1:
				res.TxPowerDBm = int8(f.p[0])
			case f.cmd == CmdSF && len(f.p) == 1:
				res.SF = f.p[0]
			case f.cmd == CmdCR && len(f.p) == 1:
				res.CR = f.p[0]
			case f.cmd == CmdRadioState && len(f.p) == 1:
				res.RadioOn = f.p[0] == RadioStateOn
			case f.cmd == CmdStatChTm && len(f.p) >= 9:
				v := int(f.p[8]) - RSSIOffset
				res.RSSIDBm = &v
			}
		case err := <-readErr:
			if !detected {
				return res, fmt.Errorf("probe: reading port: %w", err)
			}
			return res, nil
		case <-deadline.C:
			if !detected {
				return res, fmt.Errorf("probe: DETECT: %w", ErrNoAnswer)
			}
			return res, nil // detected; some queries unanswered (older firmware)
		}
	}
	return res, nil
}

// PlatformName names a PLATFORM byte (RNode_Firmware Boards.h).
func PlatformName(b byte) string {
	switch b {
	case 0x90:
		return "AVR"
	case 0x80:
		return "ESP32"
	case 0x70:
		return "nRF52"
	}
	return fmt.Sprintf("0x%02x", b)
}
