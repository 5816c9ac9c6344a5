/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the lock directory's journal: what recovery at open makes
 * of the journals a crashed process or a power loss left behind.  A power
 * loss is simulated by a journal of another boot and a directory that
 * lost what was not synced.
 */
#include "config.h"

#include <sys/stat.h>

#include <CUnit/CUnit.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dir/journal.h"
#include "dir/lockfile.h"
#include "lockdir_tu.h"
#include "lockstore.h"
#include "tu.h"

/* The boot id no machine has. */
#define OTHER_BOOT	"00000000-0000-0000-0000-000000000000"

/* Journal files in DIR; the first one's name in NAME (of PATH_SIZE). */
static int
journals(const char *dir, char *name)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	CU_ASSERT_FATAL((d = opendir(dir)) != NULL);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, JOURNAL_PREFIX,
		    sizeof(JOURNAL_PREFIX) - 1) == 0 && n++ == 0 && name != NULL)
			snprintf(name, PATH_SIZE, "%s/%s", dir, de->d_name);
	closedir(d);
	return n;
}

/* Makes DIR's one journal one of an earlier boot (a power loss). */
static void
age_journal(const char *dir)
{
	char	old[PATH_SIZE], new[PATH_SIZE], *rest;

	TU_ASSERT_INT_EQ(journals(dir, old), 1);
	rest = strchr(old + strlen(dir) + sizeof(JOURNAL_PREFIX), '.');
	CU_ASSERT_FATAL(rest != NULL);
	snprintf(new, sizeof(new), "%s/%s%s%s", dir, JOURNAL_PREFIX,
	    OTHER_BOOT, rest);
	CU_ASSERT_FATAL(rename(old, new) == 0);
}

/* DIR/NAME's path in BUF (of PATH_SIZE). */
static const char *
path_of(char *buf, const char *dir, const char *name)
{
	CU_ASSERT_FATAL(tu_join(buf, PATH_SIZE, dir, name) == 0);
	return buf;
}

static int
exists(const char *dir, const char *name)
{
	char	path[PATH_SIZE];

	return access(path_of(path, dir, name), F_OK) == 0;
}

/* The token of RESOURCE's holding, 0 if not held. */
static unsigned long long
token_of(struct lockstore *s, const char *resource)
{
	struct lockstore_lock_info	info;
	struct lockstore_error		err;
	int				held = 0;

	TU_ASSERT_INT_EQ(lockstore_inspect(s, resource, &held, &info, &err),
	    LOCKSTORE_OK);
	return held ? info.token : 0;
}

static int
count_entry(const struct lockstore_history_entry *e, void *arg)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

/* How many ended holdings of RESOURCE the history has. */
static int
history_of(struct lockstore *s, const char *resource)
{
	struct lockstore_error	err;
	int			n = 0;

	TU_ASSERT_INT_EQ(lockstore_history(s, resource, 100, count_entry, &n,
	    &err), LOCKSTORE_OK);
	return n;
}

/* The child of the power-loss test: changes, then dies without closing. */
static int
changes_then_crash(void *arg)
{
	const char		*dir = arg;
	unsigned int		 failures = CU_get_number_of_failures();
	struct lockstore	*s = open_store(dir, 0);
	char			 from[PATH_SIZE], to[PATH_SIZE];
	size_t			 len;
	char			*content;

	LOCK(s, "vm1", "h1", LOCKSTORE_OK, NULL);
	LOCK(s, "vm2", "h2", LOCKSTORE_OK, NULL);
	/* vm2's file as it was, to bring back as a lost removal would */
	content = tu_read_file(path_of(from, dir, "vm2.resource.lock"), &len);
	CU_ASSERT_FATAL(content != NULL);
	CU_ASSERT_FATAL(tu_write_file(path_of(to, dir, "saved"), content, len,
	    0600) == 0);
	free(content);
	UNLOCK(s, "vm2", "h2", LOCKSTORE_OK, NULL);
	return CU_get_number_of_failures() == failures ? 0 : 1;
}

/*
 * After a power loss the directory may miss an acknowledged lock, keep an
 * acknowledged release, hold torn files of unanswered locks and miss
 * history records: recovery puts it right from the journal.
 */
