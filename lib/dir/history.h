/* SPDX-License-Identifier: MIT */
/*
 * The lock history of the lock-directory backend: a bounded record of
 * ended holdings, shared by every process using the directory (made
 * durable by the lock directory's journal, journal.c).
 */
#ifndef HISTORY_H
#define HISTORY_H

#include <stddef.h>

#include "lockstore.h"

/* The current segment and the one before it, in the lock directory. */
#define HISTORY_FILE		".history"
#define HISTORY_FILE_OLD	".history.1"

struct history;

/*
 * Opens the journal in the lock directory open at DIRFD (not owned; it
 * must stay open until history_close()).  SEGMENT_BYTES: once the current
 * segment has reached it, the next append first rotates (the current
 * segment replaces the previous one, a new one is started), so about two
 * segments are kept; 0: appends do nothing, queries still read what is
 * retained.  Appends are not synced (history_sync() is).  Files are
 * created lazily.  Returns NULL with errno (ENOMEM) on failure; free with
 * history_close().
 */
struct history		*history_open(int dirfd, unsigned long segment_bytes);

/* Changes the segment size for later appends (0: history off). */
void			 history_set_segment(struct history *h,
			    unsigned long segment_bytes);

/*
 * Appends the ended holding E.  Safe from many threads and many processes
 * sharing the directory.  Errors: STORAGE ("Storage error: cannot write
 * the history: <strerror>", sys_errno set).
 */
enum lockstore_status	 history_append(struct history *h,
			    const struct lockstore_history_entry *e,
			    struct lockstore_error *err);

/*
 * Calls FN for at most LIMIT (clamped to LOCKSTORE_HISTORY_MAX) retained
 * entries of RESOURCE (compared byte for byte), newest first, until FN
 * returns nonzero.  Records repeating one holding (same token, not 0, and
 * same since) are reported once, as the newest of them.  Torn and
 * unreadable lines are skipped; missing files are an empty history.
 * Errors: STORAGE ("Storage error: cannot read the history: <strerror>").
 */
enum lockstore_status	 history_query(struct history *h,
			    const char *resource, size_t limit,
			    lockstore_history_fn fn, void *arg,
			    struct lockstore_error *err);

/*
 * For history_query() (histquery.c): opens ".history" and ".history.1" for
 * reading as two consecutive segments (no rotation between the opens).
 * Sets *CURP and *OLDP to a descriptor each, or -2 for a missing file.  0,
 * or -1 with errno (also for a file that is not one of lockd's own).
 */
int			 history_open_pair(struct history *h, int *curp,
			    int *oldp);

/*
 * Whether appends could write now, for a health probe: history off, no
 * ".history" yet (the next append creates it), or one that opens for
 * appending and is one of lockd's own files (lockdir_not_own()), once a
 * torn rotation is finished (history.c).  Errors as history_append()'s.
 */
enum lockstore_status	 history_health(struct history *h,
			    struct lockstore_error *err);

/* Syncs both segments' data (a checkpoint of the lock directory's
 * journal: the history's own appends are not synced then).  Accepts
 * NULL.  0, or -1 with errno. */
int			 history_sync(struct history *h);

/* Closes the journal; no call may be running on H.  Accepts NULL. */
void			 history_close(struct history *h);

#endif /* HISTORY_H */
