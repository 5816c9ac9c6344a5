/* SPDX-License-Identifier: MIT */
/*
 * The lock store: the one interface through which lockd takes and releases
 * locks.  All lock semantics and the documented messages live behind it.
 */
#ifndef LOCKSTORE_H
#define LOCKSTORE_H

#include <stddef.h>

/* Longest resource or client name accepted, in bytes (without the NUL). */
#define LOCKSTORE_NAME_MAX	4096

/* Room for any message the store produces, NUL included. */
#define LOCKSTORE_MSG_MAX	(2 * LOCKSTORE_NAME_MAX + 512)

/*
 * Outcome of a store call.  The values are stable: the daemon maps each to
 * its own XML-RPC fault code, and lockcmd to its own exit status.
 */
enum lockstore_status {
	LOCKSTORE_OK = 0,
	LOCKSTORE_HELD,		/* lock: "Resource already locked by 'H'" */
	LOCKSTORE_NOT_OWNER,	/* unlock: "Resource locked by 'H' cannot be
				   unlocked by 'C'" */
	LOCKSTORE_NOT_LOCKED,	/* unlock: "Resource not locked" */
	LOCKSTORE_BAD_RESOURCE,	/* empty or too long resource name */
	LOCKSTORE_BAD_CLIENT,	/* empty, too long or control bytes */
	LOCKSTORE_STORAGE,	/* the system refused (ENOSPC, EACCES, EIO...) */
	LOCKSTORE_INVALID_STATE,/* a lock file that is not one: a symlink, a
				   directory, a name-hash collision */
	LOCKSTORE_DELAYED,	/* acquire: in lock-delay after a break or an
				   expired lease */
	LOCKSTORE_STALE_TOKEN,	/* renew: the client holds it under another
				   token */
	LOCKSTORE_NO_LEASE,	/* renew: the lock was taken without a TTL */
	LOCKSTORE_TOO_MANY_WAITERS, /* acquire: max_waiters already wait */
	LOCKSTORE_CANCELLED,	/* acquire: the caller's cancel test said so */
	LOCKSTORE_BAD_ARGUMENT	/* a bad option: TTL, wait, reason, limit */
};

/* Filled by every call that fails; msg is a sentence for a person. */
struct lockstore_error {
	enum lockstore_status	status;
	int			sys_errno;	/* 0 unless STORAGE */
	char			msg[LOCKSTORE_MSG_MAX];
};

struct lockstore;

/*
 * Takes the lock on RESOURCE for CLIENT.  On LOCKSTORE_OK the lock is
 * stored and, unless the backend was opened not to sync, durable.  Safe to
 * call from many threads and many processes sharing one store.
 * Errors: HELD (also when CLIENT itself holds it, as the original did),
 * BAD_RESOURCE, BAD_CLIENT, STORAGE, INVALID_STATE.
 */
enum lockstore_status	lockstore_lock(struct lockstore *store,
			    const char *resource, const char *client,
			    struct lockstore_error *err);

/*
 * lockstore_lock(), also storing the grant's fencing token in *TOKEN: a
 * number strictly greater than every token handed out before in this lock
 * directory, by any process, across restarts and crashes (durable before
 * the grant is).  Every grant takes one, also through lockstore_lock().
 */
enum lockstore_status	lockstore_lock_token(struct lockstore *store,
			    const char *resource, const char *client,
			    unsigned long long *token,
			    struct lockstore_error *err);

/*
 * Sets *VALID to whether CLIENT holds RESOURCE under TOKEN now.
 * Errors: BAD_RESOURCE, BAD_CLIENT, STORAGE, INVALID_STATE.
 */
enum lockstore_status	lockstore_check(struct lockstore *store,
			    const char *resource, const char *client,
			    unsigned long long token, int *valid,
			    struct lockstore_error *err);

/*
 * Releases RESOURCE if CLIENT holds it; the check and the removal are one
 * atomic step against every other lock and unlock.
 * Errors: NOT_LOCKED, NOT_OWNER, BAD_RESOURCE, BAD_CLIENT, STORAGE,
 * INVALID_STATE.
 */
enum lockstore_status	lockstore_unlock(struct lockstore *store,
			    const char *resource, const char *client,
			    struct lockstore_error *err);

/* How a holding ended, in the history. */
enum lockstore_end {
	LOCKSTORE_END_UNLOCK = 0,
	LOCKSTORE_END_BREAK,
	LOCKSTORE_END_EXPIRY
};

/* One held lock, as inspect and list report it. */
struct lockstore_lock_info {
	char		resource[LOCKSTORE_NAME_MAX + 1];
	char		holder[LOCKSTORE_NAME_MAX + 1];
	long long	since;		/* seconds since the epoch, 0: unknown */
	unsigned long long token;	/* fencing token, 0: unknown */
	unsigned int	ttl_ms;		/* lease TTL, 0: no lease */
	long long	expires_ms;	/* lease end, epoch ms, 0: no lease */
	long long	delay_until_ms;	/* inspect, not held: lock-delay end,
					   epoch ms, 0: none */
	enum lockstore_end delay_cause;	/* what started that lock-delay */
};