static void
replay_after_power_loss_restores_acknowledged_changes(void)
{
	struct lockstore	*s;
	char			*dir = tu_tmpdir(), a[PATH_SIZE], b[PATH_SIZE];
	char			*vm1;
	size_t			 len;

	TU_ASSERT_INT_EQ(tu_in_child(changes_then_crash, dir), 0);
	vm1 = tu_read_file(path_of(a, dir, "vm1.resource.lock"), &len);
	CU_ASSERT_FATAL(vm1 != NULL);
	age_journal(dir);
	/* what a power loss may do to what was not synced */
	CU_ASSERT(unlink(path_of(a, dir, "vm1.resource.lock")) == 0);
	CU_ASSERT(rename(path_of(a, dir, "saved"),
	    path_of(b, dir, "vm2.resource.lock")) == 0);
	put_file(dir, "vm4.resource.lock", "");
	put_file(dir, "vm5.resource.lock", "h5\nresource vm5\nsince 1\n"
	    "check 0000000000000000\n");
	put_file(dir, "vm6.resource.lock", "h6\n");	/* gocept.lockd's */
	CU_ASSERT(unlink(path_of(a, dir, ".history")) == 0);

	s = open_store(dir, 0);
	LOCK(s, "vm1", "h9", LOCKSTORE_HELD, "Resource already locked by 'h1'");
	CHECK_FILE(dir, "vm1.resource.lock", vm1);
	UNLOCK(s, "vm2", "h2", LOCKSTORE_NOT_LOCKED, "Resource not locked");
	TU_ASSERT_INT_EQ(history_of(s, "vm2"), 1);
	TU_ASSERT_INT_EQ(exists(dir, "vm4.resource.lock"), 0);
	TU_ASSERT_INT_EQ(exists(dir, "vm5.resource.lock"), 0);
	LOCK(s, "vm6", "h9", LOCKSTORE_HELD, "Resource already locked by 'h6'");
	TU_ASSERT_INT_EQ(journals(dir, NULL), 1);	/* our own only */
	lockstore_close(s);
	TU_ASSERT_INT_EQ(journals(dir, NULL), 0);
	free(vm1);
}

/* The child that locks vm1 and dies. */
static int
lock_then_crash(void *arg)
{
	unsigned int		 failures = CU_get_number_of_failures();
	struct lockstore	*s = open_store(arg, 0);

	LOCK(s, "vm1", "h1", LOCKSTORE_OK, NULL);
	return CU_get_number_of_failures() == failures ? 0 : 1;
}

/* A torn last record (a crash in the middle of an append) is not one. */
static void
torn_tail_is_discarded(void)
{
	struct lockstore	*s;
	char			*dir = tu_tmpdir(), j[PATH_SIZE], a[PATH_SIZE];
	const char		*torn = "E 400 0123456789abcdef\n"
	    "vm1.resource.lock\n0 0 = =\nh1\n";
	int			 fd;

	TU_ASSERT_INT_EQ(tu_in_child(lock_then_crash, dir), 0);
	age_journal(dir);
	TU_ASSERT_INT_EQ(journals(dir, j), 1);
	CU_ASSERT_FATAL((fd = open(j, O_WRONLY | O_APPEND)) != -1);
	CU_ASSERT(write(fd, torn, strlen(torn)) == (ssize_t)strlen(torn));
	close(fd);
	CU_ASSERT(unlink(path_of(a, dir, "vm1.resource.lock")) == 0);
	s = open_store(dir, 0);
	LOCK(s, "vm1", "h9", LOCKSTORE_HELD, "Resource already locked by 'h1'");
	lockstore_close(s);
}

/*
 * A process of this boot that crashed left the directory right: its
 * journal is synced and removed, not replayed over what happened since
 * (here, vm1 released by hand, as another process could have).
 */
static void
journal_of_a_crash_in_this_boot_is_not_replayed(void)
{
	struct lockstore	*s;
	char			*dir = tu_tmpdir(), a[PATH_SIZE];

	TU_ASSERT_INT_EQ(tu_in_child(lock_then_crash, dir), 0);
	TU_ASSERT_INT_EQ(journals(dir, NULL), 1);
	CU_ASSERT(unlink(path_of(a, dir, "vm1.resource.lock")) == 0);
	s = open_store(dir, 0);
	TU_ASSERT_INT_EQ(token_of(s, "vm1"), 0);
	TU_ASSERT_INT_EQ(journals(dir, NULL), 1);
	lockstore_close(s);
}

/* A live store's journal is its own: a second store leaves it alone. */
static void
journal_of_a_live_store_is_left_alone(void)
{
	struct lockstore	*s1, *s2;
	char			*dir = tu_tmpdir();

	s1 = open_store(dir, 0);
	LOCK(s1, "vm1", "h1", LOCKSTORE_OK, NULL);
	s2 = open_store(dir, 0);
	TU_ASSERT_INT_EQ(journals(dir, NULL), 2);
	LOCK(s2, "vm1", "h2", LOCKSTORE_HELD, "Resource already locked by 'h1'");
	UNLOCK(s2, "vm1", "h1", LOCKSTORE_OK, NULL);
	LOCK(s1, "vm1", "h2", LOCKSTORE_OK, NULL);
	lockstore_close(s2);
	lockstore_close(s1);
	TU_ASSERT_INT_EQ(journals(dir, NULL), 0);
}

/* Checkpoints keep a journal about one segment long, and what they
 * covered is not replayed. */
