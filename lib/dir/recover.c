/* SPDX-License-Identifier: MIT */
/*
 * Recovery at open: the journals (journal.c) that no live process owns.
 *
 * One of this boot was left by a process that crashed: the directory is
 * already right (the page cache survived), so its lock files are synced
 * as a checkpoint would, and it is removed.  One of an earlier boot may
 * follow a power loss: its records past the last checkpoint are replayed.
 * Per lock file the latest record wins: the one with the largest token
 * (a resource's tokens grow with each holding), at one token an end
 * before a holding's lock-delay marker, a holding (renewed: the later
 * deadline) before its end.  Then the file is made to match: a holding
 * whose file is missing, torn or older is written again, an ended one is
 * removed unless a newer holding (a larger token: granted but never
 * answered) is there.  Lock files that do not parse and have no record
 * were never answered either; they are removed rather than wedge their
 * resource.  Ends missing in the history are appended to it.  Only when
 * all of that is durable are the journals removed, so a crash during
 * recovery recovers again.  Openers take turns (flock() on the
 * directory), so the first one after a boot replays and the others find
 * nothing left.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "fname.h"
#include "journal.h"

/* Largest journal read: far above what checkpoints let one grow to. */
#define JOURNAL_READ_MAX	(256L * 1024 * 1024)

/* One record read. */
struct rec {
	char		 fname[NAME_FILE_SIZE];
	const char	*content;	/* in the journal's buffer */
	size_t		 clen;
	const char	*end;		/* E: "<how> <until> =<by> =<reason>" */
	size_t		 elen;
	int		 rank;		/* 0 holding, 1 end, 2 marker */
	int		 replay;	/* 0: of this boot, sync only */
	unsigned long long token;
	long long	 deadline;
	size_t		 seq;
};

/* The journals found and their records. */
struct found {
	struct rec	*recs;
	size_t		 n, cap;
	char		**bufs;		/* the journals' content */
	char		**names;
	int		*fds;		/* flock()ed until they are removed */
	size_t		 nj, jcap;
	int		 replay;	/* some journal is of an earlier boot */
};

/* Adds record R; -1 when out of memory. */
static int
add_rec(struct found *f, const struct rec *r)
{
	struct rec	*n;

	if (f->n == f->cap) {
		n = realloc(f->recs, (f->cap * 2 + 256) * sizeof(*n));
		if (n == NULL)
			return -1;
		f->recs = n;
		f->cap = f->cap * 2 + 256;
	}
	f->recs[f->n] = *r;
	f->recs[f->n].seq = f->n;
	f->n++;
	return 0;
}

/* Fills R from the body B of LEN bytes of a G or E record; -1 if it is
 * not one. */
static int
parse_body(char tag, const char *b, size_t len, struct rec *r)
{
	struct lockfile	lf;
	const char	*nl;

	if ((nl = memchr(b, '\n', len)) == NULL || nl == b ||
	    (size_t)(nl - b) >= NAME_FILE_SIZE)
		return -1;
	memcpy(r->fname, b, (size_t)(nl - b));
	r->fname[nl - b] = '\0';
	len -= (size_t)(nl - b) + 1;
	b = nl + 1;
	r->end = NULL;
	if (tag == 'E') {
		if ((nl = memchr(b, '\n', len)) == NULL)
			return -1;
		r->end = b;
		r->elen = (size_t)(nl - b);
		len -= r->elen + 1;
		b = nl + 1;
	}
	if (!name_has_suffix(r->fname) || strchr(r->fname, '/') != NULL ||
	    lockfile_parse(b, len, &lf) == -1)
		return -1;
	r->content = b;
	r->clen = len;
	r->token = lf.token;
	r->deadline = lf.is_delay ? lf.delay_until_ms : lf.deadline_ms;
	r->rank = tag == 'E' ? 1 : lf.is_delay ? 2 : 0;
	return 0;
}

/* The next place after P where a record may start: after a newline (the
 * end of a record or of a line in one) or a zero (of the zeros the journal
 * is written with, where a record that failed may have left a gap). */
