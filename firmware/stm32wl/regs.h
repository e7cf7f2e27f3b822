/*
 * regs.h — the STM32WLE5 registers this firmware uses, written from ST's
 * reference manual RM0461 (STM32WLEx, rev. 5): memory map §2.2 (Table 2),
 * FLASH §3.7, PWR §6.6, RCC §7.4, EXTI §14.3, GPIO §9.4, IWDG §29.4,
 * USART §33.8, SUBGHZSPI §36.4 (the SPI3 register layout), and the Cortex-M4
 * system registers (SysTick, NVIC) from ARM's ARMv7-M Architecture
 * Reference Manual. Only what is used; no vendor SDK.
 */
#ifndef CAIRN_STM32WL_REGS_H
#define CAIRN_STM32WL_REGS_H

#include <stdint.h>

#define REG(addr) (*(volatile uint32_t *)(addr))

/* FLASH (0x5800 4000) */
#define FLASH_ACR REG(0x58004000u)
#define FLASH_ACR_LATENCY_2WS 2u
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_ICEN (1u << 9)
#define FLASH_ACR_DCEN (1u << 10)

/* RCC (0x5800 0000) */
#define RCC_CR REG(0x58000000u)
#define RCC_CR_MSION (1u << 0)
#define RCC_CR_MSIRDY (1u << 1)
#define RCC_CR_MSIRGSEL (1u << 3)
#define RCC_CR_MSIRANGE_SHIFT 4 /* 4 bits; range 11 = 48 MHz */
#define RCC_CR_HSEBYPPWR (1u << 21) /* VDDTCXO supply on PB0-VDDTCXO for a TCXO */
#define RCC_CFGR REG(0x58000008u)
#define RCC_AHB2ENR REG(0x5800004Cu)
#define RCC_AHB2ENR_GPIOAEN (1u << 0)
#define RCC_AHB2ENR_GPIOBEN (1u << 1)
#define RCC_AHB2ENR_GPIOCEN (1u << 2)
#define RCC_APB1ENR1 REG(0x58000058u)
#define RCC_APB1ENR1_USART2EN (1u << 17)
#define RCC_APB2ENR REG(0x58000060u)
#define RCC_APB2ENR_USART1EN (1u << 14)
#define RCC_APB3ENR REG(0x58000064u)
#define RCC_APB3ENR_SUBGHZSPIEN (1u << 0)
#define RCC_CSR REG(0x58000094u)
#define RCC_CSR_LSION (1u << 0)
#define RCC_CSR_LSIRDY (1u << 1)
#define RCC_CSR_RFRSTF (1u << 14)
#define RCC_CSR_RFRST (1u << 15)

/* PWR (0x5800 0400) */
#define PWR_SR2 REG(0x58000414u)
#define PWR_SR2_RFBUSYS (1u << 1) /* the radio's BUSY line */
#define PWR_SUBGHZSPICR REG(0x58000490u)
#define PWR_SUBGHZSPICR_NSS (1u << 15) /* radio chip select, active low */

/* EXTI (0x5800 0800): line 44 is the radio IRQ */
#define EXTI_C1IMR2 REG(0x58000890u)
#define EXTI_LINE44 (1u << 12)

/* GPIO ports (AHB2, 0x4800 0000 + 0x400 per port) */
#define GPIOA 0x48000000u
#define GPIOB 0x48000400u
#define GPIOC 0x48000800u
#define GPIO_MODER(p) REG((p) + 0x00u)
#define GPIO_OSPEEDR(p) REG((p) + 0x08u)
#define GPIO_PUPDR(p) REG((p) + 0x0Cu)
#define GPIO_BSRR(p) REG((p) + 0x18u)
#define GPIO_AFRL(p) REG((p) + 0x20u)
#define GPIO_AFRH(p) REG((p) + 0x24u)
#define GPIO_MODE_OUTPUT 1u
#define GPIO_MODE_AF 2u

/* USART1 (APB2, 0x4001 3800), USART2 (APB1, 0x4000 4400) */
#define USART1 0x40013800u
#define USART2 0x40004400u
#define USART_CR1(u) REG((u) + 0x00u)
#define USART_CR1_UE (1u << 0)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_BRR(u) REG((u) + 0x0Cu)
#define USART_ISR(u) REG((u) + 0x1Cu)
#define USART_ISR_FE (1u << 1)
#define USART_ISR_NE (1u << 2)
#define USART_ISR_ORE (1u << 3)
#define USART_ISR_RXNE (1u << 5)
#define USART_ISR_TXE (1u << 7)
#define USART_ICR(u) REG((u) + 0x20u)
#define USART_RDR(u) REG((u) + 0x24u)
#define USART_TDR(u) REG((u) + 0x28u)

/* SUBGHZSPI (0x5801 0000) */
#define SUBGHZSPI_CR1 REG(0x58010000u)
#define SPI_CR1_MSTR (1u << 2)
#define SPI_CR1_BR_DIV4 (1u << 3) /* 48 MHz / 4 = 12 MHz, under the radio's 16 MHz */
#define SPI_CR1_SPE (1u << 6)
#define SPI_CR1_SSI (1u << 8)
#define SPI_CR1_SSM (1u << 9)
#define SUBGHZSPI_CR2 REG(0x58010004u)
#define SPI_CR2_DS_8BIT (7u << 8)
#define SPI_CR2_FRXTH (1u << 12)
#define SUBGHZSPI_SR REG(0x58010008u)
#define SPI_SR_RXNE (1u << 0)
#define SPI_SR_TXE (1u << 1)
#define SUBGHZSPI_DR (*(volatile uint8_t *)0x5801000Cu) /* byte access: 8-bit frames */

/* IWDG (0x4000 3000) */
#define IWDG_KR REG(0x40003000u)
#define IWDG_PR REG(0x40003004u)
#define IWDG_RLR REG(0x40003008u)
#define IWDG_SR REG(0x4000300Cu)

/* 96-bit unique device id (RM0461 §40.1) */
#define UID_BASE 0x1FFF7590u

/* Cortex-M4 SysTick and NVIC */
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define NVIC_ISER(n) REG(0xE000E100u + 4u * (n))
#define NVIC_ICER(n) REG(0xE000E180u + 4u * (n))

/* Interrupt numbers (RM0461 Table 93) */
#define IRQ_USART1 36
#define IRQ_USART2 37
#define IRQ_SUBGHZ_RADIO 50

static inline void nvic_enable(unsigned irq) { NVIC_ISER(irq / 32) = 1u << (irq % 32); }
static inline void nvic_disable(unsigned irq) { NVIC_ICER(irq / 32) = 1u << (irq % 32); }

#endif
