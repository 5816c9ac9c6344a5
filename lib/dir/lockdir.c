/* SPDX-License-Identifier: MIT */
/*
 * The lock-directory backend.  A held lock is the file
 * <dir>/<name>.resource.lock; every change is atomic, exclusive across
 * threads and processes, and synced before it is reported.
 *
 * Protocol shared by every process that uses a directory:
 * - lock writes the complete file under a temporary name, syncs it, and
 *   renames it to the lock name with RENAME_NOREPLACE (or, where the file
 *   system cannot, link()s it there and unlinks the temporary name).  Both
 *   fail with EEXIST when the lock is held, so exactly one creator wins
 *   and nobody ever sees a partial file.
 *   The creator keeps an flock() on the new inode until the directory is
 *   synced, so nobody can remove a lock that is not yet durable.
 * - unlock opens the lock file, takes flock(LOCK_EX) on it, checks that the
 *   name still refers to that very inode, checks the holder, and only then
 *   removes the name (renaming the file to a spare, lockdir_pool.c, or
 *   unlinking it).  Every removal of a lock name happens under that flock
 *   and after that check, so a compare-and-delete can never remove a lock
 *   that another client took in between.
 *
 * Durability, argued for a power loss at any instant:
 * - The lock file's data is fdatasync()ed under its temporary (or spare)
 *   name before it gets the lock name, so no lock name can ever survive a
 *   crash pointing at unwritten data: a holder is always read whole.
 * - The grant is acknowledged only after an fsync() of the directory that
 *   began after the rename (gsync.c shares one among concurrent requests).
 *   A crash before that: the client got no success, and the lock either
 *   vanished or exists complete -- both are states the client must expect
 *   of an unanswered request.  If that fsync fails, the new lock is removed
 *   again (we still hold its flock) and the client gets a storage fault.
 * - A release is acknowledged only after the directory fsync that follows
 *   the removal of the name; a crash before it may bring the lock back,
 *   which is the state of an unanswered unlock.
 * The temporary name of a crashed writer is removed at the next open.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gsync.h"
#include "lockdir.h"
#include "lockfile.h"
#include "name.h"
#include "store_impl.h"

static unsigned long instances;	/* atomic */

/* Whether the syncs are on. */
int
lockdir_durable(const struct lockdir *ld)
{
	return (ld->flags & LOCKSTORE_NOSYNC) == 0;
}

#define durable(ld)	lockdir_durable(ld)

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
			return storage(err, errno, "cannot read the lock file",
			    resource);
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
	return storage(err, errno, "cannot open the lock file", resource);
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

/* Whether LF, read from file FNAME, can be that file's content: lockd
 * names a file it writes after the resource it records. */
static int
fits_name(const struct lockfile *lf, const char *fname)
{
	char	own[NAME_FILE_SIZE];

	if (!lf->has_resource)
		return 1;	/* gocept.lockd's: nothing to compare */
	name_encode(lf->resource, own);
	return strcmp(own, fname) == 0;
}

/*
 * Reads lock file FNAME into LF; LOCKDIR_ABSENT if it does not exist.
 *
 * Without a lock at first, so that looking seldom waits for a change.
 * But lock files' inodes are reused (lockdir_pool.c): the inode opened may
 * have been released meanwhile and rewritten for another holding, of this
 * resource or another, maybe more than once, and a read racing a rewrite
 * may see parts of both, or a cut-off start of the new content.  So a
 * lockless read counts only if it ends in a valid "check" line over all
 * it read, records a resource of this file's name, and FNAME still names
 * the inode read afterwards; anything else (gocept.lockd's files and
 * those of earlier builds included) is read again under LOCK_SH, which
 * every rewrite and every release excludes.  A holding read without the
 * lock was this resource's holding at some instant of the call.
 */
