/*
 * rnode.h — RNode host-protocol constants, as fixed by docs/radio.md
 * (checked there against RNode_Firmware Framing.h and Boards.h).
 */
#ifndef CAIRN_RNODE_H
#define CAIRN_RNODE_H

/* KISS framing (Chepponis and Karn 1987). */
#define KISS_FEND 0xC0
#define KISS_FESC 0xDB
#define KISS_TFEND 0xDC
#define KISS_TFESC 0xDD

/* Commands. */
#define CMD_DATA 0x00
#define CMD_FREQUENCY 0x01
#define CMD_BANDWIDTH 0x02
#define CMD_TXPOWER 0x03
#define CMD_SF 0x04
#define CMD_CR 0x05
#define CMD_RADIO_STATE 0x06
#define CMD_DETECT 0x08
#define CMD_LEAVE 0x0A
#define CMD_ST_ALOCK 0x0B
#define CMD_LT_ALOCK 0x0C
#define CMD_READY 0x0F
#define CMD_STAT_RSSI 0x23
#define CMD_STAT_SNR 0x24
#define CMD_STAT_CHTM 0x25
#define CMD_PLATFORM 0x48
#define CMD_MCU 0x49
#define CMD_FW_VERSION 0x50
#define CMD_RESET 0x55
#define CMD_ERROR 0x90

/* Values. */
#define DETECT_REQ 0x73
#define DETECT_RESP 0x46
#define QUERY_BYTE 0xFF
#define RADIO_STATE_OFF 0x00
#define RADIO_STATE_ON 0x01
#define READY_YES 0x01
#define READY_NO 0x00
#define RESET_BYTE 0xF8
#define RSSI_OFFSET 157
#define ALOCK_OFF_AT 10000 /* percent × 100; at or above: no limit, echoed as 0 */

/* Error codes (CMD_ERROR). */
#define ERR_INIT_RADIO 0x01
#define ERR_TX_FAILED 0x02
#define ERR_EEPROM_LOCKED 0x03
#define ERR_QUEUE_FULL 0x04
#define ERR_MEMORY_LOW 0x05
#define ERR_MODEM_TIMEOUT 0x06

/* RNode's own header byte on air: a random sequence number in the high
 * nibble, FLAG_SPLIT when a host frame longer than 254 bytes goes as two
 * packets. */
#define RNODE_SEQ_MASK 0xF0
#define RNODE_FLAG_SPLIT 0x01
#define RNODE_SINGLE_MTU 255 /* one LoRa packet, header included */
#define RNODE_MTU 508        /* the longest host DATA frame */

/* Platform and MCU codes. RNode assigns 0x90/0x80/0x70 (AVR, ESP32,
 * nRF52); it has none for STM32 or for an emulator, so Cairn's firmware
 * uses values RNode leaves free (docs/firmware.md). */
#define PLATFORM_STM32 0xA0
#define MCU_STM32WLE5 0xA1
#define PLATFORM_HOST 0xF0
#define MCU_HOST 0xF1

/* FW_VERSION answer: the RNode protocol level this firmware implements.
 * Reticulum's RNodeInterface refuses modems older than 1.52. */
#define FW_VERSION_MAJOR 1
#define FW_VERSION_MINOR 52

#endif
