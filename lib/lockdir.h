/* SPDX-License-Identifier: MIT */
/*
 * The lock-directory backend's insides, shared by its files: lockdir.c
 * (open, lock, unlock) and lockdir_query.c (status, list).
 */
#ifndef LOCKDIR_H
#define LOCKDIR_H

#include <sys/types.h>

#include <pthread.h>

#include "gsync.h"
#include "lockfile.h"
#include "lockstore.h"
#include "name.h"

/* Prefix of the temporary files a lock is written to before it is linked. */
#define LOCKDIR_TMP_PREFIX	".tmp."

/* Seconds after which any temporary file is stale, whoever made it. */
#define LOCKDIR_TMP_STALE	600

/* The fencing token counter: the last token handed out, 20 digits. */
#define LOCKDIR_TOKEN_FILE	".token"

/* How often a lock or unlock retries after losing a race. */
#define LOCKDIR_RACE_RETRIES	1000

/* Internal result of looking at one lock file: it is not there. */
#define LOCKDIR_ABSENT		(-1)

struct lockdir {
	int		 dirfd;
	unsigned int	 flags;
	unsigned long	 instance;	/* distinguishes stores in a process */
	unsigned long	 seq;		/* temporary file counter (atomic) */
	char		*path;		/* absolute */
	dev_t		 dev;		/* identity of the directory opened */
	ino_t		 ino;
	struct gsync	 dirsync;	/* shared fsyncs of dirfd */
	int		 tokfd;		/* LOCKDIR_TOKEN_FILE, -1 until used */
	pthread_mutex_t	 toklock;	/* threads; flock() excludes
					   processes */
	struct gsync	 toksync;	/* shared fsyncs of tokfd */
};

/* Reads lock file FNAME into LF; LOCKDIR_ABSENT if it does not exist. */
int	lockdir_read_lock(const struct lockdir *ld, const char *fname,
	    const char *resource, struct lockfile *lf,
	    struct lockstore_error *err);

/* Whether LF, found under RESOURCE's own file name, is RESOURCE's lock. */
enum lockstore_status	lockdir_check_owner(const struct lockfile *lf,
			    const char *resource, enum name_form form,
			    struct lockstore_error *err);

/* Writes gocept.lockd's file name for an escaped RESOURCE into BUF; 0 if
 * there is none. */
int	lockdir_legacy_name(const char *resource, enum name_form form,
	    char *buf, size_t size);

/* STORAGE unless the lock directory is still the one opened. */
enum lockstore_status	lockdir_check_dir(const struct lockdir *ld,
			    const char *resource, struct lockstore_error *err);

/* The backend's inspect and list (lockdir_query.c). */
enum lockstore_status	lockdir_inspect(void *impl, const char *resource,
			    int *held, struct lockstore_lock_info *info,
			    struct lockstore_error *err);
enum lockstore_status	lockdir_list(void *impl,
			    const struct lockstore_list_query *q,
			    lockstore_list_fn fn, void *arg,
			    char next[LOCKSTORE_CURSOR_SIZE],
			    struct lockstore_error *err);

#endif /* LOCKDIR_H */
