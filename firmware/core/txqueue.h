/*
 * txqueue.h — the bounded queue of host frames waiting for the air.
 *
 * Bounds: TXQ_BYTES of storage (each frame costs its length + 2) and at
 * most TXQ_FRAMES frames; that holds 4 frames of RNODE_MTU (508) bytes or
 * 8 Cairn frames of 254. Policy at the bound: txq_push refuses, and the
 * modem answers the host with CMD_ERROR 0x04 (queue full) instead of
 * dropping silently as RNode does. READY answers 01 only while one more
 * frame of RNODE_MTU bytes fits.
 */
#ifndef CAIRN_TXQUEUE_H
#define CAIRN_TXQUEUE_H

#include <stddef.h>
#include <stdint.h>

#define TXQ_BYTES 2048
#define TXQ_FRAMES 8

struct txq {
	uint8_t buf[TXQ_BYTES]; /* ring of [len hi, len lo, bytes…] records */
	uint16_t head, used;    /* head: first byte of the oldest record */
	uint8_t frames;
};

void txq_init(struct txq *q);

/* txq_fits reports whether a frame of n bytes would be taken. */
int txq_fits(const struct txq *q, size_t n);

/* txq_push appends a copy of p; returns 0, or −1 when full. */
int txq_push(struct txq *q, const uint8_t *p, size_t n);

/* txq_peek copies the oldest frame into out (of cap bytes) and returns
 * its length, or 0 when the queue is empty. */
size_t txq_peek(const struct txq *q, uint8_t *out, size_t cap);

/* txq_pop drops the oldest frame. */
void txq_pop(struct txq *q);

#endif
