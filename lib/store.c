/* SPDX-License-Identifier: MIT */
/*
 * The store front end: checks names and limits once for every backend,
 * keeps the policy and the counters, then dispatches to the backend that
 * was opened (the wait of acquire() is in acquire.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"
#include "store_impl.h"

const unsigned int lockstore_wait_bucket_ms[LOCKSTORE_WAIT_BUCKETS - 1] = {
	10, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};

/* The counters of S. */
struct lockstore_stats *
store_stats(struct lockstore *s)
{
	return &s->stats;
}

/* Counts the outcome ST of a call that changes or asks for a lock. */
static enum lockstore_status
count(struct lockstore *s, enum lockstore_status st)
{
	if (st == LOCKSTORE_OK)
		return st;
	if ((unsigned int)st <= LOCKSTORE_BAD_ARGUMENT)
		STORE_COUNT(&s->stats, refusals[st], 1);
	if (st == LOCKSTORE_STORAGE)
		STORE_COUNT(&s->stats, storage_errors, 1);
	return st;
}

/* Counts a call that only reads: just its storage errors. */
static enum lockstore_status
count_read(struct lockstore *s, enum lockstore_status st)
{
	if (st == LOCKSTORE_STORAGE)
		STORE_COUNT(&s->stats, storage_errors, 1);
	return st;
}

static enum lockstore_status
unsupported(struct lockstore_error *err, const char *what)
{
	return store_error(err, LOCKSTORE_BAD_ARGUMENT, 0,
	    "Invalid argument: %s is not supported by this lock store", what);
}

/* The policy in force. */
void
store_policy(struct lockstore *s, struct lockstore_policy *p)
{
	pthread_mutex_lock(&s->polock);
	*p = s->policy;
	pthread_mutex_unlock(&s->polock);
}

/* Wraps a backend; NULL when out of memory. */
struct lockstore *
store_new(const struct lockstore_ops *ops, void *impl)
{
	const struct lockstore_policy	 def = LOCKSTORE_POLICY_DEFAULT;
	struct lockstore		*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->waitq = waitq_new()) == NULL ||
	    pthread_mutex_init(&s->polock, NULL) != 0) {
		waitq_free(s->waitq);
		free(s);
		return NULL;
	}
	s->ops = ops;
	s->impl = impl;
	s->policy = def;
	return s;
}

static enum lockstore_status
check_names(const char *resource, const char *client,
    struct lockstore_error *err)
{
	enum lockstore_status	st;

	if ((st = name_check_resource(resource, err)) != LOCKSTORE_OK)
		return st;
	return name_check_client(client, err);
}

/* Takes RESOURCE for CLIENT. */
enum lockstore_status
lockstore_lock(struct lockstore *s, const char *resource, const char *client,
    struct lockstore_error *err)
{
	unsigned long long	token;

	return lockstore_lock_token(s, resource, client, &token, err);
}

/* Takes RESOURCE for CLIENT and reports the grant's fencing token. */
enum lockstore_status
lockstore_lock_token(struct lockstore *s, const char *resource,
    const char *client, unsigned long long *token,
    struct lockstore_error *err)
{
	struct lockstore_grant	g;
	struct store_block	blk;
	enum lockstore_status	st;

	*token = 0;
	if ((st = check_names(resource, client, err)) != LOCKSTORE_OK)
		return count(s, st);
	memset(&g, 0, sizeof(g));
	memset(&blk, 0, sizeof(blk));
	st = s->ops->take(s->impl, resource, client, 0, 0, &g, &blk, err);
	free(blk.key);
	if (st == LOCKSTORE_OK) {
		*token = g.token;
		STORE_COUNT(&s->stats, grants, 1);
	}
	return count(s, st);
}

/* Whether CLIENT holds RESOURCE under TOKEN now. */
enum lockstore_status
lockstore_check(struct lockstore *s, const char *resource,
    const char *client, unsigned long long token, int *valid,
    struct lockstore_error *err)
{
	struct lockstore_lock_info	*info;
	enum lockstore_status		 st;
	int				 held;

	*valid = 0;
	if ((st = check_names(resource, client, err)) != LOCKSTORE_OK)
		return count_read(s, st);
	if ((info = malloc(sizeof(*info))) == NULL)
		return store_error_nomem(err);
	st = s->ops->inspect(s->impl, resource, &held, info, err);
	if (st == LOCKSTORE_OK)
		*valid = held && token != 0 && info->token == token &&
		    strcmp(info->holder, client) == 0;
	free(info);
	return count_read(s, st);
}

/* Releases RESOURCE held by CLIENT. */
enum lockstore_status
lockstore_unlock(struct lockstore *s, const char *resource,
    const char *client, struct lockstore_error *err)
{
	enum lockstore_status	st;

	if ((st = check_names(resource, client, err)) != LOCKSTORE_OK)
		return count(s, st);
	if ((st = s->ops->unlock(s->impl, resource, client, err)) ==
	    LOCKSTORE_OK)
		STORE_COUNT(&s->stats, releases, 1);
	return count(s, st);
}

