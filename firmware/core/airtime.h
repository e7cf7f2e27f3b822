/*
 * airtime.h — LoRa time on air and the modem's airtime ledger.
 *
 * Time on air follows the SX1276 datasheet §4.1.1.7 / Semtech AN1200.13
 * (SX1261/2 datasheet §6.1.4 for SF5 and SF6), in integer arithmetic, to
 * give exactly the figures of radio.Modulation.Airtime (docs/radio.md,
 * "Time on air"): explicit header, CRC on, LDRO on when a symbol lasts
 * longer than 16 ms.
 */
#ifndef CAIRN_AIRTIME_H
#define CAIRN_AIRTIME_H

#include <stdint.h>

/* airtime_us is the time on air of one packet of len PHY payload bytes,
 * in microseconds, truncated (the simulated-air datagram's unit). */
uint32_t airtime_us(uint32_t bw_hz, uint8_t sf, uint8_t cr, uint16_t preamble, uint16_t len);

/*
 * The ledger sums airtime in bins to answer "what share of the last
 * window was used", in percent × 100 as RNode's airtime locks and
 * STAT_CHTM count it.
 *
 *   short term: 15 bins of 1 s   = the last 15 s
 *   long term:  60 bins of 60 s  = the last hour (ETSI's observation period)
 *
 * The bin in progress counts in full against its window, which can only
 * over-count. 75 × 4 bytes per ledger.
 */
#define LEDGER_ST_BINS 15
#define LEDGER_ST_BIN_MS 1000u
#define LEDGER_LT_BINS 60
#define LEDGER_LT_BIN_MS 60000u

struct ledger_window {
	uint32_t bin_us[LEDGER_LT_BINS]; /* only the first nbins are used */
	uint32_t bin_start_ms;           /* when the current bin began */
	uint8_t cur, nbins;
	uint32_t bin_ms;
};

struct ledger {
	struct ledger_window st, lt;
};

void ledger_init(struct ledger *l, uint32_t now_ms);

/* ledger_add books us of airtime at now_ms. */
void ledger_add(struct ledger *l, uint32_t now_ms, uint32_t us);

/* ledger_share_st and ledger_share_lt are the share of the window used,
 * percent × 100 (10000 = 100 %), capped at 10000. */
uint16_t ledger_share_st(struct ledger *l, uint32_t now_ms);
uint16_t ledger_share_lt(struct ledger *l, uint32_t now_ms);

#endif