int
lockdir_read_lock(const struct lockdir *ld, const char *fname, const char *resource,
    struct lockfile *lf, struct lockstore_error *err)
{
	return lockdir_read_lock_flags(ld, fname, resource, 1, lf, err);
}

/* lockdir_read_lock(); without WAIT, LOCKDIR_AGAIN instead of waiting
 * for LOCK_SH (for callers that hold a mutex a changer may need). */
int
lockdir_read_lock_flags(const struct lockdir *ld, const char *fname,
    const char *resource, int wait, struct lockfile *lf,
    struct lockstore_error *err)
{
	struct stat	st, now;
	int		fd = -1, rc, tries, e, locked;

	for (tries = 0; tries < LOCKDIR_RACE_RETRIES; tries++) {
		if ((rc = open_lock(ld, fname, resource, &fd, err)) !=
		    LOCKSTORE_OK)
			return rc;
		locked = 0;
		if (fstat(fd, &st) == -1) {
			e = errno;
			close(fd);
			return storage(err, e, "cannot inspect the lock file",
			    resource);
		}
		rc = read_open(fd, &st, resource, lf, err);
		/* Only a read that ends in its own sum can be whole. */
		if (rc == UNPARSED || (rc == LOCKSTORE_OK &&
		    (!lf->has_check || !fits_name(lf, fname)))) {
			if ((e = flock_sh(fd, wait)) != 0) {
				close(fd);
				if (e == EWOULDBLOCK && !wait)
					return LOCKDIR_AGAIN;
				return storage(err, e, e == EWOULDBLOCK ?
				    "the lock file stays flock()ed by someone "
				    "else" : "cannot lock the lock file",
				    resource);
			}
			locked = 1;
		}
		if (locked && (rc = read_open(fd, &st, resource, lf, err)) ==
		    UNPARSED)
			rc = LOCKSTORE_INVALID_STATE;	/* it is so */
		/* Still FNAME's?  (Under LOCK_SH it cannot go away.) */
		if (fstatat(ld->dirfd, fname, &now, AT_SYMLINK_NOFOLLOW) == -1) {
			e = errno;
			close(fd);
			if (e == ENOENT)
				return LOCKDIR_ABSENT;	/* released since */
			return storage(err, e, "cannot inspect the lock file",
			    resource);
		}
		close(fd);
		if (now.st_ino == st.st_ino && now.st_dev == st.st_dev)
			return rc;
		/* changed hands meanwhile: look again */
	}
	return store_error(err, LOCKSTORE_STORAGE, EAGAIN, "Storage error: "
	    "the lock for '%s' changes too fast to be read", resource);
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

/*
 * The name gocept.lockd used for RESOURCE when lockd encodes it (a '%' or
 * a leading '.'), if that was a valid file name.  Such a file without a
 * "resource" line is a lock the old daemon took, and it is honoured.
 */
int
lockdir_legacy_name(const char *resource, enum name_form form, char *buf, size_t size)
{
	int	n;

	if (form != NAME_ESCAPED || strchr(resource, '/') != NULL)
		return 0;
	n = snprintf(buf, size, "%s%s", resource, NAME_SUFFIX);
	return n > 0 && (size_t)n < size;
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

/* Writes LF to a temporary file, syncs and flocks it; returns its fd or
 * -1.  RESOURCE names the lock in messages. */
static int
write_tmp(struct lockdir *ld, const struct lockfile *lf, const char *resource,
    char *tmp, size_t tmpsize, struct lockstore_error *err)
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
	/* A spare inode first (lockdir_pool.c): rewritten under LOCK_EX. */
	if ((fd = lockdir_pool_take(ld, tmp, tmpsize, &old)) != -1) {
		/* Every rename of a spare happens under LOCK_EX: if the name
		 * is still this inode's now, it is nobody's lock. */
		if (lockdir_flock_ex(fd) == 0 && still_spare(ld, fd, tmp) &&
		    pwrite_all(fd, buf, (size_t)len) == 0 &&
		    (old <= len || ftruncate(fd, len) == 0) &&
		    (!durable(ld) || fdatasync(fd) == 0))
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
	    (durable(ld) && fdatasync(fd) == -1)) {
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

	if ((fd = write_tmp(ld, lf, resource, tmp, sizeof(tmp), err)) == -1)
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
	if (durable(ld) && gsync_wait(&ld->dirsync) == -1) {
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

/* Removes the expired lock-delay marker FNAME if it is still one. */
static int
remove_marker(struct lockdir *ld, const char *fname, const char *resource,
    struct lockstore_error *err)
{
	struct lockfile	*lf;
	int		 fd, st;

	if ((lf = malloc(sizeof(*lf))) == NULL)
		return storage(err, ENOMEM, "out of memory", resource);
	st = lockdir_open_locked(ld, fname, resource, &fd, lf, err);
	if (st == LOCKSTORE_OK) {
		if (lf->is_delay && lockdir_delay_state(ld, lf,
		    clock_mono_ms()) != LOCKDIR_LIVE &&
		    unlinkat(ld->dirfd, fname, 0) == -1)
			st = storage(err, errno, "cannot remove the lock-delay "
			    "marker", resource);
		close(fd);
	}
	free(lf);
	return st == LOCKDIR_ABSENT ? LOCKSTORE_OK : st;
}

/* The reply to CLIENT asking again for the lock LF it holds: the holding
 * goes on, a TTL renews its lease. */
static int
reacquire(struct lockdir *ld, const char *fname, const char *resource,
    const char *client, unsigned int ttl_ms, struct lockstore_grant *g,
    struct lockstore_error *err)
{
	struct lockfile	*lf;
	int		 fd, st;

	if ((lf = malloc(sizeof(*lf))) == NULL)
		return storage(err, ENOMEM, "out of memory", resource);
	st = lockdir_open_locked(ld, fname, resource, &fd, lf, err);
	if (st == LOCKDIR_ABSENT) {
		free(lf);
		return LOCKDIR_AGAIN;
	}
	if (st != LOCKSTORE_OK) {
		free(lf);
		return st;
	}
	if (lf->is_delay || strcmp(lf->holder, client) != 0 ||
	    lockdir_lease_state(ld, lf, clock_mono_ms()) == LOCKDIR_EXPIRED) {
		st = LOCKDIR_AGAIN;	/* changed meanwhile */
		goto out;
	}
	if (ttl_ms > 0) {
		lf->ttl_ms = ttl_ms;
		lf->deadline_ms = clock_mono_ms() + ttl_ms;
		snprintf(lf->boot, sizeof(lf->boot), "%s", ld->boot);
		if (!lf->has_resource) {
			snprintf(lf->resource, sizeof(lf->resource), "%s",
			    resource);
			lf->has_resource = 1;
		}
		if ((st = lockdir_replace(ld, fname, lf, resource, err)) !=
		    LOCKSTORE_OK)
			goto out;
		lockdir_note_lease(ld, resource, lf->deadline_ms);
	}
	g->token = lf->token;
	g->since = lf->since;
	g->reacquired = 1;
	g->ttl_ms = lf->ttl_ms;
	if (lf->ttl_ms > 0)
		g->expires_ms = clock_wall_ms() + (lf->deadline_ms -
		    clock_mono_ms());
	st = LOCKSTORE_OK;
out:
	close(fd);
	free(lf);
	return st;
}

/* Whether TMP is a spare's name (lockdir_pool.c). */
static int
spare_name(const char *tmp)
{
	return strncmp(tmp, LOCKDIR_POOL_PREFIX,
	    sizeof(LOCKDIR_POOL_PREFIX) - 1) == 0;
}

/*
 * Gives the temporary file TMP the lock name FNAME unless that name exists
 * (-1, EEXIST); TMP's name is gone afterwards.  One directory change where
 * the file system can rename without replacing, else link() and unlink().
 */
static int
place(struct lockdir *ld, const char *tmp, const char *fname)
{
#if defined(HAVE_RENAMEAT2) && defined(RENAME_NOREPLACE)
	if (!__atomic_load_n(&ld->no_rename2, __ATOMIC_RELAXED)) {
		if (renameat2(ld->dirfd, tmp, ld->dirfd, fname,
		    RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
			return -1;
		__atomic_store_n(&ld->no_rename2, 1, __ATOMIC_RELAXED);
	}
#endif
	if (linkat(ld->dirfd, tmp, ld->dirfd, fname, 0) == -1)
		return -1;
	unlinkat(ld->dirfd, tmp, 0);	/* a leftover is cleaned at open */
	return 0;
}

/* What a new lock file of this attempt says (LF is read into again when
 * the attempt loses a race). */
struct mine {
	unsigned long long	token;
	long long		since;
	long long		deadline_ms;
};

/*
 * The answer for gocept.lockd's own lock of RESOURCE, if there is one:
 * HELD, or a reacquire; LOCKDIR_ABSENT when there is none.  Only a file
 * without a recorded name is the old lock; anything else there is some
 * other resource's business.
 */
static int
take_legacy(struct lockdir *ld, const char *resource, const char *client,
    int acquire, enum name_form form, struct lockfile *lf,
    struct lockstore_grant *grant, struct lockstore_error *err)
{
	char	legacy[NAME_FILE_SIZE];
	int	st;

	if (!lockdir_legacy_name(resource, form, legacy, sizeof(legacy)))
		return LOCKDIR_ABSENT;
	st = lockdir_read_lock(ld, legacy, resource, lf, err);
	if (st == LOCKSTORE_OK && !lf->has_resource) {
		if (acquire && strcmp(lf->holder, client) == 0) {
			grant->reacquired = 1;
			return LOCKSTORE_OK;
		}
		return store_error_held(err, lf->holder);
	}
	return st == LOCKSTORE_STORAGE ? st : LOCKDIR_ABSENT;
}

/*
 * The answer of a lock attempt that found RESOURCE's lock file FNAME
 * with content LF: DELAYED (filling BLK), HELD, a reacquire, or
 * LOCKDIR_AGAIN once an expired lock-delay or lease is cleared.
 */
static int
take_found(struct lockdir *ld, const char *fname, const char *resource,
    const char *client, int acquire, unsigned int ttl_ms,
    const struct lockfile *lf, struct lockstore_grant *grant,
    struct store_block *blk, struct lockstore_error *err)
{
	long long	now = clock_mono_ms();
	int		st;

	if (lf->is_delay && lockdir_delay_state(ld, lf, now) == LOCKDIR_LIVE) {
		blk->delay_end_ms = lf->delay_until_ms;
		return store_error_delayed(err, lf->delay_wall_ms,
		    lf->delay_cause);
	}
	if (lf->is_delay) {
		st = remove_marker(ld, fname, resource, err);
		return st == LOCKSTORE_OK ? LOCKDIR_AGAIN : st;
	}
	if (lockdir_lease_state(ld, lf, now) == LOCKDIR_EXPIRED) {
		st = lockdir_expire_one(ld, fname, resource, err);
		return st == LOCKSTORE_OK || st == LOCKDIR_AGAIN ||
		    st == LOCKDIR_ABSENT ? LOCKDIR_AGAIN : st;
	}
	if (acquire && strcmp(lf->holder, client) == 0)
		return reacquire(ld, fname, resource, client, ttl_ms, grant,
		    err);
	return store_error_held(err, lf->holder);
}

/* Writes the lock file of a new holding into LF and a temporary file TMP
 * (of SIZE); its descriptor, or -1 with ERR filled. */
static int
write_new(struct lockdir *ld, const char *resource, const char *client,
    unsigned int ttl_ms, struct lockfile *lf, char *tmp, size_t size,
    struct mine *m, struct lockstore_error *err)
{
	memset(lf, 0, sizeof(*lf));
	if (lockdir_next_token(ld, resource, &m->token, err) != LOCKSTORE_OK)
		return -1;
	snprintf(lf->holder, sizeof(lf->holder), "%s", client);
	snprintf(lf->resource, sizeof(lf->resource), "%s", resource);
	lf->has_resource = 1;
	lf->since = (long long)time(NULL);
	lf->token = m->token;
	if (ttl_ms > 0) {
		lf->ttl_ms = ttl_ms;
		lf->deadline_ms = clock_mono_ms() + ttl_ms;
		snprintf(lf->boot, sizeof(lf->boot), "%s", ld->boot);
	}
	m->since = lf->since;
	m->deadline_ms = lf->deadline_ms;
	return write_tmp(ld, lf, resource, tmp, size, err);
}

/* Makes the new lock FNAME (its file open at FD, closed here) durable
 * and fills GRANT. */
static enum lockstore_status
grant_new(struct lockdir *ld, const char *fname, const char *resource,
    int fd, unsigned int ttl_ms, const struct mine *m,
    struct lockstore_grant *grant, struct lockstore_error *err)
{
	int	e;

	if (durable(ld) && gsync_wait(&ld->dirsync) == -1) {
		/*
		 * The grant is not durable, so it must not stand: we still
		 * hold the flock on the new inode, so nobody else can have
		 * removed or replaced it.
		 */
		e = errno;
		unlinkat(ld->dirfd, fname, 0);
		close(fd);
		return storage(err, e, "cannot sync the lock directory",
		    resource);
	}
	close(fd);
	grant->token = m->token;
	grant->since = m->since;
	grant->ttl_ms = ttl_ms;
	if (ttl_ms > 0) {
		grant->expires_ms = clock_wall_ms() + ttl_ms;
		lockdir_note_lease(ld, resource, m->deadline_ms);
	}
	return LOCKSTORE_OK;
}

/* One lock attempt; see struct lockstore_ops. */
static enum lockstore_status
lockdir_take(void *impl, const char *resource, const char *client,
    int acquire, unsigned int ttl_ms, struct lockstore_grant *grant,
    struct store_block *blk, struct lockstore_error *err)
{
	struct lockdir	*ld = impl;
	struct lockfile	*lf;
	struct mine	 m;
	enum name_form	 form;
	char		 fname[NAME_FILE_SIZE], tmp[96];
	int		 fd = -1, st, tries, e;

	if ((st = lockdir_check_dir(ld, resource, err)) != LOCKSTORE_OK)
		return (enum lockstore_status)st;
	if ((lf = malloc(sizeof(*lf))) == NULL)
		return storage(err, ENOMEM, "out of memory", resource);
	form = name_encode(resource, fname);
	if ((st = take_legacy(ld, resource, client, acquire, form, lf, grant,
	    err)) != LOCKDIR_ABSENT)
		goto out;
	for (tries = 0; tries < LOCKDIR_RACE_RETRIES; tries++) {
		/* A held lock is answered without writing anything: cheaper,
		 * and "held" stays the answer even on a full disk. */
		st = lockdir_read_lock(ld, fname, resource, lf, err);
		if (st == LOCKSTORE_OK)
			st = lockdir_check_owner(lf, resource, form, err);
		if (st == LOCKSTORE_OK) {
			st = take_found(ld, fname, resource, client, acquire,
			    ttl_ms, lf, grant, blk, err);
			if (st == LOCKDIR_AGAIN)
				continue;	/* cleared: look again */
			goto out;
		}
		if (st != LOCKDIR_ABSENT)
			goto out;
		if (fd == -1 && (fd = write_new(ld, resource, client, ttl_ms,
		    lf, tmp, sizeof(tmp), &m, err)) == -1) {
			st = err->status;
			goto out;
		}
		if (place(ld, tmp, fname) == 0)
			break;
		if ((e = errno) == ENOENT && spare_name(tmp)) {
			/* A spare removed under us (by hand): a new file. */
			close(fd);
			fd = -1;
			continue;
		}
		if (e != EEXIST) {
			st = storage(err, e, "cannot create the lock file",
			    resource);
			goto out;
		}
		/* taken meanwhile: look again */
	}
	if (tries == LOCKDIR_RACE_RETRIES) {
		st = store_error(err, LOCKSTORE_STORAGE, EAGAIN,
		    "Storage error: the lock for '%s' changes too fast to be "
		    "taken", resource);
		goto out;
	}
	st = grant_new(ld, fname, resource, fd, ttl_ms, &m, grant, err);
	fd = -1;
out:
	if (fd != -1) {
		unlinkat(ld->dirfd, tmp, 0);
		close(fd);
	}
	free(lf);
	return (enum lockstore_status)st;
}

/* Sleeps as head until RESOURCE's lock file may have changed; see struct
 * lockstore_ops. */
static enum waitq_result
lockdir_wait(void *impl, const struct store_wait *w)
{
	struct lockdir	*ld = impl;
	struct timespec	 until;
	char		 fname[NAME_FILE_SIZE];

	name_encode(w->resource, fname);
	/* Changes before the watch routed them here were not seen. */
	if (dirwatch_arm(ld->watch, w->w, fname))
		return WAITQ_RETRY;
	until = clock_abs_in(w->until_ms - clock_mono_ms());
	return waitq_wait(w->q, w->w, &until, w->cancelled, w->cancel_arg);
}

/* Opens, flocks and reads lock file FNAME; see lockdir.h. */
int
lockdir_open_locked(struct lockdir *ld, const char *fname,
    const char *resource, int *fdp, struct lockfile *lf,
    struct lockstore_error *err)
{
	struct stat	st, now;
	int		fd = -1, rc, tries;

	for (tries = 0; tries < LOCKDIR_RACE_RETRIES; tries++) {
		if ((rc = open_lock(ld, fname, resource, &fd, err)) !=
		    LOCKSTORE_OK)
			return rc;
		if (fstat(fd, &st) == -1 || lockdir_flock_ex(fd) == -1) {
			rc = storage(err, errno, "cannot lock the lock file",
			    resource);
			close(fd);
			return rc;
		}
		if (fstatat(ld->dirfd, fname, &now, AT_SYMLINK_NOFOLLOW) == -1) {
			rc = errno == ENOENT ? LOCKDIR_ABSENT : (int)storage(err,
			    errno, "cannot inspect the lock file", resource);
			close(fd);
			return rc;
		}
		if (now.st_ino == st.st_ino && now.st_dev == st.st_dev)
			break;
		close(fd);	/* replaced after we opened it: again */
	}
	if (tries == LOCKDIR_RACE_RETRIES)
		return store_error(err, LOCKSTORE_STORAGE, EAGAIN,
		    "Storage error: the lock for '%s' changes too fast to be "
		    "changed", resource);
	/* Under LOCK_EX, and still FNAME's: no rewrite is under way. */
	if ((rc = read_open(fd, &st, resource, lf, err)) != LOCKSTORE_OK) {
		close(fd);
		return rc == UNPARSED ? LOCKSTORE_INVALID_STATE : rc;
	}
	*fdp = fd;
	return LOCKSTORE_OK;
}

/*
 * Compare-and-delete of lock file FNAME.  LEGACY_ONLY: act only on a file
 * without a "resource" line (one gocept.lockd wrote).
 */
static int
unlock_at(struct lockdir *ld, const char *fname, enum name_form form,
    int legacy_only, const char *resource, const char *client,
    struct lockstore_error *err)
{
	struct lockfile	*lf;
	int		 fd = -1, rc;

	if ((lf = malloc(sizeof(*lf))) == NULL)
		return storage(err, ENOMEM, "out of memory", resource);
	if ((rc = lockdir_open_locked(ld, fname, resource, &fd, lf, err)) !=
	    LOCKSTORE_OK) {
		free(lf);
		return rc;
	}
	if (legacy_only && lf->has_resource) {
		rc = LOCKDIR_ABSENT;	/* lockd's file of the resource named so */
		goto out;
	}
	if (!legacy_only &&
	    (rc = lockdir_check_owner(lf, resource, form, err)) != LOCKSTORE_OK)
		goto out;
	/* A lock-delay marker holds nobody; an expired lease is over. */
	if (lf->is_delay) {
		rc = LOCKDIR_ABSENT;
		goto out;
	}
	if (lockdir_lease_state(ld, lf, clock_mono_ms()) == LOCKDIR_EXPIRED) {
		close(fd);
		fd = -1;
		rc = lockdir_expire_one(ld, fname, resource, err);
		if (rc == LOCKSTORE_OK || rc == LOCKDIR_AGAIN)
			rc = LOCKDIR_ABSENT;
		goto out;
	}
	if (strcmp(lf->holder, client) != 0) {
		rc = store_error_not_owner(err, lf->holder, client);
		goto out;
	}
	if (!lf->has_resource)
		snprintf(lf->resource, sizeof(lf->resource), "%s", resource);
	rc = lockdir_end(ld, fname, resource, lf, LOCKSTORE_END_UNLOCK, "",
	    "", 0, err);
out:
	if (fd != -1)
		close(fd);
	free(lf);
	return rc;
}

static enum lockstore_status
lockdir_unlock(void *impl, const char *resource, const char *client,
    struct lockstore_error *err)
{
	struct lockdir	*ld = impl;
	enum name_form	 form;
	char		 fname[NAME_FILE_SIZE], legacy[NAME_FILE_SIZE];
	int		 rc;

	if ((rc = lockdir_check_dir(ld, resource, err)) != LOCKSTORE_OK)
		return rc;
	form = name_encode(resource, fname);
	rc = unlock_at(ld, fname, form, 0, resource, client, err);
	if (rc == LOCKDIR_ABSENT && lockdir_legacy_name(resource, form, legacy, sizeof(legacy)))
		rc = unlock_at(ld, legacy, NAME_PLAIN, 1, resource, client,
		    err);
	if (rc == LOCKDIR_ABSENT)
		return store_error_not_locked(err);
	return rc;
}

static void
lockdir_close(void *impl)
{
	struct lockdir	*ld = impl;

	lockdir_lease_close(ld);
	lockdir_pool_close(ld);
	pthread_mutex_destroy(&ld->poollock);
	gsync_destroy(&ld->dirsync);
	pthread_mutex_destroy(&ld->toklock);
	if (ld->tokfd != -1)
		close(ld->tokfd);
	close(ld->dirfd);
	free(ld->path);
	free(ld);
}

/*
 * Removes temporary files whose writer is gone (its pid no longer runs) or
 * that are older than any lock call can take, and spare inodes of gone
 * processes.  A crash between write and rename leaves them; they are
 * never read as locks.
 */
static void
remove_stale_tmp(struct lockdir *ld)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	char		*end;
	long		 pid;
	size_t		 skip, len;
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
		len = strlen(de->d_name);
		if (len >= sizeof(NAME_SUFFIX) - 1 && strcmp(de->d_name + len -
		    (sizeof(NAME_SUFFIX) - 1), NAME_SUFFIX) == 0)
			continue;
		if (strncmp(de->d_name, LOCKDIR_TMP_PREFIX,
		    sizeof(LOCKDIR_TMP_PREFIX) - 1) == 0)
			skip = sizeof(LOCKDIR_TMP_PREFIX) - 1;
		else if (strncmp(de->d_name, LOCKDIR_POOL_PREFIX,
		    sizeof(LOCKDIR_POOL_PREFIX) - 1) == 0)
			skip = sizeof(LOCKDIR_POOL_PREFIX) - 1;
		else
			continue;
		errno = 0;
		pid = strtol(de->d_name + skip, &end, 10);
		if (errno == 0 && *end == '.' && pid > 0 &&
		    pid != (long)getpid() &&
		    kill((pid_t)pid, 0) == -1 && errno == ESRCH) {
			unlinkat(ld->dirfd, de->d_name, 0);
			continue;
		}
		/* A spare of an earlier boot: its process is gone too. */
		if (skip == sizeof(LOCKDIR_POOL_PREFIX) - 1 &&
		    lockdir_pool_other_boot(ld, de->d_name)) {
			unlinkat(ld->dirfd, de->d_name, 0);
			continue;
		}
		/* A live process's spares may idle for any time. */
		if (skip == sizeof(LOCKDIR_POOL_PREFIX) - 1)
			continue;
		if (fstatat(ld->dirfd, de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_mtime + LOCKDIR_TMP_STALE < time(NULL))
			unlinkat(ld->dirfd, de->d_name, 0);
	}
	closedir(d);
}

static const struct lockstore_ops lockdir_ops = {
	.take = lockdir_take,
	.wait = lockdir_wait,
	.unlock = lockdir_unlock,
	.inspect = lockdir_inspect,
	.list = lockdir_list,
	.renew = lockdir_renew,
	.brk = lockdir_break,
	.history = lockdir_history,
	.expire = lockdir_expire,
	.health = lockdir_health,
	.count_held = lockdir_count_held,
	.policy_changed = lockdir_policy_changed,
	.close = lockdir_close
};

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
		return store_error(err, LOCKSTORE_STORAGE, ENOMEM,
		    "Storage error: out of memory");
	/* Absolute, so the identity check works after a chdir("/"). */
	if ((ld->path = realpath(dir, NULL)) == NULL) {
		store_error(err, LOCKSTORE_STORAGE, errno,
		    "Storage error: cannot open lock directory '%s': %s", dir,
		    strerror(errno));
		free(ld);
		return LOCKSTORE_STORAGE;
	}
	ld->flags = flags;
	ld->instance = __atomic_fetch_add(&instances, 1, __ATOMIC_RELAXED);
	ld->dirfd = open(ld->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ld->dirfd == -1 || fstat(ld->dirfd, &st) == -1) {
		store_error(err, LOCKSTORE_STORAGE, errno,
		    "Storage error: cannot open lock directory '%s': %s", dir,
		    strerror(errno));
		if (ld->dirfd != -1)
			close(ld->dirfd);
		free(ld->path);
		free(ld);
		return LOCKSTORE_STORAGE;
	}
	ld->dev = st.st_dev;
	ld->ino = st.st_ino;
	ld->tokfd = -1;		/* opened at the first grant */
	gsync_init(&ld->dirsync, ld->dirfd);
	pthread_mutex_init(&ld->toklock, NULL);
	pthread_mutex_init(&ld->poollock, NULL);
	pthread_mutex_init(&ld->leaselock, NULL);
	ld->held = -1;
	read_boot(ld);
	remove_stale_tmp(ld);
	ld->history = history_open(ld->dirfd, def.history_bytes,
	    durable(ld));
	if (ld->history == NULL ||
	    (*storep = store_new(&lockdir_ops, ld)) == NULL) {
		lockdir_close(ld);
		return store_error_nomem(err);
	}
	ld->store = *storep;
	ld->stats = store_stats(*storep);
	ld->waitq = store_waitq(*storep);
	if ((ld->watch = dirwatch_new(ld->path, ld->waitq)) == NULL) {
		lockstore_close(*storep);
		*storep = NULL;
		return store_error_nomem(err);
	}
	return LOCKSTORE_OK;
}
