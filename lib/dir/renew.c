/* SPDX-License-Identifier: MIT */
/*
 * Renewing a lease: its holder, under its current token, sets a new
 * deadline.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lockdir.h"

/* Extends the lease CLIENT holds on RESOURCE under TOKEN. */
enum lockstore_status
lockdir_renew(void *impl, const char *resource, const char *client,
    unsigned long long token, unsigned int ttl_ms, struct lockstore_grant *g,
    struct lockstore_error *err)
{
	struct lockdir	*ld = impl;
	struct lockfile	*lf;
	char		 fname[NAME_FILE_SIZE];
	int		 fd, st;

	if ((st = lockdir_check_dir(ld, resource, err)) != LOCKSTORE_OK)
		return st;
	name_encode(resource, fname);
	st = lockdir_open_locked(ld, fname, resource, &fd, &lf, err);
	if (st == LOCKSTORE_OK && (st = lf->has_resource ?
	    lockdir_check_owner(lf, resource, NAME_PLAIN, err) :
	    store_error(err, LOCKSTORE_NO_LEASE, 0, "Resource was locked "
	    "without a TTL: nothing to renew")) != LOCKSTORE_OK)
		close(fd);
	if (st != LOCKSTORE_OK) {
		free(lf);
		return st == LOCKDIR_ABSENT ?
		    (int)store_error_not_locked(err) : st;
	}
	if (lf->is_delay)
		st = store_error_not_locked(err);
	else if (lockdir_lease_state(ld, lf, clock_mono_ms()) ==
	    LOCKDIR_EXPIRED) {
		close(fd);
		fd = -1;
		st = lockdir_expire_one(ld, fname, resource, err);
		if (st == LOCKSTORE_OK || st == LOCKDIR_AGAIN ||
		    st == LOCKDIR_ABSENT)
			st = store_error_not_locked(err);
	} else if (strcmp(lf->holder, client) != 0)
		st = store_error(err, LOCKSTORE_NOT_OWNER, 0,
		    "Resource locked by '%s' cannot be renewed by '%s'",
		    lf->holder, client);
	else if (lf->token != token)
		st = store_error(err, LOCKSTORE_STALE_TOKEN, 0,
		    "Token %llu is not the current holding of '%s' by '%s' "
		    "(current token %llu)", token, resource, client,
		    lf->token);
	else if (lf->ttl_ms == 0)
		st = store_error(err, LOCKSTORE_NO_LEASE, 0,
		    "Resource was locked without a TTL: nothing to renew");
	else {
		if (ttl_ms > 0)
			lf->ttl_ms = ttl_ms;
		lf->deadline_ms = clock_mono_ms() + lf->ttl_ms;
		snprintf(lf->boot, sizeof(lf->boot), "%s", ld->boot);
		st = lockdir_replace(ld, fname, lf, resource, err);
		if (st == LOCKSTORE_OK) {
			lockdir_note_lease(ld, resource, lf->deadline_ms);
			g->token = lf->token;
			g->since = lf->since;
			g->reacquired = 1;
			g->ttl_ms = lf->ttl_ms;
			g->expires_ms = clock_wall_ms() + lf->ttl_ms;
		}
	}
	if (fd != -1)
		close(fd);
	free(lf);
	return (enum lockstore_status)st;
}
