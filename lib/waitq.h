/* SPDX-License-Identifier: MIT */
/*
 * The wait queue of acquire(): the waiters of this process in arrival
 * order per resource, each sleeping on its own condition variable so that
 * exactly the head is woken when the resource may have become free.
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

/* An empty queue, or NULL with errno ENOMEM. */
struct waitq	*waitq_new(void);

/*
 * Joins the FIFO of KEY (a resource name) unless MAX waiters, all keys
 * together, already wait.  A waiter that joins an empty FIFO is head at
 * once and should try the lock before it waits; the caller's loop reads:
 * join; loop { if head: try the lock, done when granted; wait }; leave.
 * Returns the waiter, which only waitq_leave() frees, or NULL with errno
 * EAGAIN (MAX reached, also when MAX is 0), EINVAL (KEY NULL or empty) or
 * ENOMEM.
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
 *   releases nobody signals and lock-delays that end without an event):
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

/*
 * Gives W's key the backend's name TAG (a lock file name) for
 * waitq_notify_tag(), for as long as the key has waiters.  Returns 1 when
 * the key had no tag yet (events before this call were not routed to it:
 * look again), 0 when it had, -1 with errno ENOMEM.
 */
int		 waitq_tag(struct waitq *q, struct waiter *w, const char *tag);

/* Wakes the head of every key tagged TAG (a change a watch saw). */
void		 waitq_notify_tag(struct waitq *q, const char *tag);

/* Wakes every head: changes may have been missed. */
void		 waitq_notify_all(struct waitq *q);

/* The number of waiters queued now, all keys. */
unsigned int	 waitq_count(struct waitq *q);

/* Whether KEY has waiters (a fresh acquire must queue behind them). */
int		 waitq_has_waiters(struct waitq *q, const char *key);

/* Frees Q; no waiter may remain.  Accepts NULL. */
void		 waitq_free(struct waitq *q);

#endif /* WAITQ_H */
