#include "kiss.h"

#include "rnode.h"

enum { HUNTING, IN_FRAME, SKIPPING };

void kiss_init(struct kiss_decoder *d)
{
	d->len = 0;
	d->state = HUNTING;
	d->escaped = 0;
	d->stats = (struct kiss_stats){0};
}

void kiss_feed(struct kiss_decoder *d, const uint8_t *p, size_t n, kiss_frame_fn fn, void *ctx)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t b = p[i];
		if (b == KISS_FEND) {
			if (d->state == IN_FRAME && d->escaped) {
				d->stats.bad_escape++;
			} else if (d->state == IN_FRAME && d->len > 0) {
				d->stats.frames++;
				fn(ctx, d->buf[0], d->buf + 1, d->len - 1u);
			}
			/* FEND FEND is idle fill: an empty frame, ignored. */
			d->state = IN_FRAME;
			d->escaped = 0;
			d->len = 0;
			continue;
		}
		if (d->state == HUNTING) {
			d->stats.garbage++;
			continue;
		}
		if (d->state == SKIPPING)
			continue;
		if (d->escaped) {
			d->escaped = 0;
			if (b == KISS_TFEND) {
				b = KISS_FEND;
			} else if (b == KISS_TFESC) {
				b = KISS_FESC;
			} else {
				d->stats.bad_escape++;
				d->state = SKIPPING;
				continue;
			}
		} else if (b == KISS_FESC) {
			d->escaped = 1;
			continue;
		}
		if (d->len >= KISS_MAX_FRAME) {
			d->stats.oversize++;
			d->state = SKIPPING;
			continue;
		}
		d->buf[d->len++] = b;
	}
}

static size_t put(uint8_t *out, size_t cap, size_t at, uint8_t b)
{
	if (b == KISS_FEND || b == KISS_FESC) {
		if (at + 2 > cap)
			return 0;
		out[at] = KISS_FESC;
		out[at + 1] = b == KISS_FEND ? KISS_TFEND : KISS_TFESC;
		return at + 2;
	}
	if (at + 1 > cap)
		return 0;
	out[at] = b;
	return at + 1;
}

size_t kiss_encode(uint8_t *out, size_t cap, uint8_t cmd, const uint8_t *payload, size_t n)
{
	if (cap < 3)
		return 0;
	size_t at = 0;
	out[at++] = KISS_FEND;
	if ((at = put(out, cap, at, cmd)) == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((at = put(out, cap, at, payload[i])) == 0)
			return 0;
	if (at + 1 > cap)
		return 0;
	out[at++] = KISS_FEND;
	return at;
}
