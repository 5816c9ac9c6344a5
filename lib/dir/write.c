/* SPDX-License-Identifier: MIT */
/*
 * Writing lock files: the content of a new holding into a temporary file,
 * flocked before it gets a lock name, and the replacement of a held lock's
 * content, journalled; and the storage-error and flock helpers the
 * backend's files share.
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

/* Writes LF to a temporary file TMP; see lockdir.h. */
int
lockdir_write_tmp(struct lockdir *ld, const struct lockfile *lf,
    const char *resource, char *tmp, size_t tmpsize,
    struct lockstore_error *err)
{
	char		buf[LOCKFILE_MAX];
	unsigned long	seq;
	int		fd = -1, len = 0, e, tries;

	if (lf != NULL && (len = lockfile_render(buf, sizeof(buf), lf)) < 0) {
		store_error(err, LOCKSTORE_BAD_RESOURCE, 0,
		    "Invalid resource name: too long to record");
		return -1;
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
	    lockdir_flock_ex(fd) == -1) {
		e = errno;
		close(fd);
		unlinkat(ld->dirfd, tmp, 0);
		storage(err, e, "cannot write a lock file", resource);
		return -1;
	}
	return fd;
}

/* Writes the whole temporary file at FD; see lockdir.h. */
int
lockdir_write_content(int fd, const struct lockfile *lf)
{
	char	buf[LOCKFILE_MAX];
	int	len;

	if ((len = lockfile_render(buf, sizeof(buf), lf)) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* Written again after a lost race: with a larger token, never
	 * shorter. */
	return pwrite_all(fd, buf, (size_t)len);
}

/* Renames new content over lock file FNAME; see lockdir.h. */
enum lockstore_status
lockdir_place_content(struct lockdir *ld, const char *fname,
    const struct lockfile *lf, const char *resource,
    struct lockstore_error *err)
{
	char	tmp[96];
	int	fd, e;

	if ((fd = lockdir_write_tmp(ld, lf, resource, tmp, sizeof(tmp),
	    err)) == -1)
		return err->status;
	/* Synced before it replaces an answered holding: a directory sync
	 * by anyone may make the rename durable before the record is. */
	if (ld->durable && fdatasync(fd) == -1) {
		e = errno;
		unlinkat(ld->dirfd, tmp, 0);
		close(fd);
		return storage(err, e, "cannot write a lock file", resource);
	}
	/* Lockers see the name held throughout; unlockers waiting on the
	 * old inode's flock find it replaced and look again. */
	if (renameat(ld->dirfd, tmp, ld->dirfd, fname) == -1) {
		e = errno;
		unlinkat(ld->dirfd, tmp, 0);
		close(fd);
		return storage(err, e, "cannot replace the lock file",
		    resource);
	}
	close(fd);
	return LOCKSTORE_OK;
}

/* Waits for a change's journal sync; see lockdir.h. */
enum lockstore_status
lockdir_journal_wait(struct lockdir *ld, uint64_t mark, const char *resource,
    struct lockstore_error *err)
{
	if (!ld->durable || journal_wait(&ld->journal, mark) == 0)
		return LOCKSTORE_OK;
	return store_error(err, LOCKSTORE_STORAGE, errno, "Storage error: "
	    "cannot sync the journal of the lock directory after changing the "
	    "lock of '%s' (%s): the change may not survive a crash", resource,
	    strerror(errno));
}

/* Makes the change to lock file FNAME durable without a record (the
 * journal is full, or failed): the file and a checkpoint, synced. */
enum lockstore_status
lockdir_settle(struct lockdir *ld, const char *fname, const char *resource,
    struct lockstore_error *err)
{
	if (gsync_name(ld->dirfd, fname) == 0 && journal_checkpoint(ld->dirfd,
	    ld->boot, ld->history, NULL, NULL) == 0)
		return LOCKSTORE_OK;
	return store_error(err, LOCKSTORE_STORAGE, errno, "Storage error: "
	    "changed the lock of '%s' but can neither journal nor sync the "
	    "change (%s): it may not survive a crash", resource,
	    strerror(errno));
}

/* Ends a change to lock file FNAME begun with journal_enter(); see
 * lockdir.h. */
enum lockstore_status
lockdir_journal_finish(struct lockdir *ld, enum lockstore_status st, int jrc,
    const char *fname, const char *resource, struct lockstore_error *err)
{
	uint64_t	mark;

	if (!ld->durable)
		return st;
	mark = journal_leave(&ld->journal);
	if (st != LOCKSTORE_OK || jrc == -1) {
		journal_wait(&ld->journal, 0);
		return st != LOCKSTORE_OK ? st :
		    lockdir_settle(ld, fname, resource, err);
	}
	return lockdir_journal_wait(ld, mark, resource, err);
}

/* Replaces lock file FNAME by LF, durably; the caller holds its flock. */
enum lockstore_status
lockdir_replace(struct lockdir *ld, const char *fname,
    const struct lockfile *lf, const char *resource,
    struct lockstore_error *err)
{
	enum lockstore_status	st;
	int			jrc = 0;

	if (ld->durable)
		journal_enter(&ld->journal);
	st = lockdir_place_content(ld, fname, lf, resource, err);
	if (st == LOCKSTORE_OK && ld->durable)
		jrc = journal_put(&ld->journal, fname, lf);
	return lockdir_journal_finish(ld, st, jrc, fname, resource, err);
}
