/* SPDX-License-Identifier: MIT */
/*
 * The journal: what makes a lock directory's changes durable.  Lock files
 * are created, replaced and removed without syncs of their own; each
 * change appends a record to its process's journal, and is answered once
 * an fdatasync() of the journal that began after the append has ended
 * (gsync.c: one sync answers every change waiting at that moment).
 *
 * File ".journal.<boot id>.<pid>.<instance>.<nonce>", one per open store,
 * flock()ed (LOCK_EX) by it for its whole life, so that a journal nobody
 * locks is a dead process's.  It is written with zeros first and holds two halves;
 * records go to one half until it is 3/4 full, then, after a checkpoint,
 * to the other, over records the checkpoint covered: so records overwrite
 * allocated blocks and a sync need not change the file's size.  Records:
 *
 *	<tag> <seq> <length> <sum>\n<body>
 *
 * seq counts the journal's records from 1; <sum> is FNV-1a 64 (16 hex
 * digits) of the line up to the sum and the <length> bytes of the body,
 * so a torn record, or what is left of an overwritten one, is never read
 * as one.  Tags and bodies (stamp: CLOCK_BOOTTIME ms of the change):
 *
 *	G  <stamp> <file name>\n<content>
 *			the lock file now holds exactly <content> (a holding
 *			or a lock-delay marker, as lockfile_render() writes)
 *	E  <stamp> <file name>\n<how> <until ms> =<by> =<reason>\n<content>
 *			the holding <content> ended (how: enum lockstore_end;
 *			by and reason percent-encoded) and the file is gone
 *
 * Durability, argued for a power loss at any instant:
 * - Every change is made in the directory first and recorded after: a
 *   grant names its lock file (atomically, exclusively: lockdir.c), a
 *   replacement (renew, lock-delay marker) renames new content over it, a
 *   release removes it; then the record is appended.  Each change is
 *   answered only after the journal's sync, so every answered change has
 *   a durable record.
 * - A checkpoint (checkpoint.c) reads every journal in the directory, so
 *   far, then syncs the lock files whose latest record holds them, the
 *   directory and the history, and then writes which records of which
 *   journal it covered (up to the first it did not read) to
 *   ".checkpoint", synced.  Since each record follows its change, every
 *   covered record's change is durable in the directory.  A half is
 *   overwritten only after a checkpoint covered it.  A replacement's
 *   content is synced before its rename: a directory sync may make the
 *   rename durable before its record.
 * - After a power loss, recover.c replays the records no checkpoint
 *   covered, of every journal left: per lock file the latest wins
 *   (covered records still there count: journals are read one after
 *   another, so one's covered end may follow another's uncovered grant),
 *   and
 *   since a resource's tokens grow with each holding (lockdir.c takes the
 *   token with the name), "latest" is the largest token, whichever
 *   process's journal holds it.  Unanswered changes may or may not be
 *   there: the states an unanswered request leaves anyway.
 * - A process crash loses nothing (the page cache is the file system for
 *   every process); its journal, found unlocked in the same boot, is
 *   covered by a checkpoint and removed.
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

#include "clock.h"
#include "codec.h"
#include "journal.h"

/* Room for a record's first line. */
#define HEAD_MAX	64

/* Bytes escaped in by and reason: no field may hold a space or a newline. */
static int
esc_field(unsigned char c, size_t i)
{
	(void)i;
	return c <= 0x20 || c == 0x7f || c == '%';
}

/* Where half H starts, and where its records must end (a half has room
 * for twice what fills it before its checkpoint). */
static off_t
half_start(const struct journal *j, int h)
{
	return h == 0 ? 0 : 2 * j->segment;
}

/* Writes the LEN bytes of BUF at offset OFF of the journal: through the
 * descriptor the changes in flight share, or one opened for the write. */
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
 * Checkpoints, then moves to the other half if the checkpoint covered
 * every record of this process so far that is in it.  After a failure
 * the next try waits for another eighth of a half.  One at a time; who
 * waits for room (append()) is woken at the end.
 */
