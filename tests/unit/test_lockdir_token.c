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

/* The counter file's text, read into BUF. */
static void
read_counter(const char *dir, char *buf, size_t size)
{
	char	path[PATH_SIZE];
	FILE	*fp;
	size_t	n;

	snprintf(path, sizeof(path), "%s/.token", dir);
	CU_ASSERT_FATAL((fp = fopen(path, "r")) != NULL);
	n = fread(buf, 1, size - 1, fp);
	buf[n] = '\0';
	fclose(fp);
}

/* This boot's id, as the store reads it. */
static void
this_boot(char *buf, size_t size)
{
	FILE	*fp;

	CU_ASSERT_FATAL((fp = fopen("/proc/sys/kernel/random/boot_id",
	    "r")) != NULL);
	CU_ASSERT_FATAL(fgets(buf, (int)size, fp) != NULL);
	buf[strcspn(buf, "\n")] = '\0';
	fclose(fp);
}

/*
 * The file holds a synced reserve and the last token of this boot: one
 * sync covers many grants, so the reserve is far above the last token.
 */
static void
counter_keeps_a_reserve_and_the_last_token(void)
{
	struct lockstore	*st;
	char			*dir = tu_tmpdir(), text[256], want[256];
	char			 boot[64];
	unsigned long long	 a, b;

	this_boot(boot, sizeof(boot));
	st = open_store(dir, 0);
	a = take(st, "vm1", "h");
	b = take(st, "vm2", "h");
	TU_ASSERT_INT_EQ(a, 1);
	TU_ASSERT_INT_EQ(b, 2);
	read_counter(dir, text, sizeof(text));
	snprintf(want, sizeof(want), "%020llu\nnext %020llu %020llu %s\n",
	    1024ULL, 2ULL, 1024ULL, boot);
	CU_ASSERT_STRING_EQUAL(text, want);
	lockstore_close(st);
}

/*
 * A machine crash loses the unsynced "next" line: after it the file may
 * hold an older one (here: 3 while 7 was handed out), or a torn one, and
 * the boot id differs.  The counter must then go on above the reserve,
 * never from the stale line.
 */
static void
stale_next_line_of_another_boot_is_not_trusted(void)
{
	static const char *const after_crash[] = {
	    "00000000000000001024\nnext 00000000000000000003 "
	    "00000000000000001024 00000000-1111-2222-3333-444444444444\n",
	    "00000000000000001024\nnext 000000000000000",	/* torn */
	    "00000000000000001024\n",
	    /* a reserve whose sync failed names no boot */
	    "00000000000000001024\nnext 00000000000000000003 "
	    "00000000000000001024 none\n",
	};
	struct lockstore	*st;
	char			*dir, boot[64], text[256];
	unsigned long long	 t;
	size_t			 i;

	this_boot(boot, sizeof(boot));
	for (i = 0; i < sizeof(after_crash) / sizeof(after_crash[0]); i++) {
		dir = tu_tmpdir();
		st = open_store(dir, 0);
		CU_ASSERT(take(st, "a", "h") == 1);
		lockstore_close(st);
		put_file(dir, ".token", after_crash[i]);
		st = open_store(dir, 0);
		t = take(st, "b", "h");
		CU_ASSERT(t == 1025);
		if (t != 1025)
			fprintf(stderr, "case %zu: token %llu\n", i, t);
		/* ... with a new reserve synced above it. */
		read_counter(dir, text, sizeof(text));
		CU_ASSERT(strncmp(text, "00000000000000002048\n"
		    "next 00000000000000001025 00000000000000002048 ", 68) ==
		    0);
		CU_ASSERT(strstr(text, boot) != NULL);
		lockstore_close(st);
	}
	/* The same line of this boot is trusted: no skip. */
	dir = tu_tmpdir();
	snprintf(text, sizeof(text), "00000000000000001024\nnext "
	    "00000000000000000003 00000000000000001024 %s\n", boot);
	put_file(dir, ".token", text);
	st = open_store(dir, 0);
	TU_ASSERT_INT_EQ(take(st, "c", "h"), 4);
	lockstore_close(st);
	/* An earlier build rewrote the first line only (it handed out
	 * 1025): the copy no longer matches, the count goes on above it. */
	snprintf(text, sizeof(text), "00000000000000001025\nnext "
	    "00000000000000000003 00000000000000001024 %s\n", boot);
	put_file(dir, ".token", text);
	st = open_store(dir, 0);
	TU_ASSERT_INT_EQ(take(st, "d", "h"), 1026);
	lockstore_close(st);
	/* A reserve a --no-sync daemon wrote is not durable: a syncing
	 * daemon does not trust it; another --no-sync daemon does. */
	snprintf(text, sizeof(text), "00000000000000004096\nnext "
	    "00000000000000003000 00000000000000004096 nosync-%s\n", boot);
	put_file(dir, ".token", text);
	st = open_store(dir, LOCKSTORE_NOSYNC);
	TU_ASSERT_INT_EQ(take(st, "e", "h"), 3001);
	lockstore_close(st);
	st = open_store(dir, 0);
	TU_ASSERT_INT_EQ(take(st, "f", "h"), 4097);
	lockstore_close(st);
}

/* The reserve is used up to its last token, then moved and synced. */
static void
reserve_is_moved_when_used_up(void)
{
	struct lockstore	*st;
	char			*dir = tu_tmpdir(), boot[64], text[256];
	unsigned long long	 t;

	this_boot(boot, sizeof(boot));
	snprintf(text, sizeof(text), "00000000000000001024\nnext "
	    "00000000000000001023 00000000000000001024 %s\n", boot);
	put_file(dir, ".token", text);
	st = open_store(dir, LOCKSTORE_NOSYNC);
	TU_ASSERT_INT_EQ(take(st, "a", "h"), 1024);
	TU_ASSERT_INT_EQ(take(st, "b", "h"), 1025);
	read_counter(dir, text, sizeof(text));
	CU_ASSERT(strncmp(text, "00000000000000002048\n"
	    "next 00000000000000001025 00000000000000002048 nosync-", 75) ==
	    0);
	t = take(st, "c", "h");
	TU_ASSERT_INT_EQ(t, 1026);
	lockstore_close(st);
	/* A damaged first line is refused, not guessed; so are one too
	 * long to read whole and a reserve beyond the i8 range. */
	put_file(dir, ".token", "x0000000000000001024\n");
	st = open_store(dir, LOCKSTORE_NOSYNC);
	FAILS(st, 0, "d", "h", LOCKSTORE_INVALID_STATE,
	    "Invalid lock state: the token counter ");
	lockstore_close(st);
	snprintf(text, sizeof(text), "%0200d", 7);
	put_file(dir, ".token", text);
	st = open_store(dir, LOCKSTORE_NOSYNC);
	FAILS(st, 0, "d", "h", LOCKSTORE_INVALID_STATE,
	    "Invalid lock state: the token counter ");
	lockstore_close(st);
	put_file(dir, ".token", "09223372036854775808\n");
	st = open_store(dir, LOCKSTORE_NOSYNC);
	FAILS(st, 0, "d", "h", LOCKSTORE_INVALID_STATE,
	    "Invalid lock state: the token counter ");
	lockstore_close(st);
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
		{ "counter_keeps_a_reserve_and_the_last_token",
		    counter_keeps_a_reserve_and_the_last_token },
		{ "stale_next_line_of_another_boot_is_not_trusted",
		    stale_next_line_of_another_boot_is_not_trusted },
		{ "reserve_is_moved_when_used_up",
		    reserve_is_moved_when_used_up },
		{ NULL, NULL }
	};

	return tu_run("lockdir_token", tests);
}
