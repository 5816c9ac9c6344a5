/* SPDX-License-Identifier: MIT */
/*
 * lockd's wire contract in one place: XML-RPC fault codes, method names and
 * lockcmd's exit statuses.  Included by the daemon, lockcmd and the fuzz
 * targets; the Python tests read the fault codes from this file.  PROTOCOL
 * is the prose of the same contract: change both together.
 */
#ifndef PROTOCOL_H
#define PROTOCOL_H

/* XML-RPC fault codes (PROTOCOL, "Faults").  Stable: never renumber. */
#define LOCKD_FAULT_HELD		1	/* Resource already locked by 'H' */
#define LOCKD_FAULT_NOT_OWNER		2	/* ... cannot be unlocked by 'C' */
#define LOCKD_FAULT_NOT_LOCKED		3	/* Resource not locked */
#define LOCKD_FAULT_DELAYED		4	/* lock-delay after break/expiry */
#define LOCKD_FAULT_STALE_TOKEN		5	/* renew with an old token */
#define LOCKD_FAULT_NO_LEASE		6	/* renew of a lock without TTL */
#define LOCKD_FAULT_PARAMS		10	/* bad parameters */
#define LOCKD_FAULT_RESOURCE		11	/* bad resource name */
#define LOCKD_FAULT_CLIENT		12	/* bad client name */
#define LOCKD_FAULT_STORAGE		20	/* storage error */
#define LOCKD_FAULT_STATE		21	/* invalid lock state */
#define LOCKD_FAULT_REFUSED		30	/* request refused by a limit */
#define LOCKD_FAULT_DENIED		40	/* peer not in the allow list */
#define LOCKD_FAULT_AUTH		41	/* no or wrong credentials */
#define LOCKD_FAULT_FORBIDDEN		42	/* user may not act as that client */
#define LOCKD_FAULT_NOT_PERMITTED	43	/* break_lock: disabled, not admin */
#define LOCKD_FAULT_WAITERS		50	/* too many waiters */

/* Method names (PROTOCOL, "Methods"). */
#define LOCKD_METHOD_LOCK		"lock"
#define LOCKD_METHOD_UNLOCK		"unlock"
#define LOCKD_METHOD_LOCK_TOKEN		"lock_token"
#define LOCKD_METHOD_PING		"ping"
#define LOCKD_METHOD_STATUS		"status"
#define LOCKD_METHOD_LIST		"list"
#define LOCKD_METHOD_CHECK		"check"
#define LOCKD_METHOD_ACQUIRE		"acquire"
#define LOCKD_METHOD_RENEW		"renew"
#define LOCKD_METHOD_BREAK_LOCK		"break_lock"
#define LOCKD_METHOD_HISTORY		"history"

/* lockcmd's exit statuses (lockcmd.1, EXIT STATUS). */
#define LOCKCMD_EXIT_OK			0	/* also: status, held; check, true */
#define LOCKCMD_EXIT_HELD		1	/* faults 1, 4, 5; check, false */
#define LOCKCMD_EXIT_NOT_OWNER		2	/* fault 2 */
#define LOCKCMD_EXIT_NOT_LOCKED		3	/* fault 3; status, not held */
#define LOCKCMD_EXIT_REFUSED		4	/* 6, 10, 11, 12, 30, negative */
#define LOCKCMD_EXIT_FAILED		5	/* 20, 21, 50, any other fault */
#define LOCKCMD_EXIT_NOPERM		77	/* EX_NOPERM: 40, 41, 42, 43 */
#define LOCKCMD_EXIT_USAGE		64	/* EX_USAGE */
#define LOCKCMD_EXIT_UNREACHABLE	69	/* EX_UNAVAILABLE */
#define LOCKCMD_EXIT_SOFTWARE		70	/* EX_SOFTWARE */

#endif /* PROTOCOL_H */
