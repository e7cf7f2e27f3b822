/*
 * hal_host.c — the HAL on Linux. Serial: a pty in raw mode, the modem on
 * the master side, the host's driver opens the slave. Radio: a UDP socket
 * on 127.0.0.1 that speaks the simulated-air datagram format, version 1
 * (docs/radio.md; radio/radiotest/datagram.go):
 *
 *   off size field
 *   0   1    version = 1
 *   1   1    type: 1 TX (node → air), 2 RX (air → node), 3 HELLO (node → air)
 *   2   2    node id
 *   4   4    frequency, Hz
 *   8   4    bandwidth, Hz
 *   12  1    spreading factor
 *   13  1    coding rate denominator 5…8
 *   14  4    airtime µs (TX: ours; RX: the air's)
 *   18  2    RSSI dBm, signed (RX)
 *   20  1    SNR quarter dB, signed (RX)
 *   21  1    reserved, 0
 *   22  n    LoRa PHY payload, 1…255 bytes (none in HELLO)
 *
 * All integers big-endian. A received datagram is dropped unless it is a
 * well-formed RX on our frequency, bandwidth and SF while the radio is on
 * and not transmitting.
 */
#define _GNU_SOURCE
#include "host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../core/hal.h"

enum { DG_VERSION = 1, DG_TX = 1, DG_RX = 2, DG_HELLO = 3, DG_HEADER = 22 };

/* The pty's slave noise floor when nothing is heard (SX126x at 125 kHz is
 * around −120 dBm); the air has no interference, so LBT by RSSI always
 * finds the channel free unless a frame is being received. */
#define NOISE_FLOOR_DBM (-120)

static int master = -1, slave = -1, udp = -1;
static char slave_path[128];
static struct sockaddr_in air;
static uint16_t node;

static struct hal_radio_params radio;
static int radio_on, transmitting;
static struct timespec tx_end;

static struct timespec boot;

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)), put16(p + 2, (uint16_t)v); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

static void header(uint8_t *d, uint8_t type)
{
	memset(d, 0, DG_HEADER);
	d[0] = DG_VERSION;
	d[1] = type;
	put16(d + 2, node);
	put32(d + 4, radio.freq_hz);
	put32(d + 8, radio.bw_hz);
	d[12] = radio.sf;
	d[13] = radio.cr;
}

int host_open(const struct host_options *o)
{
	clock_gettime(CLOCK_MONOTONIC, &boot);
	node = o->node;
	master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
	if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 || ptsname_r(master, slave_path, sizeof slave_path) != 0) {
		perror("cairn-modem: pty");
		return -1;
	}
	/* Keep the slave open ourselves: the pty then outlives the host
	 * closing and reopening it, as a USB serial port does. Raw mode, like
	 * a UART. */
	slave = open(slave_path, O_RDWR | O_NOCTTY);
	struct termios t;
	if (slave < 0 || tcgetattr(slave, &t) != 0) {
		perror("cairn-modem: pty slave");
		return -1;
	}
	cfmakeraw(&t);
	cfsetspeed(&t, B115200);
	if (tcsetattr(slave, TCSANOW, &t) != 0) {
		perror("cairn-modem: termios");
		return -1;
	}
	if (o->link) {
		char tmp[4096];
		snprintf(tmp, sizeof tmp, "%s.new", o->link);
		unlink(tmp);
		if (symlink(slave_path, tmp) != 0 || rename(tmp, o->link) != 0) {
			perror("cairn-modem: symlink");
			return -1;
		}
	}
	udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in me = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (udp < 0 || bind(udp, (struct sockaddr *)&me, sizeof me) != 0) {
		perror("cairn-modem: udp");
		return -1;
	}
	air = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(o->air_port), .sin_addr.s_addr = htonl(o->air_ip)};
	uint8_t hello[DG_HEADER];
	memset(hello, 0, sizeof hello);
	hello[0] = DG_VERSION;
	hello[1] = DG_HELLO;
	put16(hello + 2, node);
	if (sendto(udp, hello, sizeof hello, 0, (struct sockaddr *)&air, sizeof air) != (ssize_t)sizeof hello) {
		perror("cairn-modem: hello");
		return -1;
	}
	return 0;
}

