/* SPDX-License-Identifier: MIT */
/* Unit tests of inspecting and listing the lock directory. */
#include "config.h"

#include <CUnit/CUnit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockdir_tu.h"
#include "lockstore.h"
#include "tu.h"

#define MAX_SEEN	6000

struct seen {
	char	*names[MAX_SEEN];
	char	*holders[MAX_SEEN];
	int	 n;
	int	 abort_after;	/* > 0: fail the callback after this many */
};

static int
collect(const struct lockstore_lock_info *info, void *arg)
{
	struct seen	*s = arg;

	if (s->abort_after > 0 && s->n == s->abort_after)
		return -1;
	CU_ASSERT_FATAL(s->n < MAX_SEEN);
	s->names[s->n] = strdup(info->resource);
	s->holders[s->n] = strdup(info->holder);
	s->n++;
	return 0;
}

static void
seen_free(struct seen *s)
{
	while (s->n > 0) {
		s->n--;
		free(s->names[s->n]);
		free(s->holders[s->n]);
	}
}

/* Lists everything matching PREFIX/HOLDER in pages of LIMIT into S;
 * returns the number of pages. */
static int
list_all(struct lockstore *st, const char *prefix, const char *holder,
    size_t limit, struct seen *s)
{
	struct lockstore_list_query	q;
	struct lockstore_error		err;
	char				next[LOCKSTORE_CURSOR_SIZE];
	char				after[LOCKSTORE_CURSOR_SIZE] = "";
	int				pages = 0, before;

	for (;;) {
		memset(&q, 0, sizeof(q));
		q.prefix = prefix;
		q.holder = holder;
		q.after = after;
		q.limit = limit;
		before = s->n;
		TU_ASSERT_INT_EQ_FATAL(lockstore_list(st, &q, collect, s, next,
		    &err), LOCKSTORE_OK);
		pages++;
		CU_ASSERT((size_t)(s->n - before) <= limit);
		if (next[0] == '\0' || pages > 10000)
			break;
		CU_ASSERT_FATAL(strcmp(next, after) != 0);
		snprintf(after, sizeof(after), "%s", next);
	}
	return pages;
}

static void
inspect_reports_holder_since_and_free_resources(void)
{
	struct lockstore		*st;
	struct lockstore_lock_info	 info;
	struct lockstore_error		 err;
	char				*dir = tu_tmpdir();
	int				 held = -1;

	st = open_store(dir, LOCKSTORE_NOSYNC);
	TU_ASSERT_INT_EQ(lockstore_inspect(st, "vm1", &held, &info, &err),
	    LOCKSTORE_OK);
	CU_ASSERT_EQUAL(held, 0);
	LOCK(st, "vm1", "host3", LOCKSTORE_OK, NULL);
	LOCK(st, "a/b", "host4", LOCKSTORE_OK, NULL);
	TU_ASSERT_INT_EQ(lockstore_inspect(st, "vm1", &held, &info, &err),
	    LOCKSTORE_OK);
	CU_ASSERT_EQUAL(held, 1);
	TU_ASSERT_STR_EQ(info.holder, "host3");
	TU_ASSERT_STR_EQ(info.resource, "vm1");
	CU_ASSERT(info.since > 1700000000LL);
	TU_ASSERT_INT_EQ(lockstore_inspect(st, "a/b", &held, &info, &err),
	    LOCKSTORE_OK);
	CU_ASSERT_EQUAL(held, 1);
	TU_ASSERT_STR_EQ(info.holder, "host4");
	UNLOCK(st, "vm1", "host3", LOCKSTORE_OK, NULL);
	TU_ASSERT_INT_EQ(lockstore_inspect(st, "vm1", &held, &info, &err),
	    LOCKSTORE_OK);
	CU_ASSERT_EQUAL(held, 0);
	TU_ASSERT_INT_EQ(lockstore_inspect(st, "", &held, &info, &err),
	    LOCKSTORE_BAD_RESOURCE);
	lockstore_close(st);
}

static void
inspect_and_list_see_legacy_lock_files(void)
{
	struct lockstore		*st;
	struct lockstore_lock_info	 info;
	struct lockstore_error		 err;
	struct seen			 s = { .n = 0 };
	char				*dir = tu_tmpdir();
	int				 held = 0;

	put_file(dir, "vm9.resource.lock", "host7");
	put_file(dir, "50%.resource.lock", "host8\n");
	st = open_store(dir, LOCKSTORE_NOSYNC);
	TU_ASSERT_INT_EQ(lockstore_inspect(st, "vm9", &held, &info, &err),
	    LOCKSTORE_OK);
	CU_ASSERT_EQUAL(held, 1);
	TU_ASSERT_STR_EQ(info.holder, "host7");
	CU_ASSERT_EQUAL(info.since, 0);
	TU_ASSERT_INT_EQ(lockstore_inspect(st, "50%", &held, &info, &err),
	    LOCKSTORE_OK);
	CU_ASSERT_EQUAL(held, 1);
	TU_ASSERT_STR_EQ(info.holder, "host8");
	list_all(st, NULL, NULL, 10, &s);
	TU_ASSERT_INT_EQ(s.n, 2);
	if (s.n == 2) {
		TU_ASSERT_STR_EQ(s.names[0], "50%");
		TU_ASSERT_STR_EQ(s.names[1], "vm9");
	}
	seen_free(&s);
	lockstore_close(st);
}

