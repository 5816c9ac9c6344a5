/* SPDX-License-Identifier: MIT */
/*
 * The lock-directory backend's insides, shared by its files: open, take
 * (lockdir.c), write, read, release, expire, renew, break, query, file
 * names (fname.h), lock files (lockfile.h), tokens, the journal,
 * history.
 */
#ifndef LOCKDIR_H
#define LOCKDIR_H

#include <sys/types.h>

#include <pthread.h>

#include "clock.h"
#include "fname.h"
#include "history.h"
#include "journal.h"
#include "lockfile.h"
#include "lockstore.h"
#include "lockstore_dir.h"
#include "store_impl.h"
#include "watch.h"

/* Prefix of the temporary files a lock is written to before it gets its
 * name. */
#define LOCKDIR_TMP_PREFIX	".tmp."

/* Prefix of the spare lock-file inodes of 0.2, removed at open. */
#define LOCKDIR_POOL_PREFIX	".pool."

/* Seconds after which any temporary file is stale, whoever made it. */
#define LOCKDIR_TMP_STALE	600

/* The fencing token counter (token.c). */
#define LOCKDIR_TOKEN_FILE	".token"

/* Longest a lockless reader waits for LOCK_SH on a lock file (ms). */
#define LOCKDIR_SH_WAIT_MS	10000

/* How often a lock or unlock retries after losing a race. */
#define LOCKDIR_RACE_RETRIES	1000

/* Internal result of looking at one lock file: it is not there. */
#define LOCKDIR_ABSENT		(-1)

/* Internal result of a lock attempt: the state changed, look again. */
#define LOCKDIR_AGAIN		(-2)

/* Lock files the lease scan reads per lockstore_expire() call, and how
 * often (seconds) it starts over to find leases granted elsewhere (and to
 * count the locks held). */
#define LOCKDIR_SCAN_BATCH	1000
#define LOCKDIR_SCAN_PERIOD	60

/* A lease this process knows of, for the expiry sweep. */
struct lockdir_lease {
	char		*resource;
	long long	 deadline_ms;	/* CLOCK_BOOTTIME */
};

struct lockdir {
	int		 dirfd;
	int		 durable;	/* journal is on */
	unsigned long	 instance;	/* distinguishes stores in a process */
	unsigned long	 seq;		/* temporary file counter (atomic) */
	int		 no_rename2;	/* renameat2() unsupported (atomic) */
	char		*path;		/* absolute */
	dev_t		 dev;		/* identity of the directory opened */
	ino_t		 ino;
	struct journal	 journal;	/* when durable */
	int		 tokfd;		/* LOCKDIR_TOKEN_FILE, -1 until used */
	int		 tokwfd;	/* it, for writing, -1: none */
	int		 tokusers;	/* grants sharing tokwfd */
	pthread_mutex_t	 toklock;	/* threads; flock() excludes
					   processes */
	char		 boot[LOCKFILE_BOOT_SIZE];	/* this boot's id */
	struct lockstore *store;	/* the front end: policy, counters,
					   wait queue */
	struct history	*history;	/* NULL: out of memory at open */
	struct dirwatch	*watch;		/* wakes it on others' releases */
	pthread_mutex_t	 leaselock;	/* leases, nleases, scan */
	struct lockdir_lease *leases;
	size_t		 nleases, leasecap;
	void		*scan;		/* DIR * of the lease scan, or NULL */
	long long	 scan_started;	/* CLOCK_BOOTTIME ms, 0: never */
	int		 scanning;	/* a sweep runs (one at a time) */
	long long	 scan_held;	/* holdings seen in this scan pass */
	long long	 held;		/* of the last full pass, -1: none */
};

/* Writing lock files (write.c). */

/* flock(FD, LOCK_EX), retried when a signal interrupts it; 0 or -1. */
int	lockdir_flock_ex(int fd);

/* "Storage error: WHAT for 'RESOURCE': strerror(E)". */
enum lockstore_status	lockdir_storage(struct lockstore_error *err, int e,
			    const char *what, const char *resource);

/*
 * Writes LF (NULL: nothing yet) into a new temporary file, named in TMP
 * (of TMPSIZE), and flock()s it; returns its descriptor, or -1 with ERR
 * filled (RESOURCE names it).
 */
int	lockdir_write_tmp(struct lockdir *ld, const struct lockfile *lf,
	    const char *resource, char *tmp, size_t tmpsize,
	    struct lockstore_error *err);

/* Writes LF as the whole content of the temporary file open at FD (empty,
 * or written before with a smaller token).  0, or -1 with errno. */
int	lockdir_write_content(int fd, const struct lockfile *lf);

/* Gives lock file FNAME (whose flock the caller holds) the content LF:
 * a temporary file renamed over it, not synced (see the journal). */
enum lockstore_status	lockdir_place_content(struct lockdir *ld,
			    const char *fname, const struct lockfile *lf,
			    const char *resource, struct lockstore_error *err);

/* Makes the change to lock file FNAME of RESOURCE durable without a
 * journal record (a full disk): the file and a checkpoint synced. */
enum lockstore_status	lockdir_settle(struct lockdir *ld,
			    const char *fname, const char *resource,
			    struct lockstore_error *err);

/*
 * Ends a change to lock file FNAME of RESOURCE begun with journal_enter()
 * (when durable): ST, the change's outcome, and JRC, -1 if its records
 * could not be appended (then it is made durable by lockdir_settle()),
 * else waits for the journal's sync.
 */
enum lockstore_status	lockdir_journal_finish(struct lockdir *ld,
			    enum lockstore_status st, int jrc, const char *fname,
			    const char *resource, struct lockstore_error *err);