static void
checkpoint(struct journal *j)
{
	unsigned long long	covered = 0, first;
	int			rc;

	if (__atomic_exchange_n(&j->checkpointing, 1, __ATOMIC_ACQ_REL))
		return;
	pthread_mutex_lock(&j->lock);
	first = j->seq;		/* covered, so is every record before */
	pthread_mutex_unlock(&j->lock);
	rc = journal_checkpoint(j->dirfd, j->boot, j->history, j->name,
	    &covered);
	pthread_mutex_lock(&j->lock);
	if (rc == 0 && covered >= first) {
		j->half ^= 1;
		j->size = half_start(j, j->half);
		j->retry_at = 0;
	} else
		j->retry_at = j->size + j->segment / 8;
	__atomic_store_n(&j->checkpointing, 0, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&j->room);
	pthread_mutex_unlock(&j->lock);
}

/* Whether a record of LEN bytes fits in the half; called with the lock. */
static int
fits(const struct journal *j, size_t len)
{
	return j->size + (off_t)len <= half_start(j, j->half) + 2 * j->segment;
}

/*
 * Waits, with the lock held, until a record of LEN bytes fits: while a
 * checkpoint runs (a slow disk), or after running one.  0, or -1 with
 * EFBIG when checkpoints fail.
 */
static int
room_for(struct journal *j, size_t len)
{
	int	tried = 0;

	while (!fits(j, len)) {
		if (__atomic_load_n(&j->checkpointing, __ATOMIC_ACQUIRE))
			pthread_cond_wait(&j->room, &j->lock);
		else if (tried++ == 0) {
			pthread_mutex_unlock(&j->lock);
			checkpoint(j);
			pthread_mutex_lock(&j->lock);
		} else {
			errno = EFBIG;
			return -1;
		}
	}
	return 0;
}

/*
 * Appends the record TAG with the LEN bytes of body that start HEAD_MAX
 * bytes into BUF (the head is written in front of it, so the record is
 * one write).  In the order of seq, which the lock keeps.
 */
static int
append(struct journal *j, char tag, char *buf, size_t len)
{
	char		head[HEAD_MAX];
	uint64_t	sum;
	int		n, rc;

	pthread_mutex_lock(&j->lock);
	if (room_for(j, HEAD_MAX + len) == -1) {
		pthread_mutex_unlock(&j->lock);
		return -1;
	}
	n = snprintf(head, sizeof(head), "%c %llu %zu ", tag, j->seq + 1, len);
	sum = codec_fnv1a_more(codec_fnv1a(head, (size_t)n), buf + HEAD_MAX,
	    len);
	n += snprintf(head + n, sizeof(head) - (size_t)n, "%016llx\n",
	    (unsigned long long)sum);
	memcpy(buf + HEAD_MAX - n, head, (size_t)n);
	if ((rc = write_at(j, buf + HEAD_MAX - n, (size_t)n + len, j->size)) ==
	    0) {
		j->seq++;
		j->size += n + (off_t)len;
	}
	pthread_mutex_unlock(&j->lock);
	return rc;
}

/*
 * Appends the record TAG: "<stamp> <FNAME>\n", then MID (NULL: none),
 * then LF as lockfile_render() writes it.
 */
static int
record(struct journal *j, char tag, const char *fname, const char *mid,
    const struct lockfile *lf)
{
	size_t	len, mlen = mid != NULL ? strlen(mid) : 0;
	char	*buf, *p;
	int	 n, rc;

	buf = malloc(HEAD_MAX + 32 + NAME_FILE_SIZE + mlen + LOCKFILE_MAX);
	if (buf == NULL)
		return -1;
	p = buf + HEAD_MAX;
	p += sprintf(p, "%lld %s\n", clock_mono_ms(), fname);
	memcpy(p, mid != NULL ? mid : "", mlen);
	p += mlen;
	if ((n = lockfile_render(p, LOCKFILE_MAX, lf)) < 0) {
		free(buf);
		errno = ENAMETOOLONG;
		return -1;
	}
	len = (size_t)(p - buf - HEAD_MAX) + (size_t)n;
	rc = append(j, tag, buf, len);
	free(buf);
	return rc;
}