/*
 * Whether RESOURCE is held: sets *HELD, and fills INFO when it is.
 * Errors: BAD_RESOURCE, STORAGE, INVALID_STATE.
 */
enum lockstore_status	lockstore_inspect(struct lockstore *store,
			    const char *resource, int *held,
			    struct lockstore_lock_info *info,
			    struct lockstore_error *err);

/* Size of a list cursor, NUL included. */
#define LOCKSTORE_CURSOR_SIZE	512

/* Largest page lockstore_list() returns. */
#define LOCKSTORE_LIST_MAX	10000

/* What lockstore_list() selects. */
struct lockstore_list_query {
	const char	*prefix;	/* NULL or "": any resource */
	const char	*holder;	/* NULL: any holder */
	const char	*after;		/* a previous NEXT; NULL or "": start */
	size_t		 limit;		/* 1 to LOCKSTORE_LIST_MAX */
};

/* Receives one lock of a listing; returns 0 to go on, -1 to abort it. */
typedef int	(*lockstore_list_fn)(const struct lockstore_lock_info *info,
		    void *arg);

/*
 * Calls FN for at most Q->limit held locks matching Q, in a stable order,
 * starting after the cursor Q->after, and writes the cursor of the next
 * page to NEXT ("" when there is none).  Locks held throughout a listing
 * are each reported exactly once across its pages.
 * Errors: BAD_RESOURCE (a bad cursor or limit), STORAGE, and STORAGE when
 * FN aborts.
 */
enum lockstore_status	lockstore_list(struct lockstore *store,
			    const struct lockstore_list_query *q,
			    lockstore_list_fn fn, void *arg,
			    char next[LOCKSTORE_CURSOR_SIZE],
			    struct lockstore_error *err);

/*
 * Policy for the features beyond lock/unlock; every store starts with
 * LOCKSTORE_POLICY_DEFAULT.  Applies to calls made after it is set.
 */
struct lockstore_policy {
	unsigned int	lock_delay_ms;	/* new takers held off after a break
					   or an expired lease; 0: none */
	unsigned int	max_waiters;	/* acquire() waiting at once, this
					   process; 0: no waiting allowed */
	unsigned int	max_wait_ms;	/* longest wait an acquire may ask */
	unsigned int	max_ttl_ms;	/* longest lease TTL */
	unsigned long	history_bytes;	/* history kept: two segments of this
					   size; 0: no history */
};
#define LOCKSTORE_POLICY_DEFAULT { 15000, 256, 3600000, 86400000, \
	    4ul << 20 }

/* Sets the policy; safe while other threads use the store. */
void	lockstore_set_policy(struct lockstore *store,
	    const struct lockstore_policy *policy);

/*
 * Polled by a waiting acquire() about every 100 ms and at its grant;
 * nonzero ends the wait with LOCKSTORE_CANCELLED (the caller went away),
 * a grant then undone by an unlock (recorded in the history as one).
 */
typedef int	(*lockstore_cancel_fn)(void *arg);

/* What acquire() is asked to do beyond lock_token(). */
struct lockstore_acquire_opts {
	unsigned int		 wait_ms;	/* 0: answer at once */
	unsigned int		 ttl_ms;	/* 0: no lease, never expires */
	lockstore_cancel_fn	 cancelled;	/* NULL: never */
	void			*cancel_arg;
};

/* What acquire() and renew() report. */
struct lockstore_grant {
	unsigned long long	token;
	int			reacquired;	/* CLIENT held it already */
	long long		since;		/* epoch seconds */
	unsigned int		ttl_ms;		/* 0: no lease */
	long long		expires_ms;	/* lease end, epoch ms (the
						   daemon's monotonic deadline
						   seen on its wall clock) */
	unsigned int		waited_ms;	/* time spent waiting */
};

/*
 * Takes RESOURCE for CLIENT like lock_token(), with these differences:
 * - when CLIENT already holds it (not a lock-delay marker), succeeds with
 *   reacquired set and the existing token (a retry after a lost reply is
 *   safe); a ttl_ms > 0 then renews the lease with that TTL;
 * - with wait_ms, waits up to that long while the resource is held or in
 *   lock-delay, in arrival order among this process's waiters, woken
 *   within 50 ms of a release by any process sharing the directory;
 * - with ttl_ms, the lock is a lease that expires ttl_ms after the grant
 *   (or the last renew) on the monotonic clock unless renewed.
 * Errors: HELD (also when the wait timed out), DELAYED (not waiting),
 * TOO_MANY_WAITERS, CANCELLED, BAD_ARGUMENT, BAD_RESOURCE, BAD_CLIENT,
 * STORAGE, INVALID_STATE.
 */
enum lockstore_status	lockstore_acquire(struct lockstore *store,
			    const char *resource, const char *client,
			    const struct lockstore_acquire_opts *opts,
			    struct lockstore_grant *grant,
			    struct lockstore_error *err);

