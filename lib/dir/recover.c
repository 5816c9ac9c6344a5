/* SPDX-License-Identifier: MIT */
/*
 * Reading journals (journal.c), and recovery at open.
 *
 * A reader takes every valid record (its sum holds) at any offset, since
 * a half is overwritten in place and a record that failed may leave a
 * gap; those the checkpoint file covers are in the directory already.
 *
 * Recovery: a journal nobody holds (flock()) is a dead process's.  One of
 * this boot was left by a crash of the process alone: the directory is
 * already right (the page cache survived), and the checkpoint at open
 * covers it.  One of an earlier boot may follow a power loss: its records
 * no checkpoint covered are replayed.  Per lock file the latest record
 * wins: the one with the largest token (a resource's tokens grow with
 * each holding), at one token a holding before its end before a lock-delay
 * marker, then the later change (stamp).  Then the file is made to match:
 * a holding whose file is missing, torn or older is written again, an
 * ended one is removed unless a newer holding (a larger token: granted but
 * never answered) is there.  Lock files that do not parse and have no
 * record were never answered either; they are removed rather than wedge
 * their resource.  Ends missing in the history are appended to it.  Only
 * then does a checkpoint cover the dead journals and are they removed, so
 * a crash during recovery recovers again.
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
#include "journal.h"

/* Largest journal read: far above what checkpoints let one grow to. */
#define JOURNAL_READ_MAX	(64L * 1024 * 1024)

/* Parses the decimal number at *P (up to END) followed by STOP into *V,
 * moving *P past STOP; -1 if there is none. */
static int
number(const char **p, const char *end, char stop, unsigned long long *v)
{
	const char	*q = *p;

	*v = 0;
	if (q == end || *q < '0' || *q > '9')
		return -1;
	for (; q < end && *q >= '0' && *q <= '9'; q++) {
		if (*v > (UINT64_MAX - 9) / 10)
			return -1;
		*v = *v * 10 + (unsigned)(*q - '0');
	}
	if (q == end || *q != stop)
		return -1;
	*p = q + 1;
	return 0;
}

/* Fills R from the body B of LEN bytes of a G or E record; -1 if it is
 * not one. */
static int
parse_body(char tag, const char *b, size_t len, struct jrec *r)
{
	struct lockfile		 lf;
	const char		*end = b + len, *nl;
	unsigned long long	 stamp;

	if (number(&b, end, ' ', &stamp) == -1 ||
	    (nl = memchr(b, '\n', (size_t)(end - b))) == NULL || nl == b ||
	    nl - b >= NAME_FILE_SIZE)
		return -1;
	memcpy(r->fname, b, (size_t)(nl - b));
	r->fname[nl - b] = '\0';
	r->stamp = (long long)stamp;
	b = nl + 1;
	r->end = NULL;
	if (tag == 'E') {
		if ((nl = memchr(b, '\n', (size_t)(end - b))) == NULL)
			return -1;
		r->end = b;
		r->elen = (size_t)(nl - b);
		b = nl + 1;
	}
	if (!name_has_suffix(r->fname) || strchr(r->fname, '/') != NULL ||
	    lockfile_parse(b, (size_t)(end - b), &lf) == -1)
		return -1;
	r->content = b;
	r->clen = (size_t)(end - b);
	r->token = lf.token;
	r->tag = tag;
	r->rank = tag == 'E' ? 1 : lf.is_delay ? 2 : 0;
	return 0;
}

/* The record at P (before END), if it is a valid one: its length, with
 * its body parsed into R; else 0. */
static size_t
record_at(const char *p, const char *end, struct jrec *r)
{
	const char		*q = p + 2, *b;
	unsigned long long	 len;
	uint64_t		 sum;
	char			 hex[17];

	if (end - p < 24 || (*p != 'G' && *p != 'E') || p[1] != ' ' ||
	    number(&q, end, ' ', &r->seq) == -1 ||
	    number(&q, end, ' ', &len) == -1 || end - q < 17 || q[16] != '\n' ||
	    len > (unsigned long long)(end - q - 17))
		return 0;
	b = q + 17;
	sum = codec_fnv1a_more(codec_fnv1a(p, (size_t)(q - p)), b, len);
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)sum);
	if (memcmp(q, hex, 16) != 0 || parse_body(*p, b, len, r) == -1)
		return 0;
	return (size_t)(b + len - p);
}

