/* SPDX-License-Identifier: MIT */
/*
 * Opening the lock directory as a store (and cleaning what crashed writers
 * left there), checking that it is still the one opened, and closing it.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lockdir.h"

static unsigned long instances;	/* atomic */

/*
 * Removes temporary files whose writer is gone (its pid no longer runs) or
 * that are older than any lock call can take, and 0.2's spare inodes.  A
 * crash between write and rename leaves them; they are never read as
 * locks.
 */
static void
remove_stale_tmp(struct lockdir *ld)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	char		*end;
	long		 pid;
	size_t		 skip;
	int		 fd;

	if ((fd = dup(ld->dirfd)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		/* Never a lock file: gocept.lockd's of a resource ".tmp.x"
		 * or ".pool.x" looks like ours but for its suffix. */
		if (name_has_suffix(de->d_name))
			continue;
		/* 0.2's spare inodes: lockd keeps none any more. */
		if (strncmp(de->d_name, LOCKDIR_POOL_PREFIX,
		    sizeof(LOCKDIR_POOL_PREFIX) - 1) == 0) {
			unlinkat(ld->dirfd, de->d_name, 0);
			continue;
		}
		if (strncmp(de->d_name, LOCKDIR_TMP_PREFIX,
		    sizeof(LOCKDIR_TMP_PREFIX) - 1) != 0)
			continue;
		skip = sizeof(LOCKDIR_TMP_PREFIX) - 1;
		errno = 0;
		pid = strtol(de->d_name + skip, &end, 10);
		if (errno == 0 && *end == '.' && pid > 0 &&
		    pid != (long)getpid() &&
		    kill((pid_t)pid, 0) == -1 && errno == ESRCH) {
			unlinkat(ld->dirfd, de->d_name, 0);
			continue;
		}
		if (fstatat(ld->dirfd, de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_mtime + LOCKDIR_TMP_STALE < time(NULL))
			unlinkat(ld->dirfd, de->d_name, 0);
	}
	closedir(d);
}

/* Reads this boot's id, or leaves "unknown-boot" (then every deadline
 * counts as this boot's). */
static void
read_boot(struct lockdir *ld)
{
	char	buf[64];
	size_t	n;
	FILE	*fp;

	snprintf(ld->boot, sizeof(ld->boot), "0-unknown-boot");
	if ((fp = fopen("/proc/sys/kernel/random/boot_id", "re")) == NULL)
		return;
	if (fgets(buf, sizeof(buf), fp) != NULL) {
		n = strcspn(buf, "\n");
		buf[n] = '\0';
		if (n > 0 && n < sizeof(ld->boot) &&
		    strspn(buf, "0123456789abcdef-") == n)
			memcpy(ld->boot, buf, n + 1);
	}
	fclose(fp);
}

/* Opens the lock directory DIR as a store. */
enum lockstore_status
lockstore_open_dir(struct lockstore **storep, const char *dir,
    unsigned int flags, struct lockstore_error *err)
{
	const struct lockstore_policy	 def = LOCKSTORE_POLICY_DEFAULT;
	struct lockdir			*ld;
	struct stat			 st;

	*storep = NULL;
	if ((ld = calloc(1, sizeof(*ld))) == NULL)
		return store_error_nomem(err);
	ld->dirfd = -1;
	ld->journal.fd = -1;
	/* Absolute, so the identity check works after a chdir("/"). */
	if ((ld->path = realpath(dir, NULL)) == NULL ||
	    (ld->dirfd = open(ld->path, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || fstat(ld->dirfd, &st) == -1) {
		store_error(err, LOCKSTORE_STORAGE, errno,
		    "Storage error: cannot open lock directory '%s': %s", dir,
		    strerror(errno));
		if (ld->dirfd != -1)
			close(ld->dirfd);
		free(ld->path);
		free(ld);
		return LOCKSTORE_STORAGE;
	}
	ld->durable = (flags & LOCKSTORE_NOSYNC) == 0;
	ld->instance = __atomic_fetch_add(&instances, 1, __ATOMIC_RELAXED);
	ld->dev = st.st_dev;
	ld->ino = st.st_ino;
	ld->tokfd = ld->tokwfd = -1;	/* opened at the first grant */
	pthread_mutex_init(&ld->toklock, NULL);
	pthread_mutex_init(&ld->leaselock, NULL);
	ld->held = -1;
	read_boot(ld);
	remove_stale_tmp(ld);
	/* The journal's records make the history durable. */
	ld->history = history_open(ld->dirfd, def.history_bytes);
	/* Without syncs no journal, but what a power loss left is replayed
	 * all the same. */
	if (ld->history != NULL && journal_open(ld->durable ? &ld->journal :
	    NULL, ld->dirfd, ld->boot, ld->instance, ld->history) == -1) {
		store_error(err, LOCKSTORE_STORAGE, errno, "Storage error: "
		    "cannot recover or start the journal in lock directory "
		    "'%s': %s", dir, strerror(errno));
		lockdir_close(ld);
		return LOCKSTORE_STORAGE;
	}
	if (ld->history == NULL ||
	    (*storep = lockdir_store_new(ld)) == NULL) {
		lockdir_close(ld);
		return store_error_nomem(err);
	}
	ld->store = *storep;
	if ((ld->watch = dirwatch_new(ld->path, ld->store->waitq)) == NULL) {
		lockstore_close(*storep);
		*storep = NULL;
		return store_error_nomem(err);
	}
	return LOCKSTORE_OK;
}

/*
 * Whether the lock directory is still the one we opened.  Were it renamed
 * or replaced, locks granted into our open descriptor would be invisible
 * to every daemon that opens the path later: two holders.  So refuse.
 */
enum lockstore_status
lockdir_check_dir(const struct lockdir *ld, const char *resource,
    struct lockstore_error *err)
{
	struct stat	now;

	if (stat(ld->path, &now) == 0 && now.st_dev == ld->dev &&
	    now.st_ino == ld->ino)
		return LOCKSTORE_OK;
	return store_error(err, LOCKSTORE_STORAGE, ESTALE, "Storage error: "
	    "the lock directory %s was removed or replaced since lockd "
	    "opened it (restart lockd) while handling '%s'", ld->path,
	    resource);
}

/* Why the file open at FD is not one of lockd's own; see lockdir.h. */
const char *
lockdir_not_own(int fd, int *e)
{
	struct stat	st;

	if (fstat(fd, &st) == -1) {
		*e = errno;
		return "cannot be examined";
	}
	if (S_ISDIR(st.st_mode)) {
		*e = EISDIR;
		return "is a directory";
	}
	if (!S_ISREG(st.st_mode)) {
		*e = EINVAL;
		return "is not a regular file";
	}
	/* 0: removed since it was opened, which the callers handle. */
	if (st.st_nlink > 1) {
		*e = EMLINK;
		return "has another name (a hard link)";
	}
	if (st.st_uid != geteuid()) {
		*e = EPERM;
		return "belongs to another user";
	}
	return NULL;
}

/*
 * Creates, writes and removes a probe file.  Its name is this process's
 * own, so whatever is found there (left by a crash of a process with our
 * pid, or planted: a FIFO would hang a plain open) is removed first, and
 * the file is created anew.
 */
static enum lockstore_status
probe_write(struct lockdir *ld, struct lockstore_error *err)
{
	char	name[64];
	int	fd, e;

	snprintf(name, sizeof(name), "%s%ld.health.%lu", LOCKDIR_TMP_PREFIX,
	    (long)getpid(), ld->instance);
	(void)unlinkat(ld->dirfd, name, 0);
	fd = openat(ld->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd == -1 || write(fd, "ok\n", 3) != 3) {
		e = errno;
		if (fd != -1) {
			close(fd);
			unlinkat(ld->dirfd, name, 0);
		}
		return store_error(err, LOCKSTORE_STORAGE, e, "Storage error: "
		    "cannot write to the lock directory %s: %s", ld->path,
		    strerror(e));
	}
	close(fd);
	if (unlinkat(ld->dirfd, name, 0) == -1)
		return store_error(err, LOCKSTORE_STORAGE, errno, "Storage "
		    "error: cannot remove a file from the lock directory %s: "
		    "%s", ld->path, strerror(errno));
	return LOCKSTORE_OK;
}

/*
 * Whether a lock could be granted and released now: the directory is the
 * one opened and takes a file, and the token counter, the history and
 * the journal, which every grant and every release use, are usable.
 */
enum lockstore_status
lockdir_health(void *impl, struct lockstore_error *err)
{
	struct lockdir		*ld = impl;
	enum lockstore_status	 st;

	if ((st = lockdir_check_dir(ld, "(health probe)", err)) !=
	    LOCKSTORE_OK || (st = probe_write(ld, err)) != LOCKSTORE_OK ||
	    (st = lockdir_token_health(ld, err)) != LOCKSTORE_OK ||
	    (st = history_health(ld->history, err)) != LOCKSTORE_OK)
		return st;
	if (ld->durable && journal_health(&ld->journal) == -1)
		return store_error(err, LOCKSTORE_STORAGE, errno,
		    "Storage error: the journal %s/%s cannot be written: %s",
		    ld->path, ld->journal.name, strerror(errno));
	return LOCKSTORE_OK;
}

/* Closes the store LD. */
void
lockdir_close(void *impl)
{
	struct lockdir	*ld = impl;

	dirwatch_free(ld->watch);
	journal_close(&ld->journal);
	history_close(ld->history);
	lockdir_lease_close(ld);
	pthread_mutex_destroy(&ld->toklock);
	if (ld->tokfd != -1)
		close(ld->tokfd);
	close(ld->dirfd);
	free(ld->path);
	free(ld);
}