const char *host_pty_path(void) { return slave_path; }

void host_wait(int timeout_ms)
{
	struct pollfd p[2] = {{.fd = master, .events = POLLIN}, {.fd = udp, .events = POLLIN}};
	poll(p, 2, timeout_ms);
}

size_t hal_serial_read(uint8_t *buf, size_t cap)
{
	ssize_t n = read(master, buf, cap);
	return n > 0 ? (size_t)n : 0;
}

/* A UART never blocks, but a pty whose reader is away fills up: wait for
 * room up to 100 ms per call, then drop the rest (the host's KISS decoder
 * resynchronises at the next FEND). */
void hal_serial_write(const uint8_t *buf, size_t n)
{
	int waited = 0;
	while (n > 0) {
		ssize_t w = write(master, buf, n);
		if (w > 0) {
			buf += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return;
		if (waited >= 100)
			return;
		struct pollfd p = {.fd = master, .events = POLLOUT};
		poll(&p, 1, 10);
		waited += 10;
	}
}

int hal_radio_configure(const struct hal_radio_params *p)
{
	radio = *p;
	radio_on = 1;
	transmitting = 0;
	return 0;
}

void hal_radio_sleep(void)
{
	radio_on = 0;
	transmitting = 0;
}

int hal_radio_transmit(const uint8_t *buf, size_t n, uint32_t airtime_us)
{
	if (!radio_on || n == 0 || n > 255)
		return -1;
	uint8_t d[DG_HEADER + 255];
	header(d, DG_TX);
	put32(d + 14, airtime_us);
	memcpy(d + DG_HEADER, buf, n);
	if (sendto(udp, d, DG_HEADER + n, 0, (struct sockaddr *)&air, sizeof air) != (ssize_t)(DG_HEADER + n))
		return -1;
	/* The radio is busy for the airtime, like the SX126x between SetTx
	 * and TxDone. */
	clock_gettime(CLOCK_MONOTONIC, &tx_end);
	tx_end.tv_sec += airtime_us / 1000000;
	tx_end.tv_nsec += (long)(airtime_us % 1000000) * 1000;
	if (tx_end.tv_nsec >= 1000000000) {
		tx_end.tv_sec++;
		tx_end.tv_nsec -= 1000000000;
	}
	transmitting = 1;
	return 0;
}

int hal_radio_poll(struct hal_radio_event *ev)
{
	if (transmitting) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > tx_end.tv_sec || (now.tv_sec == tx_end.tv_sec && now.tv_nsec >= tx_end.tv_nsec)) {
			transmitting = 0;
			ev->kind = HAL_RADIO_TX_DONE;
			return 1;
		}
	}
	uint8_t d[DG_HEADER + 256];
	for (;;) {
		ssize_t n = recv(udp, d, sizeof d, 0);
		if (n < 0)
			return 0;
		if (n < DG_HEADER + 1 || n > DG_HEADER + 255 || d[0] != DG_VERSION || d[1] != DG_RX || d[21] != 0)
			continue; /* malformed, or not for a node */
		if (!radio_on || transmitting)
			continue; /* half duplex */
		if (get32(d + 4) != radio.freq_hz || get32(d + 8) != radio.bw_hz || d[12] != radio.sf)
			continue; /* not tuned to it */
		ev->kind = HAL_RADIO_RX;
		ev->len = (uint8_t)(n - DG_HEADER);
		ev->rssi_dbm = (int16_t)get16(d + 18);
		ev->snr_quarter_db = (int8_t)d[20];
		memcpy(ev->data, d + DG_HEADER, ev->len);
		return 1;
	}
}

int16_t hal_radio_rssi(void) { return NOISE_FLOOR_DBM; }

int hal_radio_cad(void) { return -1; }

uint32_t hal_millis(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ms = (int64_t)(now.tv_sec - boot.tv_sec) * 1000 + (now.tv_nsec - boot.tv_nsec) / 1000000;
	return (uint32_t)ms;
}

uint32_t hal_random(void)
{
	uint32_t r;
	if (getrandom(&r, sizeof r, 0) != sizeof r)
		r = (uint32_t)rand();
	return r;
}

void hal_watchdog_kick(void) {}

void hal_led(int on) { (void)on; }
