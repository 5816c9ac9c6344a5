/* SPDX-License-Identifier: MIT */
/*
 * The lock history: every ended holding is appended as one text line to
 * ".history" in the lock directory; ".history.1" keeps the segment before.
 *
 * Each record is one line (histline.c); a query (histquery.c) reads them.
 *
 * Concurrency, among threads and processes sharing the directory:
 * - A record is one write() on an O_APPEND descriptor, made under
 *   flock(LOCK_SH) on that descriptor after checking that ".history" still
 *   names its inode.  Rotation (rename to ".history.1", create a new
 *   ".history") happens under flock(LOCK_EX) on the current inode after
 *   the same check.  So a record is only ever written to the current
 *   segment, and is kept until two rotations later.
 * - flock() locks belong to the open file, which all threads of a process
 *   share: the threads count themselves in and out of the shared lock (the
 *   first takes it, the last drops it), and a thread that rotates first
 *   waits until no other thread of its process is inside.
 * - A query opens ".history" and, under LOCK_SH on it while it is still
 *   current, ".history.1": two consecutive segments.  It reads them with
 *   no lock held: a segment only grows at its end, and only while current.
 * - Durability: a record is written, not synced: the lock directory's
 *   journal (journal.c) records every end, its checkpoints sync the
 *   history (history_sync()), and recovery after a power loss appends
 *   the ends the history lost.
 * - Files: opened without following a symbolic link or waiting for a
 *   FIFO, and used only when they are lockd's own (lockdir_not_own(): a
 *   regular file, one name, lockd's user): a hard link to a file outside
 *   is never written or read.
 * - A rotation cut by a crash between its rename and the directory's sync
 *   may come back, where renames are not atomic across a crash (ext2, ext4
 *   without a journal: fsck keeps both names), as ".history" and
 *   ".history.1" naming one segment.  Whoever opens ".history" finishes
 *   that rotation (finish_rotation()): under LOCK_EX, the names checked
 *   again, it drops the name ".history" and syncs the directory, so the
 *   segment keeps its records as ".history.1" and the next append starts a
 *   new one.  Only for lockd's own file with exactly those two names.  A
 *   segment this process already appends to (a link count left at one
 *   refuses nothing) is finished by its rotation: rename() between two
 *   names of one file does nothing, so the name ".history" is dropped
 *   (drop_twin()), not the same segment installed again and again.  The
 *   other states such a cut leaves need nothing: only ".history.1" (the
 *   next append creates ".history"), an empty ".history", a torn last line
 *   (skipped, or continued by the next record: histline.c).
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "histline.h"
#include "history.h"
#include "lockdir.h"
#include "store_impl.h"

#define STACK_LINE	1024		/* records up to this need no malloc */
#define RETRIES		1000		/* bound on lost races per call */

/* One segment file as opened by this process. */
struct segment {
	int		fd;
	dev_t		dev;
	ino_t		ino;
	unsigned int	refs;		/* all fields below under h->lock */
	unsigned int	shared;		/* threads inside its LOCK_SH */
	int		locking;	/* a thread is taking LOCK_SH */
	int		exclusive;	/* a thread holds or awaits LOCK_EX */
};

struct history {
	int		 dirfd;
	unsigned long	 segment_bytes;	/* atomic */
	pthread_mutex_t	 lock;
	pthread_cond_t	 cv;		/* segment state changes */
	pthread_mutex_t	 open_lock;	/* serialises opening and rotating */
	struct segment	*cur;		/* NULL until the first append */
};

