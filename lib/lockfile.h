/* SPDX-License-Identifier: MIT */
/*
 * The content of a lock file.  Line one is the holder's client name, as
 * gocept.lockd wrote it; lockd adds "key value" lines after it.
 */
#ifndef LOCKFILE_H
#define LOCKFILE_H

#include <stddef.h>
#include <time.h>

#include "lockstore.h"

/* Largest lock file lockd writes or reads, in bytes. */
#define LOCKFILE_MAX		(4 * LOCKSTORE_NAME_MAX + 256)

/* A lock file, parsed. */
struct lockfile {
	char	holder[LOCKSTORE_NAME_MAX + 1];	/* first line */
	char	resource[LOCKSTORE_NAME_MAX + 1]; /* if has_resource */
	int	has_resource;			/* 0 in legacy files */
	long long since;			/* seconds since the epoch,
						   0 if unknown */
	unsigned long long token;		/* fencing token, 0: none */
};

/*
 * Renders the lock file for CLIENT holding RESOURCE since SINCE into BUF of
 * SIZE bytes.  Returns the length, or -1 if SIZE is too small.
 */
int	lockfile_format(char *buf, size_t size, const char *resource,
	    const char *client, long long since);

/* The same with a "token" line for TOKEN (none when TOKEN is 0). */
int	lockfile_format_token(char *buf, size_t size, const char *resource,
	    const char *client, long long since, unsigned long long token);

/*
 * Parses LEN bytes of a lock file into LF.  A legacy file (one line, maybe
 * without a newline) yields only the holder.  Returns 0, or -1 when the
 * content cannot be a lock file (empty first line after lockd's format,
 * a holder or resource longer than LOCKSTORE_NAME_MAX, bad escapes).
 */
int	lockfile_parse(const char *buf, size_t len, struct lockfile *lf);

#endif /* LOCKFILE_H */
