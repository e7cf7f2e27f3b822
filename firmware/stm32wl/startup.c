/*
 * startup.c — vector table and reset for the STM32WLE5 (Cortex-M4). The
 * table has the 16 Cortex-M entries, then the 62 interrupts of RM0461
 * Table 93; the ones this firmware does not use go to a handler that
 * waits for the watchdog.
 */
#include <stdint.h>

#include "board.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);
void reset_handler(void);
void default_handler(void);
void systick_handler(void);
void uart_irq_handler(void);
void radio_irq_handler(void);

void reset_handler(void)
{
	uint32_t *src = &_sidata, *dst = &_sdata;
	while (dst < &_edata)
		*dst++ = *src++;
	for (dst = &_sbss; dst < &_ebss;)
		*dst++ = 0;
	main();
	for (;;)
		;
}

/* A fault or an unexpected interrupt: stop here; the watchdog (started in
 * main) resets the chip within 2 s and the host sees CMD_RESET. */
void default_handler(void)
{
	for (;;)
		;
}

#define IRQ(n) [16 + (n)]

/* Fill every entry with default_handler, then name the used ones: later
 * designators overriding a range is the intent here. */
#pragma GCC diagnostic ignored "-Woverride-init"
__attribute__((section(".vectors"), used)) static void (*const vectors[16 + 62])(void) = {
	[0] = (void (*)(void))(uintptr_t)&_estack,
	[1] = reset_handler,
	[2 ... 14] = default_handler, /* NMI, faults, SVC, PendSV */
	[15] = systick_handler,
	[16 ... 16 + 61] = default_handler,
	IRQ(BOARD_UART_IRQ) = uart_irq_handler,
	IRQ(IRQ_SUBGHZ_RADIO) = radio_irq_handler,
};