static int
seq_cmp(const void *a, const void *b)
{
	unsigned long long	x = *(const unsigned long long *)a;
	unsigned long long	y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

/*
 * The last seq up to which journal K's records FIRST.. (in S) follow FROM
 * without a gap: how far a checkpoint that read them covers (a record
 * written while the file was read may be missing while a later one is
 * there; seqs have no gaps otherwise).  -1 when out of memory.
 */
static int
contiguous(struct jset *s, size_t k, size_t first, unsigned long long from)
{
	unsigned long long	*seq, upto = from;
	size_t			 i, n = 0;

	if ((seq = malloc((s->n - first + 1) * sizeof(*seq))) == NULL)
		return -1;
	for (i = first; i < s->n; i++)
		if (!s->recs[i].covered)
			seq[n++] = s->recs[i].seq;
	if (n > 0)
		qsort(seq, n, sizeof(*seq), seq_cmp);
	for (i = 0; i < n && seq[i] <= upto + 1; i++)
		if (seq[i] == upto + 1)
			upto++;
	free(seq);
	s->files[k].upto = upto;
	return 0;
}

/* Adds the valid records of journal K of S (BUF, LEN bytes); those up to
 * seq FROM are marked covered. 0, or -1 when out of memory. */
static int
read_records(struct jset *s, size_t k, const char *buf, size_t len,
    unsigned long long from)
{
	const char	*p = buf, *end = buf + len;
	struct jrec	 r, *n;
	size_t		 got, first = s->n;

	while (p < end) {
		memset(&r, 0, sizeof(r));
		if ((got = record_at(p, end, &r)) == 0) {
			p++;
			continue;
		}
		p += got;
		if (s->n == s->cap) {
			n = realloc(s->recs, (s->cap * 2 + 256) * sizeof(*n));
			if (n == NULL)
				return -1;
			s->recs = n;
			s->cap = s->cap * 2 + 256;
		}
		r.journal = k;
		r.covered = r.seq <= from;
		s->recs[s->n++] = r;
	}
	return contiguous(s, k, first, from);
}

/* The seq up to which COVER covers journal NAME. */
static unsigned long long
covered_seq(const struct jcover *cover, const char *name)
{
	size_t	i;

	for (i = 0; i < cover->n; i++)
		if (strcmp(cover->e[i].name, name) == 0)
			return cover->e[i].seq;
	return 0;
}

/* Whether journal NAME was written in BOOT (an unknown boot is none). */
static int
of_boot(const char *name, const char *boot)
{
	size_t	n = strlen(boot);

	return strncmp(boot, "0-", 2) != 0 &&
	    strncmp(name + sizeof(JOURNAL_PREFIX) - 1, boot, n) == 0 &&
	    name[sizeof(JOURNAL_PREFIX) - 1 + n] == '.';
}

/* Whether NAME is one lockd gives its journals:
 * ".journal.<boot id>.<pid>.<instance>.<16 hex digits>". */
static int
well_formed(const char *name)
{
	const char		*p = name + sizeof(JOURNAL_PREFIX) - 1;
	const char		*end = name + strlen(name);
	unsigned long long	 v;
	size_t			 n;

	n = strspn(p, "0123456789abcdef-knotuw");	/* or "0-unknown-boot" */
	if (n == 0 || n >= LOCKFILE_BOOT_SIZE || p[n] != '.')
		return 0;
	p += n + 1;
	if (number(&p, end, '.', &v) == -1 || number(&p, end, '.', &v) == -1)
		return 0;
	return end - p == 16 && strspn(p, "0123456789abcdef") == 16;
}

/* Reads journal NAME into S; see jset_load(). */
static int
load_one(struct jset *s, int dirfd, const char *name,
    const struct jcover *cover, const char *boot, int take)
{
	struct jfile	*f, *nf;
	struct stat	 st;
	ssize_t		 got;
	int		 fd;

	if (!well_formed(name))
		return 0;	/* not a journal of ours: left alone */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	/* Not a journal of ours, or too large to be one: left alone. */
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > JOURNAL_READ_MAX) {
		close(fd);
		return 0;
	}
	if ((nf = realloc(s->files, (s->nfiles + 1) * sizeof(*nf))) == NULL) {
		close(fd);
		return -1;
	}
	s->files = nf;
	f = &s->files[s->nfiles];
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->name = strdup(name);
	f->buf = malloc((size_t)st.st_size + 1);
	if (f->name == NULL || f->buf == NULL ||
	    (got = pread(fd, f->buf, (size_t)st.st_size, 0)) < 0) {
		free(f->name);
		free(f->buf);
		close(fd);
		return -1;
	}
	s->nfiles++;
	if (take && flock(fd, LOCK_EX | LOCK_NB) == 0) {
		f->fd = fd;	/* dead: kept locked until removed */
		f->replay = !of_boot(name, boot);
	} else {
		s->live++;
		close(fd);
	}
	return read_records(s, s->nfiles - 1, f->buf, (size_t)got,
	    covered_seq(cover, name));
}

