/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the configuration parser.  Any file must parse without
 * crashing or leaking, every error must be reported, and a configuration
 * without errors must read back unchanged from what "lockd --check" prints.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

#define PATH		"fuzz.conf"

/* The longest line conf_parse_stream reads, newline included. */
#define LINE_MAX_READ	4095

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	reported;

static void __attribute__((noreturn))
fail(const char *what, const char *text)
{
	fprintf(stderr, "fuzz_conf: %s\n", what);
	if (text != NULL)
		fprintf(stderr, "--- printed configuration:\n%.4000s---\n",
		    text);
	abort();
}

/* Counts the errors; each must name the file and a line. */
static void
report(const char *msg)
{
	reported++;
	if (strncmp(msg, PATH ":", sizeof(PATH)) != 0)
		fail("error message without FILE:", msg);
}

/* Parses LEN bytes of TEXT into CONF from the defaults; the error count. */
static int
parse(struct lockd_conf *conf, const char *text, size_t len)
{
	FILE	*fp;
	int	 errors;

	conf_defaults(conf);
	/* fmemopen() refuses an empty buffer: a file of one "\n" is the
	 * same configuration. */
	if ((fp = fmemopen((void *)(len > 0 ? text : "\n"),
	    len > 0 ? len : 1, "r")) == NULL)
		abort();
	reported = 0;
	errors = conf_parse_stream(conf, fp, PATH, report);
	fclose(fp);
	if (errors != reported)
		fail("error count differs from the errors reported", NULL);
	return errors;
}

/* What conf_print writes for CONF, in a malloc'd string. */
static char *
print(const struct lockd_conf *conf, size_t *lenp)
{
	FILE	*fp;
	char	*text = NULL;

	if ((fp = open_memstream(&text, lenp)) == NULL)
		abort();
	conf_print(fp, conf);
	if (fclose(fp) != 0)
		abort();
	return text;
}

/* Whether every line of TEXT fits the parser's line buffer. */
static int
lines_fit(const char *text)
{
	const char	*p, *nl;

	for (p = text; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			return 1;
		if ((size_t)(nl - p) + 1 > LINE_MAX_READ)
			return 0;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lockd_conf	 conf, again;
	char			*text, *text2, *input;
	size_t			 len, len2;
	int			 errors;

	/* A copy of the exact size, so that ASan sees any over-read. */
	if ((input = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(input, data, size);
	errors = parse(&conf, input, size);
	free(input);
	text = print(&conf, &len);

	if (errors == 0) {
		if (conf.port < 0 || conf.port > 65535 ||
		    conf.max_request_size < 1024 ||
		    conf.max_connections < 1 || conf.timeout < 1)
			fail("a number out of range was accepted", text);
		if (conf.listen[0] == '\0' || conf.lockdir[0] == '\0' ||
		    conf.user[0] == '\0' || conf.pidfile[0] != '/' ||
		    (strcmp(conf.log, "syslog") != 0 && conf.log[0] != '/'))
			fail("an invalid string was accepted", text);
		/*
		 * The printed configuration reads back as the same one.  A
		 * line longer than the parser's buffer cannot: only "allow",
		 * whose lines add up, prints such a line (a known limit).
		 */
		if (lines_fit(text)) {
			if (parse(&again, text, len) != 0)
				fail("the printed configuration has errors",
				    text);
			text2 = print(&again, &len2);
			if (len2 != len || memcmp(text, text2, len) != 0)
				fail("the printed configuration reads back "
				    "differently", text);
			free(text2);
			conf_free(&again);
		}
	}
	free(text);
	conf_free(&conf);
	return 0;
}
