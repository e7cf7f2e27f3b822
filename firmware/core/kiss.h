/*
 * kiss.h — KISS framing for the serial line (docs/radio.md, "Serial").
 */
#ifndef CAIRN_KISS_H
#define CAIRN_KISS_H

#include <stddef.h>
#include <stdint.h>

/* KISS_MAX_FRAME bounds a decoded frame, command byte included: the
 * longest frame a host sends is a DATA frame of RNODE_MTU (508) bytes.
 * Policy at the bound: the frame is dropped whole, counted in oversize,
 * and the decoder waits for the next FEND. */
#define KISS_MAX_FRAME 512

struct kiss_stats {
	uint32_t frames;     /* frames delivered */
	uint32_t garbage;    /* bytes before the first FEND */
	uint32_t oversize;   /* frames longer than KISS_MAX_FRAME */
	uint32_t bad_escape; /* FESC followed by anything but TFEND or TFESC */
};

/* kiss_decoder splits an untrusted byte stream into frames. Zero it (or
 * call kiss_init) before use. */
struct kiss_decoder {
	uint8_t buf[KISS_MAX_FRAME];
	uint16_t len;
	uint8_t state; /* hunting, in frame, skipping */
	uint8_t escaped;
	struct kiss_stats stats;
};

typedef void (*kiss_frame_fn)(void *ctx, uint8_t cmd, const uint8_t *payload, size_t n);

void kiss_init(struct kiss_decoder *d);

/* kiss_feed decodes n bytes, calling fn for each complete frame. */
void kiss_feed(struct kiss_decoder *d, const uint8_t *p, size_t n, kiss_frame_fn fn, void *ctx);

/* kiss_encode writes FEND cmd payload FEND, escaped, into out (of cap
 * bytes) and returns the length, or 0 if it does not fit. A frame needs at
 * most 2·(n + 1) + 2 bytes. */
size_t kiss_encode(uint8_t *out, size_t cap, uint8_t cmd, const uint8_t *payload, size_t n);

#endif
