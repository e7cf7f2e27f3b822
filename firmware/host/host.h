/*
 * host.h — the Linux build of the modem: serial side on a pty, radio side
 * on the simulated air of radio/radiotest (docs/radio.md, "Simulated air").
 */
#ifndef CAIRN_HOST_H
#define CAIRN_HOST_H

#include <stdint.h>

struct host_options {
	const char *link;      /* symlink to create to the pty's slave, or NULL */
	uint32_t air_ip;       /* the air's IPv4 address, host order; always loopback */
	uint16_t air_port;
	uint16_t node;         /* node id on the air */
};

/* host_open creates the pty and the UDP socket and says HELLO to the air.
 * Returns 0 or −1 (reason on stderr). */
int host_open(const struct host_options *o);

/* host_pty_path is the pty's slave device. */
const char *host_pty_path(void);

/* host_wait sleeps until the pty or the air has input or timeout_ms
 * passes. */
void host_wait(int timeout_ms);

#endif
