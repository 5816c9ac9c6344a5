/* SPDX-License-Identifier: MIT */
/*
 * Ending a holding: unlock, and the end shared with break and expiry.
 *
 * Ending a holding (unlock, break, expiry) appends its history record (not
 * synced: the journal's record of the end carries it, recover.c), then
 * removes the file, or after a break or an expiry replaces it by a
 * lock-delay marker (rename over it, so the name stays taken throughout)
 * whose first line is LOCKFILE_DELAY_HOLDER, journals that, and answers
 * once the journal is durable.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lockdir.h"

/*
 * Records the end of the holding LF of RESOURCE in the history.  A full
 * disk must not keep a lock from being released (a release needs no
 * space, and a stuck lock stops its resource everywhere): then the
 * holding ends without a record, which the counters show.  Any other
 * failure refuses the change, as the lock itself would.
 */
static enum lockstore_status
record_end(struct lockdir *ld, const char *resource,
    const struct lockfile *lf, enum lockstore_end how, const char *by,
    const char *reason, long long wall, struct lockstore_error *err)
{
	struct lockstore_history_entry	*e;
	enum lockstore_status		 st;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return lockdir_storage(err, ENOMEM, "out of memory", resource);
	snprintf(e->resource, sizeof(e->resource), "%s", resource);
	snprintf(e->holder, sizeof(e->holder), "%s", lf->holder);
	e->token = lf->token;
	e->since = lf->since;
	e->until_ms = wall;
	e->how = how;
	snprintf(e->by, sizeof(e->by), "%s", by);
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
	st = history_append(ld->history, e, err);
	free(e);
	if (st != LOCKSTORE_OK && (err->sys_errno == ENOSPC ||
	    err->sys_errno == EDQUOT))
		STORE_COUNT(&ld->store->stats, history_lost, 1);
	else if (st != LOCKSTORE_OK)
		return lockdir_storage(err, err->sys_errno, "cannot record "
		    "the end of the lock in the history", resource);
	return LOCKSTORE_OK;
}

/* The lock-delay marker of DELAY_MS (token MARK_TOKEN, else LF's) for the
 * holding LF of RESOURCE that ended (HOW) at NOW/WALL, in MARK. */
static void
make_marker(struct lockdir *ld, const char *resource,
    const struct lockfile *lf, enum lockstore_end how,
    unsigned long long mark_token, long long now, long long wall,
    unsigned int delay_ms, struct lockfile *mark)
{
	memset(mark, 0, sizeof(*mark));
	snprintf(mark->holder, sizeof(mark->holder), "%s",
	    LOCKFILE_DELAY_HOLDER);
	snprintf(mark->resource, sizeof(mark->resource), "%s", resource);
	mark->has_resource = 1;
	mark->since = wall / 1000;
	mark->token = mark_token != 0 ? mark_token : lf->token;
	mark->is_delay = 1;
	mark->delay_until_ms = now + delay_ms;
	mark->delay_wall_ms = wall + delay_ms;
	mark->delay_cause = how;
	snprintf(mark->boot, sizeof(mark->boot), "%s", ld->boot);
}

/*
 * Removes lock file FNAME, or with MARK puts that marker in its place,
 * and journals the end of holding LF (and the marker).  A full disk must
 * not keep a lock from being released: without room for the records the
 * change is made durable by a checkpoint instead (lockdir_settle()).
 */
static enum lockstore_status
end_file(struct lockdir *ld, const char *fname, const char *resource,
    const struct lockfile *lf, enum lockstore_end how, const char *by,
    const char *reason, long long wall, const struct lockfile *mark,
    struct lockstore_error *err)
{
	enum lockstore_status	st = LOCKSTORE_OK;
	int			jrc = 0;

	if (ld->durable)
		journal_enter(&ld->journal);
	if (mark != NULL)
		st = lockdir_place_content(ld, fname, mark, resource, err);
	else if (unlinkat(ld->dirfd, fname, 0) == -1)
		st = lockdir_storage(err, errno, "cannot remove the lock file",
		    resource);
	if (st == LOCKSTORE_OK && ld->durable)
		jrc = journal_end(&ld->journal, fname, lf, how, by, reason,
		    wall) == -1 || (mark != NULL &&
		    journal_put(&ld->journal, fname, mark) == -1) ? -1 : 0;
	/* Waiters look at once, whether or not the sync works. */
	waitq_notify(ld->store->waitq, resource);
	return lockdir_journal_finish(ld, st, jrc, fname, resource, err);
}

