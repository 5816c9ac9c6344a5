/* SPDX-License-Identifier: MIT */
/*
 * The journal: what makes a lock directory's changes durable.  Lock files
 * are created, replaced and removed without syncs of their own; each
 * change appends a record to its process's journal, and is answered once
 * an fdatasync() of the journal that began after the append has ended
 * (gsync.c: one sync answers every change waiting at that moment).
 *
 * File ".journal.<boot id>.<pid>.<instance>", one per open store, flock()ed
 * (LOCK_EX) by it for its whole life, so that a journal nobody locks is a
 * dead process's.  Format, version 1:
 *
 *	lockd-journal 1 <epoch> <boot id>\n	the header (epoch: 16 hex
 *						digits, new for each segment)
 *	<tag> <length> <sum>\n<body>		records, one write() each
 *
 * <sum> is FNV-1a 64 (16 hex digits) of the epoch's digits, the tag and
 * the <length> bytes of the body, so a torn record, or one left of an
 * earlier segment, is never read as one.  The file is written with zeros
 * first (JOURNAL_SEGMENT bytes, or LOCKD_JOURNAL_SEGMENT from the
 * environment, for tests of checkpoints) and each segment starts over at
 * its beginning, so that records overwrite allocated blocks and a sync
 * need not change the file's size.  Tags and bodies:
 *
 *	G  <file name>\n<content>	the lock file now holds exactly
 *					<content> (a holding or a lock-delay
 *					marker, as lockfile_render() writes)
 *	E  <file name>\n<how> <until ms> =<by> =<reason>\n<content>
 *					the holding <content> ended (how:
 *					enum lockstore_end; by and reason
 *					percent-encoded) and the file is gone
 *	C  (empty)			checkpoint: everything above is in
 *					the directory, durably
 *
 * Durability, argued for a power loss at any instant:
 * - A grant names its lock file first (atomically, exclusively: lockdir.c)
 *   and then appends G; a replacement (renew, lock-delay marker) renames
 *   its new content over the name, then appends G; a release appends E
 *   and then removes the name.  Each is answered only after the journal's
 *   sync, so every answered change has a durable record, and the records
 *   of one journal are in the order of the changes.
 * - After a power loss, recover.c replays the records past the last C of
 *   every journal left: per lock file the latest state wins, and since a
 *   resource's tokens grow with each holding (lockdir.c takes the token
 *   after winning the name), "latest" is the largest token, whichever
 *   process's journal holds it.  Unanswered changes may or may not be
 *   there: the states an unanswered request leaves anyway.
 * - A checkpoint (past JOURNAL_SEGMENT bytes, and at close) excludes
 *   every change (journal_enter()), fdatasyncs the lock files written since
 *   the last one, fsyncs the directory and the history, appends C and
 *   syncs it, and only then starts a new segment (a new header, synced,
 *   before any new record): a header lost to a crash leaves records
 *   that C covers.
 * - A process crash loses nothing (the page cache is the file system for
 *   every process); its journal, found unlocked in the same boot, has its
 *   files synced as a checkpoint would, and is removed.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "journal.h"

/* Room for a record's first line. */
#define HEAD_MAX	48

/* Bytes escaped in by and reason: no field may hold a space or a newline. */
static int
esc_field(unsigned char c, size_t i)
{
	(void)i;
	return c <= 0x20 || c == 0x7f || c == '%';
}

/*
 * Writes the LEN bytes of BUF at offset OFF of the journal: through the
 * descriptor the changes in flight share (see journal_enter()), or one
 * opened for this write.
 */
