/*
 * hal.h — what the portable modem core needs from a board.
 *
 * The core (modem.c) is single-threaded: the board's main loop calls
 * modem_poll() over and over, and the core calls these functions from
 * inside it. None of them may block for long: the longest allowed is
 * hal_radio_cad(), a few symbol times. Interrupt handlers on a board only
 * fill buffers and set flags that these functions read.
 *
 * Implementations: stm32wl/hal_stm32wl.c (STM32WLE5 boards) and
 * host/hal_host.c (Linux: a pty and the simulated air of radio/radiotest).
 */
#ifndef CAIRN_HAL_H
#define CAIRN_HAL_H

#include <stddef.h>
#include <stdint.h>

/* Serial line to the host, 115200 8N1 on hardware. */

/* hal_serial_read copies up to cap received bytes into buf and returns how
 * many; 0 when nothing is waiting. Never blocks. */
size_t hal_serial_read(uint8_t *buf, size_t cap);

/* hal_serial_write sends n bytes. It may block until they are in the
 * board's transmit buffer; a board that cannot send (no host attached)
 * may drop them. */
void hal_serial_write(const uint8_t *buf, size_t n);

/* Radio. */

struct hal_radio_params {
	uint32_t freq_hz;
	uint32_t bw_hz;        /* one of the SX126x LoRa bandwidths, 7800 … 500000 */
	uint8_t sf;            /* 5 … 12 */
	uint8_t cr;            /* coding rate denominator 5 … 8 */
	int8_t txp_dbm;        /* already clamped to the board's range */
	uint16_t preamble;     /* symbols */
};

/* hal_radio_configure applies p (LoRa, explicit header, CRC on, the
 * private sync word RNode uses) and leaves the radio in continuous
 * receive. Returns 0, or −1 when the radio does not answer. */
int hal_radio_configure(const struct hal_radio_params *p);

/* hal_radio_sleep turns the radio off (RADIO_STATE 00). */
void hal_radio_sleep(void);

/* hal_radio_transmit starts sending one LoRa packet of n (1 … 255) bytes;
 * airtime_us is the core's figure by the time-on-air formula. Returns 0
 * once the radio is sending, −1 if it refused. The end is reported by
 * hal_radio_poll as HAL_RADIO_TX_DONE, after which the radio is back in
 * continuous receive. */
int hal_radio_transmit(const uint8_t *buf, size_t n, uint32_t airtime_us);

enum hal_radio_event_kind {
	HAL_RADIO_TX_DONE = 1,
	HAL_RADIO_RX = 2,       /* a packet with a good CRC */
	HAL_RADIO_RX_ERROR = 3, /* a packet with a bad CRC or header: counted, dropped */
};

struct hal_radio_event {
	uint8_t kind;           /* enum hal_radio_event_kind */
	uint8_t len;            /* HAL_RADIO_RX: bytes in data, 1 … 255 */
	int16_t rssi_dbm;       /* HAL_RADIO_RX: packet RSSI */
	int8_t snr_quarter_db;  /* HAL_RADIO_RX: packet SNR in quarter dB */
	uint8_t data[255];
};

/* hal_radio_poll fills ev and returns 1 when the radio has something to
 * report, else returns 0. */
int hal_radio_poll(struct hal_radio_event *ev);

/* hal_radio_rssi is the instantaneous RSSI in dBm while receiving. */
int16_t hal_radio_rssi(void);

/* hal_radio_cad runs channel activity detection: 1 when a LoRa preamble
 * or packet is on the channel, 0 when it is free, −1 when the board has no
 * CAD (the core then compares hal_radio_rssi with its threshold). The radio
 * is back in continuous receive when it returns. */
int hal_radio_cad(void);

/* Time, randomness, watchdog, LED. */

/* hal_millis counts milliseconds since boot; it wraps after 49.7 days and
 * the core only ever subtracts two readings. */
uint32_t hal_millis(void);

/* hal_random returns 32 bits that need not be cryptographic (on-air
 * sequence nibble, listen-before-talk backoff). */
uint32_t hal_random(void);

/* hal_watchdog_kick restarts the watchdog's count. */
void hal_watchdog_kick(void);

/* hal_led turns the board's status LED on (1) or off (0); boards without
 * one do nothing. */
void hal_led(int on);

#endif