/* Waits for the journal sync MARK of a change to RESOURCE (a no-op when
 * not durable): LOCKSTORE_OK, or STORAGE saying what may be lost. */
enum lockstore_status	lockdir_journal_wait(struct lockdir *ld,
			    uint64_t mark, const char *resource,
			    struct lockstore_error *err);

/*
 * Opens lock file FNAME, flock()s it and makes sure the name still refers
 * to the inode locked, then reads it into *LFP (malloc'd).  Returns
 * LOCKSTORE_OK with *FDP open and locked (the caller closes it and frees
 * *LFP), LOCKDIR_ABSENT, or an error (*LFP NULL).
 */
int	lockdir_open_locked(struct lockdir *ld, const char *fname,
	    const char *resource, int *fdp, struct lockfile **lfp,
	    struct lockstore_error *err);

/*
 * Why the file open at FD is not one of lockd's own (open.c): those are
 * regular files with no second name (which could lead a write to a file
 * outside), owned by the user lockd runs as.  NULL when it is one; else
 * the reason ("is not a regular file" ...) and in *E an errno for it.
 */
const char	*lockdir_not_own(int fd, int *e);

/* Whether the token counter can be used (token.c): absent, or one of
 * lockd's own that opens for writing and is the one in use. */
enum lockstore_status	lockdir_token_health(struct lockdir *ld,
			    struct lockstore_error *err);

/* Hands out the next fencing token (token.c; durable before it
 * returns: no crash can make it repeat). */
enum lockstore_status	lockdir_next_token(struct lockdir *ld,
			    const char *resource, unsigned long long *token,
			    struct lockstore_error *err);

/* Grants in flight share the token counter's descriptor for writing
 * (token.c): between these two calls. */
void	lockdir_token_hold(struct lockdir *ld);
void	lockdir_token_release(struct lockdir *ld);

/* lockdir_next_token(), calling THEN(ARG, token) (when not NULL) before
 * any other token can be handed out: what THEN does is in token order. */
enum lockstore_status	lockdir_token_then(struct lockdir *ld,
			    const char *resource, unsigned long long *token,
			    void (*then)(void *, unsigned long long),
			    void *arg, struct lockstore_error *err);

/* Replaces lock file FNAME (whose flock the caller holds) by LF,
 * atomically and durably. */
enum lockstore_status	lockdir_replace(struct lockdir *ld,
			    const char *fname, const struct lockfile *lf,
			    const char *resource, struct lockstore_error *err);

/*
 * Ends the holding LF of lock file FNAME, whose flock the caller holds:
 * records it in the history (HOW, BY, REASON), then removes the file or,
 * after a break or an expiry with a lock-delay, puts a lock-delay marker
 * with token MARK_TOKEN in its place.  Durable before it returns.
 */
enum lockstore_status	lockdir_end(struct lockdir *ld, const char *fname,
			    const char *resource, const struct lockfile *lf,
			    enum lockstore_end how, const char *by,
			    const char *reason, unsigned long long mark_token,
			    struct lockstore_error *err);

/* What a lease or a lock-delay marker means at NOW_MS. */
enum lockdir_timed { LOCKDIR_LIVE, LOCKDIR_EXPIRED, LOCKDIR_OTHER_BOOT };
enum lockdir_timed	lockdir_lease_state(const struct lockdir *ld,
			    const struct lockfile *lf, long long now_ms);
enum lockdir_timed	lockdir_delay_state(const struct lockdir *ld,
			    const struct lockfile *lf, long long now_ms);

/* Remembers (DEADLINE_MS > 0) or forgets (0) a lease for the sweep. */
void	lockdir_note_lease(struct lockdir *ld, const char *resource,
	    long long deadline_ms);

/*
 * Releases the lease in lock file FNAME if it has expired (LOCKSTORE_OK
 * or LOCKDIR_ABSENT when there was nothing to do; LOCKDIR_AGAIN after
 * releasing it).
 */
int	lockdir_expire_one(struct lockdir *ld, const char *fname,
	    const char *resource, struct lockstore_error *err);

/* The backend's renew (renew.c), break (break.c), history (query.c),
 * expiry sweep (expire.c) and health (open.c). */
store_renew_fn		lockdir_renew;
store_break_fn		lockdir_break;
store_history_fn	lockdir_history;
store_expire_fn		lockdir_expire;
store_count_held_fn	lockdir_count_held;
store_health_fn		lockdir_health;
void			lockdir_lease_close(struct lockdir *ld);

/* Reads lock file FNAME into LF; LOCKDIR_ABSENT if it does not exist.
 * Unless WAIT, gives up with LOCKDIR_AGAIN rather than wait for a change
 * of the file to end. */
int	lockdir_read_lock(const struct lockdir *ld, const char *fname,
	    const char *resource, int wait, struct lockfile *lf,
	    struct lockstore_error *err);

/* Whether LF, found under RESOURCE's own file name, is RESOURCE's lock. */
enum lockstore_status	lockdir_check_owner(const struct lockfile *lf,
			    const char *resource, enum name_form form,
			    struct lockstore_error *err);

/* STORAGE unless the lock directory is still the one opened. */
enum lockstore_status	lockdir_check_dir(const struct lockdir *ld,
			    const char *resource, struct lockstore_error *err);

/* The backend's inspect and list (query.c). */
store_inspect_fn	lockdir_inspect;
store_list_fn		lockdir_list;

/* The backend's unlock (release.c), its close (open.c), and the store of
 * LD with the backend's calls (lockdir.c). */
store_unlock_fn		lockdir_unlock;
store_close_fn		lockdir_close;
struct lockstore	*lockdir_store_new(struct lockdir *ld);

#endif /* LOCKDIR_H */
