/* SPDX-License-Identifier: MIT */
/*
 * Writing lock files: the content of a new holding into a spare inode or
 * a temporary file, synced and flocked before it gets a lock name, and the
 * replacement of a held lock's content; and the storage-error and flock
 * helpers the backend's files share.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lockdir.h"

/* "Storage error: WHAT for 'RESOURCE': strerror(E)". */
enum lockstore_status
lockdir_storage(struct lockstore_error *err, int e, const char *what,
    const char *resource)
{
	return store_error(err, LOCKSTORE_STORAGE, e,
	    "Storage error: %s for '%s': %s", what, resource, strerror(e));
}

#define storage(err, e, what, resource) \
	lockdir_storage((err), (e), (what), (resource))

/* Writes LEN bytes of BUF at offset 0 of FD. */
static int
pwrite_all(int fd, const char *buf, size_t len)
{
	ssize_t	n;
	off_t	off = 0;

	while (len > 0) {
		if ((n = pwrite(fd, buf, len, off)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

/* flock(LOCK_EX) on FD, through signals; see lockdir.h. */
int
lockdir_flock_ex(int fd)
{
	while (flock(fd, LOCK_EX) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* Whether spare NAME is still the inode open at FD, with no other name. */
static int
still_spare(const struct lockdir *ld, int fd, const char *name)
{
	struct stat	a, b;

	return fstat(fd, &a) == 0 && fstatat(ld->dirfd, name, &b,
	    AT_SYMLINK_NOFOLLOW) == 0 && a.st_ino == b.st_ino &&
	    a.st_dev == b.st_dev && a.st_nlink == 1;
}

/* Writes LF to a spare or a temporary file TMP; see lockdir.h. */
int
lockdir_write_tmp(struct lockdir *ld, const struct lockfile *lf,
    const char *resource, char *tmp, size_t tmpsize,
    struct lockstore_error *err)
{
	char		buf[LOCKFILE_MAX];
	unsigned long	seq;
	off_t		old;
	int		fd = -1, len, e, tries;

	len = lockfile_render(buf, sizeof(buf), lf);
	if (len < 0) {
		store_error(err, LOCKSTORE_BAD_RESOURCE, 0,
		    "Invalid resource name: too long to record");
		return -1;
	}
	/* A spare inode first (pool.c): rewritten under LOCK_EX. */
	if ((fd = lockdir_pool_take(ld, tmp, tmpsize, &old)) != -1) {
		/* Every rename of a spare happens under LOCK_EX: if the name
		 * is still this inode's now, it is nobody's lock. */
		if (lockdir_flock_ex(fd) == 0 && still_spare(ld, fd, tmp) &&
		    pwrite_all(fd, buf, (size_t)len) == 0 &&
		    (old <= len || ftruncate(fd, len) == 0) &&
		    (!ld->durable || fdatasync(fd) == 0))
			return fd;
		if (still_spare(ld, fd, tmp))
			unlinkat(ld->dirfd, tmp, 0);	/* then a new file */
		close(fd);
	}
	/* A crashed process with our pid may have left this very name. */
	for (tries = 0; tries < 64; tries++) {
		seq = __atomic_fetch_add(&ld->seq, 1, __ATOMIC_RELAXED);
		snprintf(tmp, tmpsize, "%s%ld.%lu.%lu", LOCKDIR_TMP_PREFIX,
		    (long)getpid(), ld->instance, seq);
		fd = openat(ld->dirfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd != -1 || errno != EEXIST)
			break;
	}
	if (fd == -1) {
		storage(err, errno, "cannot create a lock file", resource);
		return -1;
	}
	if (pwrite_all(fd, buf, (size_t)len) == -1 ||
	    lockdir_flock_ex(fd) == -1 ||
	    (ld->durable && fdatasync(fd) == -1)) {
		e = errno;
		close(fd);
		unlinkat(ld->dirfd, tmp, 0);
		storage(err, e, "cannot write a lock file", resource);
		return -1;
	}
	return fd;
}

/* Replaces lock file FNAME by LF; the caller holds FNAME's flock. */
enum lockstore_status
lockdir_replace(struct lockdir *ld, const char *fname,
    const struct lockfile *lf, const char *resource,
    struct lockstore_error *err)
{
	char	tmp[96];
	int	fd, e;

	if ((fd = lockdir_write_tmp(ld, lf, resource, tmp, sizeof(tmp),
	    err)) == -1)
		return err->status;
	/* Lockers see the name held throughout; unlockers waiting on the
	 * old inode's flock find it replaced and look again. */
	if (renameat(ld->dirfd, tmp, ld->dirfd, fname) == -1) {
		e = errno;
		unlinkat(ld->dirfd, tmp, 0);
		close(fd);
		return storage(err, e, "cannot replace the lock file",
		    resource);
	}
	if (ld->durable && gsync_wait(&ld->dirsync) == -1) {
		e = errno;
		close(fd);
		return store_error(err, LOCKSTORE_STORAGE, e, "Storage error: "
		    "cannot sync the lock directory after changing the lock "
		    "of '%s' (%s): the change may not survive a crash",
		    resource, strerror(e));
	}
	close(fd);
	return LOCKSTORE_OK;
}
