/* SPDX-License-Identifier: MIT */
/* Group sync: one fdatasync() of a file shared by concurrent callers. */
#ifndef GSYNC_H
#define GSYNC_H

#include <pthread.h>
#include <stdint.h>

struct gsync {
	pthread_mutex_t	lock;
	pthread_cond_t	done_cv[2];	/* waiters by the parity of their sync */
	uint64_t	started;	/* syncs begun */
	uint64_t	done;		/* syncs finished */
	uint64_t	failed;		/* last sync that failed, 0: none */
	int		failed_errno;
	int		running;
	int		fd;
	int		waiting;	/* callers in gsync_wait_mark() */
	const int	*inflight;	/* NULL, or how many changes are
					   under way: a sync about to start
					   yields while fewer wait */
};

/* Prepares G for syncing FD (which G does not own). */
void	gsync_init(struct gsync *g, int fd);

/* Releases G's mutex and condition variable. */
void	gsync_destroy(struct gsync *g);

/*
 * Returns once an fdatasync() of the descriptor that began after this call
 * began has finished: everything the caller wrote to it before calling is
 * durable.  Concurrent callers share one fdatasync.  0, or -1 with errno when
 * such a sync failed (conservatively, also when any later one failed:
 * after a failed sync nothing earlier can be trusted to be on disk).
 */
int	gsync_wait(struct gsync *g);

/*
 * gsync_wait() in two steps, so that a caller can overlap it with other
 * work: gsync_mark() names the first sync to begin from now on, and
 * gsync_wait_mark() returns once that one (or a later one) has finished,
 * as gsync_wait() does.  Between the two another thread often starts it.
 */
uint64_t	gsync_mark(struct gsync *g);
int	gsync_wait_mark(struct gsync *g, uint64_t mark);

/* Fdatasyncs the file NAME in DIRFD, without following a symbolic link
 * or waiting on a FIFO: 0 also when it is absent or not a regular file,
 * else -1 with errno. */
int	gsync_name(int dirfd, const char *name);

#endif /* GSYNC_H */
