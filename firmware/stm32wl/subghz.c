/*
 * subghz.c — the STM32WL sub-GHz radio: an SX126x behind SUBGHZSPI
 * (RM0461 chapter 4; the command set is the SX1261/2 datasheet's,
 * rev. 2.1, §13). Implements the radio half of hal.h.
 *
 * Chip select is PWR_SUBGHZSPICR.NSS, BUSY is PWR_SR2.RFBUSYS, reset is
 * RCC_CSR.RFRST. The radio's IRQ lines reach the CPU as NVIC interrupt 50
 * (EXTI line 44); the handler only masks itself and sets a flag, and
 * hal_radio_poll reads and clears the radio's IRQ status. As a backstop
 * against a lost interrupt, hal_radio_poll also reads the status every
 * 10 ms.
 */
#include "../core/hal.h"
#include "board.h"

/* SX126x opcodes (SX1261/2 datasheet §13, RM0461 §4.9) */
enum {
	OP_CLEAR_IRQ = 0x02,
	OP_SET_DIO_IRQ = 0x08,
	OP_WRITE_REG = 0x0D,
	OP_WRITE_BUF = 0x0E,
	OP_GET_IRQ = 0x12,
	OP_GET_RX_BUF = 0x13,
	OP_GET_PKT_STATUS = 0x14,
	OP_GET_RSSI_INST = 0x15,
	OP_READ_REG = 0x1D,
	OP_READ_BUF = 0x1E,
	OP_SET_STANDBY = 0x80,
	OP_SET_RX = 0x82,
	OP_SET_TX = 0x83,
	OP_SET_RF_FREQ = 0x86,
	OP_SET_CAD_PARAMS = 0x88,
	OP_CALIBRATE = 0x89,
	OP_SET_PKT_TYPE = 0x8A,
	OP_SET_MOD_PARAMS = 0x8B,
	OP_SET_PKT_PARAMS = 0x8C,
	OP_SET_TX_PARAMS = 0x8E,
	OP_SET_BUF_BASE = 0x8F,
	OP_SET_PA_CONFIG = 0x95,
	OP_SET_REGULATOR = 0x96,
	OP_SET_TCXO = 0x97,
	OP_CALIBRATE_IMAGE = 0x98,
	OP_SET_CAD = 0xC5,
};

/* IRQ bits (SX1261/2 datasheet Table 13-29) */
enum {
	IRQ_TX_DONE = 1u << 0,
	IRQ_RX_DONE = 1u << 1,
	IRQ_PREAMBLE = 1u << 2,
	IRQ_HEADER_VALID = 1u << 4,
	IRQ_HEADER_ERR = 1u << 5,
	IRQ_CRC_ERR = 1u << 6,
	IRQ_CAD_DONE = 1u << 7,
	IRQ_CAD_DETECTED = 1u << 8,
	IRQ_TIMEOUT = 1u << 9,
};
#define IRQ_LINE (IRQ_TX_DONE | IRQ_RX_DONE | IRQ_HEADER_ERR | IRQ_CRC_ERR | IRQ_CAD_DONE | IRQ_TIMEOUT)
#define IRQ_ALL (IRQ_LINE | IRQ_PREAMBLE | IRQ_HEADER_VALID | IRQ_CAD_DETECTED)

/* Registers (SX1261/2 datasheet Table 12-1) */
#define REG_RANDOM 0x0819 /* 4 bytes of noise-derived randomness, valid in RX */

static volatile uint8_t irq_flag;
static int transmitting;
static uint32_t last_status_ms;
static struct hal_radio_params cur;

void radio_irq_handler(void);
void radio_irq_handler(void)
{
	nvic_disable(IRQ_SUBGHZ_RADIO); /* level-triggered until the radio's IRQ is cleared */
	irq_flag = 1;
}

static int wait_busy(void)
{
	uint32_t start = clock_millis();
	while (PWR_SR2 & PWR_SR2_RFBUSYS)
		if (clock_millis() - start > 100)
			return -1;
	return 0;
}

static uint8_t xfer(uint8_t b)
{
	while (!(SUBGHZSPI_SR & SPI_SR_TXE))
		;
	SUBGHZSPI_DR = b;
	while (!(SUBGHZSPI_SR & SPI_SR_RXNE))
		;
	return SUBGHZSPI_DR;
}

