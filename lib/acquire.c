/* SPDX-License-Identifier: MIT */
/*
 * The wait of acquire(), once for every backend: waiters queue per
 * resource in arrival order (waitq.c) and only the head of a queue looks
 * at the store; the backend's take tries once and its wait hook sleeps
 * until the resource may have changed.  A backend with a queue of its own
 * (enqueue: etcd, shared by several lockd hosts) decides the order
 * instead: every waiter then looks and sleeps on its own.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "store_impl.h"

/* One take of S, forgetting what the last one saw (not its inputs). */
static enum lockstore_status
take(struct lockstore *s, const char *resource, const char *client,
    unsigned int ttl_ms, struct lockstore_grant *g, struct store_block *blk,
    struct lockstore_error *err)
{
	void	*ticket = blk->ticket;
	int	 fifo = blk->fifo;

	free(blk->key);
	memset(blk, 0, sizeof(*blk));
	blk->ticket = ticket;
	blk->fifo = fifo;
	return s->ops->take(s->impl, resource, client, 1, ttl_ms, g, blk, err);
}

/* Whether ST is a refusal that waiting may end. */
static int
refused(enum lockstore_status st)
{
	return st == LOCKSTORE_HELD || st == LOCKSTORE_DELAYED;
}

/* Sleeps W (head or not) until the resource may have changed, UNTIL_MS
 * passes or the caller goes away. */
static enum waitq_result
sleep_once(struct lockstore *s, struct waiter *w, const char *resource,
    const struct store_block *blk, long long until_ms,
    const struct lockstore_acquire_opts *opts)
{
	struct store_wait	sw = { s->waitq, w, resource, blk, until_ms,
				    opts->cancelled, opts->cancel_arg };
	struct timespec		ts;

	if (s->ops->wait != NULL && (blk->ticket != NULL ||
	    waitq_is_head(s->waitq, w)))
		return s->ops->wait(s->impl, &sw);
	ts = clock_abs_in(until_ms - clock_mono_ms());
	return waitq_wait(s->waitq, w, &ts, opts->cancelled,
	    opts->cancel_arg);
}

/* The answer to a wait that ran out without a look: name the holder. */
static enum lockstore_status
timed_out_behind(struct lockstore *s, const char *resource,
    struct lockstore_error *err)
{
	struct lockstore_lock_info	*info;
	int				 held;

	if ((info = malloc(sizeof(*info))) != NULL &&
	    s->ops->inspect(s->impl, resource, &held, info, err) ==
	    LOCKSTORE_OK && held)
		store_error_held(err, info->holder);
	else
		store_error_behind(err);
	free(info);
	return LOCKSTORE_HELD;
}

/* The answer to a waiter whose caller went away. */
static enum lockstore_status
went_away(const char *resource, struct lockstore_error *err)
{
	return store_error(err, LOCKSTORE_CANCELLED, 0, "Request cancelled: "
	    "the caller went away while waiting for '%s'", resource);
}

/*
 * A grant to a waiter whose caller went away meanwhile is undone, through
 * the backend's unlock with the same client (so the history records the
 * token as granted and unlocked, and a release wakes the next waiter as
 * any release does), and the wait ends as cancelled.  A reacquire granted
 * nothing new and is left alone.  Should the undo fail, the grant stands
 * and is answered as before.
 */
static enum lockstore_status
undo_if_gone(struct lockstore *s, const char *resource, const char *client,
    const struct lockstore_acquire_opts *opts,
    const struct lockstore_grant *g, struct lockstore_error *err)
{
	if (g->reacquired || opts->cancelled == NULL ||
	    !opts->cancelled(opts->cancel_arg) ||
	    s->ops->unlock(s->impl, resource, client, err) != LOCKSTORE_OK)
		return LOCKSTORE_OK;
	return went_away(resource, err);
}

/*
 * The queue part of store_acquire(): waits as W until granted, refused
 * otherwise, timed out at END_MS or cancelled.  ST and BLK: the answer of
 * the last take (HELD: none yet); *LOOKED tells whether any take answered.
 */
