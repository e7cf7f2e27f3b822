package radio

// KISS framing (Chepponis and Karn 1987; RNode_Firmware Framing.h).
const (
	FEND  = 0xC0 // frame end
	FESC  = 0xDB // frame escape
	TFEND = 0xDC // transposed frame end: FESC TFEND stands for FEND
	TFESC = 0xDD // transposed frame escape: FESC TFESC stands for FESC
)

// RNode host protocol commands (RNode_Firmware Framing.h; the same values in
// Reticulum RNodeInterface.py's KISS class). The first byte of a KISS frame
// is the command; the payload follows.
const (
	CmdData       = 0x00 // host→modem: a packet to send; modem→host: a packet received
	CmdFrequency  = 0x01 // uint32 big-endian Hz; 0 asks without setting
	CmdBandwidth  = 0x02 // uint32 big-endian Hz; 0 asks without setting
	CmdTxPower    = 0x03 // one byte, dBm (two's complement on the modem side); 0xFF asks
	CmdSF         = 0x04 // one byte, spreading factor; 0xFF asks
	CmdCR         = 0x05 // one byte, coding rate denominator 5…8 (4/5…4/8); 0xFF asks
	CmdRadioState = 0x06 // one byte: 0x00 off, 0x01 on, 0xFF asks
	CmdRadioLock  = 0x07 // modem→host: 1 when the radio is locked (settings incomplete)
	CmdDetect     = 0x08 // host sends DetectReq, modem answers DetectResp
	CmdImplicit   = 0x09 // implicit-header length; not used by Cairn
	CmdLeave      = 0x0A // host leaving: payload 0xFF
	CmdStALock    = 0x0B // uint16 big-endian, short-term airtime limit in percent × 100
	CmdLtALock    = 0x0C // uint16 big-endian, long-term airtime limit in percent × 100
	CmdPromisc    = 0x0E // promiscuous mode; not used by Cairn
	CmdReady      = 0x0F // host asks; modem answers 0x01 ready, 0x00 queue full
	CmdStatRx     = 0x21 // uint32 packets received
	CmdStatTx     = 0x22 // uint32 packets sent
	CmdStatRSSI   = 0x23 // one byte: RSSI of the next DATA frame, dBm + RSSIOffset
	CmdStatSNR    = 0x24 // one byte, signed: SNR of the next DATA frame in quarter dB
	CmdStatChTm   = 0x25 // channel time: 4 × uint16 percent × 100, newer firmware adds 3 RSSI bytes
	CmdStatPhyPrm = 0x26 // PHY parameters (symbol time, preamble…); informational
	CmdBoard      = 0x47 // one byte board model
	CmdPlatform   = 0x48 // one byte: 0x90 AVR, 0x80 ESP32, 0x70 nRF52 (Boards.h)
	CmdMCU        = 0x49 // one byte: 0x91 ATmega1284P, 0x92 ATmega2560, 0x81 ESP32, 0x71 nRF52
	CmdFWVersion  = 0x50 // two bytes: major, minor
	CmdReset      = 0x55 // modem→host after a reset: payload 0xF8
	CmdError      = 0x90 // one byte error code, below
)

// Values carried by the commands above (RNode_Firmware Framing.h).
const (
	DetectReq  = 0x73
	DetectResp = 0x46

	RadioStateOff = 0x00
	RadioStateOn  = 0x01
	QueryByte     = 0xFF // asks TXPOWER, SF, CR, RADIO_STATE for their value

	ReadyYes = 0x01
	ReadyNo  = 0x00

	ResetByte = 0xF8

	// RSSIOffset: the modem sends (uint8)(rssi + 157).
	RSSIOffset = 157
)

// RNode error codes (RNode_Firmware Framing.h, CMD_ERROR).
const (
	ErrCodeInitRadio    = 0x01
	ErrCodeTxFailed     = 0x02
	ErrCodeEEPROMLocked = 0x03
	ErrCodeQueueFull    = 0x04
	ErrCodeMemoryLow    = 0x05
	ErrCodeModemTimeout = 0x06
)

// RNode's own on-air header (RNode_Firmware.ino transmit and
// receive_callback): outside promiscuous mode the modem puts one byte before
// every LoRa packet it sends, a random sequence in the high nibble and
// FLAG_SPLIT in bit 0 when a host frame longer than 254 bytes is split over
// two packets, and strips it from every packet it receives.
const (
	RNodeHeaderBytes = 1
	RNodeFlagSplit   = 0x01
	RNodeSeqMask     = 0xF0
	RNodeSingleMTU   = 255 // SINGLE_MTU: a LoRa packet, header included
	RNodeMTU         = 508 // MTU: the longest host DATA frame, split over two packets
)

// LoRa PHY limits (Semtech SX1276/SX126x datasheets).
const (
	MaxLoRaPayloadBytes = 255 // the PHY payload length field is one byte
	MinSF               = 5   // SX126x; SX127x start at 6
	MaxSF               = 12
	MinCR               = 5 // 4/5
	MaxCR               = 8 // 4/8
)