static void
list_pages_report_every_lock_once_in_order(void)
{
	struct lockstore	*st;
	struct seen		 s = { .n = 0 };
	char			*dir = tu_tmpdir(), name[32], client[32];
	int			 i, pages;

	st = open_store(dir, LOCKSTORE_NOSYNC);
	for (i = 0; i < 25; i++) {
		snprintf(name, sizeof(name), "vm%02d", i);
		snprintf(client, sizeof(client), "host%d", i % 3);
		LOCK(st, name, client, LOCKSTORE_OK, NULL);
	}
	LOCK(st, "db/1", "host0", LOCKSTORE_OK, NULL);
	pages = list_all(st, "vm", NULL, 10, &s);
	TU_ASSERT_INT_EQ(pages, 3);
	TU_ASSERT_INT_EQ(s.n, 25);
	for (i = 0; i < s.n && i < 25; i++) {
		snprintf(name, sizeof(name), "vm%02d", i);
		TU_ASSERT_STR_EQ(s.names[i], name);
	}
	seen_free(&s);
	list_all(st, NULL, "host1", 1000, &s);
	TU_ASSERT_INT_EQ(s.n, 8);
	for (i = 0; i < s.n; i++)
		TU_ASSERT_STR_EQ(s.holders[i], "host1");
	seen_free(&s);
	list_all(st, "db/", NULL, 1000, &s);
	TU_ASSERT_INT_EQ(s.n, 1);
	seen_free(&s);
	lockstore_close(st);
}

/*
 * More locks than one directory scan keeps (4096), and a holder filter that
 * matches only a few of them, spread out: the listing must go on scanning
 * batch after batch and still report each match exactly once, in order.
 */
static void
list_continues_across_scan_batches(void)
{
	struct lockstore	*st;
	struct seen		 s = { .n = 0 };
	char			*dir = tu_tmpdir(), name[32];
	int			 i, j, pages;

	st = open_store(dir, LOCKSTORE_NOSYNC);
	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "r%05d", i);
		LOCK(st, name, i % 1000 == 999 ? "rare" : "common",
		    LOCKSTORE_OK, NULL);
	}
	pages = list_all(st, NULL, "rare", 2, &s);
	TU_ASSERT_INT_EQ(s.n, 5);
	CU_ASSERT(pages >= 3);
	for (i = 0; i < s.n; i++) {
		snprintf(name, sizeof(name), "r%05d", i * 1000 + 999);
		TU_ASSERT_STR_EQ(s.names[i], name);
	}
	seen_free(&s);
	list_all(st, NULL, NULL, 1000, &s);
	TU_ASSERT_INT_EQ(s.n, 5000);
	for (i = 1, j = 0; i < s.n; i++)
		j += strcmp(s.names[i - 1], s.names[i]) >= 0;
	TU_ASSERT_INT_EQ(j, 0);
	seen_free(&s);
	lockstore_close(st);
}

static void
list_refuses_bad_cursor_and_limit_and_reports_callback_abort(void)
{
	struct lockstore		*st;
	struct lockstore_list_query	 q;
	struct lockstore_error		 err;
	struct seen			 s = { .n = 0, .abort_after = 0 };
	char				*dir = tu_tmpdir();
	char				 next[LOCKSTORE_CURSOR_SIZE];

	st = open_store(dir, LOCKSTORE_NOSYNC);
	LOCK(st, "a", "c", LOCKSTORE_OK, NULL);
	LOCK(st, "b", "c", LOCKSTORE_OK, NULL);
	memset(&q, 0, sizeof(q));
	q.limit = 0;
	TU_ASSERT_INT_EQ(lockstore_list(st, &q, collect, &s, next, &err),
	    LOCKSTORE_BAD_RESOURCE);
	q.limit = LOCKSTORE_LIST_MAX + 1;
	TU_ASSERT_INT_EQ(lockstore_list(st, &q, collect, &s, next, &err),
	    LOCKSTORE_BAD_RESOURCE);
	q.limit = 10;
	q.after = "zz";
	TU_ASSERT_INT_EQ(lockstore_list(st, &q, collect, &s, next, &err),
	    LOCKSTORE_BAD_RESOURCE);
	q.after = "2f";		/* hex of "/", never a lock file name */
	TU_ASSERT_INT_EQ(lockstore_list(st, &q, collect, &s, next, &err),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(s.n, 2);	/* both sort after "/" */
	seen_free(&s);
	s.abort_after = 1;
	q.after = NULL;
	TU_ASSERT_INT_EQ(lockstore_list(st, &q, collect, &s, next, &err),
	    LOCKSTORE_STORAGE);
	seen_free(&s);
	lockstore_close(st);
}

int
main(void)
{
	static const struct tu_test tests[] = {
		{ "inspect_reports_holder_since_and_free_resources",
		    inspect_reports_holder_since_and_free_resources },
		{ "inspect_and_list_see_legacy_lock_files",
		    inspect_and_list_see_legacy_lock_files },
		{ "list_pages_report_every_lock_once_in_order",
		    list_pages_report_every_lock_once_in_order },
		{ "list_continues_across_scan_batches",
		    list_continues_across_scan_batches },
		{ "list_refuses_bad_cursor_and_limit_and_reports_callback_abort",
		    list_refuses_bad_cursor_and_limit_and_reports_callback_abort },
		{ NULL, NULL }
	};

	return tu_run("lockdir_query", tests);
}
