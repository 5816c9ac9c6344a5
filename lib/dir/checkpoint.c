/* SPDX-License-Identifier: MIT */
/*
 * Checkpoints of a lock directory's journals (journal.c): the lock files
 * the records name, the directory and the history made durable, and
 * ".checkpoint" saying up to which record of which journal that holds.
 *
 * ".checkpoint" has two slots of SLOT bytes, written in turn in place (so
 * a full disk does not stop a checkpoint, and a torn write leaves the
 * other slot):
 *
 *	lockd-checkpoint 1 <gen> <boot id>\n
 *	<journal file name> <seq>\n		one per journal
 *	sum <16 hex digits>\n		FNV-1a 64 of all before it
 *
 * The valid slot with the larger gen counts.  A checkpoint holds flock()
 * LOCK_EX on the file, so checkpoints of several processes take turns.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "journal.h"

/* Bytes of a slot: room for a few hundred journals. */
#define SLOT	16384

/* Parses slot BUF (SLOT bytes) into C; -1 if it is not a valid one. */
static int
parse_slot(const char *buf, struct jcover *c)
{
	const char	*p, *sum, *nl;
	char		 hex[17];
	size_t		 n = 0;
	void		*e;

	if ((sum = memmem(buf, SLOT, "\nsum ", 5)) == NULL ||
	    (size_t)(sum - buf) + 22 > SLOT || sum[21] != '\n')
		return -1;
	sum++;
	snprintf(hex, sizeof(hex), "%016llx",
	    (unsigned long long)codec_fnv1a(buf, (size_t)(sum - buf)));
	if (memcmp(sum + 4, hex, 16) != 0 ||
	    sscanf(buf, "lockd-checkpoint 1 %llu %39s", &c->gen, c->boot) != 2)
		return -1;
	p = (const char *)memchr(buf, '\n', (size_t)(sum - buf)) + 1;
	for (; p < sum; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(sum - p));
		if ((e = realloc(c->e, (n + 1) * sizeof(*c->e))) == NULL)
			return -1;
		c->e = e;
		if (nl == NULL || nl - p > 200 || sscanf(p, "%127s %llu",
		    c->e[n].name, &c->e[n].seq) != 2)
			return -1;
		n++;
	}
	c->n = n;
	return 0;
}

/* Reads the valid slot of the larger gen from FD into C. */
static int
read_fd(int fd, struct jcover *c)
{
	struct jcover	 s[2];
	char		*buf;
	int		 i, best = -1;

	memset(c, 0, sizeof(*c));
	memset(s, 0, sizeof(s));
	if ((buf = malloc(SLOT + 1)) == NULL)
		return -1;
	for (i = 0; i < 2; i++) {
		buf[SLOT] = '\0';
		if (pread(fd, buf, SLOT, (off_t)i * SLOT) == SLOT &&
		    parse_slot(buf, &s[i]) == 0 &&
		    (best == -1 || s[i].gen > s[best].gen))
			best = i;
	}
	free(buf);
	if (best != -1) {
		*c = s[best];
		s[best].e = NULL;
	}
	free(s[0].e);
	free(s[1].e);
	return 0;
}

/* Reads the checkpoint file; see journal.h. */
int
jcover_read(int dirfd, struct jcover *c)
{
	int	fd, rc;

	memset(c, 0, sizeof(*c));
	fd = openat(dirfd, JOURNAL_CHECKPOINT, O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	rc = read_fd(fd, c);
	close(fd);
	return rc;
}

/* Writes C into the slot of its gen; synced. */
static int
write_slot(int fd, const struct jcover *c)
{
	char	*buf;
	size_t	 i, n;
	int	 rc = -1;

	if ((buf = calloc(1, SLOT)) == NULL)
		return -1;
	n = (size_t)snprintf(buf, SLOT, "lockd-checkpoint 1 %llu %s\n", c->gen,
	    c->boot);
	for (i = 0; i < c->n && n < SLOT - 200; i++)
		n += (size_t)snprintf(buf + n, SLOT - n, "%s %llu\n",
		    c->e[i].name, c->e[i].seq);
	if (i == c->n) {
		snprintf(buf + n, SLOT - n, "sum %016llx\n",
		    (unsigned long long)codec_fnv1a(buf, n));
		if (pwrite(fd, buf, SLOT, (off_t)(c->gen % 2) * SLOT) == SLOT &&
		    fdatasync(fd) == 0)
			rc = 0;
	} else
		errno = EFBIG;
	free(buf);
	return rc;
}

/* Opens (making it, SLOT zeros twice, the first time) the checkpoint
 * file, flock()ed; -1 with errno. */
static int
open_locked(int dirfd)
{
	static const char	zeros[2 * SLOT];
	struct stat		st;
	int			fd, e;

	fd = openat(dirfd, JOURNAL_CHECKPOINT, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	journal_own(dirfd, fd, NULL);
	while (flock(fd, LOCK_EX) == -1)
		if (errno != EINTR)
			goto fail;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if (st.st_size < 2 * SLOT && (pwrite(fd, zeros, sizeof(zeros), 0) !=
	    (ssize_t)sizeof(zeros) || fdatasync(fd) == -1 ||
	    fsync(dirfd) == -1))
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* The coverage after a checkpoint that read S: every record of every
 * journal read (none is lost from those before). */
static int
covered(const struct jcover *old, const struct jset *s, struct jcover *c)
{
	size_t	i, k;

	c->gen = old->gen + 1;
	c->n = s->nfiles;
	if ((c->e = calloc(s->nfiles + 1, sizeof(*c->e))) == NULL)
		return -1;
	for (i = 0; i < s->nfiles; i++) {
		snprintf(c->e[i].name, sizeof(c->e[i].name), "%s",
		    s->files[i].name);
		c->e[i].seq = s->files[i].upto;
		for (k = 0; k < old->n; k++)
			if (strcmp(old->e[k].name, c->e[i].name) == 0 &&
			    old->e[k].seq > c->e[i].seq)
				c->e[i].seq = old->e[k].seq;
	}
	return 0;
}

/* Checkpoints; see journal.h. */
int
journal_checkpoint(int dirfd, const char *boot, struct history *h,
    const char *name, unsigned long long *mine)
{
	struct jcover	old, c;
	struct jset	s;
	size_t		i;
	int		fd, rc = -1, e;

	memset(&c, 0, sizeof(c));
	memset(&s, 0, sizeof(s));
	memset(&old, 0, sizeof(old));
	if ((fd = open_locked(dirfd)) == -1)
		return -1;
	if (read_fd(fd, &old) == -1 || jset_load(&s, dirfd, &old, boot, 0) ==
	    -1)
		goto out;
	/* A file whose latest record is an end is gone (or taken again,
	 * with a record to come): only the others' content counts. */
	jset_latest(&s);
	for (i = 0; i < s.n; i++)
		if (s.recs[i].tag == 'G' && !s.recs[i].covered &&
		    gsync_name(dirfd, s.recs[i].fname) == -1)
			goto out;
	if (fsync(dirfd) == -1 || history_sync(h) == -1 ||
	    covered(&old, &s, &c) == -1)
		goto out;
	snprintf(c.boot, sizeof(c.boot), "%s", boot);
	if (write_slot(fd, &c) == -1)
		goto out;
	for (i = 0; mine != NULL && i < c.n; i++)
		if (strcmp(c.e[i].name, name) == 0)
			*mine = c.e[i].seq;
	rc = 0;
out:
	e = errno;
	jset_free(&s);
	free(old.e);
	free(c.e);
	close(fd);
	errno = e;
	return rc;
}