static void
checkpoints_bound_the_journal(void)
{
	struct lockstore	*s;
	struct stat		 st;
	char			*dir = tu_tmpdir(), j[PATH_SIZE], r[32];
	int			 i;

	s = open_store(dir, 0);
	for (i = 0; i < 6000; i++) {
		snprintf(r, sizeof(r), "r%d", i);
		LOCK(s, r, "h", LOCKSTORE_OK, NULL);
		UNLOCK(s, r, "h", LOCKSTORE_OK, NULL);
	}
	TU_ASSERT_INT_EQ(journals(dir, j), 1);
	CU_ASSERT_FATAL(stat(j, &st) == 0);
	/* far less than the 6000 * 2 records of over 90 bytes written: two
	 * halves, the first with room for two segments */
	CU_ASSERT(st.st_size <= 3 * JOURNAL_SEGMENT);
	/* only a checkpoint writes it: one ran while the store was open */
	TU_ASSERT_INT_EQ(exists(dir, JOURNAL_CHECKPOINT), 1);
	TU_ASSERT_INT_EQ(history_of(s, "r0"), 1);
	lockstore_close(s);
}

/*
 * A lock directory of lockd 0.2 (a token counter with its reserve, the
 * history, spare inodes, a lock file) is taken over at the first open:
 * its lock stands with its token, new tokens go on above the reserve,
 * the history is read, the spares go.
 */
static void
a_0_2_directory_is_taken_over(void)
{
	struct lockstore	*s;
	struct lockfile		 lf;
	char			*dir = tu_tmpdir(), buf[LOCKFILE_MAX];
	int			 n;

	memset(&lf, 0, sizeof(lf));
	snprintf(lf.holder, sizeof(lf.holder), "h1");
	snprintf(lf.resource, sizeof(lf.resource), "vm1");
	lf.has_resource = 1;
	lf.since = 1700000000;
	lf.token = 4000;
	CU_ASSERT_FATAL((n = lockfile_render(buf, sizeof(buf), &lf)) > 0);
	buf[n] = '\0';
	put_file(dir, "vm1.resource.lock", buf);
	put_file(dir, ".token", "00000000000000005000\nnext "
	    "00000000000000004000 00000000000000005000 "
	    "11111111-2222-3333-4444-555555555555\n");
	put_file(dir, ".history", "v1 3999 1700000000 1700000001000 unlock vm1 "
	    "h0 - -\n");
	put_file(dir, ".pool.1.11111111.0.1", "x\n");
	s = open_store(dir, 0);
	LOCK(s, "vm1", "h9", LOCKSTORE_HELD, "Resource already locked by 'h1'");
	TU_ASSERT_INT_EQ(token_of(s, "vm1"), 4000);
	LOCK(s, "vm2", "h2", LOCKSTORE_OK, NULL);
	CU_ASSERT(token_of(s, "vm2") > 5000);
	TU_ASSERT_INT_EQ(history_of(s, "vm1"), 1);
	TU_ASSERT_INT_EQ(exists(dir, ".pool.1.11111111.0.1"), 0);
	UNLOCK(s, "vm1", "h1", LOCKSTORE_OK, NULL);
	TU_ASSERT_INT_EQ(history_of(s, "vm1"), 2);
	lockstore_close(s);
	TU_ASSERT_INT_EQ(journals(dir, NULL), 0);
}

/* A journal removed by hand is reported by the health probe, and a
 * change that cannot be journalled is refused, not answered. */
static void
removed_journal_is_unhealthy(void)
{
	struct lockstore	*s;
	struct lockstore_error	 err;
	char			*dir = tu_tmpdir(), j[PATH_SIZE];

	s = open_store(dir, 0);
	TU_ASSERT_INT_EQ(lockstore_health(s, &err), LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(journals(dir, j), 1);
	CU_ASSERT_FATAL(unlink(j) == 0);
	TU_ASSERT_INT_EQ(lockstore_health(s, &err), LOCKSTORE_STORAGE);
	CU_ASSERT(strstr(err.msg, "journal") != NULL);
	FAILS(s, 0, "vm1", "h1", LOCKSTORE_STORAGE, "Storage error: ");
	TU_ASSERT_INT_EQ(exists(dir, "vm1.resource.lock"), 0);
	lockstore_close(s);
}

int
main(void)
{
	static const struct tu_test tests[] = {
		{ "replay_after_power_loss_restores_acknowledged_changes",
		    replay_after_power_loss_restores_acknowledged_changes },
		{ "torn_tail_is_discarded", torn_tail_is_discarded },
		{ "journal_of_a_crash_in_this_boot_is_not_replayed",
		    journal_of_a_crash_in_this_boot_is_not_replayed },
		{ "journal_of_a_live_store_is_left_alone",
		    journal_of_a_live_store_is_left_alone },
		{ "checkpoints_bound_the_journal",
		    checkpoints_bound_the_journal },
		{ "a_0_2_directory_is_taken_over",
		    a_0_2_directory_is_taken_over },
		{ "removed_journal_is_unhealthy",
		    removed_journal_is_unhealthy },
		{ NULL, NULL }
	};

	return tu_run("lockdir_journal", tests);
}
