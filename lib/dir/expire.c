/* SPDX-License-Identifier: MIT */
/*
 * Leases: what a lease or a lock-delay means now, the table of leases this
 * process knows of, the end of one expired lease, and the background scan
 * that finds the others (and counts the locks held).
 *
 * Leases and lock-delays are deadlines on CLOCK_BOOTTIME (monotonic, and
 * it keeps counting while the machine sleeps), written into the lock file
 * with the id of the boot they belong to, so every process on the host
 * reads them alike and no client's or wall clock matters.  A deadline of
 * an earlier boot is unknown time: a lease restarts its whole TTL from the
 * first sweep after the reboot (never shorter than promised); a lock-delay
 * counts as over (the reboot took longer than any lock-delay is for).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lockdir.h"

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

	st = lockdir_open_locked(ld, fname, resource, &fd, &lf, err);
	if (st != LOCKSTORE_OK) {
		if (st == LOCKDIR_ABSENT)
			lockdir_note_lease(ld, resource, 0);
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
				STORE_COUNT(&ld->store->stats, expiries, 1);
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
		if (!name_has_suffix(de->d_name) ||
		    strncmp(de->d_name, LOCKDIR_TMP_PREFIX,
		    sizeof(LOCKDIR_TMP_PREFIX) - 1) == 0)
			continue;
		/* Holding leaselock: never wait for a file's LOCK_SH, which a
		 * renew or release may hold while it waits for leaselock. */
		if (lockdir_read_lock(ld, de->d_name, de->d_name, 0, lf,
		    err) != LOCKSTORE_OK || lf->is_delay ||
		    lockdir_lease_state(ld, lf, now) == LOCKDIR_EXPIRED)
			continue;
		ld->scan_held++;
		/* Only lockd's own files are leases it may end. */
		if (lf->ttl_ms == 0 || !lf->has_resource ||
		    !name_is_own(lf->resource, de->d_name))
			continue;
		if (lockdir_lease_state(ld, lf, now) == LOCKDIR_LIVE)
			note_lease_locked(ld, lf->resource, lf->deadline_ms);
		else	/* expired, or of another boot: the sweep sees to it */
			note_lease_locked(ld, lf->resource, 1);
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
	if (ld->nleases > 0 &&
	    (due = calloc(ld->nleases, sizeof(*due))) != NULL)
		for (i = 0; i < ld->nleases; i++)
			if (ld->leases[i].deadline_ms <= now &&
			    (due[ndue] = strdup(ld->leases[i].resource)) !=
			    NULL)
				ndue++;
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

/* Frees the lease table and the scan of LD. */
void
lockdir_lease_close(struct lockdir *ld)
{
	size_t	i;

	if (ld->scan != NULL)
		closedir(ld->scan);
	for (i = 0; i < ld->nleases; i++)
		free(ld->leases[i].resource);
	free(ld->leases);
	pthread_mutex_destroy(&ld->leaselock);
}