static const char *
next_start(const char *p, const char *end)
{
	for (p++; p < end; p++)
		if ((p[-1] == '\n' || p[-1] == '\0') &&
		    (*p == 'G' || *p == 'E' || *p == 'C'))
			return p;
	return end;
}

/*
 * Reads the records of the journal BUF (LEN bytes, NUL after them) past
 * its last checkpoint into F; REPLAY for one of an earlier boot.  A record
 * that is torn (a crash, a full disk) or not of this segment is skipped:
 * reading goes on where the next one may start (next_start()).
 */
static int
read_journal(struct found *f, const char *buf, size_t len, int replay)
{
	char		epoch[17], tag;
	const char	*p, *b, *end = buf + len;
	unsigned long long sum;
	size_t		blen, first = f->n;
	struct rec	r;
	int		n;

	if (sscanf(buf, "lockd-journal 1 %16[0-9a-f] %*s%n", epoch, &n) != 1 ||
	    strlen(epoch) != 16 || buf[n] != '\n')
		return 0;	/* torn header: nothing was answered */
	for (p = buf + n + 1; p < end; p = next_start(p, end)) {
		n = 0;
		if (sscanf(p, "%c %zu %16llx%n", &tag, &blen, &sum, &n) != 3 ||
		    n == 0 || p[n] != '\n' || blen > (size_t)(end - p - n - 1))
			continue;
		b = p + n + 1;
		if (codec_fnv1a_more(codec_fnv1a_more(codec_fnv1a(epoch, 16),
		    &tag, 1), b, blen) != sum)
			continue;
		p = b + blen - 1;	/* its last byte: the next may follow */
		if (tag == 'C') {
			f->n = first;	/* all above is in the directory */
			continue;
		}
		memset(&r, 0, sizeof(r));
		if ((tag != 'G' && tag != 'E') || parse_body(tag, b, blen,
		    &r) == -1)
			continue;
		r.replay = replay;
		if (add_rec(f, &r) == -1)
			return -1;
	}
	return 0;
}

/* Order: by file, then which state is the later (see the top). */
static int
rec_cmp(const void *a, const void *b)
{
	const struct rec	*x = a, *y = b;
	int			 c;

	if ((c = strcmp(x->fname, y->fname)) != 0)
		return c;
	if (x->token != y->token)
		return x->token < y->token ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->deadline != y->deadline)
		return x->deadline < y->deadline ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Reads the lock file FNAME into LF: 1 if it parses, 0 if it does not,
 * -1 if it is absent, 2 if it is no regular file (left alone: lockd
 * refuses to use it, as ever). */
static int
read_file(int dirfd, const char *fname, struct lockfile *lf, char *buf,
    size_t *len)
{
	struct stat	st;
	ssize_t		n;
	int		fd;

	*len = 0;
	fd = openat(dirfd, fname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? -1 : 2;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 2;
	}
	if ((n = read(fd, buf, LOCKFILE_MAX)) > 0)
		*len = (size_t)n;
	close(fd);
	return *len > 0 && lockfile_parse(buf, *len, lf) == 0;
}

/* Writes CONTENT (LEN bytes) under FNAME, durably but for the directory. */
static int
write_file(int dirfd, const char *fname, const char *content, size_t len)
{
	char	tmp[64];
	int	fd, rc;

	snprintf(tmp, sizeof(tmp), ".tmp.%ld.recover", (long)getpid());
	unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	journal_own(dirfd, fd, NULL);
	rc = write(fd, content, len) == (ssize_t)len && fdatasync(fd) == 0 ?
	    renameat(dirfd, tmp, dirfd, fname) : -1;
	close(fd);
	if (rc == -1)
		unlinkat(dirfd, tmp, 0);
	return rc;
}

/* Makes lock file R->fname match R, the latest record of it. */
static int
apply(int dirfd, const struct rec *r)
{
	struct lockfile	lf;
	char		buf[LOCKFILE_MAX];
	size_t		len;
	int		st;

	if ((st = read_file(dirfd, r->fname, &lf, buf, &len)) == 2)
		return 0;
	/* A newer holding than the record, never answered: it may stay. */
	if (st == 1 && lf.has_check && lf.token > r->token)
		return 0;
	if (r->rank == 1)
		return st == -1 || unlinkat(dirfd, r->fname, 0) == 0 ||
		    errno == ENOENT ? 0 : -1;
	if (st == 1 && len == r->clen && memcmp(buf, r->content, len) == 0)
		return 0;
	return write_file(dirfd, r->fname, r->content, r->clen);
}

