/* SPDX-License-Identifier: MIT */
/*
 * The lock-directory backend beyond lock and unlock: leases,
 * breaking a lock, lock-delay, history, and the health probe.
 *
 * Leases and lock-delays are deadlines on CLOCK_BOOTTIME (monotonic, and
 * it keeps counting while the machine sleeps), written into the lock file
 * with the id of the boot they belong to, so every process on the host
 * reads them alike and no client's or wall clock matters.  A deadline of
 * an earlier boot is unknown time: a lease restarts its whole TTL from the
 * first sweep after the reboot (never shorter than promised); a lock-delay
 * counts as over (the reboot took longer than any lock-delay is for).
 *
 * Ending a holding (unlock, break, expiry) writes its history record
 * first.  Before a lock-delay marker replaces the file the record is
 * synced; a plain release (unlock, or a break or expiry without a
 * lock-delay) renames the file away at once and then waits for both
 * syncs, answering only when both are durable.  A crash in between may
 * keep the lock and a record the retried call writes again (the history
 * reports one holding once), or, rarely, lose the record of a release
 * nobody was told of.  After a break or an expiry the file is replaced by
 * a lock-delay marker (rename over it, so the name stays taken throughout)
 * whose first line is LOCKFILE_DELAY_HOLDER.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lockdir.h"
#include "store_impl.h"

#define SUFFIX_LEN	(sizeof(NAME_SUFFIX) - 1)

/* Sizes the history by the new policy. */
void
lockdir_policy_changed(void *impl, const struct lockstore_policy *p)
{
	struct lockdir	*ld = impl;

	history_set_segment(ld->history, p->history_bytes);
}

/* What the lease of LF means at NOW_MS. */
enum lockdir_timed
lockdir_lease_state(const struct lockdir *ld, const struct lockfile *lf,
    long long now_ms)
{
	if (lf->ttl_ms == 0)
		return LOCKDIR_LIVE;
	if (strcmp(lf->boot, ld->boot) != 0)
		return LOCKDIR_OTHER_BOOT;
	return now_ms >= lf->deadline_ms ? LOCKDIR_EXPIRED : LOCKDIR_LIVE;
}

/* What the lock-delay marker LF means at NOW_MS. */
enum lockdir_timed
lockdir_delay_state(const struct lockdir *ld, const struct lockfile *lf,
    long long now_ms)
{
	if (strcmp(lf->boot, ld->boot) != 0)
		return LOCKDIR_OTHER_BOOT;
	return now_ms >= lf->delay_until_ms ? LOCKDIR_EXPIRED : LOCKDIR_LIVE;
}

/* Whether FNAME is lockd's own file name for RESOURCE (not gocept.lockd's
 * legacy one). */
static int
is_own_name(const char *resource, const char *fname)
{
	char	own[NAME_FILE_SIZE];

	name_encode(resource, own);
	return strcmp(own, fname) == 0;
}

/* Ends the holding LF of FNAME; see lockdir.h. */
enum lockstore_status
lockdir_end(struct lockdir *ld, const char *fname, const char *resource,
    const struct lockfile *lf, enum lockstore_end how, const char *by,
    const char *reason, unsigned long long mark_token,
    struct lockstore_error *err)
{
	struct lockstore_history_entry	*e;
	struct lockstore_policy		 pol;
	struct lockfile			*mark;
	struct history_pending		 pending = { NULL, 0 };
	struct lockstore_error		 herr;
	enum lockstore_status		 st, hst;
	long long			 now, wall;
	uint64_t			 dirmark;
	struct lockdir_spare		 sp;
	int				 rc, plain, e_unlink, spare;

