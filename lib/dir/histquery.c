/* SPDX-License-Identifier: MIT */
/*
 * A query of the lock history (history.h): the last records of one
 * resource, read from both segments with no lock held (history.c says why
 * that is safe) and kept in a ring, one per holding.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "histline.h"
#include "history.h"
#include "store_impl.h"

/* Reading buffer: a torn record and a whole one after it fit. */
#define READ_BUF	(64 * 1024)
_Static_assert(2 * HISTLINE_MAX <= READ_BUF, "history read buffer too small");

/* One matching record kept while a query reads. */
struct slot {
	char			*line;
	size_t			 len, cap;
	unsigned long long	 token;
	long long		 since;
};

/* The last LIMIT matching records, oldest first from HEAD. */
struct ring {
	struct slot	*slot;
	size_t		 size, head, count;
	unsigned int	*seen;		/* counts of tokens kept, by hash */
	size_t		 seen_mask;
	const char	*want;		/* the escaped resource */
	size_t		 wantlen;
	struct lockstore_history_entry *e;
};

static size_t
token_hash(const struct ring *r, unsigned long long token)
{
	return (size_t)((token * 0x9E3779B97F4A7C15ull) >> 32) & r->seen_mask;
}

static struct slot *
ring_at(struct ring *r, size_t i)
{
	return &r->slot[(r->head + i) % r->size];
}

/*
 * Keeps the record LINE of LEN bytes (decoded into r->e), dropping an
 * older record of the same holding, else the oldest when full.
 */
static int
ring_add(struct ring *r, const char *line, size_t len)
{
	unsigned long long	 token = r->e->token;
	struct slot		*sl, tmp;
	size_t			 i;
	char			*p;

	if (token != 0 && r->seen[token_hash(r, token)] > 0) {
		for (i = 0; i < r->count; i++) {
			sl = ring_at(r, i);
			if (sl->token == token && sl->since == r->e->since)
				break;
		}
		if (i < r->count) {
			/* Reuse its slot at the newest end. */
			tmp = *ring_at(r, i);
			for (; i + 1 < r->count; i++)
				*ring_at(r, i) = *ring_at(r, i + 1);
			*ring_at(r, r->count - 1) = tmp;
			r->seen[token_hash(r, token)]--;
			sl = ring_at(r, r->count - 1);
			goto fill;
		}
	}
	if (r->count < r->size)
		sl = ring_at(r, r->count++);
	else {
		sl = ring_at(r, 0);
		r->head = (r->head + 1) % r->size;
		if (sl->token != 0)
			r->seen[token_hash(r, sl->token)]--;
	}
fill:
	if (sl->cap < len) {
		if ((p = realloc(sl->line, len)) == NULL)
			return -1;
		sl->line = p;
		sl->cap = len;
	}
	memcpy(sl->line, line, len);
	sl->len = len;
	sl->token = token;
	sl->since = r->e->since;
	if (token != 0)
		r->seen[token_hash(r, token)]++;
	return 0;
}

/* Considers one complete line: kept if it is a good record of the
 * resource asked for.  -1 only when out of memory. */
static int
consider(struct ring *r, const char *line, size_t len)
{
	const char	*f[HISTLINE_FIELDS];
	size_t		 n[HISTLINE_FIELDS];

	if (histline_split(line, len, f, n) == -1 || n[5] != r->wantlen ||
	    memcmp(f[5], r->want, r->wantlen) != 0 ||
	    histline_decode(f, n, r->e) == -1)
		return 0;
	/* Keep the record alone, without torn remains before it. */
	return ring_add(r, f[0], (size_t)(line + len - f[0]));
}

/* Streams the segment open at FD through BUF into R. */
static int
read_segment(struct ring *r, int fd, char *buf)
{
	size_t	 start = 0, scan = 0, end = 0;
	ssize_t	 n;
	char	*nl;

	for (;;) {
		nl = memchr(buf + scan, '\n', end - scan);
		if (nl != NULL) {
			if (consider(r, buf + start, (size_t)(nl - buf) -
			    start) == -1)
				return -1;
			start = scan = (size_t)(nl - buf) + 1;
			continue;
		}
		if (start > 0) {
			memmove(buf, buf + start, end - start);
			end -= start;
			start = 0;
		}
		if (end == READ_BUF) {
			/* Longer than any record: torn remains (a crash can
			 * leave many zeros), with a record glued to them in
			 * at most its last HISTLINE_MAX bytes. */
			memmove(buf, buf + end - HISTLINE_MAX, HISTLINE_MAX);
			end = HISTLINE_MAX;
		}
		scan = end;
		n = read(fd, buf + end, READ_BUF - end);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			return 0;	/* a torn or unfinished last line */
		end += (size_t)n;
	}
}

/* Calls FN for the last LIMIT records of RESOURCE, newest first. */
enum lockstore_status
history_query(struct history *h, const char *resource, size_t limit,
    lockstore_history_fn fn, void *arg, struct lockstore_error *err)
{
	struct ring	 r;
	char		*buf = NULL, *want = NULL;
	size_t		 i, seen_size;
	int		 cur = -2, old = -2, e = 0;

	if (limit > LOCKSTORE_HISTORY_MAX)
		limit = LOCKSTORE_HISTORY_MAX;
	if (limit == 0)
		return LOCKSTORE_OK;
	memset(&r, 0, sizeof(r));
	r.size = limit;
	for (seen_size = 16; seen_size < 4 * limit; seen_size *= 2)
		;
	r.seen_mask = seen_size - 1;
	r.wantlen = histline_name_len(resource, SIZE_MAX);
	if ((r.slot = calloc(limit, sizeof(*r.slot))) == NULL ||
	    (r.seen = calloc(seen_size, sizeof(*r.seen))) == NULL ||
	    (r.e = malloc(sizeof(*r.e))) == NULL ||
	    (want = malloc(r.wantlen)) == NULL ||
	    (buf = malloc(READ_BUF)) == NULL) {
		e = errno;
		goto out;
	}
	histline_name_put(want, resource, SIZE_MAX);
	r.want = want;
	if (history_open_pair(h, &cur, &old) == -1 ||
	    (old >= 0 && read_segment(&r, old, buf) == -1) ||
	    (cur >= 0 && read_segment(&r, cur, buf) == -1)) {
		e = errno;
		goto out;
	}
	for (i = r.count; i > 0; i--) {
		const char	*f[HISTLINE_FIELDS];
		size_t		 n[HISTLINE_FIELDS];
		struct slot	*sl = ring_at(&r, i - 1);

		/* Checked when kept: cannot fail. */
		if (histline_split(sl->line, sl->len, f, n) == -1 ||
		    histline_decode(f, n, r.e) == -1)
			continue;
		if (fn(r.e, arg) != 0)
			break;
	}
out:
	if (cur >= 0)
		close(cur);
	if (old >= 0)
		close(old);
	if (r.slot != NULL)
		for (i = 0; i < r.size; i++)
			free(r.slot[i].line);
	free(r.slot);
	free(r.seen);
	free(r.e);
	free(want);
	free(buf);
	if (e != 0)
		return store_error(err, LOCKSTORE_STORAGE, e,
		    "Storage error: cannot read the history: %s", strerror(e));
	return LOCKSTORE_OK;
}