/* cmd sends op and n argument bytes, then reads nr answer bytes (after the
 * status byte the radio returns first for Get commands). */
static int cmd(uint8_t op, const uint8_t *arg, size_t n, uint8_t *ans, size_t nr)
{
	if (wait_busy() != 0)
		return -1;
	PWR_SUBGHZSPICR &= ~PWR_SUBGHZSPICR_NSS;
	xfer(op);
	for (size_t i = 0; i < n; i++)
		xfer(arg[i]);
	if (nr) {
		xfer(0); /* status */
		for (size_t i = 0; i < nr; i++)
			ans[i] = xfer(0);
	}
	PWR_SUBGHZSPICR |= PWR_SUBGHZSPICR_NSS;
	return 0;
}

#define CMD(op, ...) cmd((op), (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}), 0, 0)

static uint16_t irq_status(void)
{
	uint8_t a[2] = {0, 0};
	cmd(OP_GET_IRQ, 0, 0, a, 2);
	return (uint16_t)(a[0] << 8 | a[1]);
}

static void irq_clear(uint16_t bits) { CMD(OP_CLEAR_IRQ, (uint8_t)(bits >> 8), (uint8_t)bits); }

static void rf_switch(int tx)
{
	gpio_write(BOARD_RFSW_RX_PORT, BOARD_RFSW_RX_PIN, !tx);
	gpio_write(BOARD_RFSW_TX_PORT, BOARD_RFSW_TX_PIN, tx);
}

static void start_rx(void)
{
	rf_switch(0);
	/* payload length 0xFF: the largest packet an explicit header may announce */
	CMD(OP_SET_PKT_PARAMS, (uint8_t)(cur.preamble >> 8), (uint8_t)cur.preamble, 0x00, 0xFF, 0x01, 0x00);
	CMD(OP_SET_RX, 0xFF, 0xFF, 0xFF); /* continuous */
}

int subghz_init(void)
{
	RCC_APB3ENR |= RCC_APB3ENR_SUBGHZSPIEN;
	gpio_output(BOARD_RFSW_RX_PORT, BOARD_RFSW_RX_PIN, 0);
	gpio_output(BOARD_RFSW_TX_PORT, BOARD_RFSW_TX_PIN, 0);
	/* reset pulse (RM0461 §4.3) */
	RCC_CSR |= RCC_CSR_RFRST;
	clock_delay_ms(1);
	RCC_CSR &= ~RCC_CSR_RFRST;
	uint32_t start = clock_millis();
	while (RCC_CSR & RCC_CSR_RFRSTF)
		if (clock_millis() - start > 100)
			return -1;
	SUBGHZSPI_CR1 = SPI_CR1_MSTR | SPI_CR1_BR_DIV4 | SPI_CR1_SSM | SPI_CR1_SSI;
	SUBGHZSPI_CR2 = SPI_CR2_DS_8BIT | SPI_CR2_FRXTH;
	SUBGHZSPI_CR1 |= SPI_CR1_SPE;
	/* wake from sleep: NSS low then high (RM0461 §4.2.1) */
	PWR_SUBGHZSPICR &= ~PWR_SUBGHZSPICR_NSS;
	clock_delay_ms(1);
	PWR_SUBGHZSPICR |= PWR_SUBGHZSPICR_NSS;
	if (wait_busy() != 0)
		return -1;
	CMD(OP_SET_STANDBY, 0x00); /* STDBY_RC */
#if BOARD_TCXO
	RCC_CR |= RCC_CR_HSEBYPPWR; /* TCXO supply on PB0-VDDTCXO (RM0461 §7.4.1) */
	/* TCXO control, 5 ms start-up (320 × 15.625 µs), then recalibrate:
	 * calibration run on the RC clock flags an XOSC error otherwise */
	CMD(OP_SET_TCXO, BOARD_TCXO_VOLTAGE, 0x00, 0x01, 0x40);
	CMD(OP_CALIBRATE, 0x7F);
	if (wait_busy() != 0)
		return -1;
#endif
	CMD(OP_SET_REGULATOR, BOARD_SMPS ? 0x01 : 0x00);
	CMD(OP_SET_BUF_BASE, 0x00, 0x00);
	CMD(OP_SET_PKT_TYPE, 0x01); /* LoRa */
	CMD(OP_SET_DIO_IRQ, (uint8_t)(IRQ_ALL >> 8), (uint8_t)IRQ_ALL, (uint8_t)(IRQ_LINE >> 8), (uint8_t)IRQ_LINE, 0, 0, 0, 0);
	irq_clear(0xFFFF);
	EXTI_C1IMR2 |= EXTI_LINE44;
	nvic_enable(IRQ_SUBGHZ_RADIO);
	return 0;
}