/* Reads every journal; see journal.h. */
int
jset_load(struct jset *s, int dirfd, const struct jcover *cover,
    const char *boot, int take)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd, rc = 0;

	memset(s, 0, sizeof(*s));
	s->unknown = strncmp(boot, "0-", 2) == 0;
	/* Not a dup(): that would share (and move) DIRFD's offset. */
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL)
		if (strncmp(de->d_name, JOURNAL_PREFIX,
		    sizeof(JOURNAL_PREFIX) - 1) == 0)
			rc = load_one(s, dirfd, de->d_name, cover, boot, take);
	closedir(d);
	return rc;
}

/* Frees S and drops the locks of its dead journals. */
void
jset_free(struct jset *s)
{
	size_t	i;

	for (i = 0; i < s->nfiles; i++) {
		if (s->files[i].fd != -1)
			close(s->files[i].fd);
		free(s->files[i].name);
		free(s->files[i].buf);
	}
	free(s->files);
	free(s->recs);
	memset(s, 0, sizeof(*s));
}

/* Order: by file, then which state is the later (see the top). */
static int
rec_cmp(const void *a, const void *b)
{
	const struct jrec	*x = a, *y = b;
	int			 c;

	if ((c = strcmp(x->fname, y->fname)) != 0)
		return c;
	if (x->token != y->token)
		return x->token < y->token ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->stamp != y->stamp)
		return x->stamp < y->stamp ? -1 : 1;
	if (x->journal != y->journal)
		return x->journal < y->journal ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Keeps of S's records only the latest of each lock file; see journal.h. */
void
jset_latest(struct jset *s)
{
	size_t	i, n = 0;

	if (s->n == 0)
		return;
	qsort(s->recs, s->n, sizeof(*s->recs), rec_cmp);
	for (i = 0; i < s->n; i++)
		if (i + 1 == s->n ||
		    strcmp(s->recs[i + 1].fname, s->recs[i].fname) != 0)
			s->recs[n++] = s->recs[i];
	s->n = n;
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
apply(int dirfd, const struct jrec *r)
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
has_rec(const struct jset *f, const char *name)
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
drop_unparsed(int dirfd, const struct jset *f)
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
ensure_history(struct history *h, const struct jrec *r,
    struct lockstore_history_entry *e)
{
	struct lockstore_error	 err;
	struct lockfile		 lf;
	const char		*p = r->end, *end = r->end + r->elen, *reason;
	unsigned long long	 how, until;

	memset(e, 0, sizeof(*e));
	if (lockfile_parse(r->content, r->clen, &lf) == -1 ||
	    number(&p, end, ' ', &how) == -1 ||
	    number(&p, end, ' ', &until) == -1 || p == end || *p != '=' ||
	    (reason = memchr(p, ' ', (size_t)(end - p))) == NULL ||
	    end - reason < 2 || reason[1] != '=' ||
	    codec_unpercent(e->by, sizeof(e->by), p + 1,
	    (size_t)(reason - p - 1), CODEC_UPPER, NULL) == -1 ||
	    codec_unpercent(e->reason, sizeof(e->reason), reason + 2,
	    (size_t)(end - reason - 2), CODEC_UPPER, NULL) == -1)
		return 0;	/* cannot be: its sum held */
	e->until_ms = (long long)until;
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
 * Replays the records of S's dead journals of an earlier boot (see the
 * top); the others are left to the checkpoint.  Covered records count in
 * choosing the latest of a file (one journal's covered end may follow
 * another's uncovered holding: a checkpoint reads journals one after
 * another), but only make it write a file that does not parse.  Without
 * a boot id nothing is replayed while a live process may have changed
 * the directory since.  0, or -1 with errno.
 */
int
journal_replay(int dirfd, struct jset *s, struct history *h)
{
	struct lockstore_history_entry	*e;
	struct lockfile			 lf;
	const struct jrec		*r;
	char				 buf[LOCKFILE_MAX];
	size_t				 i, n = 0, len;
	int				 rc = 0, any = 0;

	for (i = 0; i < s->nfiles; i++)
		any |= s->files[i].replay;
	if (!any || (s->unknown && s->live > 0))
		return 0;
	for (i = 0; i < s->n; i++)
		if (s->files[s->recs[i].journal].replay)
			s->recs[n++] = s->recs[i];
	s->n = n;
	if ((e = malloc(sizeof(*e))) == NULL)
		return -1;
	for (i = 0; i < s->n && rc == 0; i++)
		if (s->recs[i].rank == 1 && !s->recs[i].covered)
			rc = ensure_history(h, &s->recs[i], e);
	free(e);
	jset_latest(s);
	for (i = 0; i < s->n && rc == 0; i++) {
		r = &s->recs[i];
		if (!r->covered || read_file(dirfd, r->fname, &lf, buf, &len) ==
		    0)
			rc = apply(dirfd, r);
	}
	if (rc == 0)
		rc = drop_unparsed(dirfd, s);
	/* the history may have been created here */
	journal_own(dirfd, -1, HISTORY_FILE);
	journal_own(dirfd, -1, HISTORY_FILE_OLD);
	return rc;
}
