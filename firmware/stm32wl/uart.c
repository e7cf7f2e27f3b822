/*
 * uart.c — the host serial line: the board's USART at 115200 8N1.
 *
 * Receive by interrupt into a ring of UART_RX_BYTES; the main loop drains
 * it. Bound: 1024 bytes, two full DATA frames, or 89 ms of line time at
 * 115200 — far longer than the main loop ever stalls. Policy at the
 * bound: the newest bytes are dropped and counted (uart_rx_dropped); the
 * KISS decoder then drops the damaged frame and resynchronises.
 * Transmit: blocking on TXE, ~87 µs a byte.
 */
#include "board.h"

#define UART_RX_BYTES 1024u
#define UART_BAUD 115200u
#define PCLK_HZ 48000000u

static volatile uint8_t rx[UART_RX_BYTES];
static volatile uint16_t rx_head, rx_tail; /* head: written by the ISR; tail: by uart_read */
volatile uint32_t uart_rx_dropped, uart_rx_errors;

void uart_irq_handler(void);
void uart_irq_handler(void)
{
	uint32_t isr = USART_ISR(BOARD_UART);
	if (isr & (USART_ISR_ORE | USART_ISR_FE | USART_ISR_NE)) {
		USART_ICR(BOARD_UART) = USART_ISR_ORE | USART_ISR_FE | USART_ISR_NE;
		uart_rx_errors++;
	}
	while (USART_ISR(BOARD_UART) & USART_ISR_RXNE) {
		uint8_t b = (uint8_t)USART_RDR(BOARD_UART);
		uint16_t next = (uint16_t)((rx_head + 1) % UART_RX_BYTES);
		if (next == rx_tail) {
			uart_rx_dropped++;
			continue;
		}
		rx[rx_head] = b;
		rx_head = next;
	}
}

void uart_init(void)
{
	if (BOARD_UART == USART1)
		RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
	else
		RCC_APB1ENR1 |= RCC_APB1ENR1_USART2EN;
	gpio_af(BOARD_UART_TX_PORT, BOARD_UART_TX_PIN, BOARD_UART_AF);
	gpio_af(BOARD_UART_RX_PORT, BOARD_UART_RX_PIN, BOARD_UART_AF);
	GPIO_PUPDR(BOARD_UART_RX_PORT) |= 1u << (2 * BOARD_UART_RX_PIN); /* pull-up: an unplugged line reads idle */
	/* 16× oversampling: BRR = fck / baud, rounded (RM0461 §33.5.7) */
	USART_BRR(BOARD_UART) = (PCLK_HZ + UART_BAUD / 2) / UART_BAUD;
	USART_CR1(BOARD_UART) = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
	nvic_enable(BOARD_UART_IRQ);
}

size_t uart_read(uint8_t *buf, size_t cap)
{
	size_t n = 0;
	while (n < cap && rx_tail != rx_head) {
		buf[n++] = rx[rx_tail];
		rx_tail = (uint16_t)((rx_tail + 1) % UART_RX_BYTES);
	}
	return n;
}

void uart_write(const uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		while (!(USART_ISR(BOARD_UART) & USART_ISR_TXE))
			;
		USART_TDR(BOARD_UART) = buf[i];
	}
}
