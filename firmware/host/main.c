/*
 * main.c — cairn-modem for Linux: the modem core on a pty, talking to the
 * simulated air. Usage:
 *
 *   cairn-modem -air PORT [-node ID] [-link PATH]
 *
 * It prints "pty PATH" on stdout once ready (PATH is the symlink if -link
 * was given), and runs until killed or its parent exits.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "../core/modem.h"
#include "../core/rnode.h"
#include "host.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig, stop = 1; }

static void usage(void)
{
	fprintf(stderr, "usage: cairn-modem -air PORT [-node ID] [-link PATH]\n");
	exit(2);
}

static unsigned long number(const char *s, unsigned long max)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (*s == 0 || *end != 0 || v > max)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	struct host_options o = {.air_ip = 0x7F000001, .node = 1};
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "-air") == 0)
			o.air_port = (uint16_t)number(argv[++i], 65535);
		else if (strcmp(argv[i], "-node") == 0)
			o.node = (uint16_t)number(argv[++i], 65535);
		else if (strcmp(argv[i], "-link") == 0)
			o.link = argv[++i];
		else
			usage();
	}
	if (o.air_port == 0)
		usage();
	prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the test that started us */
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (host_open(&o) != 0)
		return 1;
	static const struct modem_board board = {
		.platform = PLATFORM_HOST,
		.mcu = MCU_HOST,
		.txp_min_dbm = -9, /* the SX126x high-power PA's range, as on the boards */
		.txp_max_dbm = 22,
	};
	static struct modem m;
	modem_init(&m, &board);
	printf("pty %s\n", o.link ? o.link : host_pty_path());
	fflush(stdout);
	while (!stop) {
		modem_poll(&m);
		host_wait(2);
	}
	if (o.link)
		unlink(o.link);
	return 0;
}
