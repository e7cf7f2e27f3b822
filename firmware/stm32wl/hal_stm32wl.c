/*
 * hal_stm32wl.c — hal.h on STM32WLE5 boards: serial, time, randomness,
 * watchdog and LED (the radio half is subghz.c).
 */
#include "../core/hal.h"
#include "board.h"

uint32_t subghz_random(void);

static uint32_t rng_state;

size_t hal_serial_read(uint8_t *buf, size_t cap) { return uart_read(buf, cap); }

void hal_serial_write(const uint8_t *buf, size_t n) { uart_write(buf, n); }

uint32_t hal_millis(void) { return clock_millis(); }

/* xorshift32 (Marsaglia 2003), seeded from the device id and the radio's
 * noise register: only for the on-air sequence nibble and LBT backoff. */
uint32_t hal_random(void)
{
	if (rng_state == 0) {
		const volatile uint32_t *uid = (const volatile uint32_t *)UID_BASE;
		rng_state = uid[0] ^ uid[1] ^ uid[2] ^ subghz_random() ^ clock_millis();
		if (rng_state == 0)
			rng_state = 0x9E3779B9u;
	}
	uint32_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return rng_state = x;
}

void hal_watchdog_kick(void) { watchdog_kick(); }

void hal_led(int on)
{
#ifdef BOARD_LED_PORT
	gpio_write(BOARD_LED_PORT, BOARD_LED_PIN, BOARD_LED_ACTIVE_LOW ? !on : on);
#else
	(void)on;
#endif
}