/* Whether lock file NAME has a record in F (sorted). */
static int
has_rec(const struct found *f, const char *name)
{
	size_t	lo = 0, hi = f->n, mid;
	int	c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if ((c = strcmp(f->recs[mid].fname, name)) == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Removes the lock files that do not parse and have no record. */
static int
drop_unparsed(int dirfd, const struct found *f)
{
	struct lockfile	 lf;
	struct dirent	*de;
	char		 buf[LOCKFILE_MAX];
	size_t		 len;
	DIR		*d;
	int		 fd, rc = 0;

	/* Not a dup(): that would share (and move) DIRFD's offset. */
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL)
		if (name_has_suffix(de->d_name) && !has_rec(f, de->d_name) &&
		    read_file(dirfd, de->d_name, &lf, buf, &len) == 0 &&
		    unlinkat(dirfd, de->d_name, 0) == -1 && errno != ENOENT)
			rc = -1;
	closedir(d);
	return rc;
}

/* history_query() callback: whether the entry is the holding sought. */
static int
same_holding(const struct lockstore_history_entry *e, void *arg)
{
	struct lockstore_history_entry	*want = arg;

	if (e->token != want->token || e->since != want->since)
		return 0;
	want->token = 0;	/* found */
	return 1;
}

/* Appends the end R to the history unless it is there. */
static int
ensure_history(struct history *h, const struct rec *r,
    struct lockstore_history_entry *e)
{
	struct lockstore_error	 err;
	struct lockfile		 lf;
	const char		*by, *reason;
	int			 how, n;

	memset(e, 0, sizeof(*e));
	if (lockfile_parse(r->content, r->clen, &lf) == -1 ||
	    sscanf(r->end, "%d %lld =%n", &how, &e->until_ms, &n) != 2 ||
	    (by = r->end + n) >= r->end + r->elen ||
	    (reason = memchr(by, ' ', r->elen - (size_t)n)) == NULL ||
	    reason[1] != '=' ||
	    codec_unpercent(e->by, sizeof(e->by), by, (size_t)(reason - by),
	    CODEC_UPPER, NULL) == -1 ||
	    codec_unpercent(e->reason, sizeof(e->reason), reason + 2,
	    (size_t)(r->end + r->elen - reason - 2), CODEC_UPPER, NULL) == -1)
		return 0;	/* cannot be: its sum held */
	snprintf(e->resource, sizeof(e->resource), "%s", lf.resource);
	snprintf(e->holder, sizeof(e->holder), "%s", lf.holder);
	e->token = lf.token;
	e->since = lf.since;
	e->how = (enum lockstore_end)how;
	if (e->token == 0 || history_query(h, e->resource,
	    LOCKSTORE_HISTORY_MAX, same_holding, e, &err) != LOCKSTORE_OK)
		return 0;
	if (e->token == 0)
		return 0;	/* recorded */
	return history_append(h, e, &err) == LOCKSTORE_OK ? 0 : -1;
}

/*
 * Replays F's records of an earlier boot, then makes the directory
 * durable with the files of this boot's records (as a checkpoint would).
 */
static int
settle(int dirfd, struct found *f, struct history *h)
{
	struct lockstore_history_entry	*e;
	const struct rec		*r;
	char				**names;
	size_t				 i, n = 0;
	int				 rc = 0;

	qsort(f->recs, f->n, sizeof(*f->recs), rec_cmp);
	e = malloc(sizeof(*e));
	names = malloc((f->n + 1) * sizeof(*names));
	if (e == NULL || names == NULL)
		rc = -1;
	for (i = 0; i < f->n && rc == 0; i++) {
		r = &f->recs[i];
		if (!r->replay && r->rank != 1)
			names[n++] = f->recs[i].fname;
		if (r->replay && r->rank == 1)
			rc = ensure_history(h, r, e);
		/* The latest state of the file, unless a process of this
		 * boot changed it since. */
		if (rc == 0 && r->replay && (i + 1 == f->n ||
		    strcmp(f->recs[i + 1].fname, r->fname) != 0))
			rc = apply(dirfd, r);
	}
	if (rc == 0 && f->replay)
		rc = drop_unparsed(dirfd, f);
	/* the history may have been created here */
	journal_own(dirfd, -1, HISTORY_FILE);
	journal_own(dirfd, -1, HISTORY_FILE_OLD);
	if (rc == 0)
		rc = journal_checkpoint_files(dirfd, names, n, h);
	free(names);
	free(e);
	return rc;
}

/* Reads the journal NAME into F unless a live process holds it. */
static int
take_journal(int dirfd, const char *name, const char *boot, struct found *f)
{
	struct stat	 st;
	char		*buf = NULL, *jboot, **nb, **nn;
	int		*nf, fd, replay;
	ssize_t		 got;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		return errno == EWOULDBLOCK ? 0 : -1;	/* live */
	}
	if (f->nj == f->jcap) {
		nb = realloc(f->bufs, (f->jcap + 8) * sizeof(*nb));
		if (nb != NULL)
			f->bufs = nb;
		nn = realloc(f->names, (f->jcap + 8) * sizeof(*nn));
		if (nn != NULL)
			f->names = nn;
		nf = realloc(f->fds, (f->jcap + 8) * sizeof(*nf));
		if (nf != NULL)
			f->fds = nf;
		if (nb == NULL || nn == NULL || nf == NULL)
			goto fail;
		f->jcap += 8;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > JOURNAL_READ_MAX ||
	    (buf = malloc((size_t)st.st_size + 1)) == NULL ||
	    (got = pread(fd, buf, (size_t)st.st_size, 0)) < 0)
		goto fail;
	buf[got] = '\0';
	/* ".journal.<boot>.<pid>.<instance>": whose boot? */
	jboot = (char *)name + sizeof(JOURNAL_PREFIX) - 1;
	replay = strncmp(jboot, boot, strlen(boot)) != 0 ||
	    jboot[strlen(boot)] != '.';
	f->replay |= replay;
	f->bufs[f->nj] = buf;
	f->fds[f->nj] = fd;
	if ((f->names[f->nj] = strdup(name)) == NULL)
		goto fail;
	f->nj++;
	return read_journal(f, buf, (size_t)got, replay);
fail:
	free(buf);
	close(fd);
	return -1;
}