	store_policy(ld->store, &pol);
	now = clock_mono_ms();
	wall = clock_wall_ms();
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
	/*
	 * The record is written first.  A plain unlock does not wait for its
	 * sync before the unlink: both are synced at once below (while one
	 * thread syncs the history, another often syncs the directory), and
	 * the release is answered only when both are durable.  A crash in
	 * between may keep the record of a release that did not survive
	 * (a retried unlock writes it again and queries show it once) or,
	 * rarely, lose the record of a release nobody was told of.
	 */
	plain = how == LOCKSTORE_END_UNLOCK || pol.lock_delay_ms == 0 ||
	    !is_own_name(resource, fname);
	st = plain ? history_append_async(ld->history, e, &pending, err) :
	    history_append(ld->history, e, err);
	free(e);
	/*
	 * A full disk must not keep a lock from being released (a release
	 * needs no space, and a stuck lock stops its resource everywhere):
	 * then the holding ends without a record, which the counters show.
	 * Any other failure refuses the change, as the lock itself would.
	 */
	if (st != LOCKSTORE_OK && (err->sys_errno == ENOSPC ||
	    err->sys_errno == EDQUOT))
		STORE_COUNT(ld->stats, history_lost, 1);
	else if (st != LOCKSTORE_OK)
		return lockdir_storage(err, err->sys_errno, "cannot record "
		    "the end of the lock in the history", resource);
	/* Only a lease is in the sweep's table: a plain unlock, the common
	 * case, need not search it. */
	if (lf->ttl_ms > 0)
		lockdir_note_lease(ld, resource, 0);
	/* No marker under gocept.lockd's file name: lockd would not read it
	 * as this resource's. */
	if (!plain) {
		if ((mark = calloc(1, sizeof(*mark))) == NULL)
			return lockdir_storage(err, ENOMEM, "out of memory",
			    resource);
		snprintf(mark->holder, sizeof(mark->holder), "%s",
		    LOCKFILE_DELAY_HOLDER);
		snprintf(mark->resource, sizeof(mark->resource), "%s",
		    resource);
		mark->has_resource = 1;
		mark->since = wall / 1000;
		mark->token = mark_token != 0 ? mark_token : lf->token;
		mark->is_delay = 1;
		mark->delay_until_ms = now + pol.lock_delay_ms;
		mark->delay_wall_ms = wall + pol.lock_delay_ms;
		mark->delay_cause = how;
		snprintf(mark->boot, sizeof(mark->boot), "%s", ld->boot);
		st = lockdir_replace(ld, fname, mark, resource, err);
		free(mark);
		waitq_notify(ld->waitq, resource);	/* to learn the delay's end */
		return st;
	}
	/* lockd's own files keep their inode for a later lock (pool). */
	spare = lf->has_resource ? lockdir_pool_release(ld, fname, &sp) : 0;
	if (spare == -1 || (spare == 0 && unlinkat(ld->dirfd, fname, 0) == -1)) {
		e_unlink = errno;
		history_wait(ld->history, &pending, err);
		return lockdir_storage(err, e_unlink, "cannot remove the lock "
		    "file", resource);
	}
	dirmark = lockdir_durable(ld) ? gsync_mark(&ld->dirsync) : 0;
	hst = history_wait(ld->history, &pending, &herr);
	rc = lockdir_durable(ld) ? gsync_wait_mark(&ld->dirsync, dirmark) : 0;
	/* Only a durable release frees the inode for another holding. */
	if (spare == 1)
		lockdir_pool_put(ld, &sp, rc == 0);
	/* Waiters look at once, whether or not the syncs worked. */
	waitq_notify(ld->waitq, resource);
	if (rc == -1)
		return store_error(err, LOCKSTORE_STORAGE, errno,
		    "Storage error: removed the lock file for '%s' but cannot "
		    "sync the lock directory (%s): the release may not survive "
		    "a crash", resource, strerror(errno));
	if (hst != LOCKSTORE_OK)
		return store_error(err, LOCKSTORE_STORAGE, herr.sys_errno,
		    "Storage error: removed the lock file for '%s' but cannot "
		    "sync its record in the history (%s)", resource,
		    strerror(herr.sys_errno));
	return LOCKSTORE_OK;
}

