#include "txqueue.h"

void txq_init(struct txq *q)
{
	q->head = 0;
	q->used = 0;
	q->frames = 0;
}

int txq_fits(const struct txq *q, size_t n)
{
	return n > 0 && q->frames < TXQ_FRAMES && q->used + 2 + n <= TXQ_BYTES;
}

static void put(struct txq *q, uint8_t b)
{
	q->buf[(q->head + q->used) % TXQ_BYTES] = b;
	q->used++;
}

static uint8_t at(const struct txq *q, size_t i) { return q->buf[(q->head + i) % TXQ_BYTES]; }

int txq_push(struct txq *q, const uint8_t *p, size_t n)
{
	if (!txq_fits(q, n))
		return -1;
	put(q, (uint8_t)(n >> 8));
	put(q, (uint8_t)n);
	for (size_t i = 0; i < n; i++)
		put(q, p[i]);
	q->frames++;
	return 0;
}

size_t txq_peek(const struct txq *q, uint8_t *out, size_t cap)
{
	if (q->frames == 0)
		return 0;
	size_t n = (size_t)at(q, 0) << 8 | at(q, 1);
	if (n > cap)
		return 0; /* cannot happen: pushes are bounded by the decoder */
	for (size_t i = 0; i < n; i++)
		out[i] = at(q, 2 + i);
	return n;
}

void txq_pop(struct txq *q)
{
	if (q->frames == 0)
		return;
	size_t n = (size_t)at(q, 0) << 8 | at(q, 1);
	q->head = (uint16_t)((q->head + 2 + n) % TXQ_BYTES);
	q->used = (uint16_t)(q->used - 2 - n);
	q->frames--;
}
