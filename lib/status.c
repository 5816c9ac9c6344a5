/* SPDX-License-Identifier: MIT */
/*
 * Error reporting of the lock store: status names and the documented
 * messages, kept in one place so daemon, client and tests cannot drift.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store_impl.h"

/* Fills ERR; the message is truncated, never overflowed. */
enum lockstore_status
store_error(struct lockstore_error *err, enum lockstore_status status,
    int sys_errno, const char *fmt, ...)
{
	va_list	ap;

	if (err == NULL)
		return status;
	err->status = status;
	err->sys_errno = sys_errno;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return status;
}

/* "Resource already locked by '<holder>'" */
enum lockstore_status
store_error_held(struct lockstore_error *err, const char *holder)
{
	return store_error(err, LOCKSTORE_HELD, 0,
	    "Resource already locked by '%s'", holder);
}

/* "Resource locked by '<holder>' cannot be unlocked by '<client>'" */
enum lockstore_status
store_error_not_owner(struct lockstore_error *err, const char *holder,
    const char *client)
{
	return store_error(err, LOCKSTORE_NOT_OWNER, 0,
	    "Resource locked by '%s' cannot be unlocked by '%s'",
	    holder, client);
}

/* "Resource not locked" */
enum lockstore_status
store_error_not_locked(struct lockstore_error *err)
{
	return store_error(err, LOCKSTORE_NOT_LOCKED, 0,
	    "Resource not locked");
}

/* "Resource held off until <when> after <cause> (lock-delay)" */
enum lockstore_status
store_error_delayed(struct lockstore_error *err, long long until_wall_ms,
    enum lockstore_end cause)
{
	struct tm	tm;
	time_t		secs = (time_t)((until_wall_ms + 999) / 1000);
	char		when[64];

	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return store_error(err, LOCKSTORE_DELAYED, 0, "Resource held off "
	    "until %s after %s (lock-delay)", when,
	    cause == LOCKSTORE_END_BREAK ? "a break" : "an expired lease");
}

/* "Resource already locked (the wait ran out behind other waiters)" */
enum lockstore_status
store_error_behind(struct lockstore_error *err)
{
	return store_error(err, LOCKSTORE_HELD, 0, "Resource already locked "
	    "(the wait ran out behind other waiters)");
}

/* "Storage error: out of memory" */
enum lockstore_status
store_error_nomem(struct lockstore_error *err)
{
	return store_error(err, LOCKSTORE_STORAGE, ENOMEM,
	    "Storage error: out of memory");
}

/* A stable lowercase identifier for STATUS. */
const char *
lockstore_status_name(enum lockstore_status status)
{
	static const char *const names[] = {
		"ok", "held", "not-owner", "not-locked", "bad-resource",
		"bad-client", "storage", "invalid-state", "delayed",
		"stale-token", "no-lease", "too-many-waiters", "cancelled",
		"bad-argument"
	};
	_Static_assert(sizeof(names) / sizeof(names[0]) ==
	    LOCKSTORE_BAD_ARGUMENT + 1, "a status without a name");

	if ((unsigned int)status < sizeof(names) / sizeof(names[0]))
		return names[status];
	return "unknown";
}