/* LoRa bandwidth codes (SX1261/2 datasheet Table 13-47) */
static uint8_t bw_code(uint32_t hz)
{
	static const struct { uint32_t hz; uint8_t code; } t[] = {
		{7800, 0x00}, {10400, 0x08}, {15600, 0x01}, {20800, 0x09}, {31250, 0x02},
		{41700, 0x0A}, {62500, 0x03}, {125000, 0x04}, {250000, 0x05}, {500000, 0x06},
	};
	for (unsigned i = 0; i < sizeof t / sizeof t[0]; i++)
		if (t[i].hz == hz)
			return t[i].code;
	return 0x04;
}

int hal_radio_configure(const struct hal_radio_params *p)
{
	cur = *p;
	transmitting = 0;
	if (CMD(OP_SET_STANDBY, 0x00) != 0)
		return -1;
	/* image calibration for the band: 4 MHz steps around the frequency
	 * (SX1261/2 datasheet §9.2.1; gives its table's 0xD7 0xDB for 863–870) */
	uint32_t mhz = p->freq_hz / 1000000u;
	CMD(OP_CALIBRATE_IMAGE, (uint8_t)((mhz - 6) / 4), (uint8_t)((mhz + 9) / 4));
	/* RF frequency word: f · 2^25 / 32 MHz (datasheet §13.4.1) */
	uint32_t w = (uint32_t)(((uint64_t)p->freq_hz << 25) / 32000000u);
	CMD(OP_SET_RF_FREQ, (uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w);
	/* high-power PA, +22 dBm table row: duty 0x04, hpMax 0x07, HP, paLut 1
	 * (RM0461 §4.5.2 Table 26); power −9 … +22, ramp 200 µs */
	CMD(OP_SET_PA_CONFIG, 0x04, 0x07, 0x00, 0x01);
	CMD(OP_SET_TX_PARAMS, (uint8_t)p->txp_dbm, 0x04);
	/* LDRO when a symbol lasts longer than 16 ms, as airtime.c assumes */
	uint8_t ldro = ((uint64_t)1000000u << p->sf) / p->bw_hz > 16000u;
	CMD(OP_SET_MOD_PARAMS, p->sf, bw_code(p->bw_hz), (uint8_t)(p->cr - 4), ldro);
	/* the sync word stays at its reset value 0x1424, the private LoRa
	 * network word that matches RNode's SX127x 0x12 */
	irq_clear(0xFFFF);
	start_rx();
	return wait_busy();
}

void hal_radio_sleep(void)
{
	transmitting = 0;
	CMD(OP_SET_STANDBY, 0x00);
	rf_switch(0);
	gpio_write(BOARD_RFSW_RX_PORT, BOARD_RFSW_RX_PIN, 0);
}

int hal_radio_transmit(const uint8_t *buf, size_t n, uint32_t airtime_us)
{
	(void)airtime_us;
	if (n == 0 || n > 255)
		return -1;
	if (CMD(OP_SET_STANDBY, 0x00) != 0)
		return -1;
	/* WriteBuffer: opcode, offset 0, then the bytes, in one NSS frame */
	if (wait_busy() != 0)
		return -1;
	PWR_SUBGHZSPICR &= ~PWR_SUBGHZSPICR_NSS;
	xfer(OP_WRITE_BUF);
	xfer(0x00);
	for (size_t i = 0; i < n; i++)
		xfer(buf[i]);
	PWR_SUBGHZSPICR |= PWR_SUBGHZSPICR_NSS;
	CMD(OP_SET_PKT_PARAMS, (uint8_t)(cur.preamble >> 8), (uint8_t)cur.preamble, 0x00, (uint8_t)n, 0x01, 0x00);
	irq_clear(0xFFFF);
	rf_switch(1);
	CMD(OP_SET_TX, 0x00, 0x00, 0x00); /* no radio timeout: the core times the TX */
	transmitting = 1;
	return 0;
}

int hal_radio_poll(struct hal_radio_event *ev)
{
	uint32_t now = clock_millis();
	if (!irq_flag && now - last_status_ms < 10)
		return 0;
	last_status_ms = now;
	irq_flag = 0;
	uint16_t st = irq_status();
	int got = 0;
	if ((st & IRQ_TX_DONE) && transmitting) {
		irq_clear(IRQ_TX_DONE);
		transmitting = 0;
		start_rx();
		ev->kind = HAL_RADIO_TX_DONE;
		got = 1;
	} else if (st & (IRQ_HEADER_ERR | IRQ_CRC_ERR)) {
		irq_clear(IRQ_RX_DONE | IRQ_HEADER_ERR | IRQ_CRC_ERR | IRQ_HEADER_VALID | IRQ_PREAMBLE);
		ev->kind = HAL_RADIO_RX_ERROR;
		got = 1;
	} else if (st & IRQ_RX_DONE) {
		uint8_t b[2], ps[3];
		cmd(OP_GET_RX_BUF, 0, 0, b, 2); /* length, start offset */
		cmd(OP_GET_PKT_STATUS, 0, 0, ps, 3); /* RssiPkt, SnrPkt, SignalRssiPkt */
		ev->kind = HAL_RADIO_RX;
		ev->len = b[0];
		cmd(OP_READ_BUF, &b[1], 1, ev->data, b[0]);
		ev->rssi_dbm = (int16_t)(-(int)ps[0] / 2);
		ev->snr_quarter_db = (int8_t)ps[1]; /* SnrPkt is already in quarter dB */
		irq_clear(IRQ_RX_DONE | IRQ_HEADER_VALID | IRQ_PREAMBLE);
		got = ev->len > 0;
	} else if (st & IRQ_TIMEOUT) {
		irq_clear(IRQ_TIMEOUT);
		start_rx();
	}
	nvic_enable(IRQ_SUBGHZ_RADIO);
	return got;
}

int16_t hal_radio_rssi(void)
{
	uint8_t r = 0;
	cmd(OP_GET_RSSI_INST, 0, 0, &r, 1);
	return (int16_t)(-(int)r / 2);
}

/* CAD over 4 symbols with the detection peaks of Semtech AN1200.48
 * (SF7/8 22, SF9 23, SF10 24, SF11 25, SF12 28; min 10). A packet whose
 * header the radio is already receiving counts as busy without CAD,
 * which would abort it. */
int hal_radio_cad(void)
{
	if (transmitting)
		return 1;
	if (irq_status() & IRQ_HEADER_VALID)
		return 1;
	static const uint8_t peak[13] = {22, 22, 22, 22, 22, 22, 22, 22, 22, 23, 24, 25, 28};
	CMD(OP_SET_STANDBY, 0x00);
	CMD(OP_SET_CAD_PARAMS, 0x02, peak[cur.sf <= 12 ? cur.sf : 12], 10, 0x00, 0, 0, 0);
	irq_clear(IRQ_CAD_DONE | IRQ_CAD_DETECTED);
	CMD(OP_SET_CAD);
	/* 4 symbols: 131 ms at SF12/125 kHz; give up after 250 ms */
	uint32_t start = clock_millis();
	uint16_t st = 0;
	while (!((st = irq_status()) & IRQ_CAD_DONE))
		if (clock_millis() - start > 250)
			break;
	irq_clear(IRQ_CAD_DONE | IRQ_CAD_DETECTED);
	start_rx();
	if (!(st & IRQ_CAD_DONE))
		return -1; /* no answer: fall back to RSSI */
	return (st & IRQ_CAD_DETECTED) != 0;
}

/* A 32-bit seed from the radio's noise register (valid while receiving). */
uint32_t subghz_random(void);
uint32_t subghz_random(void)
{
	uint8_t addr[2] = {REG_RANDOM >> 8, REG_RANDOM & 0xFF}, r[4] = {0, 0, 0, 0};
	cmd(OP_READ_REG, addr, 2, r, 4);
	return (uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 | r[3];
}
