/*
 * board.h — per-board pins and radio options, chosen at build time with
 * -DBOARD_WIO_E5 or -DBOARD_RAK3172 (firmware/Makefile builds both).
 */
#ifndef CAIRN_STM32WL_BOARD_H
#define CAIRN_STM32WL_BOARD_H

#include <stddef.h>

#include "regs.h"

#if defined(BOARD_WIO_E5)
/*
 * Seeed Wio-E5 (STM32WLE5JC module; also the Wio-E5 mini and Dev Kit).
 * Seeed wiki "Wio-E5 STM32WLE5JC Module", Application Notes: HSE is a
 * 32 MHz TCXO powered from PB0-VDDTCXO; "Wio-E5 module ONLY transmits
 * through RFO_HP: Receive: PA4=1, PA5=0; Transmit (high output power,
 * SMPS mode): PA4=0, PA5=1". Seeed's LoRaWan-E5-Node BSP
 * (stm32wlxx_LoRa_E5_mini_radio.h) names PA4 RF_SW_CTRL1, PA5 RF_SW_CTRL2
 * and PB0 RF_TCXO_VCC, and its usart.c puts the host UART on USART1,
 * PB6 TX / PB7 RX, AF7. The mini and Dev Kit boards' LED is PB5, lit when
 * low (RIOT boards/lora-e5-dev).
 */
#define BOARD_NAME "wio-e5"
#define BOARD_UART USART1
#define BOARD_UART_IRQ IRQ_USART1
#define BOARD_UART_TX_PORT GPIOB
#define BOARD_UART_TX_PIN 6
#define BOARD_UART_RX_PORT GPIOB
#define BOARD_UART_RX_PIN 7
#define BOARD_UART_AF 7
#define BOARD_RFSW_RX_PORT GPIOA /* high to receive */
#define BOARD_RFSW_RX_PIN 4
#define BOARD_RFSW_TX_PORT GPIOA /* high to transmit through RFO_HP */
#define BOARD_RFSW_TX_PIN 5
#define BOARD_TCXO 1
#define BOARD_TCXO_VOLTAGE 0x01 /* SetDIO3AsTcxoCtrl: 1.7 V (Seeed's radio_driver.c setting) */
#define BOARD_SMPS 1
#define BOARD_LED_PORT GPIOB
#define BOARD_LED_PIN 5
#define BOARD_LED_ACTIVE_LOW 1

#elif defined(BOARD_RAK3172)
/*
 * RAKwireless RAK3172 (STM32WLE5CC module; RAK3272S breakout, RAK3172
 * evaluation board). RAK's "RAK3172 WisDuo Module Interface Access"
 * documentation: UART2 on PA2 TX / PA3 RX is the module's AT and boot
 * port ("must not be used" by applications), UART1 on PB6/PB7. The RF
 * switch is driven by PB8 and PC13, per the RAK3172 internal schematic
 * answer on RAK's forum (thread 4557) as used by Meshtastic's
 * variants/stm32/rak3172: PB8 high to receive, PC13 high to transmit
 * (RFO_HP). The plain RAK3172 has a 32 MHz crystal; the RAK3172-T has a
 * TCXO (stm32duino PR 2431): build that one with EXTRA_CFLAGS=-DRAK3172_T. The module
 * has no LED. SMPS is left off (LDO), which works whether or not the
 * SMPS inductor is fitted.
 */
#define BOARD_NAME "rak3172"
#define BOARD_UART USART2
#define BOARD_UART_IRQ IRQ_USART2
#define BOARD_UART_TX_PORT GPIOA
#define BOARD_UART_TX_PIN 2
#define BOARD_UART_RX_PORT GPIOA
#define BOARD_UART_RX_PIN 3
#define BOARD_UART_AF 7
#define BOARD_RFSW_RX_PORT GPIOB
#define BOARD_RFSW_RX_PIN 8
#define BOARD_RFSW_TX_PORT GPIOC
#define BOARD_RFSW_TX_PIN 13
#if defined(RAK3172_T)
#define BOARD_TCXO 1
#define BOARD_TCXO_VOLTAGE 0x01 /* 1.7 V */
#else
#define BOARD_TCXO 0
#endif
#define BOARD_SMPS 0

#else
#error "define BOARD_WIO_E5 or BOARD_RAK3172"
#endif

/* Both modules transmit through the high-power PA (RFO_HP): −9 … +22 dBm
 * (RM0461 §4.5.2, Set_PaConfig / Set_TxParams). */
#define BOARD_TXP_MIN_DBM (-9)
#define BOARD_TXP_MAX_DBM 22

/* Implemented in clock.c, uart.c and subghz.c. */
void clock_init(void);
uint32_t clock_millis(void);
void clock_delay_ms(uint32_t ms);
void watchdog_start(void);
void watchdog_kick(void);
void gpio_output(uint32_t port, unsigned pin, int high);
void gpio_write(uint32_t port, unsigned pin, int high);
void gpio_af(uint32_t port, unsigned pin, unsigned af);
void uart_init(void);
size_t uart_read(uint8_t *buf, size_t cap);
void uart_write(const uint8_t *buf, size_t n);
int subghz_init(void);

#endif