static int
lock_file(int fd, int op)
{
	while (flock(fd, op) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* "Storage error: cannot VERB the history: <strerror>". */
static enum lockstore_status
history_error(struct lockstore_error *err, const char *verb, int e)
{
	return store_error(err, LOCKSTORE_STORAGE, e,
	    "Storage error: cannot %s the history: %s", verb, strerror(e));
}

/* Opens the journal in the directory DIRFD. */
struct history *
history_open(int dirfd, unsigned long segment_bytes)
{
	struct history	*h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->dirfd = dirfd;
	h->segment_bytes = segment_bytes;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cv, NULL);
	pthread_mutex_init(&h->open_lock, NULL);
	return h;
}

/* Changes the segment size for later appends. */
void
history_set_segment(struct history *h, unsigned long segment_bytes)
{
	__atomic_store_n(&h->segment_bytes, segment_bytes, __ATOMIC_RELAXED);
}

static void
segment_free(struct segment *s)
{
	close(s->fd);
	free(s);
}

/* Drops a reference to S. */
static void
segment_put(struct history *h, struct segment *s)
{
	int	last;

	pthread_mutex_lock(&h->lock);
	last = (--s->refs == 0);
	pthread_mutex_unlock(&h->lock);
	if (last)
		segment_free(s);
}

/* The current segment, referenced (or NULL). */
static struct segment *
segment_get(struct history *h)
{
	struct segment	*s;

	pthread_mutex_lock(&h->lock);
	if ((s = h->cur) != NULL)
		s->refs++;
	pthread_mutex_unlock(&h->lock);
	return s;
}

/* Makes the segment open at FD current and closes FD on failure.  Called
 * with open_lock held. */
static int
segment_install(struct history *h, int fd)
{
	struct segment	*s, *old;
	struct stat	 st;
	int		 e;

	if (fstat(fd, &st) == -1)
		goto fail;
	if (lockdir_not_own(fd, &e) != NULL) {
		errno = e;
		goto fail;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto fail;
	s->fd = fd;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->refs = 1;		/* h->cur's */
	pthread_mutex_lock(&h->lock);
	old = h->cur;
	h->cur = s;
	if (old != NULL && --old->refs > 0)
		old = NULL;
	pthread_mutex_unlock(&h->lock);
	if (old != NULL)
		segment_free(old);
	return 0;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* Whether the segment ST is the one this process appends to. */
static int
is_current(struct history *h, const struct stat *st)
{
	int	rc;

	pthread_mutex_lock(&h->lock);
	rc = h->cur != NULL && h->cur->ino == st->st_ino &&
	    h->cur->dev == st->st_dev;
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* Whether the file open at FD is lockd's own with exactly two names,
 * ".history" and ".history.1"; fills *ST. */
static int
torn_pair(struct history *h, int fd, struct stat *st)
{
	struct stat	a, b;

	return fstat(fd, st) == 0 && S_ISREG(st->st_mode) &&
	    st->st_nlink == 2 && st->st_uid == geteuid() &&
	    fstatat(h->dirfd, HISTORY_FILE, &a, AT_SYMLINK_NOFOLLOW) == 0 &&
	    fstatat(h->dirfd, HISTORY_FILE_OLD, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	    a.st_ino == st->st_ino && a.st_dev == st->st_dev &&
	    b.st_ino == st->st_ino && b.st_dev == st->st_dev;
}

/*
 * Finishes a rotation torn by a crash (see the header comment) if FD, open
 * at ".history", is the segment it left with two names: drops the name
 * ".history" under the rotation's exclusive lock, the names checked again
 * under it.  Not for the segment we append to: a thread of ours may hold
 * its lock.  Returns 1 when the caller must open again, 0 if FD is no such
 * segment, -1 on error.
 */
static int
finish_rotation(struct history *h, int fd)
{
	struct stat	st;
	int		rc = 1, e;

	if (!torn_pair(h, fd, &st) || is_current(h, &st))
		return 0;
	if (lock_file(fd, LOCK_EX) == -1)
		return -1;
	if (torn_pair(h, fd, &st) && unlinkat(h->dirfd, HISTORY_FILE, 0) == -1)
		rc = -1;
	e = errno;
	(void)flock(fd, LOCK_UN);
	errno = e;
	return rc;
}

/* Opens NAME with FLAGS; ".history" once no torn rotation is left in it
 * (finish_rotation()).  FD or -1. */
static int
open_name(struct history *h, const char *name, int flags)
{
	int	fd, rc, i, e;

	for (i = 0; i < RETRIES; i++) {
		fd = openat(h->dirfd, name, flags);
		if (fd == -1 || strcmp(name, HISTORY_FILE) != 0 ||
		    (rc = finish_rotation(h, fd)) == 0)
			return fd;
		e = errno;
		close(fd);
		errno = e;
		if (rc == -1)
			return -1;
	}
	errno = EAGAIN;
	return -1;
}

/* Opens ".history" for appending, creating it if needed; FD or -1. */
static int
open_current(struct history *h)
{
	const int	flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK |
			    O_CLOEXEC;
	int		fd, i;

	for (i = 0; i < RETRIES; i++) {
		fd = open_name(h, HISTORY_FILE, flags);
		if (fd != -1 || errno != ENOENT)
			return fd;
		fd = openat(h->dirfd, HISTORY_FILE, flags | O_CREAT | O_EXCL,
		    0644);
		if (fd != -1 || errno != EEXIST)
			return fd;
	}
	errno = EAGAIN;
	return -1;
}

/* Replaces STALE, if still current, by a fresh open of ".history". */
static int
reopen(struct history *h, struct segment *stale)
{
	int	fd, rc = 0;

	/* h->cur only changes under open_lock: unless another thread was
	 * first, it is still STALE. */
	pthread_mutex_lock(&h->open_lock);
	if (h->cur == stale && ((fd = open_current(h)) == -1 ||
	    segment_install(h, fd) == -1))
		rc = -1;
	pthread_mutex_unlock(&h->open_lock);
	return rc;
}

/* Enters S's shared lock with the other threads of this process. */
static int
enter_shared(struct history *h, struct segment *s)
{
	int	rc = 0, e = 0;

	pthread_mutex_lock(&h->lock);
	while (s->exclusive || s->locking)
		pthread_cond_wait(&h->cv, &h->lock);
	if (s->shared == 0) {
		s->locking = 1;
		pthread_mutex_unlock(&h->lock);
		rc = lock_file(s->fd, LOCK_SH);
		e = errno;
		pthread_mutex_lock(&h->lock);
		s->locking = 0;
		pthread_cond_broadcast(&h->cv);
	}
	if (rc == 0)
		s->shared++;
	pthread_mutex_unlock(&h->lock);
	errno = e;
	return rc;
}

/* Leaves S's shared lock; the last thread out unlocks the file. */
static void
leave_shared(struct history *h, struct segment *s)
{
	pthread_mutex_lock(&h->lock);
	if (--s->shared == 0) {
		(void)flock(s->fd, LOCK_UN);
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->lock);
}

static void
leave_exclusive(struct history *h, struct segment *s)
{
	(void)flock(s->fd, LOCK_UN);
	pthread_mutex_lock(&h->lock);
	s->exclusive = 0;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->lock);
}

/* Takes S's exclusive lock once no other thread of ours is inside. */
static int
enter_exclusive(struct history *h, struct segment *s)
{
	int	e;

	pthread_mutex_lock(&h->lock);
	while (s->exclusive || s->locking)
		pthread_cond_wait(&h->cv, &h->lock);
	s->exclusive = 1;
	while (s->shared > 0)
		pthread_cond_wait(&h->cv, &h->lock);
	pthread_mutex_unlock(&h->lock);
	if (lock_file(s->fd, LOCK_EX) == 0)
		return 0;
	e = errno;
	leave_exclusive(h, s);	/* LOCK_UN of a lock not held: no-op */
	errno = e;
	return -1;
}

/*
 * After the rename of S to ".history.1": if ".history" still names S, the
 * two names were S's before (a torn rotation whose second name this
 * process did not refuse: rename() then does nothing), and dropping the
 * name ".history" finishes the rotation.  0 or -1.
 */
static int
drop_twin(struct history *h, struct segment *s)
{
	struct stat	st;

	if (fstatat(h->dirfd, HISTORY_FILE, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	if (st.st_ino != s->ino || st.st_dev != s->dev)
		return 0;
	return unlinkat(h->dirfd, HISTORY_FILE, 0);
}

/*
 * Rotates if S is still ".history" and still full: it becomes
 * ".history.1" and a new ".history" becomes current.  Returns 0 (also when
 * there was nothing to do: the caller looks again) or -1.
 */
static int
rotate(struct history *h, struct segment *s)
{
	struct stat	st;
	unsigned long	limit;
	int		fd, rc = 0, e;

	if (enter_exclusive(h, s) == -1)
		return -1;
	limit = __atomic_load_n(&h->segment_bytes, __ATOMIC_RELAXED);
	if (fstatat(h->dirfd, HISTORY_FILE, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT)
			rc = -1;
	} else if (st.st_ino == s->ino && st.st_dev == s->dev && limit > 0 &&
	    (unsigned long long)st.st_size >= limit) {
		pthread_mutex_lock(&h->open_lock);
		if (renameat(h->dirfd, HISTORY_FILE, h->dirfd,
		    HISTORY_FILE_OLD) == -1 || drop_twin(h, s) == -1)
			rc = -1;
		else {
			/* EEXIST: another process's appender was quicker. */
			fd = openat(h->dirfd, HISTORY_FILE, O_WRONLY |
			    O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW |
			    O_NONBLOCK | O_CLOEXEC, 0644);
			if (fd == -1 && errno == EEXIST)
				fd = open_current(h);
			if (fd == -1 || segment_install(h, fd) == -1)
				rc = -1;
		}
		pthread_mutex_unlock(&h->open_lock);
	}
	e = errno;
	leave_exclusive(h, s);
	errno = e;
	return rc;
}

/* Writes the record BUF of LEN bytes to S with one write(). */
static int
write_record(struct segment *s, const char *buf, size_t len)
{
	ssize_t	n;

	while ((n = write(s->fd, buf, len)) == -1 && errno == EINTR)
		;
	if (n == -1)
		return -1;
	if ((size_t)n != len) {
		/* A full disk: the torn record is skipped by readers. */
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

/*
 * One attempt to append BUF: 1 when written, 0 when the segment changed
 * under us and the caller must try again, -1 on error.
 */
static int
append_once(struct history *h, unsigned long limit, const char *buf,
    size_t len)
{
	struct segment	*s;
	struct stat	 st;
	int		 rc, e, stale, full = 0;

	if ((s = segment_get(h)) == NULL)
		return reopen(h, NULL) == -1 ? -1 : 0;
	if ((rc = enter_shared(h, s)) == -1)
		goto out;
	/* ENOENT: renamed away, not yet replaced. */
	if (fstatat(h->dirfd, HISTORY_FILE, &st, AT_SYMLINK_NOFOLLOW) == -1)
		stale = errno == ENOENT ? 1 : -1;
	else
		stale = st.st_ino != s->ino || st.st_dev != s->dev;
	if (stale == 0 && !(full = (unsigned long long)st.st_size >= limit))
		rc = write_record(s, buf, len);
	e = errno;
	leave_shared(h, s);
	errno = e;
	if (stale != 0)
		rc = stale == 1 ? reopen(h, s) : -1;
	else if (full)
		rc = rotate(h, s);
	else if (rc == 0)
		rc = 1;
out:
	e = errno;
	segment_put(h, s);
	errno = e;
	return rc;
}

/* Appends E; see history.h. */
enum lockstore_status
history_append(struct history *h, const struct lockstore_history_entry *e,
    struct lockstore_error *err)
{
	char		 stackbuf[STACK_LINE], *buf = stackbuf;
	unsigned long	 limit;
	size_t		 size, len;
	int		 i, rc = 0, saved;

	limit = __atomic_load_n(&h->segment_bytes, __ATOMIC_RELAXED);
	if (limit == 0)
		return LOCKSTORE_OK;
	if ((unsigned int)e->how > LOCKSTORE_END_EXPIRY)
		return history_error(err, "write", EINVAL);
	size = histline_len(e);
	if (size > sizeof(stackbuf) && (buf = malloc(size)) == NULL)
		return history_error(err, "write", errno);
	len = histline_put(buf, size, e);
	for (i = 0; i < RETRIES && rc == 0; i++)
		rc = append_once(h, limit, buf, len);
	saved = (rc == 0 ? EAGAIN : errno);
	if (buf != stackbuf)
		free(buf);
	if (rc != 1)
		return history_error(err, "write", saved);
	return LOCKSTORE_OK;
}

/* Opens a segment for reading: FD, -2 if absent, -1 on error (also for
 * a file that is not one of lockd's own). */
static int
open_read(struct history *h, const char *name)
{
	int	fd, e;

	fd = open_name(h, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd == -1 && errno == ENOENT)
		return -2;
	if (fd != -1 && lockdir_not_own(fd, &e) != NULL) {
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/*
 * Opens both segments as one consistent pair; see history.h.  A shared
 * lock on the current one, while it is still current, keeps rotation away
 * while the previous one is opened.
 */
int
history_open_pair(struct history *h, int *curp, int *oldp)
{
	struct stat	a, b;
	int		cur, old, i, e;

	for (i = 0; i < RETRIES; i++) {
		if ((cur = open_read(h, HISTORY_FILE)) == -1)
			return -1;
		if (cur >= 0) {
			if (lock_file(cur, LOCK_SH) == -1 ||
			    fstat(cur, &a) == -1)
				goto fail;
			if (fstatat(h->dirfd, HISTORY_FILE, &b,
			    AT_SYMLINK_NOFOLLOW) == -1 ||
			    a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
				close(cur);	/* rotated meanwhile */
				continue;
			}
		}
		old = open_read(h, HISTORY_FILE_OLD);
		if (old == -1)
			goto fail;
		if (cur >= 0)
			(void)flock(cur, LOCK_UN);
		*curp = cur;
		*oldp = old;
		return 0;
	}
	errno = EAGAIN;
	return -1;
fail:
	e = errno;
	if (cur >= 0)
		close(cur);
	errno = e;
	return -1;
}

/* Whether appends could write now; see history.h. */
enum lockstore_status
history_health(struct history *h, struct lockstore_error *err)
{
	int	fd, e;

	if (__atomic_load_n(&h->segment_bytes, __ATOMIC_RELAXED) == 0)
		return LOCKSTORE_OK;
	fd = open_name(h, HISTORY_FILE, O_WRONLY | O_APPEND | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? LOCKSTORE_OK :
		    history_error(err, "write", errno);
	if (lockdir_not_own(fd, &e) == NULL)
		e = 0;
	close(fd);
	return e == 0 ? LOCKSTORE_OK : history_error(err, "write", e);
}

/* Syncs both segments; see history.h. */
int
history_sync(struct history *h)
{
	if (h == NULL)
		return 0;
	if (gsync_name(h->dirfd, HISTORY_FILE) == -1 ||
	    gsync_name(h->dirfd, HISTORY_FILE_OLD) == -1)
		return -1;
	return 0;
}

/* Closes the journal. */
void
history_close(struct history *h)
{
	if (h == NULL)
		return;
	if (h->cur != NULL)
		segment_free(h->cur);
	pthread_mutex_destroy(&h->open_lock);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
