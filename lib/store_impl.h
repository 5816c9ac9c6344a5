/* SPDX-License-Identifier: MIT */
/*
 * What a storage backend provides behind lockstore.h (primitives: the
 * front end holds the rules), what the front end lends it (counters,
 * policy, wait queue), and the one place where messages are formatted.
 */
#ifndef STORE_IMPL_H
#define STORE_IMPL_H

#include <pthread.h>

#include "lockstore.h"
#include "waitq.h"

/* What a refused take saw, for the wait that follows it; TICKET and
 * FIFO are the take's inputs (acquire.c keeps them across takes). */
struct store_block {
	void			*ticket;	/* the waiter's place in the
						   backend's queue (enqueue),
						   or NULL */
	int			 fifo;		/* a waiting call: never take
						   past the backend's queued
						   waiters */
	long long		 delay_end_ms;	/* DELAYED: the lock-delay's
						   end (clock_mono_ms), 0: the
						   backend's wait sees it */
	char			*key;		/* the backend's key to watch,
						   malloc'd, or NULL */
	size_t			 keylen;
	unsigned long long	 revision;	/* the store's revision seen */
};

/* What a head waiter hands the backend's wait hook. */
struct store_wait {
	struct waitq		 *q;
	struct waiter		 *w;
	const char		 *resource;
	const struct store_block *block;	/* of the last take */
	long long		  until_ms;	/* clock_mono_ms */
	lockstore_cancel_fn	  cancelled;	/* test about every 100 ms */
	void			 *cancel_arg;
};

/*
 * A backend's calls, as types, so that a backend declares each of its
 * calls in one line ("store_renew_fn lockdir_renew;").  Names are already
 * checked when these are called.
 *
 * take: one lock attempt on RESOURCE for CLIENT.  ACQUIRE: acquire()'s
 * rules (CLIENT holding it already is a success, a TTL_MS > 0 then renews
 * the lease); otherwise lock()'s.  TTL_MS: a lease.  Fills GRANT; on HELD
 * and DELAYED fills BLOCK (the front end frees its key).  Expired leases
 * and lock-delays found on the way are ended.
 *
 * wait: sleeps, as head of its key (or with a ticket: every waiter),
 * until the resource may have changed since the take that filled
 * W->block, W->until_ms passes or the cancel test says so.
 *
 * enqueue: puts a waiter for RESOURCE at the end of the backend's own
 * queue, shared by every process that uses the same store, and returns
 * its *TICKET; a take whose block carries the ticket grants only to the
 * first of that queue (and takes the ticket out of it).  dequeue: takes
 * TICKET out of the queue (the wait ended) and frees it; it cannot fail
 * (the backend retries on its own).
 */
typedef enum lockstore_status	store_take_fn(void *impl,
				    const char *resource, const char *client,
				    int acquire, unsigned int ttl_ms,
				    struct lockstore_grant *grant,
				    struct store_block *block,
				    struct lockstore_error *err);
typedef enum waitq_result	store_wait_fn(void *impl,
				    const struct store_wait *w);
typedef enum lockstore_status	store_enqueue_fn(void *impl,
				    const char *resource, void **ticket,
				    struct lockstore_error *err);
typedef void			store_dequeue_fn(void *impl, void *ticket);
typedef enum lockstore_status	store_unlock_fn(void *impl,
				    const char *resource, const char *client,
				    struct lockstore_error *err);
typedef enum lockstore_status	store_inspect_fn(void *impl,
				    const char *resource, int *held,
				    struct lockstore_lock_info *info,
				    struct lockstore_error *err);
typedef enum lockstore_status	store_list_fn(void *impl,
				    const struct lockstore_list_query *q,
				    lockstore_list_fn fn, void *arg,
				    char next[LOCKSTORE_CURSOR_SIZE],
				    struct lockstore_error *err);
typedef enum lockstore_status	store_renew_fn(void *impl,
				    const char *resource, const char *client,
				    unsigned long long token,
				    unsigned int ttl_ms,
				    struct lockstore_grant *grant,
				    struct lockstore_error *err);
typedef enum lockstore_status	store_break_fn(void *impl,
				    const char *resource, const char *by,
				    const char *reason,
				    struct lockstore_lock_info *broken,
				    unsigned long long *new_token,
				    struct lockstore_error *err);