/* Whether RESOURCE is held, and by whom. */
enum lockstore_status
lockstore_inspect(struct lockstore *s, const char *resource, int *held,
    struct lockstore_lock_info *info, struct lockstore_error *err)
{
	enum lockstore_status	st;

	*held = 0;
	if ((st = name_check_resource(resource, err)) != LOCKSTORE_OK)
		return st;
	return count_read(s, s->ops->inspect(s->impl, resource, held, info,
	    err));
}

/* Lists held locks one page at a time. */
enum lockstore_status
lockstore_list(struct lockstore *s, const struct lockstore_list_query *q,
    lockstore_list_fn fn, void *arg, char next[LOCKSTORE_CURSOR_SIZE],
    struct lockstore_error *err)
{
	next[0] = '\0';
	if (q->limit < 1 || q->limit > LOCKSTORE_LIST_MAX)
		return store_error(err, LOCKSTORE_BAD_RESOURCE, 0,
		    "Invalid listing: limit must be from 1 to %d",
		    LOCKSTORE_LIST_MAX);
	if (q->prefix != NULL && strlen(q->prefix) > LOCKSTORE_NAME_MAX)
		return store_error(err, LOCKSTORE_BAD_RESOURCE, 0,
		    "Invalid listing: prefix longer than %d bytes",
		    LOCKSTORE_NAME_MAX);
	return count_read(s, s->ops->list(s->impl, q, fn, arg, next, err));
}

/* Checks a TTL or wait of MS against the policy bound MAX. */
static enum lockstore_status
check_ms(const char *what, unsigned int ms, unsigned int max,
    struct lockstore_error *err)
{
	if (ms <= max)
		return LOCKSTORE_OK;
	return store_error(err, LOCKSTORE_BAD_ARGUMENT, 0,
	    "Invalid argument: %s of %u ms is over the limit of %u ms", what,
	    ms, max);
}

/* Takes RESOURCE for CLIENT, maybe waiting, maybe as a lease. */
enum lockstore_status
lockstore_acquire(struct lockstore *s, const char *resource,
    const char *client, const struct lockstore_acquire_opts *opts,
    struct lockstore_grant *grant, struct lockstore_error *err)
{
	struct lockstore_policy	pol;
	enum lockstore_status	st;
	unsigned long long	ms;
	int			i;

	memset(grant, 0, sizeof(*grant));
	if ((st = check_names(resource, client, err)) != LOCKSTORE_OK)
		return count(s, st);
	store_policy(s, &pol);
	if ((st = check_ms("the wait", opts->wait_ms, pol.max_wait_ms,
	    err)) != LOCKSTORE_OK ||
	    (st = check_ms("the TTL", opts->ttl_ms, pol.max_ttl_ms,
	    err)) != LOCKSTORE_OK)
		return count(s, st);
	st = store_acquire(s, resource, client, opts, grant, err);
	if (st == LOCKSTORE_OK)
		STORE_COUNT(&s->stats, grants, grant->reacquired ? 0 : 1);
	if (st == LOCKSTORE_OK && grant->reacquired)
		STORE_COUNT(&s->stats, reacquires, 1);
	if (opts->wait_ms > 0 && grant->waited_ms > 0) {
		ms = grant->waited_ms;
		STORE_COUNT(&s->stats, waits, 1);
		STORE_COUNT(&s->stats, wait_ms_sum, ms);
		for (i = 0; i < LOCKSTORE_WAIT_BUCKETS - 1; i++)
			if (ms <= lockstore_wait_bucket_ms[i])
				break;
		STORE_COUNT(&s->stats, wait_buckets[i], 1);
	}
	return count(s, st);
}

/* Extends the lease CLIENT holds on RESOURCE under TOKEN. */
enum lockstore_status
lockstore_renew(struct lockstore *s, const char *resource, const char *client,
    unsigned long long token, unsigned int ttl_ms,
    struct lockstore_grant *grant, struct lockstore_error *err)
{
	struct lockstore_policy	pol;
	enum lockstore_status	st;

	memset(grant, 0, sizeof(*grant));
	if ((st = check_names(resource, client, err)) != LOCKSTORE_OK)
		return count(s, st);
	if (s->ops->renew == NULL)
		return count(s, unsupported(err, "renew"));
	store_policy(s, &pol);
	if ((st = check_ms("the TTL", ttl_ms, pol.max_ttl_ms, err)) !=
	    LOCKSTORE_OK)
		return count(s, st);
	if (token == 0)
		return count(s, store_error(err, LOCKSTORE_BAD_ARGUMENT, 0,
		    "Invalid argument: the token must be a positive integer"));
	st = s->ops->renew(s->impl, resource, client, token, ttl_ms, grant,
	    err);
	if (st == LOCKSTORE_OK)
		STORE_COUNT(&s->stats, renewals, 1);
	return count(s, st);
}

