/* SPDX-License-Identifier: MIT */
/*
 * Group sync.  A caller needs an fdatasync that *starts* after its
 * change.  If one is running, it may have started too early, so the
 * caller waits for the next; that next one is started by whichever waiter
 * sees the device idle first, and covers every change made before it
 * started.  Under load one fdatasync thus answers a whole batch of
 * requests (group commit).
 *
 * Only two syncs are ever waited for: the running one, N, and N + 1.  So
 * the waiters sleep on one condition variable per parity, and the end of
 * N wakes N's waiters and a single waiter of N + 1 (to start it), not the
 * waiters of N + 1 just to put them back to sleep.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include "gsync.h"

/* Most times a sync about to start lets changes in flight catch up. */
#define GSYNC_GATHER	8

/* Prepares G for syncing FD. */
void
gsync_init(struct gsync *g, int fd)
{
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->done_cv[0], NULL);
	pthread_cond_init(&g->done_cv[1], NULL);
	g->started = g->done = g->failed = 0;
	g->failed_errno = g->running = 0;
	g->fd = fd;
	g->waiting = 0;
	g->inflight = NULL;
}

/* Releases G's synchronisation objects. */
void
gsync_destroy(struct gsync *g)
{
	pthread_cond_destroy(&g->done_cv[0]);
	pthread_cond_destroy(&g->done_cv[1]);
	pthread_mutex_destroy(&g->lock);
}

/* The first sync to start from now on. */
uint64_t
gsync_mark(struct gsync *g)
{
	uint64_t	target;

	pthread_mutex_lock(&g->lock);
	target = g->started + 1;
	pthread_mutex_unlock(&g->lock);
	return target;
}

/* Waits for an fdatasync that began after this call; see gsync.h. */
int
gsync_wait(struct gsync *g)
{
	return gsync_wait_mark(g, gsync_mark(g));
}

/* Waits for sync TARGET (see gsync_mark()) or a later one to finish. */
int
gsync_wait_mark(struct gsync *g, uint64_t target)
{
	uint64_t	mine;
	int		rc, i, e = 0;

	pthread_mutex_lock(&g->lock);
	g->waiting++;
	while (g->done < target) {
		if (!g->running) {
			g->running = 1;
			/* Changes in flight that have not come to wait yet may
			 * join this sync: let them run, a little. */
			for (i = 0; g->inflight != NULL && i < GSYNC_GATHER &&
			    g->waiting < __atomic_load_n(g->inflight,
			    __ATOMIC_RELAXED); i++) {
				pthread_mutex_unlock(&g->lock);
				sched_yield();
				pthread_mutex_lock(&g->lock);
			}
			mine = ++g->started;
			pthread_mutex_unlock(&g->lock);
			rc = fdatasync(g->fd);
			e = errno;
			pthread_mutex_lock(&g->lock);
			g->running = 0;
			g->done = mine;
			if (rc == -1) {
				g->failed = mine;
				g->failed_errno = e;
			}
			/*
			 * Its waiters are done.  The others wait for the next
			 * sync (no later one can have been asked for), and
			 * one of them is woken to start it.
			 */
			pthread_cond_broadcast(&g->done_cv[mine & 1]);
			pthread_cond_signal(&g->done_cv[(mine + 1) & 1]);
		} else
			pthread_cond_wait(&g->done_cv[target & 1], &g->lock);
	}
	g->waiting--;
	rc = 0;
	if (g->failed >= target) {
		e = g->failed_errno;
		rc = -1;
	}
	pthread_mutex_unlock(&g->lock);
	if (rc == -1)
		errno = e;
	return rc;
}

/* Fdatasyncs what NAME in DIRFD is; see gsync.h. */
int
gsync_name(int dirfd, const char *name)
{
	struct stat	st;
	int		fd, rc = 0;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT || errno == ELOOP ? 0 : -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		rc = fdatasync(fd);
	close(fd);
	return rc;
}