/* lockdir_note_lease() with leaselock held. */
static void
note_lease_locked(struct lockdir *ld, const char *resource,
    long long deadline_ms)
{
	struct lockdir_lease	*l;
	size_t			 i;

	for (i = 0; i < ld->nleases; i++)
		if (strcmp(ld->leases[i].resource, resource) == 0)
			break;
	if (deadline_ms <= 0) {
		if (i < ld->nleases) {
			free(ld->leases[i].resource);
			ld->leases[i] = ld->leases[--ld->nleases];
		}
	} else if (i < ld->nleases)
		ld->leases[i].deadline_ms = deadline_ms;
	else {
		if (ld->nleases == ld->leasecap) {
			l = realloc(ld->leases, (ld->leasecap * 2 + 16) *
			    sizeof(*l));
			if (l == NULL)
				return;		/* the scan finds it later */
			ld->leases = l;
			ld->leasecap = ld->leasecap * 2 + 16;
		}
		if ((ld->leases[i].resource = strdup(resource)) != NULL) {
			ld->leases[i].deadline_ms = deadline_ms;
			ld->nleases++;
		}
	}
}

/* Remembers or forgets RESOURCE's lease for the sweep. */
void
lockdir_note_lease(struct lockdir *ld, const char *resource,
    long long deadline_ms)
{
	pthread_mutex_lock(&ld->leaselock);
	note_lease_locked(ld, resource, deadline_ms);
	pthread_mutex_unlock(&ld->leaselock);
}

/* Releases FNAME's lease if it has expired; restarts one of another boot. */
int
lockdir_expire_one(struct lockdir *ld, const char *fname,
    const char *resource, struct lockstore_error *err)
{
	struct lockfile	*lf;
	int		 fd, st;

	if ((lf = malloc(sizeof(*lf))) == NULL)
		return lockdir_storage(err, ENOMEM, "out of memory", resource);
	st = lockdir_open_locked(ld, fname, resource, &fd, lf, err);
	if (st != LOCKSTORE_OK) {
		if (st == LOCKDIR_ABSENT)
			lockdir_note_lease(ld, resource, 0);
		free(lf);
		return st;
	}
	if (lf->is_delay || lf->ttl_ms == 0) {
		lockdir_note_lease(ld, resource, 0);
		st = LOCKSTORE_OK;
	} else {
		switch (lockdir_lease_state(ld, lf, clock_mono_ms())) {
		case LOCKDIR_EXPIRED:
			st = lockdir_end(ld, fname, resource, lf,
			    LOCKSTORE_END_EXPIRY, "", "", 0, err);
			if (st == LOCKSTORE_OK) {
				STORE_COUNT(ld->stats, expiries, 1);
				st = LOCKDIR_AGAIN;
			}
			break;
		case LOCKDIR_OTHER_BOOT:
			lf->deadline_ms = clock_mono_ms() + lf->ttl_ms;
			snprintf(lf->boot, sizeof(lf->boot), "%s", ld->boot);
			st = lockdir_replace(ld, fname, lf, resource, err);
			if (st == LOCKSTORE_OK)
				lockdir_note_lease(ld, resource,
				    lf->deadline_ms);
			break;
		case LOCKDIR_LIVE:
			lockdir_note_lease(ld, resource, lf->deadline_ms);
			st = LOCKSTORE_OK;
			break;
		}
	}
	close(fd);
	free(lf);
	return st;
}

/* The resource a lock file FNAME with content LF belongs to, if lockd
 * wrote it; NULL otherwise. */
static const char *
owner_of(const char *fname, const struct lockfile *lf)
{
	char	check[NAME_FILE_SIZE];

	if (!lf->has_resource)
		return NULL;
	name_encode(lf->resource, check);
	return strcmp(check, fname) == 0 ? lf->resource : NULL;
}

/*
 * One step of the scan that finds leases this process did not grant
 * (granted before a restart, or by another daemon that went away): reads
 * up to LOCKDIR_SCAN_BATCH lock files.  Called with leaselock held.
 */
