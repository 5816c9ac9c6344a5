/* SPDX-License-Identifier: MIT */
/*
 * The fencing token counter of a lock directory: <dir>/.token.  Every
 * token is strictly greater than every token handed out before from the
 * directory, by any process, across restarts and crashes.
 *
 * The file holds two lines, both fixed width:
 *
 *     HHHHHHHHHHHHHHHHHHHH          the reserve: no token above it was
 *                                   ever handed out; synced before use
 *     next NNNN...N HHHH...H BOOT   the last token handed out, valid in
 *                                   the boot BOOT only and under the
 *                                   reserve H repeated
 *
 * A grant takes N+1 while it is at most H and rewrites the second line
 * without syncing: within one boot the page cache is the file for every
 * process, and a crash of the process loses nothing.  Only a crash of the
 * machine can lose that write, and it brings a new boot id, so the second
 * line is then not trusted: the counter goes on from H, which was on disk
 * before any token up to it was used.  When N reaches H, H moves up by
 * TOKEN_RESERVE and is synced before the next token is handed out; while
 * that sync has not succeeded the second line names no boot, so a failed
 * sync is never trusted by anyone.  So a machine crash skips at most
 * TOKEN_RESERVE tokens, and one sync covers TOKEN_RESERVE grants instead
 * of one each.
 *
 * Without a boot id (no /proc) every grant moves H and syncs it.  A file
 * of one line (earlier builds wrote the last token so, or seeded by hand)
 * is a reserve with no trusted second line; an earlier build sharing the
 * directory rewrites only the first line, which then no longer matches
 * the copy in the second.  Processes on other machines sharing the
 * directory see a foreign boot and go on from H too: always safe, one
 * sync per turn.  A daemon with --no-sync marks its line "nosync-BOOT"
 * (its reserve was not synced), which only its kind trusts.
 *
 * Assumed: within a boot, the page cache does not lose a written page.
 * After a failed writeback a page may be dropped and read back stale;
 * then the reserve's sync fails too, and is not trusted.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lockdir.h"

/* Tokens one sync of the reserve covers. */
#define TOKEN_RESERVE	1024ULL

/* Tokens travel as XML-RPC i8: signed 64 bits. */
#define TOKEN_MAX	((unsigned long long)INT64_MAX)

/* The boot lines name while the reserve above them is not known durable. */
#define TOKEN_NO_BOOT	"none"

/* Whether this boot can be told from the next (see read_boot()). */
static int
boot_known(const struct lockdir *ld)
{
	return strncmp(ld->boot, "0-", 2) != 0;
}

/* "Invalid lock state: the token counter <path> STATE". */
static enum lockstore_status
invalid(struct lockdir *ld, const char *state, struct lockstore_error *err)
{
	return store_error(err, LOCKSTORE_INVALID_STATE, 0, "Invalid lock "
	    "state: the token counter %s/%s %s", ld->path, LOCKDIR_TOKEN_FILE,
	    state);
}

/*
 * Opens the token counter with FLAGS the way lock files are opened (no
 * symbolic link followed, no FIFO waited for) and makes sure it is one of
 * lockd's own files: FD, or -1 with *WHY set when it is not (else errno).
 */