static enum lockstore_status
wait_queued(struct lockstore *s, struct waiter *w, const char *resource,
    const char *client, const struct lockstore_acquire_opts *opts,
    long long end_ms, enum lockstore_status st, struct lockstore_grant *g,
    struct store_block *blk, int *looked, struct lockstore_error *err)
{
	long long	now, until;

	for (;;) {
		/* Head (or any waiter with a ticket): look (also right
		 * after joining, so that a release just before it is not
		 * missed, and at the end of the wait). */
		if (blk->ticket != NULL || waitq_is_head(s->waitq, w)) {
			st = take(s, resource, client, opts->ttl_ms, g, blk,
			    err);
			*looked = 1;
			/* The cancel test is run at every grant too: the
			 * caller may have left since its last run. */
			if (st == LOCKSTORE_OK)
				return undo_if_gone(s, resource, client, opts,
				    g, err);
			if (!refused(st))
				return st;
		}
		if ((now = clock_mono_ms()) >= end_ms)
			return st;
		/* A lock-delay's end bounds the sleep. */
		until = end_ms;
		if (st == LOCKSTORE_DELAYED && blk->delay_end_ms != 0 &&
		    blk->delay_end_ms < until)
			until = blk->delay_end_ms;
		if (sleep_once(s, w, resource, blk, until, opts) ==
		    WAITQ_CANCELLED)
			return went_away(resource, err);
	}
}

/* Takes RESOURCE for CLIENT, maybe waiting; see lockstore_acquire(). */
enum lockstore_status
store_acquire(struct lockstore *s, const char *resource, const char *client,
    const struct lockstore_acquire_opts *opts, struct lockstore_grant *g,
    struct lockstore_error *err)
{
	struct lockstore_policy	 pol;
	struct store_block	 blk;
	struct waiter		*w;
	enum lockstore_status	 st = LOCKSTORE_HELD, enq = LOCKSTORE_OK;
	long long		 start;
	int			 looked = 0;

	memset(&blk, 0, sizeof(blk));
	/* The backend's queue holds the waiters of other processes too. */
	blk.fifo = opts->wait_ms > 0 && s->ops->enqueue != NULL;
	start = clock_mono_ms();
	/* Waiters already queued come first: a waiting call never barges. */
	if (opts->wait_ms == 0 || !waitq_has_waiters(s->waitq, resource)) {
		st = take(s, resource, client, opts->ttl_ms, g, &blk, err);
		looked = 1;
		if (opts->wait_ms == 0 || !refused(st)) {
			free(blk.key);
			return st;
		}
	}
	store_policy(s, &pol);
	if ((w = waitq_join(s->waitq, resource, pol.max_waiters)) == NULL) {
		free(blk.key);
		if (errno == ENOMEM)
			return store_error_nomem(err);
		return store_error(err, LOCKSTORE_TOO_MANY_WAITERS, 0,
		    "Too many waiters: %u requests wait already "
		    "(max-waiters)", pol.max_waiters);
	}
	/* Counted once in the backend's queue too: the gauge then says who
	 * is served first (tests wait for it). */
	if (blk.fifo)
		enq = s->ops->enqueue(s->impl, resource, &blk.ticket, err);
	STORE_COUNT(&s->stats, waiting, 1);
	st = enq != LOCKSTORE_OK ? enq : wait_queued(s, w, resource, client,
	    opts, start + opts->wait_ms, st, g, &blk, &looked, err);
	if (blk.ticket != NULL)
		s->ops->dequeue(s->impl, blk.ticket);
	free(blk.key);
	waitq_leave(s->waitq, w);
	__atomic_fetch_sub(&s->stats.waiting, 1, __ATOMIC_RELAXED);
	if (!looked && st == LOCKSTORE_HELD)
		st = timed_out_behind(s, resource, err);
	g->waited_ms = (unsigned int)(clock_mono_ms() - start);
	if (g->waited_ms == 0)
		g->waited_ms = 1;	/* it did queue */
	return st;
}
