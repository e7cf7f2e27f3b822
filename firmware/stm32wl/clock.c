/*
 * clock.c — clocks, millisecond tick, watchdog and GPIO helpers.
 *
 * SYSCLK: MSI at 48 MHz (RM0461 §7.2.3, MSIRANGE 11), no PLL; AHB and APB
 * undivided, so the UARTs and SUBGHZSPI run from 48 MHz. 48 MHz at voltage
 * range 1 (the reset default) needs 2 flash wait states (RM0461 §3.3.4,
 * Table 9). The radio keeps its own 32 MHz reference (HSE32: crystal or
 * TCXO per board), which it starts itself. MSI's ±0.5 % is well inside a
 * UART's tolerance.
 */
#include "board.h"

static volatile uint32_t ticks_ms;

void systick_handler(void);
void systick_handler(void) { ticks_ms++; }

void clock_init(void)
{
	FLASH_ACR = FLASH_ACR_LATENCY_2WS | FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN;
	while ((FLASH_ACR & 7u) != FLASH_ACR_LATENCY_2WS)
		;
	while (!(RCC_CR & RCC_CR_MSIRDY))
		;
	RCC_CR = (RCC_CR & ~(0xFu << RCC_CR_MSIRANGE_SHIFT)) | (11u << RCC_CR_MSIRANGE_SHIFT) | RCC_CR_MSIRGSEL;
	while (!(RCC_CR & RCC_CR_MSIRDY))
		;
	RCC_AHB2ENR |= RCC_AHB2ENR_GPIOAEN | RCC_AHB2ENR_GPIOBEN | RCC_AHB2ENR_GPIOCEN;
	/* 1 ms SysTick from the 48 MHz core clock */
	SYST_RVR = 48000u - 1u;
	SYST_CVR = 0;
	SYST_CSR = 7u; /* enable, interrupt, processor clock */
}

uint32_t clock_millis(void) { return ticks_ms; }

void clock_delay_ms(uint32_t ms)
{
	uint32_t start = ticks_ms;
	while (ticks_ms - start < ms)
		;
}

/* IWDG from the ~32 kHz LSI, prescaler /32 (PR = 3): 1 kHz; reload 2000:
 * the chip resets if the main loop stops for 2 s (RM0461 §29.3). The
 * longest blocking step, CAD at SF12, is ~140 ms. */
void watchdog_start(void)
{
	IWDG_KR = 0xCCCC; /* start; also starts the LSI */
	IWDG_KR = 0x5555; /* unlock PR and RLR */
	IWDG_PR = 3;
	IWDG_RLR = 2000;
	while (IWDG_SR != 0)
		;
	IWDG_KR = 0xAAAA;
}

void watchdog_kick(void) { IWDG_KR = 0xAAAA; }

void gpio_write(uint32_t port, unsigned pin, int high) { GPIO_BSRR(port) = high ? 1u << pin : 1u << (pin + 16); }

void gpio_output(uint32_t port, unsigned pin, int high)
{
	gpio_write(port, pin, high);
	GPIO_MODER(port) = (GPIO_MODER(port) & ~(3u << (2 * pin))) | GPIO_MODE_OUTPUT << (2 * pin);
}

void gpio_af(uint32_t port, unsigned pin, unsigned af)
{
	volatile uint32_t *afr = pin < 8 ? &GPIO_AFRL(port) : &GPIO_AFRH(port);
	unsigned shift = 4 * (pin % 8);
	*afr = (*afr & ~(0xFu << shift)) | af << shift;
	GPIO_OSPEEDR(port) |= 1u << (2 * pin); /* medium speed */
	GPIO_MODER(port) = (GPIO_MODER(port) & ~(3u << (2 * pin))) | GPIO_MODE_AF << (2 * pin);
}