/* Appends G: see journal.h. */
int
journal_put(struct journal *j, const char *fname, const struct lockfile *lf)
{
	return record(j, 'G', fname, NULL, lf);
}

/* Appends E: see journal.h. */
int
journal_end(struct journal *j, const char *fname, const struct lockfile *lf,
    enum lockstore_end how, const char *by, const char *reason, long long wall)
{
	size_t	blen = strlen(by), rlen = strlen(reason);
	char	*mid, *p;
	int	 rc;

	if ((mid = malloc(64 + 3 * (blen + rlen))) == NULL)
		return -1;
	p = mid + sprintf(mid, "%d %lld =", (int)how, wall);
	p = codec_percent(p, by, blen, esc_field);
	*p++ = ' ';
	*p++ = '=';
	p = codec_percent(p, reason, rlen, esc_field);
	*p++ = '\n';
	*p = '\0';
	rc = record(j, 'E', fname, mid, lf);
	free(mid);
	return rc;
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
}

/* Ends a change: the mark of the sync that covers it, and a checkpoint
 * if its half is 3/4 full; see journal.h. */
uint64_t
journal_leave(struct journal *j)
{
	uint64_t	mark = gsync_mark(&j->sync);
	int		full;

	pthread_mutex_lock(&j->lock);
	full = j->size - half_start(j, j->half) >= j->segment * 3 / 4 &&
	    j->size >= j->retry_at;
	pthread_mutex_unlock(&j->lock);
	if (full)
		checkpoint(j);
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

/*
 * Writes zeros over the journal's three segments (the first half has
 * room for two), synced, where that takes at most 1/64 of the free space;
 * else records make the file grow.  Best effort either way.
 */
static void
preallocate(struct journal *j)
{
	static const char	zeros[65536];
	struct statvfs		sv;
	off_t			off;

	if (fstatvfs(j->fd, &sv) == -1 || (unsigned long long)sv.f_bavail *
	    sv.f_frsize < 64ULL * 3 * (unsigned long long)j->segment)
		return;
	for (off = 0; off < 3 * j->segment; off += (off_t)sizeof(zeros))
		if (write_at(j, zeros, sizeof(zeros), off) == -1)
			break;
	(void)fdatasync(j->fd);
}

/* Creates this process's journal J->name; 0, or -1 with errno. */
static int
create(struct journal *j)
{
	int	e;

	/* Kept open to flock() and sync only; see write_at(). */
	j->fd = openat(j->dirfd, j->name, O_RDONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (j->fd == -1)
		return -1;
	journal_own(j->dirfd, j->fd, NULL);
	if (flock(j->fd, LOCK_EX | LOCK_NB) == 0) {
		preallocate(j);
		if (fsync(j->dirfd) == 0)
			return 0;
	}
	e = errno;
	unlinkat(j->dirfd, j->name, 0);
	close(j->fd);
	j->fd = -1;
	errno = e;
	return -1;
}

/* A number no other journal's name has: a pid and an instance repeat
 * (a container's daemon is always pid 1), the time and the address of a
 * stack variable hardly do. */
static unsigned long long
nonce(void)
{
	struct timespec	ts;
	int		here;
	uint64_t	h;

	clock_gettime(CLOCK_REALTIME, &ts);
	h = codec_fnv1a(&ts, sizeof(ts));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	h = codec_fnv1a_more(h, &ts, sizeof(ts));
	h = codec_fnv1a_more(h, &(void *){ &here }, sizeof(void *));
	return (unsigned long long)h;
}

/* The segment size: JOURNAL_SEGMENT, or LOCKD_JOURNAL_SEGMENT from the
 * environment (tests of checkpoints; at most 16 MiB, so that a journal
 * stays within what readers read). */
static off_t
segment_size(void)
{
	const char	*v = getenv("LOCKD_JOURNAL_SEGMENT");
	char		*end;
	long long	 n;

	if (v == NULL || *v == '\0')
		return JOURNAL_SEGMENT;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < 4096 || n > 16LL << 20)
		return JOURNAL_SEGMENT;
	return (off_t)n;
}

/*
 * Recovers, then starts this process's journal; see journal.h.  Openers
 * take turns (flock() on the directory), so that the first one after a
 * boot replays what a power loss left and the others find it done, and
 * no opener takes a journal that is being created.
 */
int
journal_open(struct journal *j, int dirfd, const char *boot,
    unsigned long instance, struct history *h)
{
	struct jcover	cover = { 0 };
	struct jset	set = { 0 };
	size_t		i;
	int		rc, e, dead = 0;

	while (flock(dirfd, LOCK_EX) == -1)
		if (errno != EINTR)
			return -1;
	rc = jcover_read(dirfd, &cover);
	if (rc == 0)
		rc = jset_load(&set, dirfd, &cover, boot, 1);
	for (i = 0; i < set.nfiles; i++)
		dead |= set.files[i].fd != -1;
	if (rc == 0)
		rc = journal_replay(dirfd, &set, h);
	if (rc == 0 && j != NULL) {
		memset(j, 0, sizeof(*j));
		j->dirfd = dirfd;
		j->wfd = -1;
		j->history = h;
		j->segment = segment_size();
		snprintf(j->boot, sizeof(j->boot), "%s", boot);
		snprintf(j->name, sizeof(j->name), "%s%s.%ld.%lu.%016llx",
		    JOURNAL_PREFIX, boot, (long)getpid(), instance, nonce());
		rc = create(j);
	}
	/* The dead ones go once a checkpoint covers them. */
	if (rc == 0 && dead && (rc = journal_checkpoint(dirfd, boot, h, NULL,
	    NULL)) == 0) {
		for (i = 0; i < set.nfiles; i++)
			if (set.files[i].fd != -1)
				unlinkat(dirfd, set.files[i].name, 0);
		rc = fsync(dirfd);
	}
	e = errno;
	jset_free(&set);
	free(cover.e);
	flock(dirfd, LOCK_UN);
	if (rc == -1 && j != NULL && j->fd != -1) {
		unlinkat(dirfd, j->name, 0);
		close(j->fd);
		j->fd = -1;
	}
	if (rc == 0 && j != NULL) {
		gsync_init(&j->sync, j->fd);
		j->sync.inflight = &j->wusers;
		pthread_mutex_init(&j->lock, NULL);
		pthread_cond_init(&j->room, NULL);
	}
	errno = e;
	return rc;
}

/* Whether the journal can be written: its name is still its file, which
 * opens for writing; see journal.h. */
int
journal_health(struct journal *j)
{
	struct stat	a, b;
	int		fd;

	fd = openat(j->dirfd, j->name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return -1;
	if (fstat(fd, &a) == -1 || fstat(j->fd, &b) == -1 ||
	    a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
		close(fd);
		errno = ESTALE;
		return -1;
	}
	return close(fd);
}

/* Checkpoints for good and removes the journal; see journal.h.  Should
 * the checkpoint fail, the journal stays for the next opener. */
void
journal_close(struct journal *j)
{
	if (j->fd == -1)
		return;
	if (journal_checkpoint(j->dirfd, j->boot, j->history, NULL, NULL) ==
	    0 && unlinkat(j->dirfd, j->name, 0) == 0)
		fsync(j->dirfd);
	close(j->fd);
	j->fd = -1;
	gsync_destroy(&j->sync);
	pthread_cond_destroy(&j->room);
	pthread_mutex_destroy(&j->lock);
}
