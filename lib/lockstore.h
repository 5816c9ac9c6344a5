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
	LOCKSTORE_INVALID_STATE	/* a lock file that is not one: a symlink, a
				   directory, a name-hash collision */
};

/* Filled by every call that fails; msg is a sentence for a person. */
struct lockstore_error {
	enum lockstore_status	status;
	int			sys_errno;	/* 0 unless STORAGE */
	char			msg[LOCKSTORE_MSG_MAX];
};

/* Options for lockstore_open_dir(). */
#define LOCKSTORE_NOSYNC	0x1	/* skip fsync: UNSAFE, tests only */

struct lockstore;

/*
 * Opens the lock directory DIR, which must exist and be a directory.
 * Removes temporary files left behind by processes that no longer run.
 * Returns LOCKSTORE_OK and sets *storep (free with lockstore_close()), or
 * LOCKSTORE_STORAGE with err filled.
 */
enum lockstore_status	lockstore_open_dir(struct lockstore **storep,
			    const char *dir, unsigned int flags,
			    struct lockstore_error *err);

/*
 * Takes the lock on RESOURCE for CLIENT.  On LOCKSTORE_OK the lock is on
 * disk and, unless opened with LOCKSTORE_NOSYNC, durable.  Safe to call from
 * many threads and many processes sharing one directory.
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

/* One held lock, as inspect and list report it. */
struct lockstore_lock_info {
	char		resource[LOCKSTORE_NAME_MAX + 1];
	char		holder[LOCKSTORE_NAME_MAX + 1];
	long long	since;		/* seconds since the epoch, 0: unknown */
	unsigned long long token;	/* fencing token, 0: unknown */
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

/* Closes the store; accepts NULL. */
void			lockstore_close(struct lockstore *store);

/* A stable lowercase identifier for STATUS ("held", "storage", ...). */
const char		*lockstore_status_name(enum lockstore_status status);

#endif /* LOCKSTORE_H */
