#include "modem.h"

#include "rnode.h"

/* SX126x LoRa bandwidths, Hz (SX1261/2 datasheet §13.4.5, RM0461 §4.9.5).
 * A requested bandwidth is rounded up to the next one, as RNode does for
 * SX126x (setSignalBandwidth), and the echo is the value in effect. */
static const uint32_t bandwidths[] = {7800, 10400, 15600, 20800, 31250, 41700, 62500, 125000, 250000, 500000};

/* SX126x synthesiser range (SX1261/2 datasheet §3.1: 150 … 960 MHz). A
 * frequency outside it is not taken; the echo shows the one in effect. */
#define FREQ_MIN_HZ 150000000u
#define FREQ_MAX_HZ 960000000u

static void send(struct modem *m, uint8_t cmd, const uint8_t *p, size_t n)
{
	uint8_t out[2 * (RNODE_MTU + 1) + 2];
	size_t len = kiss_encode(out, sizeof out, cmd, p, n);
	if (len)
		hal_serial_write(out, len);
	(void)m;
}

static void send1(struct modem *m, uint8_t cmd, uint8_t v) { send(m, cmd, &v, 1); }

static void send_u16(struct modem *m, uint8_t cmd, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	send(m, cmd, b, 2);
}

static void send_u32(struct modem *m, uint8_t cmd, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	send(m, cmd, b, 4);
}

