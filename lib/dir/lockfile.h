/* SPDX-License-Identifier: MIT */
/*
 * The content of a lock file.  Line one is the holder's client name, as
 * gocept.lockd wrote it; lockd adds "key value" lines after it.
 */
#ifndef LOCKFILE_H
#define LOCKFILE_H

#include <stddef.h>
#include <stdint.h>

#include "lockstore.h"

/* Room for a boot id (/proc/sys/kernel/random/boot_id), NUL included. */
#define LOCKFILE_BOOT_SIZE	40

/* Largest lock file lockd writes or reads, in bytes. */
#define LOCKFILE_MAX		(4 * LOCKSTORE_NAME_MAX + 256)

/* A lock file, parsed. */
struct lockfile {
	char	holder[LOCKSTORE_NAME_MAX + 1];	/* first line */
	char	resource[LOCKSTORE_NAME_MAX + 1]; /* if has_resource */
	int	has_resource;			/* 0 in legacy files */
	int	has_check;			/* ended in a valid "check"
						   line */
	long long since;			/* seconds since the epoch,
						   0 if unknown */
	unsigned long long token;		/* fencing token, 0: none */
	/* A lease: "lease <ttl ms> <deadline ms> <boot id>". */
	unsigned int	ttl_ms;				/* 0: no lease */
	long long	deadline_ms;			/* CLOCK_BOOTTIME */
	char		boot[LOCKFILE_BOOT_SIZE];	/* boot the deadline
							   belongs to */
	/* A lock-delay marker instead of a holding: "delay <until ms>
	 * <boot id> <break|expiry> <until, epoch ms>". */
	int		is_delay;
	long long	delay_until_ms;			/* CLOCK_BOOTTIME */
	int		delay_cause;			/* enum lockstore_end */
	long long	delay_wall_ms;			/* for people */
};

/* Holder line of a lock-delay marker (what gocept.lockd would report). */
#define LOCKFILE_DELAY_HOLDER	"lockd:lock-delay"

/*
 * Renders LF (holder, resource, since, token and, when set, the lease or
 * the lock-delay; the boot ids are copied as they are) into BUF of SIZE
 * bytes, ending with "check <16 hex digits>": codec_fnv1a() of all the
 * bytes before that line.  Returns the length, or -1 if SIZE is too small.
 */
int	lockfile_render(char *buf, size_t size, const struct lockfile *lf);

/*
 * Renders the lock file for CLIENT holding RESOURCE since SINCE into BUF of
 * SIZE bytes.  Returns the length, or -1 if SIZE is too small.
 */
int	lockfile_format(char *buf, size_t size, const char *resource,
	    const char *client, long long since);

/*
 * Parses LEN bytes of a lock file into LF.  A legacy file (one line, maybe
 * without a newline) yields only the holder.  A "check" line must be the
 * last and match the bytes before it, so that a file caught while it is
 * rewritten fails to parse.  Returns 0, or -1 when the content cannot be
 * a lock file (empty first line after lockd's format, a holder or resource
 * longer than LOCKSTORE_NAME_MAX, bad escapes, a wrong sum).
 */
int	lockfile_parse(const char *buf, size_t len, struct lockfile *lf);

#endif /* LOCKFILE_H */
