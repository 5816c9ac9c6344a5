/* SPDX-License-Identifier: MIT */
/* Unit tests of the lock history journal: format, bounds, concurrency. */
#include "config.h"

#include <CUnit/CUnit.h>

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dir/history.h"
#include "tu.h"

#define THREADS		16
#define THREAD_RECORDS	200
#define PROCS		4
#define PROC_RECORDS	250

/* Entries collected from a query. */
struct collect {
	struct lockstore_history_entry	*v;
	size_t				 n, cap;
	size_t				 stop_after;	/* 0: never */
};

static int
collect_fn(const struct lockstore_history_entry *e, void *arg)
{
	struct collect	*c = arg;

	if (c->n == c->cap) {
		c->cap = c->cap == 0 ? 16 : 2 * c->cap;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
		if (c->v == NULL)
			abort();
	}
	c->v[c->n++] = *e;
	return (c->stop_after != 0 && c->n >= c->stop_after) ? -1 : 0;
}

static void
collect_free(struct collect *c)
{
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/* Copies S into the field DST of SIZE bytes; aborts if it does not fit. */
static void
set_field(char *dst, size_t size, const char *s)
{
	size_t	len = strlen(s);

	if (len >= size)
		abort();
	memcpy(dst, s, len + 1);
}

static void
entry(struct lockstore_history_entry *e, const char *resource,
    const char *holder, unsigned long long token, long long since,
    long long until_ms, enum lockstore_end how, const char *by,
    const char *reason)
{
	memset(e, 0, sizeof(*e));
	set_field(e->resource, sizeof(e->resource), resource);
	set_field(e->holder, sizeof(e->holder), holder);
	set_field(e->by, sizeof(e->by), by);
	set_field(e->reason, sizeof(e->reason), reason);
	e->token = token;
	e->since = since;
	e->until_ms = until_ms;
	e->how = how;
}

/* Opens a fresh test directory; returns its fd and sets *DIRP. */
static int
open_dir(char **dirp)
{
	char	*dir = tu_tmpdir();
	int	 fd;

	CU_ASSERT_FATAL(dir != NULL);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CU_ASSERT_FATAL(fd != -1);
	*dirp = dir;
	return fd;
}

static void
append_ok(struct history *h, const struct lockstore_history_entry *e)
{
	struct lockstore_error	err;

	memset(&err, 0, sizeof(err));
	TU_ASSERT_INT_EQ_FATAL(history_append(h, e, &err), LOCKSTORE_OK);
}

/* Appends a plain record of RESOURCE with TOKEN, since TOKEN*10. */
static void
append_simple(struct history *h, const char *resource,
    unsigned long long token)
{
	struct lockstore_history_entry	e;

	entry(&e, resource, "holder", token, (long long)token * 10,
	    (long long)token * 10000, LOCKSTORE_END_UNLOCK, "", "");
	append_ok(h, &e);
}

static void
query_ok(struct history *h, const char *resource, size_t limit,
    struct collect *c)
{
	struct lockstore_error	err;

	memset(&err, 0, sizeof(err));
	TU_ASSERT_INT_EQ_FATAL(history_query(h, resource, limit, collect_fn,
	    c, &err), LOCKSTORE_OK);
}

static void
assert_same_entry(const struct lockstore_history_entry *a,
    const struct lockstore_history_entry *b)
{
	CU_ASSERT(strcmp(a->resource, b->resource) == 0);
	CU_ASSERT(strcmp(a->holder, b->holder) == 0);
	CU_ASSERT(strcmp(a->by, b->by) == 0);
	CU_ASSERT(strcmp(a->reason, b->reason) == 0);
	TU_ASSERT_INT_EQ(a->token == b->token, 1);
	TU_ASSERT_INT_EQ(a->since, b->since);
	TU_ASSERT_INT_EQ(a->until_ms, b->until_ms);
	TU_ASSERT_INT_EQ(a->how, b->how);
}

/* The contents of NAME in DIR ("" if absent); the caller frees it. */
static char *
read_in(const char *dir, const char *name, size_t *lenp)
{
	char	path[PATH_MAX], *s;

	CU_ASSERT_FATAL(tu_join(path, sizeof(path), dir, name) == 0);
	if ((s = tu_read_file(path, lenp)) == NULL) {
		CU_ASSERT_FATAL(errno == ENOENT);
		s = strdup("");
		CU_ASSERT_FATAL(s != NULL);
		*lenp = 0;
	}
	return s;
}

static void
write_in(const char *dir, const char *name, const char *data)
{
	char	path[PATH_MAX];

	CU_ASSERT_FATAL(tu_join(path, sizeof(path), dir, name) == 0);
	CU_ASSERT_FATAL(tu_write_file(path, data, strlen(data), 0644) == 0);
}

static long long
size_in(const char *dir, const char *name)
{
	char		path[PATH_MAX];
	struct stat	st;

	if (tu_join(path, sizeof(path), dir, name) == -1)
		return -2;
	if (stat(path, &st) == -1)
		return -1;
	return (long long)st.st_size;
}

/* Entries of DIR besides "." and ".." (tu_count_entries() skips ours). */
static int
count_all(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* A name of N bytes cycling through every byte value but NUL. */
static char *
all_bytes(size_t n)
{
	char	*s = malloc(n + 1);
	size_t	 i;

	CU_ASSERT_FATAL(s != NULL);
	for (i = 0; i < n; i++)
		s[i] = (char)(1 + i % 255);
	s[n] = '\0';
	return s;
}

static void
round_trip_keeps_every_field_of_nasty_names(void)
{
	static const char *const names[] = {
		"plain", "a b", "line\nbreak\r\n", "100%", "%41", "%2D", "-",
		"--", "-x", "tab\there", "\x7f", "\x01\x1f", " ", "%",
		"\xe6\x97\xa5\xe6\x9c\xac \xc3\xbc", "\xff\xfe\x80", "v1",
		"a%20b", "+"
	};
	struct lockstore_history_entry	 e, *big;
	struct collect			 c = { 0 };
	struct history			*h;
	char				*dir, *bigs[6], *by, *reason;
	size_t				 i, nn = sizeof(names) / sizeof(names[0]);
	int				 dirfd = open_dir(&dir);

	h = history_open(dirfd, 1ul << 20);
	CU_ASSERT_FATAL(h != NULL);
	/* Every short name as resource, holder, by and reason. */
	for (i = 0; i < nn; i++) {
		entry(&e, names[i], names[(i + 1) % nn], 1000 + i,
		    1700000000 + (long long)i, 1700000000123ll + (long long)i,
		    (enum lockstore_end)(i % 3), names[(i + 2) % nn],
		    names[(i + 3) % nn]);
		append_ok(h, &e);
		collect_free(&c);
		query_ok(h, names[i], 1, &c);
		TU_ASSERT_INT_EQ_FATAL(c.n, 1);
		assert_same_entry(&c.v[0], &e);
	}
	/* Empty by/reason/holder, extreme numbers. */
	entry(&e, "extremes", "", ULLONG_MAX, LLONG_MIN, LLONG_MAX,
	    LOCKSTORE_END_EXPIRY, "", "");
	append_ok(h, &e);
	collect_free(&c);
	query_ok(h, "extremes", 5, &c);
	TU_ASSERT_INT_EQ_FATAL(c.n, 1);
	assert_same_entry(&c.v[0], &e);
	/* Names of the largest size. */
	bigs[0] = tu_repeat('x', LOCKSTORE_NAME_MAX);
	bigs[1] = tu_repeat(' ', LOCKSTORE_NAME_MAX);
	bigs[2] = tu_repeat('%', LOCKSTORE_NAME_MAX);
	bigs[3] = tu_repeat('\n', LOCKSTORE_NAME_MAX);
	bigs[4] = tu_repeat('\xff', LOCKSTORE_NAME_MAX);
	bigs[5] = all_bytes(LOCKSTORE_NAME_MAX);
	by = all_bytes(sizeof(e.by) - 1);
	reason = tu_repeat('\n', sizeof(e.reason) - 1);
	big = malloc(sizeof(*big));
	CU_ASSERT_FATAL(big != NULL);
	for (i = 0; i < 6; i++) {
		entry(big, bigs[i], bigs[(i + 1) % 6], 5000 + i, 1, 2,
		    LOCKSTORE_END_BREAK, by, reason);
		append_ok(h, big);
		collect_free(&c);
		query_ok(h, bigs[i], 1, &c);
		TU_ASSERT_INT_EQ_FATAL(c.n, 1);
		assert_same_entry(&c.v[0], big);
	}
	/* The four names are distinct resources for the query. */
	collect_free(&c);
	query_ok(h, "a", 10, &c);
	TU_ASSERT_INT_EQ(c.n, 0);
	collect_free(&c);
	query_ok(h, "", 10, &c);
	TU_ASSERT_INT_EQ(c.n, 0);
	for (i = 0; i < 6; i++)
		free(bigs[i]);
	free(by);
	free(reason);
	free(big);
	collect_free(&c);
	history_close(h);
	close(dirfd);
}

/* Checks that every line of S is a record of printable fields. */
static void
assert_clean_lines(const char *s, size_t len, size_t expect_lines)
{
	size_t	i, lines = 0, spaces = 0;

	CU_ASSERT_FATAL(len == 0 || s[len - 1] == '\n');
	for (i = 0; i < len; i++) {
		unsigned char	c = (unsigned char)s[i];

		if (c == '\n') {
			TU_ASSERT_INT_EQ(spaces, 8);
			spaces = 0;
			lines++;
			continue;
		}
		if (c == ' ')
			spaces++;
		else
			CU_ASSERT(c > 0x20 && c != 0x7f);
	}
	TU_ASSERT_INT_EQ(lines, expect_lines);
}

static void
lines_have_the_documented_format(void)
{
	struct lockstore_history_entry	 e;
	struct history			*h;
	char				*dir, *s;
	size_t				 len;
	int				 dirfd = open_dir(&dir);

	h = history_open(dirfd, 4096);
	CU_ASSERT_FATAL(h != NULL);
	entry(&e, "db/main", "web 1", 7, 100, 200500, LOCKSTORE_END_BREAK,
	    "admin", "stuck\n100%");
	append_ok(h, &e);
	entry(&e, "-", "", 0, -5, 0, LOCKSTORE_END_EXPIRY, "", "-");
	append_ok(h, &e);
	entry(&e, "\xc3\xa9\x7f", "h", 9, 1, 2, LOCKSTORE_END_UNLOCK, "", "");
	append_ok(h, &e);
	s = read_in(dir, HISTORY_FILE, &len);
	TU_ASSERT_STR_EQ(s,
	    "v1 7 100 200500 break db/main web%201 admin stuck%0A100%25\n"
	    "v1 0 -5 0 expiry %2D - - %2D\n"
	    "v1 9 1 2 unlock \xc3\xa9%7F h - -\n");
	assert_clean_lines(s, len, 3);
	free(s);
	history_close(h);
	close(dirfd);
}

static void
query_is_newest_first_and_limited(void)
{
	struct collect	 c = { 0 };
	struct history	*h;
	char		*dir;
	size_t		 i;
	int		 dirfd = open_dir(&dir);

	h = history_open(dirfd, 1ul << 20);
	CU_ASSERT_FATAL(h != NULL);
	for (i = 1; i <= 20; i++)
		append_simple(h, "r", i);
	query_ok(h, "r", 5, &c);
	TU_ASSERT_INT_EQ_FATAL(c.n, 5);
	for (i = 0; i < 5; i++)
		TU_ASSERT_INT_EQ(c.v[i].token, 20 - i);
	collect_free(&c);
	query_ok(h, "r", LOCKSTORE_HISTORY_MAX, &c);
	TU_ASSERT_INT_EQ_FATAL(c.n, 20);
	for (i = 0; i < 20; i++)
		TU_ASSERT_INT_EQ(c.v[i].token, 20 - i);
	collect_free(&c);
	/* FN can stop the walk. */
	c.stop_after = 2;
	query_ok(h, "r", 10, &c);
	TU_ASSERT_INT_EQ(c.n, 2);
	collect_free(&c);
	history_close(h);
	close(dirfd);
}

static void
query_reports_only_the_resource_asked(void)
{
	static const char *const res[] = { "a", "ab", "a b", "A", "b", "a\n" };
	struct collect	 c = { 0 };
	struct history	*h;
	char		*dir;
	size_t		 i, j, nres = sizeof(res) / sizeof(res[0]);
	int		 dirfd = open_dir(&dir);

	h = history_open(dirfd, 1ul << 20);
	CU_ASSERT_FATAL(h != NULL);
	for (i = 0; i < 30; i++)
		append_simple(h, res[i % nres], i + 1);
	for (j = 0; j < nres; j++) {
		query_ok(h, res[j], 100, &c);
		TU_ASSERT_INT_EQ(c.n, 30 / nres);
		for (i = 0; i < c.n; i++) {
			CU_ASSERT(strcmp(c.v[i].resource, res[j]) == 0);
			TU_ASSERT_INT_EQ((c.v[i].token - 1) % nres, j);
		}
		collect_free(&c);
	}
	query_ok(h, "c", 100, &c);
	TU_ASSERT_INT_EQ(c.n, 0);
	collect_free(&c);
	history_close(h);
	close(dirfd);
}

static void
rotation_keeps_about_two_segments(void)
{
	struct collect	 c = { 0 };
	struct history	*h;
	char		*dir;
	size_t		 i;
	long long	 cur, old;
	int		 dirfd = open_dir(&dir);

	h = history_open(dirfd, 1024);
	CU_ASSERT_FATAL(h != NULL);
	for (i = 1; i <= 2000; i++)
		append_simple(h, "r", i);
	/* A record is about 40 bytes; a segment ends past 1024 by one. */
	cur = size_in(dir, HISTORY_FILE);
	old = size_in(dir, HISTORY_FILE_OLD);
	CU_ASSERT(cur > 0 && cur < 1024 + 100);
	CU_ASSERT(old >= 1024 && old < 1024 + 100);
	TU_ASSERT_INT_EQ(count_all(dir), 2);
	query_ok(h, "r", LOCKSTORE_HISTORY_MAX, &c);
	/* The newest are all there, in order; the oldest are gone. */
	CU_ASSERT_FATAL(c.n > 1024 / 50 && c.n < 2 * 1124 / 30);
	for (i = 0; i < c.n; i++)
		TU_ASSERT_INT_EQ(c.v[i].token, 2000 - i);
	CU_ASSERT(c.v[c.n - 1].token > 1900);
	collect_free(&c);
	history_close(h);
	close(dirfd);
}

static void
repeated_holding_is_reported_once_as_newest(void)
{
	struct lockstore_history_entry	 e;
	struct collect			 c = { 0 };
	struct history			*h;
	char				*dir;
	int				 dirfd = open_dir(&dir);

	h = history_open(dirfd, 1ul << 20);
	CU_ASSERT_FATAL(h != NULL);
	entry(&e, "r", "a", 5, 100, 1000, LOCKSTORE_END_UNLOCK, "", "");
	append_ok(h, &e);
	entry(&e, "r", "b", 6, 200, 3000, LOCKSTORE_END_UNLOCK, "", "");
	append_ok(h, &e);
	/* The unlock of token 5, retried after a crash. */
	entry(&e, "r", "a", 5, 100, 2000, LOCKSTORE_END_UNLOCK, "", "");
	append_ok(h, &e);
	/* Unknown tokens are never merged. */
	entry(&e, "r", "c", 0, 0, 4000, LOCKSTORE_END_UNLOCK, "", "");
	append_ok(h, &e);
	append_ok(h, &e);
	/* The same token of another resource or with another since is
	 * another holding. */
	entry(&e, "s", "a", 5, 100, 5000, LOCKSTORE_END_UNLOCK, "", "");
	append_ok(h, &e);
	entry(&e, "r", "a", 5, 101, 6000, LOCKSTORE_END_BREAK, "x", "y");
	append_ok(h, &e);
	query_ok(h, "r", 10, &c);
	TU_ASSERT_INT_EQ_FATAL(c.n, 5);
	TU_ASSERT_INT_EQ(c.v[0].until_ms, 6000);
	TU_ASSERT_INT_EQ(c.v[1].until_ms, 4000);
	TU_ASSERT_INT_EQ(c.v[2].until_ms, 4000);
	TU_ASSERT_INT_EQ(c.v[3].until_ms, 2000);	/* the newest of 5/100 */
	TU_ASSERT_INT_EQ(c.v[4].until_ms, 3000);
	collect_free(&c);
	/* A duplicate does not take a place of the limit. */
	query_ok(h, "r", 4, &c);
	TU_ASSERT_INT_EQ_FATAL(c.n, 4);
	TU_ASSERT_INT_EQ(c.v[3].until_ms, 2000);
	collect_free(&c);
	query_ok(h, "s", 10, &c);
	TU_ASSERT_INT_EQ(c.n, 1);
	collect_free(&c);
	history_close(h);
	close(dirfd);
}

static void
duplicate_across_segments_is_reported_once(void)
{
	struct collect	 c = { 0 };
	struct history	*h;
	char		*dir;
	int		 dirfd = open_dir(&dir);

	write_in(dir, HISTORY_FILE_OLD,
	    "v1 5 100 1000 unlock r a - -\nv1 6 200 1500 unlock r b - -\n");
	write_in(dir, HISTORY_FILE, "v1 5 100 2000 unlock r a - -\n");
	h = history_open(dirfd, 1ul << 20);
	CU_ASSERT_FATAL(h != NULL);
	query_ok(h, "r", 10, &c);
	TU_ASSERT_INT_EQ_FATAL(c.n, 2);
	TU_ASSERT_INT_EQ(c.v[0].until_ms, 2000);
	TU_ASSERT_INT_EQ(c.v[1].until_ms, 1500);
	collect_free(&c);
	history_close(h);
	close(dirfd);
}

/* Reference: the last LIMIT entries of a deduplicated sequence. */
static void
deduplication_matches_a_reference_model(void)
{
	enum { N = 3000 };
	static unsigned long long	tok[N];
	static long long		since[N];
	static int			res[N];
	struct lockstore_history_entry	e;
	struct collect			c = { 0 };
	struct history			*h;
	static const size_t		limits[] = { 1, 3, 7, 50, 1000 };
	unsigned long long		next = 1;
	unsigned int			seed = 12345, k;
	size_t				i, j, l, want;
	char				*dir;
	int				dirfd = open_dir(&dir);

	h = history_open(dirfd, 1ul << 24);
	CU_ASSERT_FATAL(h != NULL);
	for (i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		k = (seed >> 16) % 10;
		res[i] = (int)((seed >> 8) % 2);
		if (k < 6 || i == 0) {
			tok[i] = next++;
			since[i] = (long long)tok[i] * 10;
		} else if (k < 8) {
			j = (size_t)(seed >> 4) % i;	/* a retry of an old one */
			tok[i] = tok[j];
			since[i] = since[j];
			res[i] = res[j];
		} else {
			tok[i] = 0;
			since[i] = 0;
		}
		entry(&e, res[i] ? "b" : "a", "h", tok[i], since[i],
		    (long long)i, LOCKSTORE_END_UNLOCK, "", "");
		append_ok(h, &e);
	}
	for (l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
		query_ok(h, "a", limits[l], &c);
		/* Walk newest first, skipping holdings reported already. */
		want = 0;
		for (i = N; i > 0 && want < limits[l]; i--) {
			if (res[i - 1] != 0)
				continue;
			for (j = i; j < N; j++)
				if (tok[i - 1] != 0 && res[j] == 0 &&
				    tok[j] == tok[i - 1] &&
				    since[j] == since[i - 1])
					break;
			if (j < N)
				continue;
			CU_ASSERT_FATAL(want < c.n);
			TU_ASSERT_INT_EQ(c.v[want].until_ms, i - 1);
			want++;
		}
		TU_ASSERT_INT_EQ(c.n, want);
		collect_free(&c);
	}
	history_close(h);
	close(dirfd);
}

static const char bad_head[] =
	    "v1 1 10 100 unlock r h - -\n"
	    "\n"
	    "v2 2 10 100 unlock r h - -\n"
	    "v1 x 10 100 unlock r h - -\n"
	    "v1 2 10 100 unlock r h -\n"
	    "v1 2 10 100 unlock r h - - extra\n"
	    "v1 2 10 100 stolen r h - -\n"
	    "v1 2 10 100 unlock r h  -\n"
	    "v1 2 1x0 100 unlock r h - -\n"
	    "v1 2 10 100 unlock r h\t - -\n"
	    "v1 2 10 100 unlock r h%4 - -\n"
	    "v1 2 10 100 unlock r h%41 - -\n"
	    "v1 2 10 100 unlock r%41 h - -\n"
	    "v1 2 10 100 unlock r h%2d - -\n"
	    "v1 2 10 100 unlock r h%0a - -\n"
	    "v1 2 10 100 unlock r h %2d -\n"
	    "v1 2 10 100 unlock r h%00 - -\n"
	    "v1 99999999999999999999 10 100 unlock r h - -\n"
	    "v1 -2 10 100 unlock r h - -\n";
static const char bad_tail[] =
	    "\n"
	    "v1 3 10 100 unlock r h - -\n"
	    "v1 4 10 100 unlock r h - -";

static void
torn_and_bad_lines_are_skipped(void)
{
	struct collect	 c = { 0 };
	struct history	*h;
	char		*dir, *longline, *content;
	size_t		 len;
	int		 dirfd = open_dir(&dir);

	longline = tu_repeat('x', 200000);
	content = malloc(300000);
	CU_ASSERT_FATAL(content != NULL);
	len = strlen(bad_head);
	memcpy(content, bad_head, len);
	memcpy(content + len, longline, 200000);
	len += 200000;
	memcpy(content + len, bad_tail, strlen(bad_tail) + 1);
	write_in(dir, HISTORY_FILE, content);
	h = history_open(dirfd, 1ul << 20);
	CU_ASSERT_FATAL(h != NULL);
	query_ok(h, "r", 100, &c);
	TU_ASSERT_INT_EQ_FATAL(c.n, 2);
	TU_ASSERT_INT_EQ(c.v[0].token, 3);
	TU_ASSERT_INT_EQ(c.v[1].token, 1);
	collect_free(&c);
	/* A non-canonical escape never matches a name. */
	query_ok(h, "rA", 100, &c);
	TU_ASSERT_INT_EQ(c.n, 0);
	collect_free(&c);
	/* An append after the torn record is not lost with it. */
	append_simple(h, "r", 5);
	query_ok(h, "r", 100, &c);
	TU_ASSERT_INT_EQ_FATAL(c.n, 3);
	TU_ASSERT_INT_EQ(c.v[0].token, 5);
	TU_ASSERT_INT_EQ(c.v[1].token, 3);
	collect_free(&c);
	free(read_in(dir, HISTORY_FILE, &len));
	CU_ASSERT(len > 200000);
	free(longline);
	free(content);
	history_close(h);
	close(dirfd);
}

static void
record_glued_to_a_torn_one_is_read(void)
{
	static const char *const torn[] = {
		"v", "v1", "v1 ", "v1 5 10", "v1 5 10 ", "v1 5 10 100 unlock r",
		"v1 5 10 100 unlock r h - -", "\0\0\0", "junk with spaces "
	};
	struct collect	 c = { 0 };
	struct history	*h;
	char		*dir, buf[256], path[PATH_MAX];
	size_t		 i, n;
	int		 dirfd = open_dir(&dir);

	h = history_open(dirfd, 1ul << 20);
	CU_ASSERT_FATAL(h != NULL);
	for (i = 0; i < sizeof(torn) / sizeof(torn[0]); i++) {
		n = strlen(torn[i]);
		if (i == 7)
			n = 3;
		memcpy(buf, torn[i], n);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
		    "v1 6 10 100 break r h by why\n");
		CU_ASSERT_FATAL(tu_join(path, sizeof(path), dir,
		    HISTORY_FILE) == 0);
		CU_ASSERT_FATAL(tu_write_file(path, buf, n, 0644) == 0);
		query_ok(h, "r", 10, &c);
		TU_ASSERT_INT_EQ_FATAL(c.n, 1);
		TU_ASSERT_INT_EQ(c.v[0].token, 6);
		TU_ASSERT_STR_EQ(c.v[0].reason, "why");
		collect_free(&c);
	}
	history_close(h);
	close(dirfd);
}

static void
record_after_a_long_torn_tail_is_read(void)
{
	struct collect	 c = { 0 };
	struct history	*h;
	char		*dir, path[PATH_MAX], *zeros;
	int		 dirfd = open_dir(&dir);

	/* A crash can leave a file longer than what reached it, the rest
	 * zeros: the next record continues that line. */
	zeros = calloc(1, 200000);
	CU_ASSERT_FATAL(zeros != NULL);
	CU_ASSERT_FATAL(tu_join(path, sizeof(path), dir, HISTORY_FILE) == 0);
	CU_ASSERT_FATAL(tu_write_file(path, zeros, 200000, 0644) == 0);
	h = history_open(dirfd, 1ul << 20);
	CU_ASSERT_FATAL(h != NULL);
	append_simple(h, "r", 7);
	query_ok(h, "r", 10, &c);
	TU_ASSERT_INT_EQ_FATAL(c.n, 1);
	TU_ASSERT_INT_EQ(c.v[0].token, 7);
	collect_free(&c);
	free(zeros);
	history_close(h);
	close(dirfd);
}

static void
missing_files_are_an_empty_history(void)
{
	struct collect	 c = { 0 };
	struct history	*h;
	char		*dir;
	int		 dirfd = open_dir(&dir);

	h = history_open(dirfd, 1ul << 20);
	CU_ASSERT_FATAL(h != NULL);
	query_ok(h, "r", 10, &c);
	TU_ASSERT_INT_EQ(c.n, 0);
	TU_ASSERT_INT_EQ(count_all(dir), 0);
	collect_free(&c);
	/* Only the previous segment. */
	write_in(dir, HISTORY_FILE_OLD, "v1 1 10 100 unlock r h - -\n");
	query_ok(h, "r", 10, &c);
	TU_ASSERT_INT_EQ(c.n, 1);
	collect_free(&c);
	history_close(h);
	close(dirfd);
}

static void
segment_zero_writes_nothing(void)
{
	struct collect	 c = { 0 };
	struct history	*h, *w;
	char		*dir;
	int		 dirfd = open_dir(&dir);

	h = history_open(dirfd, 0);
	CU_ASSERT_FATAL(h != NULL);
	append_simple(h, "r", 1);
	TU_ASSERT_INT_EQ(count_all(dir), 0);
	/* What another writer keeps is still read. */
	w = history_open(dirfd, 4096);
	CU_ASSERT_FATAL(w != NULL);
	append_simple(w, "r", 2);
	query_ok(h, "r", 10, &c);
	TU_ASSERT_INT_EQ_FATAL(c.n, 1);
	TU_ASSERT_INT_EQ(c.v[0].token, 2);
	collect_free(&c);
	/* Switching off and on again. */
	history_set_segment(w, 0);
	append_simple(w, "r", 3);
	history_set_segment(w, 4096);
	append_simple(w, "r", 4);
	query_ok(h, "r", 10, &c);
	TU_ASSERT_INT_EQ_FATAL(c.n, 2);
	TU_ASSERT_INT_EQ(c.v[0].token, 4);
	TU_ASSERT_INT_EQ(c.v[1].token, 2);
	collect_free(&c);
	history_close(w);
	history_close(h);
	history_close(NULL);
	close(dirfd);
}

static void
new_history_file_is_not_group_writable(void)
{
	struct history	*h;
	struct stat	 st;
	char		*dir;
	int		 dirfd = open_dir(&dir);

	h = history_open(dirfd, 4096);
	CU_ASSERT_FATAL(h != NULL);
	append_simple(h, "r", 1);
	CU_ASSERT_FATAL(fstatat(dirfd, HISTORY_FILE, &st, 0) == 0);
	CU_ASSERT(S_ISREG(st.st_mode));
	TU_ASSERT_INT_EQ(st.st_mode & 0600, 0600);
	TU_ASSERT_INT_EQ(st.st_mode & 0133, 0);
	history_close(h);
	close(dirfd);
}

static void
history_that_is_a_directory_is_a_storage_error(void)
{
	struct lockstore_history_entry	 e;
	struct lockstore_error		 err;
	struct collect			 c = { 0 };
	struct history			*h;
	char				*dir, want[256];
	int				 dirfd = open_dir(&dir);

	CU_ASSERT_FATAL(mkdirat(dirfd, HISTORY_FILE, 0755) == 0);
	h = history_open(dirfd, 4096);
	CU_ASSERT_FATAL(h != NULL);
	entry(&e, "r", "h", 1, 1, 1, LOCKSTORE_END_UNLOCK, "", "");
	memset(&err, 0, sizeof(err));
	TU_ASSERT_INT_EQ(history_append(h, &e, &err), LOCKSTORE_STORAGE);
	TU_ASSERT_INT_EQ(err.status, LOCKSTORE_STORAGE);
	TU_ASSERT_INT_EQ(err.sys_errno, EISDIR);
	snprintf(want, sizeof(want),
	    "Storage error: cannot write the history: %s", strerror(EISDIR));
	TU_ASSERT_STR_EQ(err.msg, want);
	memset(&err, 0, sizeof(err));
	TU_ASSERT_INT_EQ(history_query(h, "r", 10, collect_fn, &c, &err),
	    LOCKSTORE_STORAGE);
	TU_ASSERT_INT_EQ(err.sys_errno, EISDIR);
	TU_ASSERT_INT_EQ(c.n, 0);
	/* A symbolic link is not followed. */
	CU_ASSERT_FATAL(unlinkat(dirfd, HISTORY_FILE, AT_REMOVEDIR) == 0);
	CU_ASSERT_FATAL(symlinkat("elsewhere", dirfd, HISTORY_FILE) == 0);
	memset(&err, 0, sizeof(err));
	TU_ASSERT_INT_EQ(history_append(h, &e, &err), LOCKSTORE_STORAGE);
	TU_ASSERT_INT_EQ(err.sys_errno, ELOOP);
	CU_ASSERT(faccessat(dirfd, "elsewhere", F_OK, 0) == -1);
	/* Once repaired, appends work again. */
	CU_ASSERT_FATAL(unlinkat(dirfd, HISTORY_FILE, 0) == 0);
	append_ok(h, &e);
	query_ok(h, "r", 10, &c);
	TU_ASSERT_INT_EQ(c.n, 1);
	collect_free(&c);
	history_close(h);
	close(dirfd);
}

/* Fills a history of 1024-byte segments in DIR with tokens 1..40: one
 * rotation; returns how many records ".history.1" keeps. */
static size_t
fill_one_rotation(int dirfd, const char *dir)
{
	struct history	*h;
	char		*old;
	size_t		 i, len, n = 0;

	h = history_open(dirfd, 1024);
	CU_ASSERT_FATAL(h != NULL);
	for (i = 1; i <= 40; i++)
		append_simple(h, "r", i);
	history_close(h);
	CU_ASSERT_FATAL(size_in(dir, HISTORY_FILE) < 1024);
	old = read_in(dir, HISTORY_FILE_OLD, &len);
	CU_ASSERT_FATAL(len >= 1024);
	for (i = 0; i < len; i++)
		n += old[i] == '\n';
	free(old);
	return n;
}

/* Makes ".history" a second name of ".history.1", as fsck leaves a
 * rotation cut between its rename and the directory's sync. */
static void
tear_rotation(int dirfd)
{
	CU_ASSERT_FATAL(unlinkat(dirfd, HISTORY_FILE, 0) == 0);
	CU_ASSERT_FATAL(linkat(dirfd, HISTORY_FILE_OLD, dirfd, HISTORY_FILE,
	    0) == 0);
}

/* Asserts that the history of "r" is the NEW tokens from 41 up, newest
 * first, above the tokens N..1. */
static void
assert_recovered(struct history *h, size_t n, size_t new)
{
	struct collect	c = { 0 };
	size_t		i;

	query_ok(h, "r", LOCKSTORE_HISTORY_MAX, &c);
	TU_ASSERT_INT_EQ_FATAL(c.n, n + new);
	for (i = 0; i < new; i++)
		TU_ASSERT_INT_EQ(c.v[i].token, 40 + new - i);
	for (i = 0; i < n; i++)
		TU_ASSERT_INT_EQ(c.v[new + i].token, n - i);
	collect_free(&c);
}

static void
torn_rotation_with_two_names_is_finished(void)
{
	struct history	*h, *w;
	struct stat	 a, b;
	char		*dir;
	size_t		 n;
	int		 dirfd = open_dir(&dir), first;

	/* Appending first, then querying first; two writers on one. */
	for (first = 0; first < 2; first++) {
		if (first == 1) {
			CU_ASSERT_FATAL(unlinkat(dirfd, HISTORY_FILE, 0) == 0);
			CU_ASSERT_FATAL(unlinkat(dirfd, HISTORY_FILE_OLD,
			    0) == 0);
		}
		n = fill_one_rotation(dirfd, dir);
		tear_rotation(dirfd);
		h = history_open(dirfd, 1024);
		w = history_open(dirfd, 1024);
		CU_ASSERT_FATAL(h != NULL && w != NULL);
		if (first == 1)
			assert_recovered(h, n, 0);
		append_simple(h, "r", 41);
		append_simple(w, "r", 42);
		assert_recovered(w, n, 2);
		/* The old segment keeps one name; the new one is fresh. */
		CU_ASSERT_FATAL(fstatat(dirfd, HISTORY_FILE, &a, 0) == 0);
		CU_ASSERT_FATAL(fstatat(dirfd, HISTORY_FILE_OLD, &b, 0) == 0);
		TU_ASSERT_INT_EQ(a.st_nlink, 1);
		TU_ASSERT_INT_EQ(b.st_nlink, 1);
		CU_ASSERT(a.st_ino != b.st_ino);
		CU_ASSERT(a.st_size < 200 && b.st_size >= 1024);
		history_close(w);
		history_close(h);
	}
	close(dirfd);
}

static void
rotation_of_a_segment_with_both_names_drops_one(void)
{
	struct collect	 c = { 0 };
	struct history	*h;
	struct stat	 a, b;
	char		*dir;
	size_t		 i;
	int		 dirfd = open_dir(&dir);

	/* The second name comes after this process took the segment, as a
	 * torn rotation does where fsck leaves the link count at one. */
	h = history_open(dirfd, 1024);
	CU_ASSERT_FATAL(h != NULL);
	append_simple(h, "r", 1);
	CU_ASSERT_FATAL(linkat(dirfd, HISTORY_FILE, dirfd, HISTORY_FILE_OLD,
	    0) == 0);
	for (i = 2; i <= 40; i++)
		append_simple(h, "r", i);
	CU_ASSERT_FATAL(fstatat(dirfd, HISTORY_FILE, &a, 0) == 0);
	CU_ASSERT_FATAL(fstatat(dirfd, HISTORY_FILE_OLD, &b, 0) == 0);
	CU_ASSERT(a.st_ino != b.st_ino);
	TU_ASSERT_INT_EQ(b.st_nlink, 1);
	query_ok(h, "r", LOCKSTORE_HISTORY_MAX, &c);
	TU_ASSERT_INT_EQ_FATAL(c.n, 40);
	for (i = 0; i < c.n; i++)
		TU_ASSERT_INT_EQ(c.v[i].token, 40 - i);
	collect_free(&c);
	history_close(h);
	close(dirfd);
}

/* Asserts that appends and queries refuse the history with E and leave
 * both names of the file. */
static void
assert_refused(int dirfd, int e)
{
	struct lockstore_history_entry	 en;
	struct lockstore_error		 err;
	struct collect			 c = { 0 };
	struct history			*h;

	h = history_open(dirfd, 1024);
	CU_ASSERT_FATAL(h != NULL);
	entry(&en, "r", "h", 1, 1, 1, LOCKSTORE_END_UNLOCK, "", "");
	memset(&err, 0, sizeof(err));
	TU_ASSERT_INT_EQ(history_append(h, &en, &err), LOCKSTORE_STORAGE);
	TU_ASSERT_INT_EQ(err.sys_errno, e);
	memset(&err, 0, sizeof(err));
	TU_ASSERT_INT_EQ(history_query(h, "r", 10, collect_fn, &c, &err),
	    LOCKSTORE_STORAGE);
	TU_ASSERT_INT_EQ(err.sys_errno, e);
	CU_ASSERT(faccessat(dirfd, HISTORY_FILE, F_OK, 0) == 0);
	CU_ASSERT(faccessat(dirfd, HISTORY_FILE_OLD, F_OK, 0) == 0);
	history_close(h);
}

static void
torn_rotation_is_not_finished_on_a_foreign_file(void)
{
	char		*dir, *out, path[PATH_MAX], *s;
	size_t		 len;
	int		 dirfd = open_dir(&dir);

	/* A third name outside: never written, never unlinked. */
	out = tu_tmpdir();
	CU_ASSERT_FATAL(out != NULL);
	write_in(out, "outside", "x\n");
	CU_ASSERT_FATAL(tu_join(path, sizeof(path), out, "outside") == 0);
	CU_ASSERT_FATAL(linkat(AT_FDCWD, path, dirfd, HISTORY_FILE_OLD,
	    0) == 0);
	CU_ASSERT_FATAL(linkat(AT_FDCWD, path, dirfd, HISTORY_FILE, 0) == 0);
	assert_refused(dirfd, EMLINK);
	s = read_in(out, "outside", &len);
	TU_ASSERT_STR_EQ(s, "x\n");
	free(s);
	/* Two names, but another user's file. */
	if (geteuid() == 0) {
		CU_ASSERT_FATAL(unlink(path) == 0);
		CU_ASSERT_FATAL(fchownat(dirfd, HISTORY_FILE, 1, 1, 0) == 0);
		assert_refused(dirfd, EMLINK);
	}
	close(dirfd);
}

/* A record of the concurrency tests as found in a raw line. */
struct raw {
	unsigned long long	token;
};

/*
 * Parses every line of S (LEN bytes) of the concurrency tests into RAWS
 * (room for MAX); returns how many, or -1 if a line is not a whole record
 * of theirs (nine fields, the holder "wNN" of the writer of the token).
 */
static long
parse_raw(const char *s, size_t len, struct raw *raws, size_t max)
{
	const char	*line = s, *nl, *p;
	char		 tmp[1300], res[8], holder[8], want[32], how[8];
	char		 by[8], reason[1100];
	long long	 since, until_ms;
	long		 n = 0;
	int		 end, spaces;

	while (line < s + len) {
		if ((nl = memchr(line, '\n', (size_t)(s + len - line))) == NULL)
			return -1;
		if ((size_t)n == max || nl - line >= (long)sizeof(tmp))
			return -1;
		for (p = line, spaces = 0; p < nl; p++)
			if (*p == ' ')
				spaces++;
			else if ((unsigned char)*p < 0x21 || *p == 0x7f)
				return -1;
		memcpy(tmp, line, (size_t)(nl - line));
		tmp[nl - line] = '\0';
		end = 0;
		if (spaces != 8 || sscanf(tmp, "v1 %llu %lld %lld %7s %7s %7s "
		    "%7s %1099s%n", &raws[n].token, &since, &until_ms, how, res,
		    holder, by, reason, &end) != 8 || end != nl - line ||
		    raws[n].token == 0)
			return -1;
		snprintf(want, sizeof(want), "w%02llu",
		    (raws[n].token - 1) / 1000);
		if (strcmp(res, "r") != 0 || strcmp(how, "unlock") != 0 ||
		    strcmp(holder, want) != 0 || strcmp(by, "-") != 0)
			return -1;
		n++;
		line = nl + 1;
	}
	return n;
}

/* When one append ran, on the monotonic clock (ns). */
struct span {
	long long	start, end;
};

static long long
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* Spans of every writer's records, shared with child processes. */
static struct span *
spans_new(size_t n)
{
	void	*p;

	p = mmap(NULL, n * sizeof(struct span), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	return p;
}

/*
 * Checks the records of WRITERS writers of COUNT records each (token
 * w * 1000 + i + 1, written during SPANS[w * COUNT + i]) as found in both
 * segments: every line whole, no record twice, and what is kept is all
 * that was written after some moment: a record that began after a kept
 * one had ended is kept too (nothing lost, nothing written to a retired
 * segment).  MUST_BE_WHOLE: nothing rotated, all must be there.  Returns
 * the number of records, or -1.
 */
static long
check_writers(const char *dir, int writers, int count, int must_be_whole,
    const struct span *spans)
{
	struct raw	*raws;
	char		*old, *cur, *kept;
	size_t		 olen, clen;
	long long	 max_lost_start = LLONG_MIN, min_kept_end = LLONG_MAX;
	long		 no, nc, i;
	int		*next, w, k, bad = 0, late = 0;

	raws = calloc(20000, sizeof(*raws));
	next = calloc((size_t)writers, sizeof(*next));
	kept = calloc((size_t)(writers * count), 1);
	CU_ASSERT_FATAL(raws != NULL && next != NULL && kept != NULL);
	old = read_in(dir, HISTORY_FILE_OLD, &olen);
	cur = read_in(dir, HISTORY_FILE, &clen);
	no = parse_raw(old, olen, raws, 20000);
	CU_ASSERT_FATAL(no >= 0);
	nc = parse_raw(cur, clen, raws + no, 20000 - (size_t)no);
	CU_ASSERT_FATAL(nc >= 0);
	CU_ASSERT(no + nc > 0);
	for (w = 0; w < writers; w++)
		next[w] = -1;
	for (i = 0; i < no + nc; i++) {
		w = (int)((raws[i].token - 1) / 1000);
		k = (int)((raws[i].token - 1) % 1000);
		if (w >= writers || k >= count || kept[w * count + k]) {
			bad++;
			continue;
		}
		kept[w * count + k] = 1;
		if (next[w] != -1 && k != next[w])
			bad++;		/* a gap or out of order */
		next[w] = k + 1;
	}
	for (w = 0; w < writers; w++)
		if (must_be_whole && next[w] != count)
			bad++;
	for (i = 0; i < writers * count; i++)
		if (kept[i] && spans[i].end < min_kept_end)
			min_kept_end = spans[i].end;
		else if (!kept[i] && spans[i].start > max_lost_start)
			max_lost_start = spans[i].start;
	if (max_lost_start > min_kept_end)
		late = 1;
	TU_ASSERT_INT_EQ(bad, 0);
	TU_ASSERT_INT_EQ(late, 0);
	free(old);
	free(cur);
	free(kept);
	free(raws);
	free(next);
	return bad == 0 && late == 0 ? no + nc : -1;
}

/*
 * Watches the directory while writers run, for what a correct journal
 * never shows: a retired segment smaller than a segment (it was full when
 * retired), or a segment growing after it stopped being ".history" (a
 * write under a stale check).  It keeps each segment it sees open, notes
 * its size once another one has replaced it, and checks that size at the
 * end.
 */
#define WATCH_MAX	400

struct watched {
	int		fd;
	dev_t		dev;
	ino_t		ino;
	long long	frozen;		/* -1: current when last seen */
};

struct watch {
	int		 dirfd;
	unsigned long	 segment;
	int		 stop;
	int		 small;		/* .history.1 seen too small */
	int		 looks;
	size_t		 n;
	struct watched	 seg[WATCH_MAX];
	pthread_t	 thread;
};

/* Tracks the current segment; freezes those it has replaced. */
static void
watch_current(struct watch *w)
{
	struct stat	st;
	size_t		i;
	int		fd, known = 0;

	fd = openat(w->dirfd, HISTORY_FILE, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return;
	if (fstat(fd, &st) == -1) {
		close(fd);
		return;
	}
	for (i = 0; i < w->n; i++) {
		if (w->seg[i].ino == st.st_ino && w->seg[i].dev == st.st_dev)
			known = 1;
		else if (w->seg[i].frozen == -1) {
			struct stat	old;

			/* Replaced before our open: final from now on. */
			if (fstat(w->seg[i].fd, &old) == 0)
				w->seg[i].frozen = (long long)old.st_size;
		}
	}
	if (!known && w->n < WATCH_MAX) {
		w->seg[w->n].fd = fd;
		w->seg[w->n].dev = st.st_dev;
		w->seg[w->n].ino = st.st_ino;
		w->seg[w->n].frozen = -1;
		w->n++;
	} else
		close(fd);
}

static void *
watcher(void *p)
{
	struct watch	*w = p;
	struct stat	 st;

	while (!__atomic_load_n(&w->stop, __ATOMIC_RELAXED)) {
		watch_current(w);
		if (fstatat(w->dirfd, HISTORY_FILE_OLD, &st, 0) == 0 &&
		    (unsigned long long)st.st_size < w->segment)
			w->small++;
		w->looks++;
		sched_yield();
	}
	return NULL;
}

static void
watch_start(struct watch *w, int dirfd, unsigned long segment)
{
	w->dirfd = dirfd;
	w->segment = segment;
	w->stop = w->small = w->looks = 0;
	w->n = 0;
	CU_ASSERT_FATAL(pthread_create(&w->thread, NULL, watcher, w) == 0);
}

static void
watch_end(struct watch *w)
{
	struct stat	st;
	size_t		i;
	int		grew = 0;

	__atomic_store_n(&w->stop, 1, __ATOMIC_RELAXED);
	pthread_join(w->thread, NULL);
	for (i = 0; i < w->n; i++) {
		if (w->seg[i].frozen != -1 && (fstat(w->seg[i].fd, &st) == -1 ||
		    (long long)st.st_size != w->seg[i].frozen))
			grew++;
		close(w->seg[i].fd);
	}
	TU_ASSERT_INT_EQ(w->small, 0);
	TU_ASSERT_INT_EQ(grew, 0);
	CU_ASSERT(w->looks > 0);
}

/* One writer: COUNT records, token ID * 1000 + i + 1, timed in SPANS. */
struct writer {
	struct history	*h;
	int		 id;
	int		 count;
	const char	*reason;	/* NULL: none */
	struct span	*spans;		/* NULL: token 0, untimed */
	int		 failures;
	int		 finished;	/* atomic */
};

static void *
writer_run(void *p)
{
	struct writer			*a = p;
	struct lockstore_history_entry	*e = malloc(sizeof(*e));
	struct lockstore_error		 err;
	struct span			*sp;
	char				 holder[32];
	int				 i;

	if (e == NULL)
		abort();
	snprintf(holder, sizeof(holder), "w%02d", a->id);
	for (i = 0; i < a->count; i++) {
		entry(e, "r", holder, a->spans == NULL ? 0 :
		    (unsigned long long)a->id * 1000 + (unsigned long long)i + 1,
		    i, i, LOCKSTORE_END_UNLOCK, "",
		    a->reason == NULL ? "" : a->reason + (i % 2) * 800);
		sp = a->spans == NULL ? NULL : &a->spans[a->id * a->count + i];
		if (sp != NULL)
			sp->start = now_ns();
		if (history_append(a->h, e, &err) != LOCKSTORE_OK) {
			fprintf(stderr, "writer %d: %s\n", a->id, err.msg);
			a->failures++;
		}
		if (sp != NULL)
			sp->end = now_ns();
	}
	free(e);
	return NULL;
}

/* Runs NTHREADS writers FIRST... on H at once; returns their failures. */
static int
run_writers(struct history *h, int first, int nthreads, int count,
    const char *reason, struct span *spans)
{
	pthread_t	t[THREADS];
	struct writer	a[THREADS];
	int		i, failures = 0;

	if (nthreads > THREADS)
		return -1;
	for (i = 0; i < nthreads; i++) {
		a[i].h = h;
		a[i].id = first + i;
		a[i].count = count;
		a[i].reason = reason;
		a[i].spans = spans;
		a[i].failures = 0;
		if (pthread_create(&t[i], NULL, writer_run, &a[i]) != 0)
			return -1;
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(t[i], NULL);
		failures += a[i].failures;
	}
	return failures;
}

/* THREADS threads of one process append at once to one journal. */
static void
run_threads(unsigned long segment)
{
	struct collect	 c = { 0 };
	struct history	*h;
	struct span	*spans;
	struct watch	 w;
	char		*dir;
	long		 n;
	int		 dirfd = open_dir(&dir);

	spans = spans_new(THREADS * THREAD_RECORDS);
	h = history_open(dirfd, segment);
	CU_ASSERT_FATAL(h != NULL);
	watch_start(&w, dirfd, segment);
	TU_ASSERT_INT_EQ(run_writers(h, 0, THREADS, THREAD_RECORDS, NULL,
	    spans), 0);
	watch_end(&w);
	n = check_writers(dir, THREADS, THREAD_RECORDS, 0, spans);
	/* A record is about 30 bytes; a segment ends past its size by at
	 * most a record per writer. */
	CU_ASSERT(n > (long)segment / 40 && n < 3 * (long)segment / 20);
	CU_ASSERT(size_in(dir, HISTORY_FILE) < (long long)segment +
	    THREADS * 40);
	CU_ASSERT(size_in(dir, HISTORY_FILE_OLD) >= (long long)segment);
	CU_ASSERT(size_in(dir, HISTORY_FILE_OLD) < (long long)segment +
	    THREADS * 40);
	/* The query sees exactly the lines on disk. */
	query_ok(h, "r", LOCKSTORE_HISTORY_MAX, &c);
	TU_ASSERT_INT_EQ(c.n, n);
	collect_free(&c);
	history_close(h);
	munmap(spans, THREADS * THREAD_RECORDS * sizeof(*spans));
	close(dirfd);
}

static void
concurrent_threads_never_interleave_or_lose_records(void)
{
	run_threads(4096);
}

static void
concurrent_threads_rotating_often_keep_the_newest(void)
{
	run_threads(512);
}

/* Checks a query made while writers append: per writer, newest first,
 * each record the one before the previous (no repeat, no gap). */
struct order {
	long long	last[THREADS];
	int		bad;
	int		entries;
};

static int
order_fn(const struct lockstore_history_entry *e, void *arg)
{
	struct order	*o = arg;
	unsigned int	 w;

	if (sscanf(e->holder, "w%02u", &w) != 1 || w >= THREADS) {
		o->bad++;
		return 0;
	}
	if (o->last[w] != -1 && e->until_ms != o->last[w] - 1)
		o->bad++;
	o->last[w] = e->until_ms;
	o->entries++;
	return 0;
}

/* The writers' thread for the test below. */
static void *
order_writers(void *p)
{
	struct writer	*a = p;

	a->failures = run_writers(a->h, 0, 4, a->count, NULL, NULL);
	__atomic_store_n(&a->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void
query_during_rotations_sees_one_consistent_history(void)
{
	struct lockstore_error	 err;
	struct writer		 a = { 0 };
	struct order		 o;
	struct history		*h;
	pthread_t		 t;
	char			*dir;
	int			 i, queries = 0, bad = 0, done = 0;
	int			 dirfd = open_dir(&dir);

	h = history_open(dirfd, 600);
	CU_ASSERT_FATAL(h != NULL);
	a.h = h;
	a.count = 2000;
	CU_ASSERT_FATAL(pthread_create(&t, NULL, order_writers, &a) == 0);
	while (!done) {
		/* The last round begins after the writers ended. */
		done = __atomic_load_n(&a.finished, __ATOMIC_ACQUIRE);
		for (i = 0; i < THREADS; i++)
			o.last[i] = -1;
		o.bad = o.entries = 0;
		memset(&err, 0, sizeof(err));
		if (history_query(h, "r", LOCKSTORE_HISTORY_MAX, order_fn, &o,
		    &err) != LOCKSTORE_OK || o.bad > 0)
			bad++;
		queries++;
	}
	pthread_join(t, NULL);
	TU_ASSERT_INT_EQ(a.failures, 0);
	TU_ASSERT_INT_EQ(bad, 0);
	CU_ASSERT(queries > 1);
	CU_ASSERT(o.entries > 600 / 40);
	for (i = 0; i < 4; i++)
		TU_ASSERT_INT_EQ(o.last[i] == -1 || o.last[i] < 2000, 1);
	history_close(h);
	close(dirfd);
}

/* What each of the PROCS "daemons" does. */
struct proc_arg {
	const char	*dir;
	int		 gate;		/* read end: closed when to start */
	unsigned long	 segment;
	int		 durable;	/* a round of fewer records */
	int		 threads;	/* writers per process */
	int		 count;		/* records per writer */
	const char	*reason;
	struct span	*spans;		/* shared */
	int		 id;
};

/* One process's writers; exit status 0 if all went well. */
static int
proc_run(void *p)
{
	struct proc_arg	*a = p;
	struct history	*h;
	char		 c;
	int		 dirfd, rc;

	if ((dirfd = open(a->dir, O_RDONLY | O_DIRECTORY)) == -1 ||
	    (h = history_open(dirfd, a->segment)) == NULL)
		return 3;
	while (read(a->gate, &c, 1) == -1 && errno == EINTR)
		;
	rc = run_writers(h, a->id * a->threads, a->threads, a->count,
	    a->reason, a->spans);
	history_close(h);
	close(dirfd);
	return rc == 0 ? 0 : 1;
}

/*
 * Runs PROCS processes of TMPL->threads writers at once, watched by W
 * (NULL: not watched) on DIRFD; returns how many failed.  The watcher
 * thread starts after the forks: a child forked while another thread may
 * hold a lock of the allocator (the sanitizer's) could hang.
 */
static int
run_processes(const struct proc_arg *tmpl, struct watch *w, int dirfd)
{
	struct proc_arg	a;
	pid_t		pid[PROCS];
	int		gate[2], i, rc, failed = 0;

	CU_ASSERT_FATAL(pipe(gate) == 0);
	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < PROCS; i++) {
		a = *tmpl;
		a.id = i;
		a.gate = gate[0];
		pid[i] = fork();
		CU_ASSERT_FATAL(pid[i] != -1);
		if (pid[i] == 0) {
			close(gate[1]);
			alarm(TU_CHILD_TIMEOUT);
			_exit(proc_run(&a));
		}
	}
	if (w != NULL)
		watch_start(w, dirfd, tmpl->segment);
	close(gate[0]);
	close(gate[1]);		/* go */
	for (i = 0; i < PROCS; i++)
		if ((rc = tu_wait(pid[i])) != 0) {
			fprintf(stderr, "process %d: exit status %d\n", i, rc);
			failed++;
		}
	if (w != NULL)
		watch_end(w);
	return failed;
}

static void
concurrent_processes_write_whole_lines(void)
{
	struct proc_arg	 a = { 0 };
	struct collect	 c = { 0 };
	struct history	*h;
	char		*dir, *reason;
	int		 dirfd = open_dir(&dir);

	/* Long records: a write that is not atomic would show. */
	reason = tu_repeat('a', 1000);
	a.dir = dir;
	a.segment = 1ul << 30;
	a.durable = 1;
	a.threads = 1;
	a.count = PROC_RECORDS;
	a.reason = reason;
	a.spans = spans_new(PROCS * PROC_RECORDS);
	TU_ASSERT_INT_EQ_FATAL(run_processes(&a, NULL, dirfd), 0);
	TU_ASSERT_INT_EQ(check_writers(dir, PROCS, PROC_RECORDS, 1, a.spans),
	    PROCS * PROC_RECORDS);
	TU_ASSERT_INT_EQ(size_in(dir, HISTORY_FILE_OLD), -1);
	h = history_open(dirfd, 0);
	CU_ASSERT_FATAL(h != NULL);
	query_ok(h, "r", LOCKSTORE_HISTORY_MAX, &c);
	TU_ASSERT_INT_EQ(c.n, PROCS * PROC_RECORDS);
	collect_free(&c);
	history_close(h);
	munmap(a.spans, PROCS * PROC_RECORDS * sizeof(*a.spans));
	free(reason);
	close(dirfd);
}

static void
concurrent_processes_rotating_keep_the_newest(void)
{
	struct proc_arg	 a = { 0 };
	struct watch	 w;
	char		*dir, *reason;
	long		 n;
	int		 dirfd = open_dir(&dir);

	reason = tu_repeat('b', 1000);
	a.dir = dir;
	a.segment = 8192;
	a.durable = 1;
	a.threads = 1;
	a.count = PROC_RECORDS;
	a.reason = reason;
	a.spans = spans_new(PROCS * PROC_RECORDS);
	TU_ASSERT_INT_EQ_FATAL(run_processes(&a, &w, dirfd), 0);
	n = check_writers(dir, PROCS, PROC_RECORDS, 0, a.spans);
	CU_ASSERT(n >= 8192 / 1100 && n < 3 * 8192 / 200);
	CU_ASSERT(size_in(dir, HISTORY_FILE) < 8192 + PROCS * 1100);
	CU_ASSERT(size_in(dir, HISTORY_FILE_OLD) >= 8192);
	CU_ASSERT(size_in(dir, HISTORY_FILE_OLD) < 8192 + PROCS * 1100);
	TU_ASSERT_INT_EQ(count_all(dir), 2);
	munmap(a.spans, PROCS * PROC_RECORDS * sizeof(*a.spans));
	free(reason);
	close(dirfd);
}

/*
 * PROCS processes of 4 threads each, rotating at nearly every append (a
 * one-byte segment): the most rotations racing with writes.  The last
 * round has fewer records.
 */
static void
threads_of_many_processes_rotating_at_every_append(void)
{
	struct proc_arg	 a = { 0 };
	struct watch	*w = malloc(sizeof(*w));
	char		*dir;
	int		 dirfd = open_dir(&dir), round;

	CU_ASSERT_FATAL(w != NULL);
	a.dir = dir;
	a.segment = 1;
	a.threads = 4;
	a.spans = spans_new(PROCS * 4 * 100);
	for (round = 0; round < 3; round++) {
		a.durable = (round == 2);
		a.count = a.durable ? 15 : 60;
		TU_ASSERT_INT_EQ_FATAL(run_processes(&a, w, dirfd), 0);
		CU_ASSERT(check_writers(dir, PROCS * 4, a.count, 0, a.spans) >
		    0);
		CU_ASSERT_FATAL(unlinkat(dirfd, HISTORY_FILE, 0) == 0);
		CU_ASSERT_FATAL(unlinkat(dirfd, HISTORY_FILE_OLD, 0) == 0);
	}
	munmap(a.spans, PROCS * 4 * 100 * sizeof(*a.spans));
	free(w);
	close(dirfd);
}

static const struct tu_test tests[] = {
	{ "round_trip_keeps_every_field_of_nasty_names",
	    round_trip_keeps_every_field_of_nasty_names },
	{ "lines_have_the_documented_format",
	    lines_have_the_documented_format },
	{ "query_is_newest_first_and_limited",
	    query_is_newest_first_and_limited },
	{ "query_reports_only_the_resource_asked",
	    query_reports_only_the_resource_asked },
	{ "rotation_keeps_about_two_segments",
	    rotation_keeps_about_two_segments },
	{ "repeated_holding_is_reported_once_as_newest",
	    repeated_holding_is_reported_once_as_newest },
	{ "duplicate_across_segments_is_reported_once",
	    duplicate_across_segments_is_reported_once },
	{ "deduplication_matches_a_reference_model",
	    deduplication_matches_a_reference_model },
	{ "torn_and_bad_lines_are_skipped", torn_and_bad_lines_are_skipped },
	{ "record_glued_to_a_torn_one_is_read",
	    record_glued_to_a_torn_one_is_read },
	{ "record_after_a_long_torn_tail_is_read",
	    record_after_a_long_torn_tail_is_read },
	{ "missing_files_are_an_empty_history",
	    missing_files_are_an_empty_history },
	{ "segment_zero_writes_nothing", segment_zero_writes_nothing },
	{ "new_history_file_is_not_group_writable",
	    new_history_file_is_not_group_writable },
	{ "history_that_is_a_directory_is_a_storage_error",
	    history_that_is_a_directory_is_a_storage_error },
	{ "torn_rotation_with_two_names_is_finished",
	    torn_rotation_with_two_names_is_finished },
	{ "rotation_of_a_segment_with_both_names_drops_one",
	    rotation_of_a_segment_with_both_names_drops_one },
	{ "torn_rotation_is_not_finished_on_a_foreign_file",
	    torn_rotation_is_not_finished_on_a_foreign_file },
	{ "concurrent_threads_never_interleave_or_lose_records",
	    concurrent_threads_never_interleave_or_lose_records },
	{ "concurrent_threads_rotating_often_keep_the_newest",
	    concurrent_threads_rotating_often_keep_the_newest },
	{ "query_during_rotations_sees_one_consistent_history",
	    query_during_rotations_sees_one_consistent_history },
	{ "concurrent_processes_write_whole_lines",
	    concurrent_processes_write_whole_lines },
	{ "concurrent_processes_rotating_keep_the_newest",
	    concurrent_processes_rotating_keep_the_newest },
	{ "threads_of_many_processes_rotating_at_every_append",
	    threads_of_many_processes_rotating_at_every_append },
	{ NULL, NULL }
};

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return tu_run("history", tests);
}