/* Whether REASON is a reason a person gave: non-empty, printable. */
static enum lockstore_status
check_reason(const char *reason, struct lockstore_error *err)
{
	const unsigned char	*p;
	size_t			 len;

	if (reason == NULL || (len = strlen(reason)) == 0)
		return store_error(err, LOCKSTORE_BAD_ARGUMENT, 0,
		    "Invalid argument: a reason is required to break a lock");
	if (len > LOCKSTORE_REASON_MAX)
		return store_error(err, LOCKSTORE_BAD_ARGUMENT, 0,
		    "Invalid argument: the reason is longer than %d bytes",
		    LOCKSTORE_REASON_MAX);
	for (p = (const unsigned char *)reason; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return store_error(err, LOCKSTORE_BAD_ARGUMENT, 0,
			    "Invalid argument: the reason contains control "
			    "characters");
	return LOCKSTORE_OK;
}

/* Breaks the lock on RESOURCE for an operator. */
enum lockstore_status
lockstore_break(struct lockstore *s, const char *resource, const char *by,
    const char *reason, struct lockstore_lock_info *broken,
    unsigned long long *new_token, struct lockstore_error *err)
{
	enum lockstore_status	st;
	char			 who[sizeof(((struct lockstore_history_entry *)
				    0)->by)];

	*new_token = 0;
	if ((st = name_check_resource(resource, err)) != LOCKSTORE_OK ||
	    (st = check_reason(reason, err)) != LOCKSTORE_OK)
		return count(s, st);
	if (s->ops->brk == NULL)
		return count(s, unsupported(err, "break"));
	snprintf(who, sizeof(who), "%s", by != NULL ? by : "");
	st = s->ops->brk(s->impl, resource, who, reason, broken, new_token,
	    err);
	if (st == LOCKSTORE_OK)
		STORE_COUNT(&s->stats, breaks, 1);
	return count(s, st);
}

/* The ended holdings of RESOURCE, newest first. */
enum lockstore_status
lockstore_history(struct lockstore *s, const char *resource, size_t limit,
    lockstore_history_fn fn, void *arg, struct lockstore_error *err)
{
	enum lockstore_status	st;

	if ((st = name_check_resource(resource, err)) != LOCKSTORE_OK)
		return st;
	if (limit < 1 || limit > LOCKSTORE_HISTORY_MAX)
		return store_error(err, LOCKSTORE_BAD_ARGUMENT, 0,
		    "Invalid argument: limit must be from 1 to %d",
		    LOCKSTORE_HISTORY_MAX);
	if (s->ops->history == NULL)
		return unsupported(err, "history");
	return count_read(s, s->ops->history(s->impl, resource, limit, fn,
	    arg, err));
}

/* Releases expired leases. */
int
lockstore_expire(struct lockstore *s, struct lockstore_error *err)
{
	int	n;

	if (s->ops->expire == NULL)
		return 0;
	/* The backend counts expiries: it also finds them on the way. */
	if ((n = s->ops->expire(s->impl, err)) == -1 && err->status == LOCKSTORE_STORAGE)
		STORE_COUNT(&s->stats, storage_errors, 1);
	return n;
}

/* Whether the store can take locks now. */
enum lockstore_status
lockstore_health(struct lockstore *s, struct lockstore_error *err)
{
	if (s->ops->health == NULL)
		return LOCKSTORE_OK;
	return s->ops->health(s->impl, err);
}

/* Sets the policy of the features beyond lock and unlock. */
void
lockstore_set_policy(struct lockstore *s, const struct lockstore_policy *p)
{
	/* Request threads read it meanwhile: a copy under the lock. */
	pthread_mutex_lock(&s->polock);
	s->policy = *p;
	if (s->ops->policy_changed != NULL)
		s->ops->policy_changed(s->impl, p);
	pthread_mutex_unlock(&s->polock);
}

/* Locks held as of the backend's last count, or -1. */
long long
lockstore_count_held(struct lockstore *s)
{
	if (s->ops->count_held == NULL)
		return -1;
	return s->ops->count_held(s->impl);
}

/* A snapshot of the counters. */
void
lockstore_get_stats(struct lockstore *s, struct lockstore_stats *out)
{
	const unsigned long long	*src;
	unsigned long long		*dst;
	size_t				 i;

	/* Field by field: each is atomic, the whole is not a snapshot. */
	src = (const unsigned long long *)&s->stats;
	dst = (unsigned long long *)out;
	for (i = 0; i < sizeof(*out) / sizeof(*dst); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

/* Closes the store and its backend; accepts NULL. */
void
lockstore_close(struct lockstore *s)
{
	if (s == NULL)
		return;
	s->ops->close(s->impl);
	waitq_free(s->waitq);
	pthread_mutex_destroy(&s->polock);
	free(s);
}
