/* SPDX-License-Identifier: MIT */
/*
 * Breaking a lock for an operator: the holding ends as a break, with a
 * lock-delay marker under a fresh token (release.c).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lockdir.h"

/* Breaks RESOURCE's lock for an operator; see lockstore_break(). */
enum lockstore_status
lockdir_break(void *impl, const char *resource, const char *by,
    const char *reason, struct lockstore_lock_info *broken,
    unsigned long long *new_token, struct lockstore_error *err)
{
	struct lockdir	*ld = impl;
	struct lockfile	*lf;
	enum name_form	 form;
	char		 fname[NAME_FILE_SIZE], legacy[NAME_FILE_SIZE];
	const char	*at = fname;
	int		 fd, st;

	if ((st = lockdir_check_dir(ld, resource, err)) != LOCKSTORE_OK)
		return st;
	form = name_encode(resource, fname);
	st = lockdir_open_locked(ld, fname, resource, &fd, &lf, err);
	if (st == LOCKSTORE_OK &&
	    (st = lockdir_check_owner(lf, resource, form, err)) !=
	    LOCKSTORE_OK)
		close(fd);
	if (st == LOCKDIR_ABSENT &&
	    lockdir_legacy_name(resource, form, legacy, sizeof(legacy))) {
		at = legacy;
		st = lockdir_open_locked(ld, legacy, resource, &fd, &lf, err);
		if (st == LOCKSTORE_OK && lf->has_resource) {
			close(fd);
			st = LOCKDIR_ABSENT;
		}
	}
	if (st != LOCKSTORE_OK) {
		free(lf);
		return st == LOCKDIR_ABSENT ?
		    (int)store_error_not_locked(err) : st;
	}
	if (lf->is_delay) {
		st = store_error_not_locked(err);
		goto out;
	}
	memset(broken, 0, sizeof(*broken));
	snprintf(broken->resource, sizeof(broken->resource), "%s", resource);
	snprintf(broken->holder, sizeof(broken->holder), "%s", lf->holder);
	broken->since = lf->since;
	broken->token = lf->token;
	broken->ttl_ms = lf->ttl_ms;
	/* Every token handed out so far is older than this one. */
	if ((st = lockdir_next_token(ld, resource, new_token, err)) !=
	    LOCKSTORE_OK)
		goto out;
	if (!lf->has_resource)
		snprintf(lf->resource, sizeof(lf->resource), "%s", resource);
	st = lockdir_end(ld, at, resource, lf, LOCKSTORE_END_BREAK, by,
	    reason, *new_token, err);
out:
	close(fd);
	free(lf);
	return (enum lockstore_status)st;
}
