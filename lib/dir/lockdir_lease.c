/* SPDX-License-Identifier: MIT */
/*
 * The lock-directory backend's wait for a lock (acquire), its clocks and
 * its policy.  Leases and lock-delays are deadlines on CLOCK_BOOTTIME
 * (expire.c); ending a holding is release.c.
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

/* CLOCK_BOOTTIME in milliseconds. */
long long
lockdir_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The wall clock in milliseconds since the epoch. */
long long
lockdir_wall_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The current policy. */
void
lockdir_policy(struct lockdir *ld, struct lockstore_policy *p)
{
	pthread_mutex_lock(&ld->polock);
	*p = ld->policy;
	pthread_mutex_unlock(&ld->polock);
}

/* Sets the policy. */
void
lockdir_set_policy(void *impl, const struct lockstore_policy *p)
{
	struct lockdir	*ld = impl;

	pthread_mutex_lock(&ld->polock);
	ld->policy = *p;
	pthread_mutex_unlock(&ld->polock);
	history_set_segment(ld->history, p->history_bytes);
}

/* Milliseconds from the monotonic clock into an absolute timespec. */
static void
deadline_in(struct timespec *ts, long long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	if (ms < 0)
		ms = 0;
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Takes RESOURCE for CLIENT, maybe waiting; see lockstore_acquire(). */
enum lockstore_status
lockdir_acquire(void *impl, const char *resource, const char *client,
    const struct lockstore_acquire_opts *opts, struct lockstore_grant *g,
    struct lockstore_error *err)
{
	struct lockdir		*ld = impl;
	struct lockstore_policy	 pol;
	struct waiter		*w;
	struct timespec		 wake;
	enum waitq_result	 r;
	char			 fname[NAME_FILE_SIZE];
	long long		 start, end, delay_end = 0, left;
	int			 st, held, looked = 0;

	st = LOCKSTORE_HELD;
	name_encode(resource, fname);
	start = lockdir_now_ms();
	/* Waiters already queued come first: a waiting call never barges. */
	if (opts->wait_ms == 0 || !waitq_has_waiters(ld->waitq, fname)) {
		st = lockdir_take(ld, resource, client, 1, opts->ttl_ms, g,
		    &delay_end, err);
		looked = 1;
		if (opts->wait_ms == 0 ||
		    (st != LOCKSTORE_HELD && st != LOCKSTORE_DELAYED))
			return (enum lockstore_status)st;
	}
	lockdir_policy(ld, &pol);
	if ((w = waitq_join(ld->waitq, fname, pol.max_waiters)) == NULL) {
		if (errno == ENOMEM)
			return lockdir_storage(err, ENOMEM, "out of memory",
			    resource);
		return store_error(err, LOCKSTORE_TOO_MANY_WAITERS, 0,
		    "Too many waiters: %u requests wait already "
		    "(max-waiters)", pol.max_waiters);
	}
	STORE_COUNT(ld->stats, waiting, 1);
	end = start + opts->wait_ms;
	for (;;) {
		/* Head: look (also right after joining, so that a release
		 * just before it is not missed, and at the end of the wait). */
		if (waitq_is_head(ld->waitq, w)) {
			st = lockdir_take(ld, resource, client, 1,
			    opts->ttl_ms, g, &delay_end, err);
			looked = 1;
			if (st != LOCKSTORE_HELD && st != LOCKSTORE_DELAYED)
				break;
		}
		if (lockdir_now_ms() >= end)
			break;
		left = end - lockdir_now_ms();
		if (st == LOCKSTORE_DELAYED && delay_end - lockdir_now_ms() <
		    left)
			left = delay_end - lockdir_now_ms();
		deadline_in(&wake, left);
		r = waitq_wait(ld->waitq, w, &wake, opts->cancelled,
		    opts->cancel_arg);
		if (r == WAITQ_CANCELLED) {
			st = store_error(err, LOCKSTORE_CANCELLED, 0,
			    "Request cancelled: the caller went away while "
			    "waiting for '%s'", resource);
			break;
		}
	}
	waitq_leave(ld->waitq, w);
	__atomic_fetch_sub(&ld->stats->waiting, 1, __ATOMIC_RELAXED);
	if (!looked && st == LOCKSTORE_HELD) {
		/* Timed out behind other waiters: name the holder. */
		struct lockstore_lock_info	*info;

		if ((info = malloc(sizeof(*info))) != NULL &&
		    lockdir_inspect(ld, resource, &held, info, err) ==
		    LOCKSTORE_OK && held)
			store_error_held(err, info->holder);
		else
			store_error(err, LOCKSTORE_HELD, 0, "Resource already "
			    "locked (the wait ran out behind other waiters)");
		free(info);
	}
	g->waited_ms = (unsigned int)(lockdir_now_ms() - start);
	if (g->waited_ms == 0)
		g->waited_ms = 1;	/* it did queue */
	return (enum lockstore_status)st;
}