/* Recovers the journals of dead processes; see journal.h. */
int
journal_recover(int dirfd, const char *boot, struct history *h)
{
	struct found	 f;
	struct dirent	*de;
	DIR		*d;
	size_t		 i;
	int		 fd, rc = 0, e;

	memset(&f, 0, sizeof(f));
	while (flock(dirfd, LOCK_EX) == -1)
		if (errno != EINTR)
			return -1;
	/* Not a dup(): that would share (and move) DIRFD's offset. */
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		rc = -1;
		if (fd != -1)
			close(fd);
		goto out;
	}
	while (rc == 0 && (de = readdir(d)) != NULL)
		if (strncmp(de->d_name, JOURNAL_PREFIX,
		    sizeof(JOURNAL_PREFIX) - 1) == 0)
			rc = take_journal(dirfd, de->d_name, boot, &f);
	closedir(d);
	if (rc == 0 && f.nj > 0 && (rc = settle(dirfd, &f, h)) == 0) {
		for (i = 0; i < f.nj; i++)
			unlinkat(dirfd, f.names[i], 0);
		rc = fsync(dirfd);
	}
out:
	e = errno;
	for (i = 0; i < f.nj; i++) {
		close(f.fds[i]);
		free(f.bufs[i]);
		free(f.names[i]);
	}
	free(f.fds);
	free(f.bufs);
	free(f.names);
	free(f.recs);
	flock(dirfd, LOCK_UN);
	errno = e;
	return rc;
}
