/*
 * modem.h — the RNode-protocol modem: command handling with RNode's
 * semantics (docs/radio.md, "Commands"; differences in docs/firmware.md),
 * the TX queue, listen-before-talk, airtime locks and RX reporting.
 *
 * Single-threaded: call modem_poll from the board's main loop.
 */
#ifndef CAIRN_MODEM_H
#define CAIRN_MODEM_H

#include <stdint.h>

#include "airtime.h"
#include "hal.h"
#include "kiss.h"
#include "txqueue.h"

/* What the core needs to know about the board it runs on. */
struct modem_board {
	uint8_t platform, mcu; /* PLATFORM and MCU answers */
	int8_t txp_min_dbm, txp_max_dbm;
};

/* Listen-before-talk (documented policy, docs/firmware.md): before each
 * packet the channel is checked by CAD, or where the board has none by
 * RSSI against LBT_RSSI_BUSY_DBM. While it is busy the packet waits a
 * random 1 … LBT_MAX_SLOTS slots of LBT_SLOT_MS and checks again; it
 * waits as long as the channel stays busy (the queue then fills and READY
 * says 00). */
#define LBT_RSSI_BUSY_DBM (-85)
#define LBT_SLOT_MS 25u
#define LBT_MAX_SLOTS 8u

/* A transmission not reported done within twice its airtime plus
 * TX_TIMEOUT_SLACK_MS is abandoned: CMD_ERROR 0x06, radio reconfigured. */
#define TX_TIMEOUT_SLACK_MS 500u

/* STAT_CHTM is sent unasked this often while the radio is on. */
#define CHTM_INTERVAL_MS 5000u

/* The preamble Cairn's formula assumes (docs/radio.md). */
#define MODEM_PREAMBLE_SYMBOLS 8

struct modem_stats {
	uint32_t tx_packets, rx_packets, rx_errors;
	uint32_t queue_full;    /* DATA refused: queue full (CMD_ERROR 0x04 sent) */
	uint32_t radio_off_drops; /* DATA refused: radio off (CMD_ERROR 0x02 sent) */
	uint32_t tx_failed, tx_timeouts;
	uint32_t lbt_deferrals; /* checks that found the channel busy */
	uint32_t lock_holds;    /* polls that held a frame for an airtime lock */
	uint32_t bad_commands;  /* unknown commands or wrong payload sizes */
	uint32_t split_dropped; /* half of a split frame that found no partner */
};

enum tx_state { TX_IDLE, TX_WAIT, TX_SENDING };

struct modem {
	const struct modem_board *board;
	struct kiss_decoder dec;

	/* Settings; 0 (txp_set 0) means not set yet. */
	uint32_t freq_hz, bw_hz;
	int8_t txp_dbm;
	uint8_t txp_set;
	uint8_t sf, cr;
	uint16_t st_lock, lt_lock; /* percent × 100; 0 = off */
	uint8_t online;

	struct txq q;
	uint8_t frame[508]; /* RNODE_MTU */
	uint16_t frame_len, frame_sent; /* frame at the head, bytes on air so far */
	uint8_t frame_hdr;
	uint8_t pkt[255];
	enum tx_state tx;
	uint32_t tx_at_ms;       /* TX_WAIT: not before; TX_SENDING: started */
	uint32_t tx_timeout_ms;  /* TX_SENDING: give up after this long */
	uint32_t tx_air_us;

	uint8_t rx_split[254];
	uint8_t rx_split_len, rx_split_seq;

	struct ledger tx_air, rx_air; /* own airtime; airtime of frames heard */
	uint32_t last_chtm_ms, last_rx_ms, last_err_ms;
	uint8_t err_seen, led;

	struct modem_stats stats;
};

void modem_init(struct modem *m, const struct modem_board *board);

/* modem_boot sends CMD_RESET F8, as RNode does at power-on, so a host
 * notices the reboot. */
void modem_boot(struct modem *m);

/* modem_poll reads the serial line, handles commands, drives the radio
 * and the queue, and kicks the watchdog. */
void modem_poll(struct modem *m);

/* modem_feed handles bytes from the host as if read from the line
 * (modem_poll uses it; tests call it directly). */
void modem_feed(struct modem *m, const uint8_t *p, size_t n);

#endif