/* Ends the holding LF of FNAME; see lockdir.h. */
enum lockstore_status
lockdir_end(struct lockdir *ld, const char *fname, const char *resource,
    const struct lockfile *lf, enum lockstore_end how, const char *by,
    const char *reason, unsigned long long mark_token,
    struct lockstore_error *err)
{
	struct lockstore_policy		 pol;
	struct lockfile			*mark = NULL;
	enum lockstore_status		 st;
	long long			 now, wall;

	store_policy(ld->store, &pol);
	now = clock_mono_ms();
	wall = clock_wall_ms();
	if ((st = record_end(ld, resource, lf, how, by, reason, wall, err)) !=
	    LOCKSTORE_OK)
		return st;
	/* Only a lease is in the sweep's table: a plain unlock, the common
	 * case, need not search it. */
	if (lf->ttl_ms > 0)
		lockdir_note_lease(ld, resource, 0);
	/* No marker under gocept.lockd's file name: lockd would not read it
	 * as this resource's. */
	if (how != LOCKSTORE_END_UNLOCK && pol.lock_delay_ms > 0 &&
	    name_is_own(resource, fname)) {
		if ((mark = malloc(sizeof(*mark))) == NULL)
			return lockdir_storage(err, ENOMEM, "out of memory",
			    resource);
		make_marker(ld, resource, lf, how, mark_token, now, wall,
		    pol.lock_delay_ms, mark);
	}
	st = end_file(ld, fname, resource, lf, how, by, reason, wall, mark,
	    err);
	free(mark);
	return st;
}

/*
 * Compare-and-delete of lock file FNAME.  LEGACY_ONLY: act only on a file
 * without a "resource" line (one gocept.lockd wrote).
 */
static int
unlock_at(struct lockdir *ld, const char *fname, enum name_form form,
    int legacy_only, const char *resource, const char *client,
    struct lockstore_error *err)
{
	struct lockfile	*lf;
	int		 fd = -1, rc;

	if ((rc = lockdir_open_locked(ld, fname, resource, &fd, &lf, err)) !=
	    LOCKSTORE_OK)
		return rc;
	if (legacy_only && lf->has_resource) {
		/* lockd's file of the resource named so */
		rc = LOCKDIR_ABSENT;
		goto out;
	}
	if (!legacy_only &&
	    (rc = lockdir_check_owner(lf, resource, form, err)) != LOCKSTORE_OK)
		goto out;
	/* A lock-delay marker holds nobody; an expired lease is over. */
	if (lf->is_delay) {
		rc = LOCKDIR_ABSENT;
		goto out;
	}
	if (lockdir_lease_state(ld, lf, clock_mono_ms()) == LOCKDIR_EXPIRED) {
		close(fd);
		fd = -1;
		rc = lockdir_expire_one(ld, fname, resource, err);
		if (rc == LOCKSTORE_OK || rc == LOCKDIR_AGAIN)
			rc = LOCKDIR_ABSENT;
		goto out;
	}
	if (strcmp(lf->holder, client) != 0) {
		rc = store_error_not_owner(err, lf->holder, client);
		goto out;
	}
	if (!lf->has_resource)
		snprintf(lf->resource, sizeof(lf->resource), "%s", resource);
	rc = lockdir_end(ld, fname, resource, lf, LOCKSTORE_END_UNLOCK, "",
	    "", 0, err);
out:
	if (fd != -1)
		close(fd);
	free(lf);
	return rc;
}

/* Releases RESOURCE if CLIENT holds it; see lockstore_unlock(). */
enum lockstore_status
lockdir_unlock(void *impl, const char *resource, const char *client,
    struct lockstore_error *err)
{
	struct lockdir	*ld = impl;
	enum name_form	 form;
	char		 fname[NAME_FILE_SIZE], legacy[NAME_FILE_SIZE];
	int		 rc;

	if ((rc = lockdir_check_dir(ld, resource, err)) != LOCKSTORE_OK)
		return rc;
	form = name_encode(resource, fname);
	rc = unlock_at(ld, fname, form, 0, resource, client, err);
	if (rc == LOCKDIR_ABSENT &&
	    lockdir_legacy_name(resource, form, legacy, sizeof(legacy)))
		rc = unlock_at(ld, legacy, NAME_PLAIN, 1, resource, client,
		    err);
	if (rc == LOCKDIR_ABSENT)
		return store_error_not_locked(err);
	return rc;
}
