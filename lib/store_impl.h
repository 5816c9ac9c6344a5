/* SPDX-License-Identifier: MIT */
/*
 * What a storage backend provides behind lockstore.h, and the one place
 * where error messages are formatted.
 */
#ifndef STORE_IMPL_H
#define STORE_IMPL_H

#include "lockstore.h"

/* A backend: names are already checked when these are called. */
struct lockstore_ops {
	enum lockstore_status	(*lock)(void *impl, const char *resource,
				    const char *client, unsigned long long *token,
				    struct lockstore_error *err);
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
	enum lockstore_status	(*acquire)(void *impl, const char *resource,
				    const char *client,
				    const struct lockstore_acquire_opts *opts,
				    struct lockstore_grant *grant,
				    struct lockstore_error *err);
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
	void			(*set_policy)(void *impl,
				    const struct lockstore_policy *policy);
	void			(*close)(void *impl);
	/* Optional, after close so that older initializers stay valid. */
	long long		(*count_held)(void *impl);
};

/* The counters of S, for a backend to count what only it sees (waits,
 * expiries); update with STORE_COUNT. */
struct lockstore_stats	*store_stats(struct lockstore *s);

#define STORE_COUNT(stats, field, n) \
	((void)__atomic_fetch_add(&(stats)->field, (n), __ATOMIC_RELAXED))

/* Wraps a backend IMPL into a store; NULL when out of memory. */
struct lockstore	*store_new(const struct lockstore_ops *ops, void *impl);

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

#endif /* STORE_IMPL_H */