static void error(struct modem *m, uint8_t code)
{
	m->err_seen = 1;
	m->last_err_ms = hal_millis();
	send1(m, CMD_ERROR, code);
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static uint32_t air_us(const struct modem *m, size_t len)
{
	return airtime_us(m->bw_hz, m->sf, m->cr, MODEM_PREAMBLE_SYMBOLS, (uint16_t)len);
}

void modem_init(struct modem *m, const struct modem_board *board)
{
	*m = (struct modem){0};
	m->board = board;
	m->cr = 5; /* RNode's default coding rate */
	kiss_init(&m->dec);
	txq_init(&m->q);
	uint32_t now = hal_millis();
	ledger_init(&m->tx_air, now);
	ledger_init(&m->rx_air, now);
	m->last_chtm_ms = now;
	m->led = 2; /* neither on nor off: the first poll sets it */
}

void modem_boot(struct modem *m) { send1(m, CMD_RESET, RESET_BYTE); }

/* The radio may go on only with frequency, bandwidth, TX power and SF set
 * (RNode update_radio_lock). */
static int settings_complete(const struct modem *m) { return m->freq_hz && m->bw_hz && m->txp_set && m->sf; }

static int apply(struct modem *m)
{
	struct hal_radio_params p = {
		.freq_hz = m->freq_hz,
		.bw_hz = m->bw_hz,
		.sf = m->sf,
		.cr = m->cr,
		.txp_dbm = m->txp_dbm,
		.preamble = MODEM_PREAMBLE_SYMBOLS,
	};
	return hal_radio_configure(&p);
}

static void abandon_tx(struct modem *m)
{
	m->tx = TX_IDLE;
	m->frame_len = 0;
	m->frame_sent = 0;
}

static void radio_off(struct modem *m)
{
	if (m->online)
		hal_radio_sleep();
	m->online = 0;
	if (m->tx == TX_SENDING)
		abandon_tx(m);
	m->tx = TX_IDLE;
	m->frame_len = 0;
	m->frame_sent = 0;
	txq_init(&m->q); /* frames for the old settings do not go later */
}

static void radio_on(struct modem *m)
{
	if (!settings_complete(m))
		return;
	if (apply(m) != 0) {
		m->online = 0;
		error(m, ERR_INIT_RADIO);
		return;
	}
	m->online = 1;
}

/* A setting changed: a radio that is on takes it at once, as RNode's. */
static void reapply(struct modem *m)
{
	if (!m->online)
		return;
	if (m->tx == TX_SENDING)
		abandon_tx(m);
	if (apply(m) != 0) {
		m->online = 0;
		error(m, ERR_INIT_RADIO);
	}
}

static void send_chtm(struct modem *m)
{
	uint32_t now = hal_millis();
	uint16_t v[4] = {
		ledger_share_st(&m->tx_air, now),
		ledger_share_lt(&m->tx_air, now),
		ledger_share_st(&m->rx_air, now),
		ledger_share_lt(&m->rx_air, now),
	};
	uint8_t b[8];
	for (int i = 0; i < 4; i++) {
		b[2 * i] = (uint8_t)(v[i] >> 8);
		b[2 * i + 1] = (uint8_t)v[i];
	}
	send(m, CMD_STAT_CHTM, b, sizeof b);
	m->last_chtm_ms = now;
}

static void on_data(struct modem *m, const uint8_t *p, size_t n)
{
	if (n == 0 || n > RNODE_MTU) {
		m->stats.bad_commands++;
		return;
	}
	if (!m->online) {
		m->stats.radio_off_drops++;
		error(m, ERR_TX_FAILED);
		return;
	}
	if (txq_push(&m->q, p, n) != 0) {
		m->stats.queue_full++;
		error(m, ERR_QUEUE_FULL);
	}
}

static void on_frame(void *ctx, uint8_t cmd, const uint8_t *p, size_t n)
{
	struct modem *m = ctx;
	switch (cmd) {
	case CMD_DATA:
		on_data(m, p, n);
		return;
	case CMD_DETECT:
		if (n == 1 && p[0] == DETECT_REQ)
			send1(m, CMD_DETECT, DETECT_RESP);
		else
			m->stats.bad_commands++;
		return;
	case CMD_FW_VERSION: {
		uint8_t v[2] = {FW_VERSION_MAJOR, FW_VERSION_MINOR};
		send(m, CMD_FW_VERSION, v, 2);
		return;
	}
	case CMD_PLATFORM:
		send1(m, CMD_PLATFORM, m->board->platform);
		return;
	case CMD_MCU:
		send1(m, CMD_MCU, m->board->mcu);
		return;
	case CMD_FREQUENCY:
		if (n != 4)
			break;
		if (be32(p) != 0) {
			uint32_t f = be32(p);
			if (f >= FREQ_MIN_HZ && f <= FREQ_MAX_HZ && f != m->freq_hz) {
				m->freq_hz = f;
				reapply(m);
			}
		}
		send_u32(m, CMD_FREQUENCY, m->freq_hz);
		return;
	case CMD_BANDWIDTH:
		if (n != 4)
			break;
		if (be32(p) != 0) {
			uint32_t want = be32(p), bw = bandwidths[sizeof bandwidths / sizeof bandwidths[0] - 1];
			for (unsigned i = 0; i < sizeof bandwidths / sizeof bandwidths[0]; i++) {
				if (want <= bandwidths[i]) {
					bw = bandwidths[i];
					break;
				}
			}
			if (bw != m->bw_hz) {
				m->bw_hz = bw;
				reapply(m);
			}
		}
		send_u32(m, CMD_BANDWIDTH, m->bw_hz);
		return;
	case CMD_TXPOWER:
		if (n != 1)
			break;
		if (p[0] != QUERY_BYTE) {
			int v = (int8_t)p[0];
			if (v > m->board->txp_max_dbm)
				v = m->board->txp_max_dbm;
			if (v < m->board->txp_min_dbm)
				v = m->board->txp_min_dbm;
			if (!m->txp_set || v != m->txp_dbm) {
				m->txp_dbm = (int8_t)v;
				m->txp_set = 1;
				reapply(m);
			}
		}
		/* Unset, RNode answers 0xFF: the query byte. */
		send1(m, CMD_TXPOWER, m->txp_set ? (uint8_t)m->txp_dbm : QUERY_BYTE);
		return;
	case CMD_SF:
		if (n != 1)
			break;
		if (p[0] != QUERY_BYTE) {
			uint8_t v = p[0] < 5 ? 5 : p[0] > 12 ? 12 : p[0];
			if (v != m->sf) {
				m->sf = v;
				reapply(m);
			}
		}
		send1(m, CMD_SF, m->sf);
		return;
	case CMD_CR:
		if (n != 1)
			break;
		if (p[0] != QUERY_BYTE) {
			uint8_t v = p[0] < 5 ? 5 : p[0] > 8 ? 8 : p[0];
			if (v != m->cr) {
				m->cr = v;
				reapply(m);
			}
		}
		send1(m, CMD_CR, m->cr);
		return;
	case CMD_RADIO_STATE:
		if (n != 1)
			break;
		if (p[0] == RADIO_STATE_ON && !m->online)
			radio_on(m);
		else if (p[0] == RADIO_STATE_OFF)
			radio_off(m);
		send1(m, CMD_RADIO_STATE, m->online ? RADIO_STATE_ON : RADIO_STATE_OFF);
		return;
	case CMD_ST_ALOCK:
	case CMD_LT_ALOCK: {
		if (n != 2)
			break;
		uint16_t v = (uint16_t)(p[0] << 8 | p[1]);
		if (v >= ALOCK_OFF_AT)
			v = 0;
		if (cmd == CMD_ST_ALOCK)
			m->st_lock = v;
		else
			m->lt_lock = v;
		send_u16(m, cmd, v);
		return;
	}
	case CMD_READY:
		send1(m, CMD_READY, txq_fits(&m->q, RNODE_MTU) ? READY_YES : READY_NO);
		return;
	case CMD_STAT_CHTM:
		send_chtm(m);
		return;
	case CMD_LEAVE:
		return; /* the host is leaving: nothing to answer */
	}
	m->stats.bad_commands++;
}

void modem_feed(struct modem *m, const uint8_t *p, size_t n) { kiss_feed(&m->dec, p, n, on_frame, m); }

/* locked reports whether an airtime lock holds transmissions back: the
 * share used in its window has reached the limit (RNode's rule: the lock
 * looks at airtime already spent, not at the frame about to go). */
static int locked(struct modem *m, uint32_t now)
{
	if (m->st_lock && ledger_share_st(&m->tx_air, now) >= m->st_lock)
		return 1;
	if (m->lt_lock && ledger_share_lt(&m->tx_air, now) >= m->lt_lock)
		return 1;
	return 0;
}

static int channel_busy(void)
{
	int cad = hal_radio_cad();
	if (cad >= 0)
		return cad;
	return hal_radio_rssi() > LBT_RSSI_BUSY_DBM;
}

static void backoff(struct modem *m, uint32_t now)
{
	m->tx = TX_WAIT;
	m->tx_at_ms = now + LBT_SLOT_MS * (1 + hal_random() % LBT_MAX_SLOTS);
}

/* next_packet builds the packet for the next part of the head frame: RNode's
 * header byte, then at most 254 bytes. */
static size_t next_packet(struct modem *m)
{
	size_t left = m->frame_len - m->frame_sent;
	size_t n = left > RNODE_SINGLE_MTU - 1 ? RNODE_SINGLE_MTU - 1 : left;
	m->pkt[0] = m->frame_hdr;
	for (size_t i = 0; i < n; i++)
		m->pkt[1 + i] = m->frame[m->frame_sent + i];
	return n + 1;
}

static void run_tx(struct modem *m, uint32_t now)
{
	if (!m->online)
		return;
	if (m->tx == TX_SENDING) {
		if (now - m->tx_at_ms > m->tx_timeout_ms) {
			m->stats.tx_timeouts++;
			txq_pop(&m->q);
			abandon_tx(m);
			error(m, ERR_MODEM_TIMEOUT);
			if (apply(m) != 0) {
				m->online = 0;
				error(m, ERR_INIT_RADIO);
			}
		}
		return;
	}
	if (m->tx == TX_WAIT && (int32_t)(now - m->tx_at_ms) < 0)
		return;
	if (m->frame_len == 0) {
		m->frame_len = (uint16_t)txq_peek(&m->q, m->frame, sizeof m->frame);
		if (m->frame_len == 0) {
			m->tx = TX_IDLE;
			return;
		}
		m->frame_sent = 0;
		m->frame_hdr = (uint8_t)(hal_random() & RNODE_SEQ_MASK);
		if (m->frame_len > RNODE_SINGLE_MTU - 1)
			m->frame_hdr |= RNODE_FLAG_SPLIT;
	}
	if (locked(m, now)) {
		m->stats.lock_holds++;
		m->tx = TX_WAIT;
		m->tx_at_ms = now + 100; /* look again in 100 ms */
		return;
	}
	if (channel_busy()) {
		m->stats.lbt_deferrals++;
		backoff(m, now);
		return;
	}
	size_t n = next_packet(m);
	uint32_t us = air_us(m, n);
	if (hal_radio_transmit(m->pkt, n, us) != 0) {
		m->stats.tx_failed++;
		txq_pop(&m->q);
		abandon_tx(m);
		error(m, ERR_TX_FAILED);
		return;
	}
	m->tx = TX_SENDING;
	m->tx_at_ms = now;
	m->tx_air_us = us;
	m->tx_timeout_ms = 2 * (us / 1000 + 1) + TX_TIMEOUT_SLACK_MS;
	m->frame_sent = (uint16_t)(m->frame_sent + n - 1);
	ledger_add(&m->tx_air, now, us);
}

static void on_tx_done(struct modem *m)
{
	if (m->tx != TX_SENDING)
		return;
	m->stats.tx_packets++;
	m->tx = TX_IDLE;
	if (m->frame_sent >= m->frame_len) {
		txq_pop(&m->q);
		m->frame_len = 0;
		m->frame_sent = 0;
	}
	/* else the second half of a split frame goes next, LBT again */
}

static void deliver(struct modem *m, const struct hal_radio_event *ev, const uint8_t *p, size_t n)
{
	int rssi = ev->rssi_dbm + RSSI_OFFSET;
	send1(m, CMD_STAT_RSSI, (uint8_t)(rssi < 0 ? 0 : rssi > 255 ? 255 : rssi));
	send1(m, CMD_STAT_SNR, (uint8_t)ev->snr_quarter_db);
	send(m, CMD_DATA, p, n);
	m->stats.rx_packets++;
}

static void on_rx(struct modem *m, const struct hal_radio_event *ev, uint32_t now)
{
	m->last_rx_ms = now;
	ledger_add(&m->rx_air, now, air_us(m, ev->len));
	if (ev->len < 2) {
		m->stats.rx_errors++;
		return;
	}
	uint8_t hdr = ev->data[0];
	const uint8_t *body = ev->data + 1;
	size_t n = ev->len - 1u;
	if (!(hdr & RNODE_FLAG_SPLIT)) {
		if (m->rx_split_len)
			m->stats.split_dropped++;
		m->rx_split_len = 0;
		deliver(m, ev, body, n);
		return;
	}
	uint8_t seq = hdr & RNODE_SEQ_MASK;
	if (m->rx_split_len && m->rx_split_seq == seq) {
		/* second half: join (RNode_Firmware receive_callback) */
		uint8_t joined[RNODE_MTU];
		size_t a = m->rx_split_len;
		for (size_t i = 0; i < a; i++)
			joined[i] = m->rx_split[i];
		for (size_t i = 0; i < n && a + i < sizeof joined; i++)
			joined[a + i] = body[i];
		m->rx_split_len = 0;
		deliver(m, ev, joined, a + n > sizeof joined ? sizeof joined : a + n);
		return;
	}
	if (m->rx_split_len)
		m->stats.split_dropped++;
	for (size_t i = 0; i < n; i++)
		m->rx_split[i] = body[i];
	m->rx_split_len = (uint8_t)n;
	m->rx_split_seq = seq;
}

/* LED policy (docs/firmware.md): off while the radio is off; on while
 * listening; dark while transmitting and for 50 ms after each received
 * packet; blinking at 4 Hz for 3 s after an error. */
static void led(struct modem *m, uint32_t now)
{
	int on;
	if (m->err_seen && now - m->last_err_ms < 3000)
		on = (now / 125) & 1;
	else if (!m->online)
		on = 0;
	else
		on = m->tx != TX_SENDING && now - m->last_rx_ms >= 50;
	if (on != m->led) {
		m->led = (uint8_t)on;
		hal_led(on);
	}
}

void modem_poll(struct modem *m)
{
	hal_watchdog_kick();
	uint8_t buf[64];
	size_t n;
	while ((n = hal_serial_read(buf, sizeof buf)) > 0)
		modem_feed(m, buf, n);
	struct hal_radio_event ev;
	uint32_t now = hal_millis();
	while (hal_radio_poll(&ev)) {
		now = hal_millis();
		if (!m->online)
			continue;
		switch (ev.kind) {
		case HAL_RADIO_TX_DONE:
			on_tx_done(m);
			break;
		case HAL_RADIO_RX:
			on_rx(m, &ev, now);
			break;
		default:
			m->stats.rx_errors++;
		}
	}
	run_tx(m, now);
	if (m->online && now - m->last_chtm_ms >= CHTM_INTERVAL_MS)
		send_chtm(m);
	led(m, now);
}