static int
write_at(struct journal *j, const char *buf, size_t len, off_t off)
{
	ssize_t	n;
	int	fd = j->wfd, e = 0;

	if (fd == -1 && (fd = openat(j->dirfd, j->name, O_WRONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	while (len > 0 && e == 0) {
		if ((n = pwrite(fd, buf, len, off)) == -1) {
			if (errno != EINTR)
				e = errno;
			continue;
		}
		buf += n;
		off += n;
		len -= (size_t)n;
	}
	if (fd != j->wfd)
		close(fd);
	errno = e;
	return e == 0 ? 0 : -1;
}

/*
 * Appends the record TAG with the LEN bytes of BODY, which starts HEAD_MAX
 * bytes into BUF (the head is written in front of it, so the record is
 * one write()).
 */
static int
append(struct journal *j, char tag, char *buf, size_t len)
{
	char		head[HEAD_MAX];
	uint64_t	sum;
	off_t		off;
	int		n;

	sum = codec_fnv1a_more(codec_fnv1a(j->epoch, 16), &tag, 1);
	sum = codec_fnv1a_more(sum, buf + HEAD_MAX, len);
	n = snprintf(head, sizeof(head), "%c %zu %016llx\n", tag, len,
	    (unsigned long long)sum);
	memcpy(buf + HEAD_MAX - n, head, (size_t)n);
	pthread_mutex_lock(&j->lock);
	off = j->size;
	j->size += (off_t)n + (off_t)len;
	pthread_mutex_unlock(&j->lock);
	/* A record cut short (a full disk) fails its sum: recovery skips it
	 * and reads on where the next record starts. */
	return write_at(j, buf + HEAD_MAX - n, (size_t)n + len, off);
}

/* A buffer for a record whose body takes at most BODY bytes. */
static char *
record_buf(size_t body)
{
	return malloc(HEAD_MAX + body);
}

/* Remembers FNAME to sync at the next checkpoint. */
static int
note_name(struct journal *j, const char *fname)
{
	char	**n, *s;
	int	  rc = 0;

	if ((s = strdup(fname)) == NULL)
		return -1;
	pthread_mutex_lock(&j->lock);
	if (j->nnames == j->namecap) {
		n = realloc(j->names, (j->namecap * 2 + 64) * sizeof(*n));
		if (n == NULL) {
			free(s);
			rc = -1;
			goto out;
		}
		j->names = n;
		j->namecap = j->namecap * 2 + 64;
	}
	j->names[j->nnames++] = s;
out:
	pthread_mutex_unlock(&j->lock);
	return rc;
}

/* Appends G: see journal.h. */
int
journal_put(struct journal *j, const char *fname, const struct lockfile *lf)
{
	size_t	flen = strlen(fname);
	char	*buf, *p;
	int	 n, rc;

	if ((buf = record_buf(flen + 1 + LOCKFILE_MAX)) == NULL)
		return -1;
	p = buf + HEAD_MAX;
	memcpy(p, fname, flen);
	p[flen] = '\n';
	if ((n = lockfile_render(p + flen + 1, LOCKFILE_MAX, lf)) < 0) {
		free(buf);
		errno = ENAMETOOLONG;
		return -1;
	}
	rc = note_name(j, fname);
	if (rc == 0)
		rc = append(j, 'G', buf, flen + 1 + (size_t)n);
	free(buf);
	return rc;
}

/* Appends E: see journal.h. */
int
journal_end(struct journal *j, const char *fname, const struct lockfile *lf,
    enum lockstore_end how, const char *by, const char *reason, long long wall)
{
	size_t	flen = strlen(fname), blen = strlen(by), rlen = strlen(reason);
	size_t	max = flen + 64 + 3 * (blen + rlen) + LOCKFILE_MAX;
	char	*buf, *p;
	int	 n, rc;

	if ((buf = record_buf(max)) == NULL)
		return -1;
	p = buf + HEAD_MAX;
	memcpy(p, fname, flen);
	p += flen;
	p += sprintf(p, "\n%d %lld =", (int)how, wall);
	p = codec_percent(p, by, blen, esc_field);
	*p++ = ' ';
	*p++ = '=';
	p = codec_percent(p, reason, rlen, esc_field);
	*p++ = '\n';
	if ((n = lockfile_render(p, LOCKFILE_MAX, lf)) < 0) {
		free(buf);
		errno = ENAMETOOLONG;
		return -1;
	}
	rc = append(j, 'E', buf, (size_t)(p - buf - HEAD_MAX) + (size_t)n);
	free(buf);
	return rc;
}

/* Starts a new segment: a new epoch in the header, synced.  Records of
 * the segment before stay after it, unread: their sums hold the old
 * epoch. */
static int
start_segment(struct journal *j)
{
	static unsigned long	counter;
	struct timespec		ts;
	char			head[128];
	uint64_t		e;
	int			n;

	clock_gettime(CLOCK_REALTIME, &ts);
	e = codec_fnv1a(j->boot, strlen(j->boot));
	e = codec_fnv1a_more(e, &ts, sizeof(ts));
	e = codec_fnv1a_more(e, j->name, strlen(j->name));
	n = (int)__atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
	e = codec_fnv1a_more(e, &n, sizeof(n));
	snprintf(j->epoch, sizeof(j->epoch), "%016llx", (unsigned long long)e);
	n = snprintf(head, sizeof(head), "lockd-journal 1 %s %s\n", j->epoch,
	    j->boot);
	if (write_at(j, head, (size_t)n, 0) == -1 || fdatasync(j->fd) == -1)
		return -1;
	j->size = n;
	return 0;
}

/*
 * Writes zeros over the journal's first j->segment bytes, synced:
 * records then overwrite blocks already allocated and written, so their
 * fdatasync() writes data only, without the file system's own journal.
 * Only where that takes at most 1/64 of the free space, and best effort:
 * without it, records make the file grow.
 */
static void
preallocate(struct journal *j)
{
	static const char	zeros[65536];
	struct statvfs		sv;
	off_t			off;

	if (fstatvfs(j->fd, &sv) == -1 || (unsigned long long)sv.f_bavail *
	    sv.f_frsize < 64ULL * (unsigned long long)j->segment)
		return;
	for (off = 0; off < j->segment; off += (off_t)sizeof(zeros))
		if (write_at(j, zeros, sizeof(zeros), off) == -1)
			break;
	(void)fdatasync(j->fd);
}

/* Gives the file open at FD (-1: file NAME) the owner of the directory
 * DIRFD when root makes it: the daemon opens its store as root and then
 * runs as the directory's owner, who must be able to write it. */
void
journal_own(int dirfd, int fd, const char *name)
{
	struct stat	st;

	if (geteuid() != 0 || fstat(dirfd, &st) == -1 || st.st_uid == 0)
		return;
	if (fd != -1)
		(void)fchown(fd, st.st_uid, st.st_gid);
	else
		(void)fchownat(dirfd, name, st.st_uid, st.st_gid,
		    AT_SYMLINK_NOFOLLOW);
}

/* Fsyncs what is open at NAME in DIRFD (data only for a file), if it is
 * there. */
static int
sync_name(int dirfd, const char *name)
{
	int	fd, rc;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT || errno == ELOOP ? 0 : -1;
	rc = fdatasync(fd);
	close(fd);
	return rc;
}

/* Makes the directory hold every change to the lock files NAMES durably:
 * their content, the directory, the history.  0, or -1 with errno. */
int
journal_checkpoint_files(int dirfd, char **names, size_t n,
    struct history *h)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (sync_name(dirfd, names[i]) == -1)
			return -1;
	if (fsync(dirfd) == -1 || history_sync(h) == -1)
		return -1;
	return 0;
}

/* Forgets the names noted; called with every change excluded. */
static void
drop_names(struct journal *j)
{
	size_t	i;

	for (i = 0; i < j->nnames; i++)
		free(j->names[i]);
	j->nnames = 0;
}

/* Checkpoints and starts a new segment (see the top of this file). */
static void
checkpoint(struct journal *j)
{
	char	buf[HEAD_MAX];

	pthread_rwlock_wrlock(&j->cp);
	if (journal_checkpoint_files(j->dirfd, j->names, j->nnames,
	    j->history) == 0 && append(j, 'C', buf, 0) == 0 &&
	    fdatasync(j->fd) == 0 && start_segment(j) == 0)
		drop_names(j);
	/* else: the records stay, the next change tries again */
	pthread_rwlock_unlock(&j->cp);
}

/*
 * Starts a change; see journal.h.  The changes in flight, from their
 * start to the end of their wait, share one descriptor open for writing:
 * opened by the first, closed by the last, so that an idle daemon keeps
 * none (one would stop an operator from remounting the file system
 * read-only) and a busy one opens it once.
 */
void
journal_enter(struct journal *j)
{
	pthread_mutex_lock(&j->lock);
	if (__atomic_fetch_add(&j->wusers, 1, __ATOMIC_RELAXED) == 0)
		j->wfd = openat(j->dirfd, j->name, O_WRONLY | O_NOFOLLOW |
		    O_CLOEXEC);
	pthread_mutex_unlock(&j->lock);
	pthread_rwlock_rdlock(&j->cp);
}

/* Ends a change: the mark of the sync that covers it, and a checkpoint
 * if the journal is full; see journal.h. */
uint64_t
journal_leave(struct journal *j)
{
	uint64_t	mark = gsync_mark(&j->sync);
	off_t		size;

	pthread_rwlock_unlock(&j->cp);
	pthread_mutex_lock(&j->lock);
	size = j->size;
	pthread_mutex_unlock(&j->lock);
	if (size >= j->segment - j->segment / 4 &&
	    !__atomic_exchange_n(&j->checkpointing, 1, __ATOMIC_ACQ_REL)) {
		checkpoint(j);
		__atomic_store_n(&j->checkpointing, 0, __ATOMIC_RELEASE);
	}
	return mark;
}

/* Waits for the sync of a change; see journal.h. */
int
journal_wait(struct journal *j, uint64_t mark)
{
	int	rc = mark == 0 ? 0 : gsync_wait_mark(&j->sync, mark), e = errno;

	pthread_mutex_lock(&j->lock);
	if (__atomic_sub_fetch(&j->wusers, 1, __ATOMIC_RELAXED) == 0 &&
	    j->wfd != -1) {
		close(j->wfd);
		j->wfd = -1;
	}
	pthread_mutex_unlock(&j->lock);
	errno = e;
	return rc;
}

/* Recovers, then starts this process's journal; see journal.h. */
int
journal_open(struct journal *j, int dirfd, const char *boot,
    unsigned long instance, struct history *h)
{
	pthread_rwlockattr_t	attr;
	const char		*v;
	int			rc, e;

	memset(j, 0, sizeof(*j));
	j->dirfd = dirfd;
	j->fd = j->wfd = -1;
	j->history = h;
	snprintf(j->boot, sizeof(j->boot), "%s", boot);
	j->segment = JOURNAL_SEGMENT;
	if ((v = getenv("LOCKD_JOURNAL_SEGMENT")) != NULL && atol(v) >= 4096 &&
	    atol(v) <= 1024L * 1024 * 1024)
		j->segment = atol(v);
	if (journal_recover(dirfd, boot, h) == -1)
		return -1;
	snprintf(j->name, sizeof(j->name), "%s%s.%ld.%lu", JOURNAL_PREFIX,
	    boot, (long)getpid(), instance);
	/* Kept open to flock() and sync only; see write_at(). */
	j->fd = openat(dirfd, j->name, O_RDONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (j->fd == -1)
		return -1;
	journal_own(dirfd, j->fd, NULL);
	if ((rc = flock(j->fd, LOCK_EX | LOCK_NB)) == 0) {
		preallocate(j);
		rc = start_segment(j);
	}
	if (rc == -1 || fsync(dirfd) == -1) {
		e = errno;
		unlinkat(dirfd, j->name, 0);
		close(j->fd);
		j->fd = -1;
		errno = e;
		return -1;
	}
	gsync_init(&j->sync, j->fd);
	j->sync.data = 1;
	j->sync.inflight = &j->wusers;
	pthread_mutex_init(&j->lock, NULL);
	/* A checkpoint must not wait behind a stream of changes. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&j->cp, &attr);
	pthread_rwlockattr_destroy(&attr);
	return 0;
}

/* Checkpoints for good and removes the journal; see journal.h. */
void
journal_close(struct journal *j)
{
	if (j->fd == -1)
		return;
	/* Only a directory known durable may lose its journal. */
	if (journal_checkpoint_files(j->dirfd, j->names, j->nnames,
	    j->history) == 0 && unlinkat(j->dirfd, j->name, 0) == 0)
		fsync(j->dirfd);
	drop_names(j);
	free(j->names);
	close(j->fd);
	j->fd = -1;
	gsync_destroy(&j->sync);
	pthread_mutex_destroy(&j->lock);
	pthread_rwlock_destroy(&j->cp);
}