/*
 * Extends the lease CLIENT holds on RESOURCE under TOKEN to TTL_MS from
 * now (0: its own TTL again).
 * Errors: NOT_LOCKED (also after expiry), NOT_OWNER, STALE_TOKEN, NO_LEASE,
 * BAD_ARGUMENT, BAD_RESOURCE, BAD_CLIENT, STORAGE, INVALID_STATE.
 */
enum lockstore_status	lockstore_renew(struct lockstore *store,
			    const char *resource, const char *client,
			    unsigned long long token, unsigned int ttl_ms,
			    struct lockstore_grant *grant,
			    struct lockstore_error *err);

/* Longest break reason, in bytes (the daemon refuses longer ones first). */
#define LOCKSTORE_REASON_MAX	1000

/* One ended holding. */
struct lockstore_history_entry {
	char		resource[LOCKSTORE_NAME_MAX + 1];
	char		holder[LOCKSTORE_NAME_MAX + 1];
	unsigned long long token;	/* 0: unknown */
	long long	since;		/* epoch seconds, 0: unknown */
	long long	until_ms;	/* epoch milliseconds */
	enum lockstore_end how;
	char		by[256];	/* break: who broke it; else "" */
	char		reason[1024];	/* break: why; else "" */
};

/*
 * Breaks the lock on RESOURCE whoever holds it: records the holding as
 * ended by BY (who asked, for the history) for REASON (non-empty), takes a
 * new fencing token so that every token handed out before is stale, and
 * holds new takers off for the lock-delay.  Fills BROKEN with the holding
 * that ended and *NEW_TOKEN with the token taken.
 * Errors: NOT_LOCKED, BAD_ARGUMENT (no reason), BAD_RESOURCE, STORAGE,
 * INVALID_STATE.
 */
enum lockstore_status	lockstore_break(struct lockstore *store,
			    const char *resource, const char *by,
			    const char *reason,
			    struct lockstore_lock_info *broken,
			    unsigned long long *new_token,
			    struct lockstore_error *err);

/* Receives one history entry, newest first; 0 to go on, -1 to stop. */
typedef int	(*lockstore_history_fn)(
		    const struct lockstore_history_entry *entry, void *arg);

/* Largest history answer. */
#define LOCKSTORE_HISTORY_MAX	1000

/*
 * Calls FN for the last LIMIT (1 to LOCKSTORE_HISTORY_MAX) ended holdings
 * of RESOURCE still retained, newest first.
 * Errors: BAD_ARGUMENT, BAD_RESOURCE, STORAGE.
 */
enum lockstore_status	lockstore_history(struct lockstore *store,
			    const char *resource, size_t limit,
			    lockstore_history_fn fn, void *arg,
			    struct lockstore_error *err);

/*
 * Releases the leases that have expired (recorded as expiries, followed by
 * the lock-delay).  The daemon calls it about every 100 ms; every other call
 * also notices an expired lease on the resource it touches.  On etcd it
 * also keeps alive the session lease of this store's waiters (10 s; a
 * lost one is replaced and its waiters queued again).  Returns the
 * number released, or -1 with ERR filled.
 */
int			lockstore_expire(struct lockstore *store,
			    struct lockstore_error *err);

/* Whether the store can take locks now (a write probe). */
enum lockstore_status	lockstore_health(struct lockstore *store,
			    struct lockstore_error *err);

/* Counters since the store was opened, for metrics. */
#define LOCKSTORE_WAIT_BUCKETS	10	/* wait time: <= 10,50,100,250,500 ms,
					   1,2.5,5,10 s, more */
struct lockstore_stats {
	unsigned long long	grants;		/* lock, lock_token, acquire */
	unsigned long long	reacquires;
	unsigned long long	releases;	/* unlock */
	unsigned long long	refusals[LOCKSTORE_BAD_ARGUMENT + 1];
					/* by status of lock/acquire/unlock
					   (OK unused) */
	unsigned long long	waits;		/* acquires that waited */
	unsigned long long	wait_buckets[LOCKSTORE_WAIT_BUCKETS];
	unsigned long long	wait_ms_sum;
	unsigned long long	waiting;	/* now */
	unsigned long long	breaks;
	unsigned long long	expiries;
	unsigned long long	renewals;
	unsigned long long	storage_errors;	/* any call */
	unsigned long long	history_lost;	/* holdings ended without a
					   record: the disk was full */
};
/* Upper bounds of the wait buckets in ms; the last bucket is +Inf. */
extern const unsigned int lockstore_wait_bucket_ms[LOCKSTORE_WAIT_BUCKETS - 1];

void	lockstore_get_stats(struct lockstore *store,
	    struct lockstore_stats *stats);

/*
 * Locks held in the store as of its last full count (the lock directory
 * counts in its background scan, which lockstore_expire() drives: at most
 * LOCKDIR_SCAN_PERIOD old), by every process sharing it; -1 before the
 * first count completes or when the backend cannot count.
 */
long long	lockstore_count_held(struct lockstore *store);

/* Closes the store; accepts NULL. */
void			lockstore_close(struct lockstore *store);

/* A stable lowercase identifier for STATUS ("held", "storage", ...). */
const char		*lockstore_status_name(enum lockstore_status status);

#endif /* LOCKSTORE_H */
