/* SPDX-License-Identifier: MIT */
/*
 * The wait queue of acquire(): waiters of this process in arrival order per
 * resource, woken when this process or another one releases the resource.
 */
#ifndef WAITQ_H
#define WAITQ_H

#include <time.h>

#include "lockstore.h"

struct waitq;
struct waiter;

enum waitq_result {
	WAITQ_RETRY,		/* head, and the lock may be free: try it */
	WAITQ_TIMEOUT,		/* the deadline passed */
	WAITQ_CANCELLED		/* the cancel test returned nonzero */
};

/*
 * A queue for the lock directory at PATH.  Nothing is opened until the
 * first waiter joins; then an inotify instance watches PATH (the directory
 * only) for IN_DELETE, IN_MOVED_FROM, IN_MOVED_TO and IN_CLOSE_WRITE, and a
 * watcher thread wakes the head waiter of the key an event names.  A queue
 * overflow or the loss of the watch wakes every head.  The watch is dropped
 * while nobody waits.  Without inotify, waiting still works by the 1 s
 * fallback poll.  PATH is copied.  Returns NULL with errno ENOMEM.
 */
struct waitq	*waitq_new(const char *path);

/*
 * Joins the FIFO of KEY (a lock file name inside the directory, no '/')
 * unless MAX waiters, all keys together, already wait.  A waiter that joins
 * an empty FIFO is head at once and should try the lock before it waits;
 * the caller's loop reads: join; loop { if head: try the lock, done when
 * granted; wait }; leave.  Returns the waiter, which only waitq_leave()
 * frees, or NULL with errno EAGAIN (MAX reached, also when MAX is 0),
 * EINVAL (KEY NULL or empty) or ENOMEM.
 */
struct waiter	*waitq_join(struct waitq *q, const char *key,
		    unsigned int max);

/* Whether W is first in its key's FIFO. */
int		 waitq_is_head(struct waitq *q, const struct waiter *w);

/*
 * Sleeps until one of these, checked in this order:
 * - CANCELLED(ARG) returned nonzero (it is called without Q's lock held, at
 *   the first wait and then about every 100 ms; CANCELLED may be NULL):
 *   WAITQ_CANCELLED;
 * - W is head and a release of its key was signalled since W last returned
 *   from waitq_wait(), or W became head after a predecessor left:
 *   WAITQ_RETRY.  A signal that arrives between the caller's failed try and
 *   this call is not lost: the call returns at once;
 * - DEADLINE (absolute, CLOCK_MONOTONIC; NULL: none) passed: WAITQ_TIMEOUT;
 * - W is head and 1 s passed since this call began (the fallback poll, for
 *   filesystems without inotify and lock-delays that end without an event):
 *   WAITQ_RETRY.
 * Waiters that are not head sleep until they become head.
 */
enum waitq_result waitq_wait(struct waitq *q, struct waiter *w,
		    const struct timespec *deadline,
		    lockstore_cancel_fn cancelled, void *arg);

/*
 * Leaves the queue (granted, timed out, cancelled, failed) and frees W.
 * When W was head, the next waiter of its key becomes head and is woken to
 * retry at once.  Accepts NULL.
 */
void		 waitq_leave(struct waitq *q, struct waiter *w);

/* A release of KEY by this process: wakes KEY's head at once. */
void		 waitq_notify(struct waitq *q, const char *key);

/* The number of waiters queued now, all keys. */
unsigned int	 waitq_count(struct waitq *q);

/* Whether KEY has waiters (a fresh acquire must queue behind them). */
int		 waitq_has_waiters(struct waitq *q, const char *key);

/* Stops the watcher thread and frees Q; no waiter may remain.  Accepts
 * NULL. */
void		 waitq_free(struct waitq *q);

#endif /* WAITQ_H */
