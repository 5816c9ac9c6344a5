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

/* What a refused take saw, for the wait that follows it. */
struct store_block {
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

/* A backend: names are already checked when these are called. */
struct lockstore_ops {
	/*
	 * One lock attempt on RESOURCE for CLIENT.  ACQUIRE: acquire()'s
	 * rules (CLIENT holding it already is a success, a TTL_MS > 0 then
	 * renews the lease); otherwise lock()'s.  TTL_MS: a lease.  Fills
	 * GRANT; on HELD and DELAYED fills BLOCK (the front end frees its
	 * key).  Expired leases and lock-delays found on the way are ended.
	 */
	enum lockstore_status	(*take)(void *impl, const char *resource,
				    const char *client, int acquire,
				    unsigned int ttl_ms,
				    struct lockstore_grant *grant,
				    struct store_block *block,
				    struct lockstore_error *err);
	/*
	 * Sleeps, as head of its key, until the resource may have changed
	 * since the take that filled W->block, W->until_ms passes or the
	 * cancel test says so.  NULL: sleep in the queue, woken by a release
	 * in this process (waitq_notify()) or the 1 s fallback poll.
	 */
	enum waitq_result	(*wait)(void *impl, const struct store_wait *w);
	enum lockstore_status	(*unlock)(void *impl, const char *resource,
				    const char *client,
				    struct lockstore_error *err);
	enum lockstore_status	(*inspect)(void *impl, const char *resource,
				    int *held, struct lockstore_lock_info *info,
				    struct lockstore_error *err);
	enum lockstore_status	(*list)(void *impl,
				    const struct lockstore_list_query *q,
				    lockstore_list_fn fn, void *arg,
				    char next[LOCKSTORE_CURSOR_SIZE],
				    struct lockstore_error *err);
	/* Optional (NULL: the backend has no such feature; the call
	 * answers BAD_ARGUMENT).  Names are checked before these too. */
	enum lockstore_status	(*renew)(void *impl, const char *resource,
				    const char *client,
				    unsigned long long token,
				    unsigned int ttl_ms,
				    struct lockstore_grant *grant,
				    struct lockstore_error *err);
	enum lockstore_status	(*brk)(void *impl, const char *resource,
				    const char *by, const char *reason,
				    struct lockstore_lock_info *broken,
				    unsigned long long *new_token,
				    struct lockstore_error *err);
	enum lockstore_status	(*history)(void *impl, const char *resource,
				    size_t limit, lockstore_history_fn fn,
				    void *arg, struct lockstore_error *err);
	int			(*expire)(void *impl,
				    struct lockstore_error *err);
	enum lockstore_status	(*health)(void *impl,
				    struct lockstore_error *err);
	long long		(*count_held)(void *impl);
	/* Optional: a new policy is in force (read it with store_policy()
	 * when needed; this is for what the backend sizes by it). */
	void			(*policy_changed)(void *impl,
				    const struct lockstore_policy *policy);
	void			(*close)(void *impl);
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

/* "Storage error: out of memory". */
enum lockstore_status	store_error_nomem(struct lockstore_error *err);

#endif /* STORE_IMPL_H */