typedef enum lockstore_status	store_history_fn(void *impl,
				    const char *resource, size_t limit,
				    lockstore_history_fn fn, void *arg,
				    struct lockstore_error *err);
typedef int			store_expire_fn(void *impl,
				    struct lockstore_error *err);
typedef enum lockstore_status	store_health_fn(void *impl,
				    struct lockstore_error *err);
typedef long long		store_count_held_fn(void *impl);
typedef void			store_policy_changed_fn(void *impl,
				    const struct lockstore_policy *policy);
typedef void			store_close_fn(void *impl);

/* A backend. */
struct lockstore_ops {
	store_take_fn		*take;
	store_wait_fn		*wait;		/* NULL: sleep in the queue,
						   woken by a release in this
						   process (waitq_notify())
						   or the 1 s fallback poll */
	store_unlock_fn		*unlock;
	store_inspect_fn	*inspect;
	store_list_fn		*list;
	/* Optional, both or neither: a queue of waiters across processes
	 * (NULL: the front end's queue of this process is the order). */
	store_enqueue_fn	*enqueue;
	store_dequeue_fn	*dequeue;
	/* Optional (NULL: the backend has no such feature; the call
	 * answers BAD_ARGUMENT). */
	store_renew_fn		*renew;
	store_break_fn		*brk;
	store_history_fn	*history;
	store_expire_fn		*expire;
	store_health_fn		*health;
	store_count_held_fn	*count_held;
	/* Optional: a new policy is in force (read it with store_policy()
	 * when needed; this is for what the backend sizes by it). */
	store_policy_changed_fn	*policy_changed;
	store_close_fn		*close;
};

/* The front end's state of one open store. */
struct lockstore {
	const struct lockstore_ops	*ops;
	void				*impl;
	struct lockstore_stats		 stats;		/* atomics */
	struct waitq			*waitq;
	pthread_mutex_t			 polock;	/* policy */
	struct lockstore_policy		 policy;
};

/* The counters of S, for a backend to count what only it sees (waits,
 * expiries); update with STORE_COUNT. */
struct lockstore_stats	*store_stats(struct lockstore *s);

#define STORE_COUNT(stats, field, n) \
	((void)__atomic_fetch_add(&(stats)->field, (n), __ATOMIC_RELAXED))

/* The policy in force, copied under its lock. */
void			 store_policy(struct lockstore *s,
			    struct lockstore_policy *p);

/* Wraps a backend IMPL into a store; NULL when out of memory. */
struct lockstore	*store_new(const struct lockstore_ops *ops, void *impl);

/* The wait loop of lockstore_acquire() (acquire.c): RESOURCE and CLIENT
 * checked, OPTS within the policy. */
enum lockstore_status	 store_acquire(struct lockstore *s,
			    const char *resource, const char *client,
			    const struct lockstore_acquire_opts *opts,
			    struct lockstore_grant *grant,
			    struct lockstore_error *err);

/* Fills ERR with STATUS, SYS_ERRNO and a printf-formatted message. */
enum lockstore_status	store_error(struct lockstore_error *err,
			    enum lockstore_status status, int sys_errno,
			    const char *fmt, ...)
			    __attribute__((format(printf, 4, 5)));

/* The documented messages of gocept.lockd, produced only here. */
enum lockstore_status	store_error_held(struct lockstore_error *err,
			    const char *holder);
enum lockstore_status	store_error_not_owner(struct lockstore_error *err,
			    const char *holder, const char *client);
enum lockstore_status	store_error_not_locked(struct lockstore_error *err);

/* "Resource held off until <UNTIL_WALL_MS, UTC> after a break|an expired
 * lease (lock-delay)". */
enum lockstore_status	store_error_delayed(struct lockstore_error *err,
			    long long until_wall_ms, enum lockstore_end cause);

/* "Resource already locked (the wait ran out behind other waiters)". */
enum lockstore_status	store_error_behind(struct lockstore_error *err);

/* "Storage error: out of memory". */
enum lockstore_status	store_error_nomem(struct lockstore_error *err);

#endif /* STORE_IMPL_H */
