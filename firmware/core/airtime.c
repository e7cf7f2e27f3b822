#include "airtime.h"

/* Quarter symbols of a packet (the preamble ends in a quarter symbol):
 *   SF7…12:  Npre + 4.25 + 8 + ceil(max(8PL + 16 − 4SF + 8 + 20, 0) / 4(SF − 2LDRO)) · CR
 *   SF5, 6:  Npre + 6.25 + 8 + ceil(max(8PL + 16 − 4SF + 20, 0) / 4SF) · CR
 * with CRC on and the explicit header (H = 1); CR is the denominator 5…8. */
static uint64_t quarter_symbols(uint32_t bw_hz, uint8_t sf, uint8_t cr, uint16_t preamble, uint16_t len)
{
	int64_t pre = preamble ? preamble : 8;
	int64_t bits = 8 * (int64_t)len - 4 * (int64_t)sf + 16 + 20;
	int64_t fixed_quarters = 17; /* 4.25 symbols */
	if (sf >= 7)
		bits += 8;
	else
		fixed_quarters = 25; /* 6.25 symbols */
	/* LDRO is mandated when a symbol lasts longer than 16 ms; the symbol
	 * time is computed in whole nanoseconds, as radio.Modulation does. */
	uint64_t tsym_ns = ((uint64_t)1 << sf) * 1000000000u / bw_hz;
	int64_t den = 4 * (int64_t)sf;
	if (tsym_ns > 16000000u)
		den = 4 * ((int64_t)sf - 2);
	int64_t blocks = bits > 0 ? (bits + den - 1) / den : 0;
	return (uint64_t)(4 * (pre + 8 + blocks * (int64_t)cr) + fixed_quarters);
}

uint32_t airtime_us(uint32_t bw_hz, uint8_t sf, uint8_t cr, uint16_t preamble, uint16_t len)
{
	if (bw_hz == 0 || sf < 5 || sf > 12 || cr < 5 || cr > 8)
		return 0;
	uint64_t q = quarter_symbols(bw_hz, sf, cr, preamble, len);
	uint64_t num = q * ((uint64_t)1 << sf) * 1000000000u;
	uint64_t den = 4 * (uint64_t)bw_hz;
	uint64_t ns = (num + den - 1) / den; /* rounded up to the ns, as Airtime */
	return (uint32_t)(ns / 1000u);
}

static void window_init(struct ledger_window *w, uint8_t nbins, uint32_t bin_ms, uint32_t now_ms)
{
	for (unsigned i = 0; i < LEDGER_LT_BINS; i++)
		w->bin_us[i] = 0;
	w->nbins = nbins;
	w->bin_ms = bin_ms;
	w->cur = 0;
	w->bin_start_ms = now_ms;
}

/* advance moves the current bin forward to now, clearing the bins passed.
 * Unsigned differences keep it right across the millisecond counter's
 * wrap. */
static void advance(struct ledger_window *w, uint32_t now_ms)
{
	uint32_t passed = (now_ms - w->bin_start_ms) / w->bin_ms;
	if (passed == 0)
		return;
	if (passed >= w->nbins) {
		for (unsigned i = 0; i < w->nbins; i++)
			w->bin_us[i] = 0;
		w->bin_start_ms = now_ms;
		return;
	}
	for (uint32_t i = 0; i < passed; i++) {
		w->cur = (uint8_t)((w->cur + 1) % w->nbins);
		w->bin_us[w->cur] = 0;
	}
	w->bin_start_ms += passed * w->bin_ms;
}

static uint16_t share(struct ledger_window *w, uint32_t now_ms)
{
	advance(w, now_ms);
	uint64_t sum = 0;
	for (unsigned i = 0; i < w->nbins; i++)
		sum += w->bin_us[i];
	uint64_t window_us = (uint64_t)w->nbins * w->bin_ms * 1000u;
	uint64_t s = sum * 10000u / window_us;
	return s > 10000 ? 10000 : (uint16_t)s;
}

void ledger_init(struct ledger *l, uint32_t now_ms)
{
	window_init(&l->st, LEDGER_ST_BINS, LEDGER_ST_BIN_MS, now_ms);
	window_init(&l->lt, LEDGER_LT_BINS, LEDGER_LT_BIN_MS, now_ms);
}

void ledger_add(struct ledger *l, uint32_t now_ms, uint32_t us)
{
	advance(&l->st, now_ms);
	advance(&l->lt, now_ms);
	l->st.bin_us[l->st.cur] += us;
	l->lt.bin_us[l->lt.cur] += us;
}

uint16_t ledger_share_st(struct ledger *l, uint32_t now_ms) { return share(&l->st, now_ms); }
uint16_t ledger_share_lt(struct ledger *l, uint32_t now_ms) { return share(&l->lt, now_ms); }
