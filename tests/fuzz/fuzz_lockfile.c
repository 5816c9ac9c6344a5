/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the lock file reader.  Any bytes may sit in a lock
 * directory; parsing them must not crash, and what lockd itself writes for
 * a valid holder and resource must read back unchanged.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dir/lockfile.h"
#include "lockstore.h"
#include "name.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void __attribute__((noreturn))
fail(const char *what, const struct lockfile *lf, const char *text)
{
	fprintf(stderr, "fuzz_lockfile: %s\n  holder: '%.300s'\n"
	    "  resource (%d): '%.300s'\n  since: %lld\n", what, lf->holder,
	    lf->has_resource, lf->resource, lf->since);
	if (text != NULL)
		fprintf(stderr, "  formatted: '%.600s'\n", text);
	abort();
}

/* What a successful parse promises whatever the input was. */
static void
check_parsed(const struct lockfile *lf)
{
	if (strnlen(lf->holder, sizeof(lf->holder)) > LOCKSTORE_NAME_MAX)
		fail("holder not terminated", lf, NULL);
	if (strchr(lf->holder, '\n') != NULL)
		fail("holder spans lines", lf, NULL);
	if (strnlen(lf->resource, sizeof(lf->resource)) > LOCKSTORE_NAME_MAX)
		fail("resource not terminated", lf, NULL);
	if (!lf->has_resource && lf->resource[0] != '\0')
		fail("resource without has_resource", lf, NULL);
	if (lf->since < 0)
		fail("negative since", lf, NULL);
}

/* Writes LF as lockd would and reads it back. */
static void
check_round_trip(const struct lockfile *lf)
{
	static struct lockstore_error	 err;
	struct lockfile			*back;
	const char			*resource;
	char				*buf;
	int				 n;

	if (name_check_client(lf->holder, &err) != LOCKSTORE_OK)
		return;
	if (lf->has_resource &&
	    name_check_resource(lf->resource, &err) != LOCKSTORE_OK)
		return;
	/* A legacy file has no resource: the holder is as good a name. */
	resource = lf->has_resource ? lf->resource : lf->holder;
	/* Heap buffers of the exact size, so that ASan sees overflows. */
	if ((buf = malloc(LOCKFILE_MAX)) == NULL ||
	    (back = malloc(sizeof(*back))) == NULL)
		abort();
	n = lockfile_format(buf, LOCKFILE_MAX, resource, lf->holder,
	    lf->since);
	if (n < 0)
		fail("valid names do not fit in LOCKFILE_MAX", lf, NULL);
	if ((size_t)n >= LOCKFILE_MAX || buf[n] != '\0' ||
	    strlen(buf) != (size_t)n)
		fail("lockfile_format returned a wrong length", lf, buf);
	if (lockfile_parse(buf, (size_t)n, back) == -1)
		fail("lockd cannot read its own lock file", lf, buf);
	if (strcmp(back->holder, lf->holder) != 0)
		fail("holder changed in the round trip", lf, buf);
	if (!back->has_resource || strcmp(back->resource, resource) != 0)
		fail("resource changed in the round trip", lf, buf);
	if (back->since != lf->since)
		fail("since changed in the round trip", lf, buf);
	free(buf);
	free(back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lockfile	*lf;
	char		*buf;

	/* lockd reads at most LOCKFILE_MAX bytes of a lock file. */
	if (size > LOCKFILE_MAX)
		return 0;
	/* A copy of the exact size, so that ASan sees any over-read. */
	if ((buf = malloc(size > 0 ? size : 1)) == NULL ||
	    (lf = malloc(sizeof(*lf))) == NULL)
		abort();
	memcpy(buf, data, size);
	if (lockfile_parse(buf, size, lf) == 0) {
		check_parsed(lf);
		check_round_trip(lf);
	}
	free(buf);
	free(lf);
	return 0;
}