static void
scan_step(struct lockdir *ld)
{
	struct lockstore_error	*err;
	struct lockfile		*lf;
	struct dirent		*de;
	const char		*resource;
	size_t			 len;
	long long		 now = clock_mono_ms();
	int			 fd, n;

	if (ld->scan == NULL) {
		if (ld->scan_started != 0 &&
		    now - ld->scan_started < LOCKDIR_SCAN_PERIOD * 1000LL)
			return;
		if ((fd = openat(ld->dirfd, ".", O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1)
			return;
		if ((ld->scan = fdopendir(fd)) == NULL) {
			close(fd);
			return;
		}
		ld->scan_started = now;
		ld->scan_held = 0;
	}
	lf = malloc(sizeof(*lf));
	err = malloc(sizeof(*err));
	for (n = 0; lf != NULL && err != NULL && n < LOCKDIR_SCAN_BATCH; n++) {
		if ((de = readdir(ld->scan)) == NULL) {
			closedir(ld->scan);
			ld->scan = NULL;
			__atomic_store_n(&ld->held, ld->scan_held,
			    __ATOMIC_RELAXED);
			break;
		}
		len = strlen(de->d_name);
		if (len <= SUFFIX_LEN ||
		    strcmp(de->d_name + len - SUFFIX_LEN, NAME_SUFFIX) != 0 ||
		    strncmp(de->d_name, LOCKDIR_TMP_PREFIX,
		    sizeof(LOCKDIR_TMP_PREFIX) - 1) == 0)
			continue;
		/* Holding leaselock: never wait for a file's LOCK_SH, which a
		 * renew or release may hold while it waits for leaselock. */
		if (lockdir_read_lock_flags(ld, de->d_name, de->d_name, 0, lf,
		    err) != LOCKSTORE_OK || lf->is_delay ||
		    lockdir_lease_state(ld, lf, now) == LOCKDIR_EXPIRED)
			continue;
		ld->scan_held++;
		if (lf->ttl_ms == 0 ||
		    (resource = owner_of(de->d_name, lf)) == NULL)
			continue;
		if (lockdir_lease_state(ld, lf, now) == LOCKDIR_LIVE)
			note_lease_locked(ld, resource, lf->deadline_ms);
		else	/* expired, or of another boot: the sweep sees to it */
			note_lease_locked(ld, resource, 1);
	}
	free(lf);
	free(err);
}

/* Releases expired leases; see lockstore_expire(). */
int
lockdir_expire(void *impl, struct lockstore_error *err)
{
	struct lockdir	*ld = impl;
	char		**due = NULL, fname[NAME_FILE_SIZE];
	size_t		 ndue = 0, i;
	long long	 now;
	int		 released = 0, st, failed = 0;

	pthread_mutex_lock(&ld->leaselock);
	if (ld->scanning) {
		pthread_mutex_unlock(&ld->leaselock);
		return 0;
	}
	ld->scanning = 1;
	scan_step(ld);
	now = clock_mono_ms();
	for (i = 0; i < ld->nleases; i++)
		if (ld->leases[i].deadline_ms <= now)
			ndue++;
	if (ndue > 0 && (due = calloc(ndue, sizeof(*due))) != NULL) {
		ndue = 0;
		for (i = 0; i < ld->nleases; i++)
			if (ld->leases[i].deadline_ms <= now &&
			    (due[ndue] = strdup(ld->leases[i].resource)) !=
			    NULL)
				ndue++;
	} else
		ndue = 0;
	pthread_mutex_unlock(&ld->leaselock);
	for (i = 0; i < ndue; i++) {
		name_encode(due[i], fname);
		st = lockdir_expire_one(ld, fname, due[i], err);
		if (st == LOCKDIR_AGAIN)
			released++;
		else if (st != LOCKSTORE_OK && st != LOCKDIR_ABSENT)
			failed = 1;
		free(due[i]);
	}
	free(due);
	pthread_mutex_lock(&ld->leaselock);
	ld->scanning = 0;
	pthread_mutex_unlock(&ld->leaselock);
	return failed && released == 0 ? -1 : released;
}

/* Locks held as of the last full scan, or -1. */
long long
lockdir_count_held(void *impl)
{
	struct lockdir	*ld = impl;

	return __atomic_load_n(&ld->held, __ATOMIC_RELAXED);
}

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
	if ((lf = malloc(sizeof(*lf))) == NULL)
		return lockdir_storage(err, ENOMEM, "out of memory", resource);
	name_encode(resource, fname);
	st = lockdir_open_locked(ld, fname, resource, &fd, lf, err);
	if (st == LOCKSTORE_OK && (!lf->has_resource ||
	    strcmp(lf->resource, resource) != 0)) {
		st = lf->has_resource ? store_error(err,
		    LOCKSTORE_INVALID_STATE, 0, "Invalid lock state: the lock "
		    "file for '%s' belongs to another resource (name "
		    "collision)", resource) : store_error(err,
		    LOCKSTORE_NO_LEASE, 0, "Resource was locked without a "
		    "TTL: nothing to renew");
		close(fd);
	}
	if (st == LOCKDIR_ABSENT) {
		free(lf);
		return store_error_not_locked(err);
	}
	if (st != LOCKSTORE_OK) {
		free(lf);
		return st;
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
	if ((lf = malloc(sizeof(*lf))) == NULL)
		return lockdir_storage(err, ENOMEM, "out of memory", resource);
	form = name_encode(resource, fname);
	st = lockdir_open_locked(ld, fname, resource, &fd, lf, err);
	if (st == LOCKSTORE_OK &&
	    (st = lockdir_check_owner(lf, resource, form, err)) !=
	    LOCKSTORE_OK)
		close(fd);
	if (st == LOCKDIR_ABSENT &&
	    lockdir_legacy_name(resource, form, legacy, sizeof(legacy))) {
		at = legacy;
		st = lockdir_open_locked(ld, legacy, resource, &fd, lf, err);
		if (st == LOCKSTORE_OK && lf->has_resource) {
			close(fd);
			st = LOCKDIR_ABSENT;
		}
	}
	if (st == LOCKDIR_ABSENT) {
		free(lf);
		return store_error_not_locked(err);
	}
	if (st != LOCKSTORE_OK) {
		free(lf);
		return st;
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

/* The ended holdings of RESOURCE. */
enum lockstore_status
lockdir_history(void *impl, const char *resource, size_t limit,
    lockstore_history_fn fn, void *arg, struct lockstore_error *err)
{
	struct lockdir	*ld = impl;

	return history_query(ld->history, resource, limit, fn, arg, err);
}

/* Whether a lock could be written now: the directory is the one opened
 * and takes a file. */
enum lockstore_status
lockdir_health(void *impl, struct lockstore_error *err)
{
	struct lockdir	*ld = impl;
	char		 name[64];
	int		 fd, e;

	if (lockdir_check_dir(ld, "(health probe)", err) != LOCKSTORE_OK)
		return LOCKSTORE_STORAGE;
	snprintf(name, sizeof(name), "%s%ld.health.%lu", LOCKDIR_TMP_PREFIX,
	    (long)getpid(), ld->instance);
	fd = openat(ld->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1 || write(fd, "ok\n", 3) != 3) {
		e = errno;
		if (fd != -1) {
			close(fd);
			unlinkat(ld->dirfd, name, 0);
		}
		return store_error(err, LOCKSTORE_STORAGE, e, "Storage error: "
		    "cannot write to the lock directory %s: %s", ld->path,
		    strerror(e));
	}
	close(fd);
	if (unlinkat(ld->dirfd, name, 0) == -1)
		return store_error(err, LOCKSTORE_STORAGE, errno, "Storage "
		    "error: cannot remove a file from the lock directory %s: "
		    "%s", ld->path, strerror(errno));
	return LOCKSTORE_OK;
}

/* Frees what this file added to LD. */
void
lockdir_lease_close(struct lockdir *ld)
{
	size_t	i;

	dirwatch_free(ld->watch);
	history_close(ld->history);
	if (ld->scan != NULL)
		closedir(ld->scan);
	for (i = 0; i < ld->nleases; i++)
		free(ld->leases[i].resource);
	free(ld->leases);
	pthread_mutex_destroy(&ld->leaselock);
}