static int
open_own(struct lockdir *ld, int flags, const char **why)
{
	int	fd, e;

	*why = NULL;
	fd = openat(ld->dirfd, LOCKDIR_TOKEN_FILE, flags | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC, 0600);
	/* A FIFO or a socket without a peer does not open for writing. */
	if (fd == -1 && errno == ENXIO)
		*why = "is not a regular file";
	if (fd != -1 && (*why = lockdir_not_own(fd, &e)) != NULL) {
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* The error of a failed open_own(). */
static enum lockstore_status
open_error(struct lockdir *ld, const char *why, struct lockstore_error *err)
{
	if (why != NULL)
		return invalid(ld, why, err);
	return store_error(err, LOCKSTORE_STORAGE, errno, "Storage error: "
	    "cannot open the token counter %s/%s: %s", ld->path,
	    LOCKDIR_TOKEN_FILE, strerror(errno));
}

/*
 * Opens (creating it durably the first time) the token counter.  Kept open
 * read-only (flock and fsync need no more); each write opens it anew, see
 * write_counter(): a descriptor kept open for writing would stop an
 * operator from remounting the file system read-only.
 */
static enum lockstore_status
open_counter(struct lockdir *ld, struct lockstore_error *err)
{
	const char	*why;
	int		 created = 1;

	ld->tokfd = open_own(ld, O_RDONLY | O_CREAT | O_EXCL, &why);
	if (ld->tokfd == -1 && why == NULL && errno == EEXIST) {
		created = 0;
		ld->tokfd = open_own(ld, O_RDONLY, &why);
	}
	if (ld->tokfd == -1)
		return open_error(ld, why, err);
	if (created && ld->durable && fsync(ld->dirfd) == -1) {
		store_error(err, LOCKSTORE_STORAGE, errno, "Storage error: "
		    "cannot sync the lock directory %s: %s", ld->path,
		    strerror(errno));
		close(ld->tokfd);
		ld->tokfd = -1;
		return LOCKSTORE_STORAGE;
	}
	return LOCKSTORE_OK;
}

/* Parses 20 digits at P into *V; -1 if they are not. */
static int
digits20(const char *p, unsigned long long *v)
{
	unsigned long long	x = 0;
	int			i;

	for (i = 0; i < 20; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		if (x > (UINT64_MAX - (unsigned)(p[i] - '0')) / 10)
			return -1;
		x = x * 10 + (unsigned)(p[i] - '0');
	}
	*v = x;
	return 0;
}

/*
 * Reads the counter: *RESERVE, and *LAST when the second line is valid in
 * this boot (else *TRUSTED is 0).  An empty file is a reserve of 0.
 */
static enum lockstore_status
read_counter(struct lockdir *ld, const char *resource,
    unsigned long long *reserve, unsigned long long *last, int *trusted,
    struct lockstore_error *err)
{
	unsigned long long	copy;
	char			buf[160], *nl, *p;
	ssize_t			n;

	*reserve = *last = 0;
	*trusted = 0;
	do
		n = pread(ld->tokfd, buf, sizeof(buf) - 1, 0);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return lockdir_storage(err, errno, "cannot read the token "
		    "counter", resource);
	if (n == 0)
		return LOCKSTORE_OK;
	buf[n] = '\0';
	/* The first line (a counter seeded by hand may be unpadded); cut
	 * off by the buffer it is not to be trusted. */
	errno = 0;
	*reserve = strtoull(buf, &p, 10);
	if (buf[0] < '0' || buf[0] > '9' || errno != 0 ||
	    (*p != '\n' && *p != '\0') ||
	    (*p == '\0' && (size_t)n == sizeof(buf) - 1))
		return invalid(ld, "is damaged", err);
	if (*reserve > TOKEN_MAX)
		return invalid(ld, "is exhausted", err);
	if (*p == '\0' || p[1] == '\0')
		return LOCKSTORE_OK;
	/* The second line, or something torn: then only the reserve. */
	p++;
	if ((nl = strchr(p, '\n')) == NULL || strncmp(p, "next ", 5) != 0 ||
	    digits20(p + 5, last) == -1 || p[25] != ' ' ||
	    digits20(p + 26, &copy) == -1 || p[46] != ' ')
		return LOCKSTORE_OK;
	/*
	 * Trusted: written in this boot, by a daemon that syncs (one that
	 * does not may trust its own kind), under this very reserve (an
	 * earlier build rewrites only the first line).
	 */
	if (!boot_known(ld) || copy != *reserve || *last > *reserve)
		return LOCKSTORE_OK;
	/* Boot ids are hex and '-': none starts with "nosync-". */
	p += 47;
	if (!ld->durable && strncmp(p, "nosync-", 7) == 0)
		p += 7;
	*trusted = (size_t)(nl - p) == strlen(ld->boot) &&
	    memcmp(p, ld->boot, strlen(ld->boot)) == 0;
	return LOCKSTORE_OK;
}

/*
 * Writes the whole counter file: RESERVE, LAST, BOOT, through the
 * descriptor the grants in flight share (lockdir_token_hold()) or one
 * opened for this write, and only to the file we hold the flock on, not
 * one put in its place.  -1 with errno, or with errno 0 for a replaced
 * file.
 */
static int
write_counter(struct lockdir *ld, unsigned long long reserve,
    unsigned long long last, const char *boot)
{
	const char	*why;
	char		 buf[160];
	struct stat	 a, b;
	ssize_t		 n;
	int		 fd, len, e;

	len = snprintf(buf, sizeof(buf),
	    "%020llu\nnext %020llu %020llu %s\n", reserve, last, reserve, boot);
	if ((fd = ld->tokwfd) == -1 && (fd = open_own(ld, O_WRONLY, &why)) ==
	    -1)
		return -1;
	if (fstat(fd, &a) == -1 || fstat(ld->tokfd, &b) == -1 ||
	    a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
		if (fd != ld->tokwfd)
			close(fd);
		errno = 0;
		return -1;
	}
	do
		n = pwrite(fd, buf, (size_t)len, 0);
	while (n == -1 && errno == EINTR);
	e = n == -1 ? errno : ENOSPC;
	if (fd != ld->tokwfd && close(fd) == -1 && n == len) {
		n = -1;
		e = errno;
	}
	if (n != len) {
		errno = e;
		return -1;
	}
	return 0;
}

/* The error of a failed write_counter(). */
static enum lockstore_status
write_error(struct lockdir *ld, const char *resource,
    struct lockstore_error *err)
{
	if (errno == 0)
		return invalid(ld, "was replaced", err);
	return lockdir_storage(err, errno, "cannot write the token counter",
	    resource);
}

/*
 * Moves the reserve above LAST and syncs it; the second line names this
 * boot only once the sync has succeeded.
 */
static enum lockstore_status
move_reserve(struct lockdir *ld, unsigned long long last,
    unsigned long long *reserve, const char *resource,
    struct lockstore_error *err)
{
	unsigned long long	r;

	if (last >= TOKEN_MAX)
		return invalid(ld, "is exhausted", err);
	if (!boot_known(ld))
		r = last + 1;	/* a reserve could not be trusted */
	else
		r = TOKEN_MAX - last < TOKEN_RESERVE ? TOKEN_MAX :
		    last + TOKEN_RESERVE;
	if (write_counter(ld, r, last, TOKEN_NO_BOOT) == -1)
		return write_error(ld, resource, err);
	if (ld->durable && fsync(ld->tokfd) == -1)
		return lockdir_storage(err, errno, "cannot sync the token "
		    "counter", resource);
	*reserve = r;
	return LOCKSTORE_OK;
}

/* Hands out the next fencing token; see lockdir.h. */
enum lockstore_status
lockdir_next_token(struct lockdir *ld, const char *resource,
    unsigned long long *token, struct lockstore_error *err)
{
	return lockdir_token_then(ld, resource, token, NULL, NULL, err);
}

/*
 * Hands out the next fencing token and calls THEN with it before anyone
 * can take another.  Under flock (processes) and a mutex (threads of one
 * process, which share the descriptor and so its flock).
 */
enum lockstore_status
lockdir_token_then(struct lockdir *ld, const char *resource,
    unsigned long long *token, void (*then)(void *, unsigned long long),
    void *arg, struct lockstore_error *err)
{
	unsigned long long	reserve, last;
	char			mark[64];
	int			trusted, st, e;

	pthread_mutex_lock(&ld->toklock);
	/*
	 * Opened at the first grant, not at open: the daemon opens its store
	 * as root and then becomes the service user, who must own the file.
	 */
	if (ld->tokfd == -1 && (st = open_counter(ld, err)) != LOCKSTORE_OK) {
		pthread_mutex_unlock(&ld->toklock);
		return st;
	}
	if (lockdir_flock_ex(ld->tokfd) == -1) {
		e = errno;
		pthread_mutex_unlock(&ld->toklock);
		return lockdir_storage(err, e, "cannot lock the token counter",
		    resource);
	}
	st = read_counter(ld, resource, &reserve, &last, &trusted, err);
	if (st == LOCKSTORE_OK && !trusted)
		last = reserve;		/* nothing above it was used */
	if (st == LOCKSTORE_OK && last >= reserve)
		st = move_reserve(ld, last, &reserve, resource, err);
	if (st == LOCKSTORE_OK) {
		last++;
		/* Not synced: see the top of this file.  The boot mark is
		 * prefixed "nosync-" when the reserve was not synced. */
		snprintf(mark, sizeof(mark), "%s%s",
		    ld->durable ? "" : "nosync-", ld->boot);
		if (write_counter(ld, reserve, last, boot_known(ld) ? mark :
		    TOKEN_NO_BOOT) == -1)
			st = write_error(ld, resource, err);
		else if (then != NULL)
			then(arg, last);
	}
	flock(ld->tokfd, LOCK_UN);
	pthread_mutex_unlock(&ld->toklock);
	if (st == LOCKSTORE_OK)
		*token = last;
	return st;
}

/*
 * Whether grants can use the token counter: absent (the first grant
 * creates it), or one of lockd's own files that opens for writing and,
 * once in use, is still the file in use.
 */
enum lockstore_status
lockdir_token_health(struct lockdir *ld, struct lockstore_error *err)
{
	struct stat	 a, b;
	const char	*why;
	int		 fd, same = 1;

	if ((fd = open_own(ld, O_WRONLY, &why)) == -1)
		return why == NULL && errno == ENOENT ? LOCKSTORE_OK :
		    open_error(ld, why, err);
	pthread_mutex_lock(&ld->toklock);
	if (ld->tokfd != -1)
		same = fstat(fd, &a) == 0 && fstat(ld->tokfd, &b) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev;
	pthread_mutex_unlock(&ld->toklock);
	close(fd);
	return same ? LOCKSTORE_OK : invalid(ld, "was replaced", err);
}

/*
 * The grants in flight share one descriptor of the counter open for
 * writing: the first opens it, the last closes it, so that an idle daemon
 * keeps none (one would stop an operator from remounting the file system
 * read-only).  Best effort: without it each write opens its own.
 */
void
lockdir_token_hold(struct lockdir *ld)
{
	const char	*why;

	pthread_mutex_lock(&ld->toklock);
	if (ld->tokusers++ == 0 && ld->tokfd != -1)
		ld->tokwfd = open_own(ld, O_WRONLY, &why);
	pthread_mutex_unlock(&ld->toklock);
}

/* Ends lockdir_token_hold(). */
void
lockdir_token_release(struct lockdir *ld)
{
	pthread_mutex_lock(&ld->toklock);
	if (--ld->tokusers == 0 && ld->tokwfd != -1) {
		close(ld->tokwfd);
		ld->tokwfd = -1;
	}
	pthread_mutex_unlock(&ld->toklock);
}
