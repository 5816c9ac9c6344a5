/* SPDX-License-Identifier: MIT */
/*
 * Reading lock files: without a lock where that is safe, under LOCK_SH
 * where it is not, and opened under LOCK_EX for a change.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lockdir.h"

/* Internal result of read_open(): the content does not parse. */
#define UNPARSED	(-3)

/* Reads and parses the lock file open at FD, whose fstat() is ST;
 * UNPARSED if it does not parse (ERR is then set as for INVALID_STATE). */
static int
read_open(int fd, const struct stat *st, const char *resource,
    struct lockfile *lf, struct lockstore_error *err)
{
	char		buf[LOCKFILE_MAX];
	ssize_t		n;
	size_t		len = 0;

	if (!S_ISREG(st->st_mode))
		return store_error(err, LOCKSTORE_INVALID_STATE, 0,
		    "Invalid lock state: the lock file for '%s' is not a "
		    "regular file", resource);
	while (len < sizeof(buf)) {
		n = pread(fd, buf + len, sizeof(buf) - len, (off_t)len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return lockdir_storage(err, errno,
			    "cannot read the lock file", resource);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (lockfile_parse(buf, len, lf) == -1) {
		store_error(err, LOCKSTORE_INVALID_STATE, 0, "Invalid lock "
		    "state: the lock file for '%s' cannot be parsed",
		    resource);
		return UNPARSED;
	}
	return LOCKSTORE_OK;
}

/*
 * Whether LF, found under RESOURCE's own file name, is RESOURCE's lock.  A
 * recorded name must match.  A file without one is a gocept.lockd lock,
 * which can only be trusted under a plain name: under an escaped name it
 * is the old daemon's lock of the resource literally called so ("a%2Fb"),
 * and a hashed name was never written by the old daemon.
 */
enum lockstore_status
lockdir_check_owner(const struct lockfile *lf, const char *resource,
    enum name_form form, struct lockstore_error *err)
{
	if (lf->has_resource ? strcmp(lf->resource, resource) == 0 :
	    form == NAME_PLAIN)
		return LOCKSTORE_OK;
	return store_error(err, LOCKSTORE_INVALID_STATE, 0,
	    "Invalid lock state: the lock file for '%s' belongs to another "
	    "resource (name collision)", resource);
}

/* Opens lock file FNAME for reading; LOCKDIR_ABSENT if it does not exist. */
static int
open_lock(const struct lockdir *ld, const char *fname, const char *resource,
    int *fdp, struct lockstore_error *err)
{
	int	fd;

	/* O_NONBLOCK: a FIFO planted in the directory must not hang us. */
	fd = openat(ld->dirfd, fname,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd != -1) {
		*fdp = fd;
		return LOCKSTORE_OK;
	}
	if (errno == ENOENT)
		return LOCKDIR_ABSENT;
	if (errno == ELOOP)
		return store_error(err, LOCKSTORE_INVALID_STATE, 0,
		    "Invalid lock state: the lock file for '%s' is a "
		    "symbolic link", resource);
	return lockdir_storage(err, errno, "cannot open the lock file",
	    resource);
}

/*
 * flock(LOCK_SH) on FD; without WAIT only if free at once, with WAIT for
 * at most LOCKDIR_SH_WAIT_MS (lockd's own changes hold LOCK_EX for a few
 * syncs; a process outside that keeps it must not hang the request).
 * 0 or an errno (EWOULDBLOCK: not got).
 */
static int
flock_sh(int fd, int wait)
{
	struct timespec	 ts = { 0, 1000000 };	/* 1 ms */
	long		 waited;

	for (waited = 0; ; waited++) {
		if (flock(fd, LOCK_SH | LOCK_NB) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK || !wait ||
		    waited >= LOCKDIR_SH_WAIT_MS)
			return errno;
		nanosleep(&ts, NULL);
	}
}

/*
 * Reads lock file FNAME into LF; LOCKDIR_ABSENT if it does not exist.
 * Without WAIT, LOCKDIR_AGAIN instead of waiting for LOCK_SH (for callers
 * that hold a mutex a changer may need).
 *
 * Without a lock at first, so that looking seldom waits for a change.
 * But the inode opened may have been released or replaced meanwhile (a
 * renewal, a lock-delay marker), and files of lockd 0.2 sharing the
 * directory reuse inodes for other holdings, so a read racing a rewrite
 * may see parts of both, or a cut-off start of the new content.  So a
 * lockless read counts only if it ends in a valid "check" line over all
 * it read, records a resource of this file's name, and FNAME still names
 * the inode read afterwards; anything else (gocept.lockd's files and
 * those of earlier builds included) is read again under LOCK_SH, which
 * every rewrite and every release excludes.  A holding read without the
 * lock was this resource's holding at some instant of the call.
 */
int
lockdir_read_lock(const struct lockdir *ld, const char *fname,
    const char *resource, int wait, struct lockfile *lf,
    struct lockstore_error *err)
{
	struct stat	st, now;
	int		fd = -1, rc, tries, e;

	for (tries = 0; tries < LOCKDIR_RACE_RETRIES; tries++) {
		if ((rc = open_lock(ld, fname, resource, &fd, err)) !=
		    LOCKSTORE_OK)
			return rc;
		if (fstat(fd, &st) == -1) {
			e = errno;
			close(fd);
			return lockdir_storage(err, e,
			    "cannot inspect the lock file", resource);
		}
		rc = read_open(fd, &st, resource, lf, err);
		/* Only a read that ends in its own sum can be whole, and lockd
		 * names a file it writes after the resource it records
		 * (gocept.lockd's records none: nothing to compare). */
		if (rc == UNPARSED || (rc == LOCKSTORE_OK && (!lf->has_check ||
		    (lf->has_resource && !name_is_own(lf->resource, fname))))) {
			if ((e = flock_sh(fd, wait)) != 0) {
				close(fd);
				if (e == EWOULDBLOCK && !wait)
					return LOCKDIR_AGAIN;
				return lockdir_storage(err, e,
				    e == EWOULDBLOCK ? "the lock file stays "
				    "flock()ed by someone else" :
				    "cannot lock the lock file", resource);
			}
			if ((rc = read_open(fd, &st, resource, lf, err)) ==
			    UNPARSED)
				rc = LOCKSTORE_INVALID_STATE;	/* it is so */
		}
		/* Still FNAME's?  (Under LOCK_SH it cannot go away.) */
		if (fstatat(ld->dirfd, fname, &now,
		    AT_SYMLINK_NOFOLLOW) == -1) {
			e = errno;
			close(fd);
			if (e == ENOENT)
				return LOCKDIR_ABSENT;	/* released since */
			return lockdir_storage(err, e,
			    "cannot inspect the lock file", resource);
		}
		close(fd);
		if (now.st_ino == st.st_ino && now.st_dev == st.st_dev)
			return rc;
		/* changed hands meanwhile: look again */
	}
	return store_error(err, LOCKSTORE_STORAGE, EAGAIN, "Storage error: "
	    "the lock for '%s' changes too fast to be read", resource);
}

/* Opens, flocks and reads lock file FNAME; see lockdir.h. */
int
lockdir_open_locked(struct lockdir *ld, const char *fname,
    const char *resource, int *fdp, struct lockfile **lfp,
    struct lockstore_error *err)
{
	struct lockfile	*lf;
	struct stat	 st, now;
	int		 fd = -1, rc, tries;

	if ((*lfp = lf = malloc(sizeof(*lf))) == NULL)
		return lockdir_storage(err, ENOMEM, "out of memory", resource);
	for (tries = 0; tries < LOCKDIR_RACE_RETRIES; tries++) {
		if ((rc = open_lock(ld, fname, resource, &fd, err)) !=
		    LOCKSTORE_OK)
			goto fail;
		if (fstat(fd, &st) == -1 || lockdir_flock_ex(fd) == -1) {
			rc = lockdir_storage(err, errno,
			    "cannot lock the lock file", resource);
			goto fail;
		}
		if (fstatat(ld->dirfd, fname, &now,
		    AT_SYMLINK_NOFOLLOW) == -1) {
			rc = errno == ENOENT ? LOCKDIR_ABSENT :
			    (int)lockdir_storage(err, errno,
			    "cannot inspect the lock file", resource);
			goto fail;
		}
		if (now.st_ino == st.st_ino && now.st_dev == st.st_dev)
			break;
		close(fd);	/* replaced after we opened it: again */
		fd = -1;
	}
	if (tries == LOCKDIR_RACE_RETRIES)
		rc = store_error(err, LOCKSTORE_STORAGE, EAGAIN,
		    "Storage error: the lock for '%s' changes too fast to be "
		    "changed", resource);
	/* Under LOCK_EX, and still FNAME's: no rewrite is under way. */
	else if ((rc = read_open(fd, &st, resource, lf, err)) == LOCKSTORE_OK) {
		*fdp = fd;
		return LOCKSTORE_OK;
	}
fail:
	if (fd != -1)
		close(fd);
	free(lf);
	*lfp = NULL;
	return rc == UNPARSED ? LOCKSTORE_INVALID_STATE : rc;
}
