/* SPDX-License-Identifier: MIT */
/* Unit tests of fencing tokens: monotonic across resources, stores,
 * processes and reopening, and check() semantics. */
#include "config.h"

#include <sys/wait.h>

#include <CUnit/CUnit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lockdir_tu.h"
#include "lockstore.h"
#include "tu.h"

#define CHILDREN	4
#define PER_CHILD	50

static unsigned long long
take(struct lockstore *st, const char *r, const char *c)
{
	struct lockstore_error	err;
	unsigned long long	t = 0;

	TU_ASSERT_INT_EQ(lockstore_lock_token(st, r, c, &t, &err),
	    LOCKSTORE_OK);
	return t;
}

static void
tokens_increase_across_resources_and_reopening(void)
{
	struct lockstore		*st;
	struct lockstore_error		 err;
	struct lockstore_lock_info	 info;
	char				*dir = tu_tmpdir();
	unsigned long long		 a, b, c, d;
	int				 held;

	st = open_store(dir, 0);
	a = take(st, "vm1", "h1");
	b = take(st, "vm2", "h1");
	CU_ASSERT(a > 0);
	CU_ASSERT(b > a);
	/* A plain lock takes a token too; status reports it. */
	LOCK(st, "vm3", "h2", LOCKSTORE_OK, NULL);
	TU_ASSERT_INT_EQ(lockstore_inspect(st, "vm3", &held, &info, &err),
	    LOCKSTORE_OK);
	CU_ASSERT(info.token > b);
	/* A refused lock hands out nothing. */
	TU_ASSERT_INT_EQ(lockstore_lock_token(st, "vm1", "h9", &c, &err),
	    LOCKSTORE_HELD);
	CU_ASSERT_EQUAL(c, 0);
	c = info.token;
	lockstore_close(st);
	st = open_store(dir, 0);
	d = take(st, "vm4", "h1");
	CU_ASSERT(d > c);
	lockstore_close(st);
}

static void
check_is_true_only_for_the_current_holding(void)
{
	struct lockstore	*st;
	struct lockstore_error	 err;
	char			*dir = tu_tmpdir();
	unsigned long long	 t1, t2;
	int			 valid = -1;

	st = open_store(dir, LOCKSTORE_NOSYNC);
	t1 = take(st, "vm1", "h1");
	TU_ASSERT_INT_EQ(lockstore_check(st, "vm1", "h1", t1, &valid, &err),
	    LOCKSTORE_OK);
	CU_ASSERT_EQUAL(valid, 1);
	lockstore_check(st, "vm1", "h2", t1, &valid, &err);
	CU_ASSERT_EQUAL(valid, 0);
	lockstore_check(st, "vm1", "h1", t1 + 1, &valid, &err);
	CU_ASSERT_EQUAL(valid, 0);
	lockstore_check(st, "vm2", "h1", t1, &valid, &err);
	CU_ASSERT_EQUAL(valid, 0);
	UNLOCK(st, "vm1", "h1", LOCKSTORE_OK, NULL);
	lockstore_check(st, "vm1", "h1", t1, &valid, &err);
	CU_ASSERT_EQUAL(valid, 0);
	t2 = take(st, "vm1", "h1");
	CU_ASSERT(t2 > t1);
	lockstore_check(st, "vm1", "h1", t1, &valid, &err);
	CU_ASSERT_EQUAL(valid, 0);		/* same client, stale grant */
	lockstore_check(st, "vm1", "h1", t2, &valid, &err);
	CU_ASSERT_EQUAL(valid, 1);
	/* gocept.lockd's files carry no token: never valid. */
	put_file(dir, "old.resource.lock", "h1");
	lockstore_check(st, "old", "h1", 1, &valid, &err);
	CU_ASSERT_EQUAL(valid, 0);
	TU_ASSERT_INT_EQ(lockstore_check(st, "", "h1", 1, &valid, &err),
	    LOCKSTORE_BAD_RESOURCE);
	lockstore_close(st);
}

/* Processes with stores of their own: every token handed out once. */
static void
processes_never_share_a_token(void)
{
	unsigned long long	 all[CHILDREN * PER_CHILD], t;
	char			*dir = tu_tmpdir(), r[32];
	int			 p[2], i, j, n = 0, dup = 0, status;
	pid_t			 pids[CHILDREN];

	CU_ASSERT_FATAL(pipe(p) == 0);
	for (i = 0; i < CHILDREN; i++) {
		if ((pids[i] = fork()) == 0) {
			struct lockstore	*st;
			struct lockstore_error	 err;

			close(p[0]);
			alarm(30);
			if (lockstore_open_dir(&st, dir, LOCKSTORE_NOSYNC,
			    &err) != LOCKSTORE_OK)
				_exit(2);
			for (j = 0; j < PER_CHILD; j++) {
				snprintf(r, sizeof(r), "c%d-%d", i, j);
				if (lockstore_lock_token(st, r, "h", &t,
				    &err) != LOCKSTORE_OK ||
				    write(p[1], &t, sizeof(t)) != sizeof(t))
					_exit(3);
			}
			lockstore_close(st);
			_exit(0);
		}
		CU_ASSERT_FATAL(pids[i] > 0);
	}
	close(p[1]);
	while (n < CHILDREN * PER_CHILD &&
	    read(p[0], &all[n], sizeof(all[n])) == sizeof(all[n]))
		n++;
	close(p[0]);
	for (i = 0; i < CHILDREN; i++) {
		waitpid(pids[i], &status, 0);
		CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	TU_ASSERT_INT_EQ(n, CHILDREN * PER_CHILD);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			dup += all[i] == all[j];
	TU_ASSERT_INT_EQ(dup, 0);
}

int
main(void)
{
	static const struct tu_test tests[] = {
		{ "tokens_increase_across_resources_and_reopening",
		    tokens_increase_across_resources_and_reopening },
		{ "check_is_true_only_for_the_current_holding",
		    check_is_true_only_for_the_current_holding },
		{ "processes_never_share_a_token",
		    processes_never_share_a_token },
		{ NULL, NULL }
	};

	return tu_run("lockdir_token", tests);
}
