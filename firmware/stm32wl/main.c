/*
 * main.c — Cairn modem firmware for STM32WLE5 boards: bring up clocks,
 * the host UART, the radio and the watchdog, announce the reset to the
 * host (CMD_RESET F8, as RNode does at boot), then run the core.
 */
#include "../core/modem.h"
#include "../core/rnode.h"
#include "board.h"

static struct modem modem;

static const struct modem_board board = {
	.platform = PLATFORM_STM32,
	.mcu = MCU_STM32WLE5,
	.txp_min_dbm = BOARD_TXP_MIN_DBM,
	.txp_max_dbm = BOARD_TXP_MAX_DBM,
};

int main(void)
{
	clock_init();
#ifdef BOARD_LED_PORT
	gpio_output(BOARD_LED_PORT, BOARD_LED_PIN, BOARD_LED_ACTIVE_LOW);
#endif
	uart_init();
	watchdog_start();
	modem_init(&modem, &board);
	/* A radio that does not come up is reported at every RADIO_STATE on
	 * (ERROR 01, radio off); the serial side keeps answering. */
	subghz_init();
	modem_boot(&modem);
	for (;;) {
		modem_poll(&modem);
		__asm volatile("wfi"); /* SysTick (1 ms), UART or radio wakes us */
	}
}
