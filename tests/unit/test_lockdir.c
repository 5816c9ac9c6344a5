/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the lock-directory store, through lockstore.h: the store
 * contract, gocept.lockd's files, containment, crash safety, spare inodes.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lockdir_tu.h"
#include "dir/lockfile.h"
#include "lockstore.h"
#include "dir/fname.h"
#include "store_contract.h"
#include "tu.h"

/* The path of RESOURCE's lock file in DIR. */
static void
lock_path(char *buf, const char *dir, const char *resource)
{
	char	fname[NAME_FILE_SIZE];

	name_encode(resource, fname);
	CU_ASSERT_FATAL(tu_join(buf, PATH_SIZE, dir, fname) == 0);
}

static char *
not_owner_msg(const char *holder, const char *client)
{
	char	*m;

	if (asprintf(&m, "Resource locked by '%s' cannot be unlocked by '%s'",
	    holder, client) == -1)
		abort();
	return m;
}

static int
exists(const char *dir, const char *name)
{
	char		path[PATH_SIZE];
	struct stat	st;

	if (tu_join(path, sizeof(path), dir, name) == -1)
		return -1;
	return lstat(path, &st) == 0;
}

/* --- the store contract, on a fresh lock directory --------------------- */

static char	*contract_dir;

static struct lockstore *
contract_open(void)
{
	CU_ASSERT_FATAL((contract_dir = tu_tmpdir()) != NULL);
	return open_store(contract_dir, 0);	/* durable: fsync as in
						   production */
}

static struct lockstore *
contract_open_again(void)
{
	return open_store(contract_dir, 0);
}

/* The lock file names the holder on its first line. */
static void
contract_holding(const char *resource, const char *holder)
{
	char	before[64];

	CU_ASSERT(read_holder(contract_dir, resource, before,
	    sizeof(before)) == 0);
	TU_ASSERT_STR_EQ(before, holder);
}

static void
contract_released(const char *resource)
{
	char	fname[NAME_FILE_SIZE];

	name_encode(resource, fname);
	CU_ASSERT(exists(contract_dir, fname) == 0);
}

static void
contract_empty(void)
{
	TU_ASSERT_INT_EQ(tu_count_entries(contract_dir), 0);
}

static const struct contract_fixture	lockdir_fixture = {
	.open = contract_open,
	.open_again = contract_open_again,
	.holding = contract_holding,
	.released = contract_released,
	.empty = contract_empty
};

static void
lock_writes_legacy_named_file_with_mode_0600_and_content(void)
{
	struct lockstore	*s;
	struct lockfile		*lf;
	struct stat		 st;
	char			*dir, path[PATH_SIZE], *data;
	size_t			 len;
	time_t			 t0, t1;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	CU_ASSERT_FATAL((lf = malloc(sizeof(*lf))) != NULL);
	s = open_store(dir, 0);
	t0 = time(NULL);
	LOCK(s, "vm1", "host7", LOCKSTORE_OK, NULL);
	t1 = time(NULL);
	CU_ASSERT_FATAL(tu_join(path, sizeof(path), dir, "vm1.resource.lock")
	    == 0);
	CU_ASSERT_FATAL(lstat(path, &st) == 0);
	CU_ASSERT(S_ISREG(st.st_mode));
	TU_ASSERT_INT_EQ(st.st_mode & 07777, 0600);
	TU_ASSERT_INT_EQ(st.st_nlink, 1);	/* no temporary name left */
	/* Nothing else: the temporary file is gone. */
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 1);
	CU_ASSERT_FATAL((data = tu_read_file(path, &len)) != NULL);
	CU_ASSERT(strncmp(data, "host7\n", 6) == 0);
	TU_ASSERT_INT_EQ(lockfile_parse(data, len, lf), 0);
	TU_ASSERT_STR_EQ(lf->holder, "host7");
	TU_ASSERT_INT_EQ(lf->has_resource, 1);
	TU_ASSERT_STR_EQ(lf->resource, "vm1");
	CU_ASSERT(lf->since >= (long long)t0 && lf->since <= (long long)t1);
	free(data);
	UNLOCK(s, "vm1", "host7", LOCKSTORE_OK, NULL);
	CU_ASSERT(lstat(path, &st) == -1 && errno == ENOENT);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 0);
	lockstore_close(s);
	free(lf);
}

static void
lock_of_escaped_and_hashed_names_records_the_resource(void)
{
	struct lockstore	*s;
	struct lockfile		*lf;
	struct stat		 st;
	char			*dir, path[PATH_SIZE], *data, *longname;
	const char		*names[6];
	size_t			 i, len;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	CU_ASSERT_FATAL((lf = malloc(sizeof(*lf))) != NULL);
	longname = tu_repeat('x', LOCKSTORE_NAME_MAX);
	names[0] = "a/b";
	names[1] = "a\nb";
	names[2] = ".hidden";
	names[3] = "50%";
	names[4] = longname;
	names[5] = NULL;
	s = open_store(dir, LOCKSTORE_NOSYNC);
	for (i = 0; names[i] != NULL; i++) {
		LOCK(s, names[i], "host7", LOCKSTORE_OK, NULL);
		lock_path(path, dir, names[i]);
		CU_ASSERT_FATAL(lstat(path, &st) == 0);
		TU_ASSERT_INT_EQ(st.st_mode & 07777, 0600);
		CU_ASSERT_FATAL((data = tu_read_file(path, &len)) != NULL);
		TU_ASSERT_INT_EQ(lockfile_parse(data, len, lf), 0);
		TU_ASSERT_STR_EQ(lf->holder, "host7");
		TU_ASSERT_INT_EQ(lf->has_resource, 1);
		TU_ASSERT_STR_EQ(lf->resource, names[i]);
		free(data);
		LOCK(s, names[i], "other", LOCKSTORE_HELD,
		    "Resource already locked by 'host7'");
	}
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 5);
	for (i = 0; names[i] != NULL; i++)
		UNLOCK(s, names[i], "host7", LOCKSTORE_OK, NULL);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 0);
	lockstore_close(s);
	free(longname);
	free(lf);
}

static void
lock_survives_reopening_the_store(void)
{
	struct lockstore	*s;
	char			*dir;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	s = open_store(dir, 0);
	LOCK(s, "vm1", "host1", LOCKSTORE_OK, NULL);
	lockstore_close(s);
	s = open_store(dir, 0);
	LOCK(s, "vm1", "host2", LOCKSTORE_HELD,
	    "Resource already locked by 'host1'");
	UNLOCK(s, "vm1", "host1", LOCKSTORE_OK, NULL);
	lockstore_close(s);
	s = open_store(dir, 0);
	UNLOCK(s, "vm1", "host1", LOCKSTORE_NOT_LOCKED, "Resource not locked");
	lockstore_close(s);
}

static void
bad_names_are_refused_and_nothing_is_written(void)
{
	struct lockstore	*s;
	char			*dir, *longr, *longc;
	int			 u;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	longr = tu_repeat('r', LOCKSTORE_NAME_MAX + 1);
	longc = tu_repeat('c', LOCKSTORE_NAME_MAX + 1);
	s = open_store(dir, LOCKSTORE_NOSYNC);
	for (u = 0; u <= 1; u++) {
		FAILS(s, u, "", "host7", LOCKSTORE_BAD_RESOURCE,
		    "Invalid resource name: ");
		FAILS(s, u, longr, "host7", LOCKSTORE_BAD_RESOURCE,
		    "Invalid resource name: ");
		FAILS(s, u, "vm1", "", LOCKSTORE_BAD_CLIENT,
		    "Invalid client name: ");
		FAILS(s, u, "vm1", longc, LOCKSTORE_BAD_CLIENT,
		    "Invalid client name: ");
		FAILS(s, u, "vm1", "host7\n", LOCKSTORE_BAD_CLIENT,
		    "Invalid client name: ");
		FAILS(s, u, "vm1", "a\nresource x",
		    LOCKSTORE_BAD_CLIENT, "Invalid client name: ");
		FAILS(s, u, "vm1", "a\tb", LOCKSTORE_BAD_CLIENT,
		    "Invalid client name: ");
		FAILS(s, u, "vm1", "a\x7f", LOCKSTORE_BAD_CLIENT,
		    "Invalid client name: ");
	}
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 0);
	lockstore_close(s);
	free(longr);
	free(longc);
}

static void
names_of_4096_bytes_lock_and_report_in_full(void)
{
	struct lockstore	*s;
	char			*dir, *r, *c, *m;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	r = tu_repeat('\n', LOCKSTORE_NAME_MAX);
	c = tu_repeat('c', LOCKSTORE_NAME_MAX);
	s = open_store(dir, LOCKSTORE_NOSYNC);
	LOCK(s, r, c, LOCKSTORE_OK, NULL);
	m = held_msg(c);
	LOCK(s, r, "other", LOCKSTORE_HELD, m);
	free(m);
	m = not_owner_msg(c, c + 1);
	UNLOCK(s, r, c + 1, LOCKSTORE_NOT_OWNER, m);
	free(m);
	UNLOCK(s, r, c, LOCKSTORE_OK, NULL);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 0);
	lockstore_close(s);
	free(r);
	free(c);
}

/* --- gocept.lockd's lock directories ----------------------------------- */

/* Checks that legacy file FNAME, holding HOLDER, is the lock of RESOURCE. */
static void
check_legacy_lock(const char *fname, const char *content,
    const char *resource, const char *holder)
{
	struct lockstore	*s;
	char			*dir, *m;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	put_file(dir, fname, content);
	s = open_store(dir, 0);
	m = held_msg(holder);
	LOCK(s, resource, "intruder", LOCKSTORE_HELD, m);
	free(m);
	m = not_owner_msg(holder, "intruder");
	UNLOCK(s, resource, "intruder", LOCKSTORE_NOT_OWNER, m);
	free(m);
	/* Refusals leave the old file as it was, and add nothing. */
	CHECK_FILE(dir, fname, content);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 1);
	if (holder[0] != '\0') {
		UNLOCK(s, resource, holder, LOCKSTORE_OK, NULL);
		TU_ASSERT_INT_EQ(exists(dir, fname), 0);
		TU_ASSERT_INT_EQ(tu_count_entries(dir), 0);
		LOCK(s, resource, "new", LOCKSTORE_OK, NULL);
		UNLOCK(s, resource, "new", LOCKSTORE_OK, NULL);
	}
	lockstore_close(s);
}

static void
legacy_lock_file_without_newline_is_honoured(void)
{
	check_legacy_lock("vm1.resource.lock", "host7", "vm1", "host7");
}

static void
legacy_lock_file_with_newline_is_honoured(void)
{
	check_legacy_lock("vm1.resource.lock", "host7\n", "vm1", "host7");
}

static void
legacy_empty_lock_file_is_held_by_empty_holder(void)
{
	check_legacy_lock("vm1.resource.lock", "", "vm1", "");
}

static void
legacy_lock_file_of_name_lockd_escapes_is_honoured(void)
{
	check_legacy_lock(".hidden.resource.lock", "host7", ".hidden",
	    "host7");
	check_legacy_lock("50%.resource.lock", "host7\n", "50%", "host7");
	check_legacy_lock("%41.resource.lock", "host7\n", "%41", "host7");
}

/*
 * gocept.lockd stored resource "a%2Fb" as "a%2Fb.resource.lock", which is
 * also the escaped name of "a/b".  The two are distinct resources: the old
 * lock of one must never be granted, reported or released as the other.
 */
static void
legacy_file_named_like_an_escape_is_not_another_resources_lock(void)
{
	struct lockstore	*s;
	char			*dir;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	put_file(dir, "a%2Fb.resource.lock", "host7\n");
	s = open_store(dir, LOCKSTORE_NOSYNC);
	LOCK(s, "a%2Fb", "x", LOCKSTORE_HELD,
	    "Resource already locked by 'host7'");
	/*
	 * "a/b" cannot be granted while its file name is taken; refusing it
	 * as held is safe, as an invalid state is precise.
	 */
	FAILS_AS_ONE_OF(s, 0, "a/b", "x", LOCKSTORE_INVALID_STATE,
	    LOCKSTORE_HELD);
	/* The old lock of "a%2Fb" is never released through "a/b". */
	FAILS_AS_ONE_OF(s, 1, "a/b", "host7", LOCKSTORE_INVALID_STATE,
	    LOCKSTORE_NOT_LOCKED);
	CHECK_FILE(dir, "a%2Fb.resource.lock", "host7\n");
	UNLOCK(s, "a%2Fb", "host7", LOCKSTORE_OK, NULL);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 0);
	lockstore_close(s);
}

/*
 * Conversely, the file lockd writes for "." is "%2E.resource.lock", the
 * name gocept.lockd would have used for "%2E".  Since lockd's file records
 * the resource, "%2E" is simply not locked.
 */
static void
lockd_file_is_not_taken_for_legacy_lock_of_another_resource(void)
{
	struct lockstore	*s;
	char			*dir;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	s = open_store(dir, LOCKSTORE_NOSYNC);
	LOCK(s, ".", "host1", LOCKSTORE_OK, NULL);
	CU_ASSERT(exists(dir, "%2E.resource.lock") == 1);
	UNLOCK(s, "%2E", "host1", LOCKSTORE_NOT_LOCKED, "Resource not locked");
	LOCK(s, "%2E", "host2", LOCKSTORE_OK, NULL);
	UNLOCK(s, "%2E", "host2", LOCKSTORE_OK, NULL);
	UNLOCK(s, "%2E", "host2", LOCKSTORE_NOT_LOCKED, "Resource not locked");
	LOCK(s, ".", "host2", LOCKSTORE_HELD,
	    "Resource already locked by 'host1'");
	UNLOCK(s, ".", "host1", LOCKSTORE_OK, NULL);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 0);
	lockstore_close(s);
}

/* --- the directory cannot be escaped ----------------------------------- */

static void
encoding_never_leaves_the_lock_directory(void)
{
	struct lockstore	*s;
	char			*parent, dir[PATH_SIZE], path[PATH_SIZE];
	char			*deep;
	const char		*names[12];
	struct stat		 st;
	size_t			 i, n = 0;

	CU_ASSERT_FATAL((parent = tu_tmpdir()) != NULL);
	CU_ASSERT_FATAL(tu_join(dir, sizeof(dir), parent, "locks") == 0);
	CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
	deep = tu_repeat('/', 3000);
	memcpy(deep, "../../", 6);
	names[n++] = "../x";
	names[n++] = "/etc/passwd";
	names[n++] = "a/../../b";
	names[n++] = "..";
	names[n++] = ".";
	names[n++] = "./x";
	names[n++] = "x/";
	names[n++] = "../locks/y";
	names[n++] = "../../../../../../../../tmp/lockd-escape";
	names[n++] = deep;
	names[n] = NULL;
	s = open_store(dir, LOCKSTORE_NOSYNC);
	for (i = 0; i < n; i++)
		LOCK(s, names[i], "host7", LOCKSTORE_OK, NULL);
	/* The parent holds the lock directory and nothing else. */
	TU_ASSERT_INT_EQ(tu_count_entries(parent), 1);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), n);
	CU_ASSERT(lstat("/tmp/lockd-escape.resource.lock", &st) == -1);
	for (i = 0; i < n; i++) {
		lock_path(path, dir, names[i]);
		CU_ASSERT(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
	}
	for (i = 0; i < n; i++)
		UNLOCK(s, names[i], "host7", LOCKSTORE_OK, NULL);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 0);
	TU_ASSERT_INT_EQ(tu_count_entries(parent), 1);
	lockstore_close(s);
	free(deep);
}

/* --- crash safety of the write path ------------------------------------ */

static void
open_removes_temporary_file_of_dead_process(void)
{
	struct lockstore	*s;
	char			*dir, name[64];
	pid_t			 pid;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	CU_ASSERT_FATAL((pid = tu_dead_pid()) > 0);
	snprintf(name, sizeof(name), ".tmp.%ld.1", (long)pid);
	put_file(dir, name, "host7\nresou");
	put_file(dir, "vm1.resource.lock", "host1\n");
	s = open_store(dir, LOCKSTORE_NOSYNC);
	TU_ASSERT_INT_EQ(exists(dir, name), 0);
	/* Locks are not temporary files. */
	TU_ASSERT_INT_EQ(exists(dir, "vm1.resource.lock"), 1);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 1);
	lockstore_close(s);
}

static void
open_keeps_temporary_file_of_running_process(void)
{
	struct lockstore	*s;
	char			*dir, name[64];
	pid_t			 pid;
	int			 wfd;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	CU_ASSERT_FATAL((pid = tu_live_child(&wfd)) > 0);
	snprintf(name, sizeof(name), ".tmp.%ld.1", (long)pid);
	put_file(dir, name, "host7\nresou");
	s = open_store(dir, LOCKSTORE_NOSYNC);
	TU_ASSERT_INT_EQ(exists(dir, name), 1);
	lockstore_close(s);
	tu_end_child(pid, wfd);
}

static void
half_written_temporary_file_is_never_read_as_holder(void)
{
	struct lockstore	*s;
	char			*dir, a[64], b[64];
	pid_t			 pid;
	int			 wfd;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	/* A writer that is still running, so open keeps its files. */
	CU_ASSERT_FATAL((pid = tu_live_child(&wfd)) > 0);
	snprintf(a, sizeof(a), ".tmp.%ld.1", (long)pid);
	snprintf(b, sizeof(b), ".tmp.%ld.2", (long)pid);
	put_file(dir, a, "intruder");
	put_file(dir, b, "intruder\nresource vm1\nsince 1\n");
	s = open_store(dir, LOCKSTORE_NOSYNC);
	UNLOCK(s, "vm1", "intruder", LOCKSTORE_NOT_LOCKED,
	    "Resource not locked");
	LOCK(s, "vm1", "host7", LOCKSTORE_OK, NULL);
	LOCK(s, "vm1", "intruder", LOCKSTORE_HELD,
	    "Resource already locked by 'host7'");
	UNLOCK(s, "vm1", "intruder", LOCKSTORE_NOT_OWNER,
	    "Resource locked by 'host7' cannot be unlocked by 'intruder'");
	UNLOCK(s, "vm1", "host7", LOCKSTORE_OK, NULL);
	CHECK_FILE(dir, a, "intruder");
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 2);
	lockstore_close(s);
	tu_end_child(pid, wfd);
}

/* --- 0.2's spare inodes ------------------------------------------------ */

/* The spare inodes of 0.2 go at open, whoever left them: lockd keeps
 * none any more. */
static void
spares_of_0_2_are_removed_at_open(void)
{
	struct lockstore	*s;
	char			*dir = tu_tmpdir(), old[96], cur[96];

	snprintf(old, sizeof(old), ".pool.%ld.zzzzzzzz.7.1", (long)getpid());
	snprintf(cur, sizeof(cur), ".pool.1.0f0f0f0f.999.1");
	put_file(dir, old, "x\n");
	put_file(dir, cur, "x\n");
	s = open_store(dir, 0);
	TU_ASSERT_INT_EQ(exists(dir, old), 0);
	TU_ASSERT_INT_EQ(exists(dir, cur), 0);
	lockstore_close(s);
}

struct inspect_arg {
	struct lockstore	*s;
	int			 done;		/* atomic */
	int			 held;
	char			 holder[LOCKSTORE_NAME_MAX + 1];
};

static void *
inspect_thread(void *p)
{
	struct inspect_arg		*a = p;
	struct lockstore_lock_info	 info;
	struct lockstore_error		 err;

	if (lockstore_inspect(a->s, "vm1", &a->held, &info, &err) ==
	    LOCKSTORE_OK)
		snprintf(a->holder, sizeof(a->holder), "%s", info.holder);
	__atomic_store_n(&a->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/*
 * Content without a "check" line (gocept.lockd's, earlier builds') cannot
 * show a torn read, so it is read under LOCK_SH: while someone holds
 * LOCK_EX on the file (as a rewrite of a reused inode does), the reader
 * waits for it instead of taking what it sees.
 */
static void
content_without_check_line_is_read_under_the_lock(void)
{
	struct lockstore	*s;
	struct inspect_arg	 a;
	pthread_t		 t;
	char			*dir = tu_tmpdir(), path[PATH_SIZE];
	int			 fd, i;

	put_file(dir, "vm1.resource.lock", "host7\n");
	CU_ASSERT_FATAL(tu_join(path, sizeof(path), dir,
	    "vm1.resource.lock") == 0);
	CU_ASSERT_FATAL((fd = open(path, O_RDONLY)) != -1);
	CU_ASSERT_FATAL(flock(fd, LOCK_EX) == 0);
	s = open_store(dir, LOCKSTORE_NOSYNC);
	memset(&a, 0, sizeof(a));
	a.s = s;
	CU_ASSERT_FATAL(pthread_create(&t, NULL, inspect_thread, &a) == 0);
	usleep(200000);
	CU_ASSERT_EQUAL(__atomic_load_n(&a.done, __ATOMIC_SEQ_CST), 0);
	close(fd);		/* drops LOCK_EX */
	for (i = 0; i < 500 && !__atomic_load_n(&a.done, __ATOMIC_SEQ_CST);
	    i++)
		usleep(10000);
	pthread_join(t, NULL);
	TU_ASSERT_INT_EQ(a.held, 1);
	TU_ASSERT_STR_EQ(a.holder, "host7");
	lockstore_close(s);
}

/* gocept.lockd's locks of resources named like lockd's own temporary or
 * spare files are locks: the cleanup at open leaves them. */
static void
legacy_locks_named_like_spares_survive_open(void)
{
	struct lockstore	*s;
	char			*dir = tu_tmpdir(), path[PATH_SIZE];
	struct timespec		 old[2];

	put_file(dir, ".pool.db.resource.lock", "old-host\n");
	put_file(dir, ".tmp.1.2.resource.lock", "old-host\n");
	put_file(dir, ".pool.999999999.zzzzzzzz.1.1.resource.lock",
	    "old-host\n");
	/* Older than any temporary file may be. */
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 3600;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	CU_ASSERT_FATAL(tu_join(path, sizeof(path), dir,
	    ".tmp.1.2.resource.lock") == 0);
	CU_ASSERT(utimensat(AT_FDCWD, path, old, 0) == 0);
	s = open_store(dir, LOCKSTORE_NOSYNC);
	TU_ASSERT_INT_EQ(exists(dir, ".pool.db.resource.lock"), 1);
	TU_ASSERT_INT_EQ(exists(dir, ".tmp.1.2.resource.lock"), 1);
	TU_ASSERT_INT_EQ(exists(dir,
	    ".pool.999999999.zzzzzzzz.1.1.resource.lock"), 1);
	LOCK(s, ".pool.db", "new-host", LOCKSTORE_HELD,
	    "Resource already locked by 'old-host'");
	LOCK(s, ".tmp.1.2", "new-host", LOCKSTORE_HELD,
	    "Resource already locked by 'old-host'");
	lockstore_close(s);
}

static const struct tu_test tests[] = {
	{ "spares_of_0_2_are_removed_at_open",
	    spares_of_0_2_are_removed_at_open },
	{ "content_without_check_line_is_read_under_the_lock",
	    content_without_check_line_is_read_under_the_lock },
	{ "legacy_locks_named_like_spares_survive_open",
	    legacy_locks_named_like_spares_survive_open },
	{ "lock_writes_legacy_named_file_with_mode_0600_and_content",
	    lock_writes_legacy_named_file_with_mode_0600_and_content },
	{ "lock_of_escaped_and_hashed_names_records_the_resource",
	    lock_of_escaped_and_hashed_names_records_the_resource },
	{ "lock_survives_reopening_the_store",
	    lock_survives_reopening_the_store },
	{ "bad_names_are_refused_and_nothing_is_written",
	    bad_names_are_refused_and_nothing_is_written },
	{ "names_of_4096_bytes_lock_and_report_in_full",
	    names_of_4096_bytes_lock_and_report_in_full },
	{ "legacy_lock_file_without_newline_is_honoured",
	    legacy_lock_file_without_newline_is_honoured },
	{ "legacy_lock_file_with_newline_is_honoured",
	    legacy_lock_file_with_newline_is_honoured },
	{ "legacy_empty_lock_file_is_held_by_empty_holder",
	    legacy_empty_lock_file_is_held_by_empty_holder },
	{ "legacy_lock_file_of_name_lockd_escapes_is_honoured",
	    legacy_lock_file_of_name_lockd_escapes_is_honoured },
	{ "legacy_file_named_like_an_escape_is_not_another_resources_lock",
	    legacy_file_named_like_an_escape_is_not_another_resources_lock },
	{ "lockd_file_is_not_taken_for_legacy_lock_of_another_resource",
	    lockd_file_is_not_taken_for_legacy_lock_of_another_resource },
	{ "encoding_never_leaves_the_lock_directory",
	    encoding_never_leaves_the_lock_directory },
	{ "open_removes_temporary_file_of_dead_process",
	    open_removes_temporary_file_of_dead_process },
	{ "open_keeps_temporary_file_of_running_process",
	    open_keeps_temporary_file_of_running_process },
	{ "half_written_temporary_file_is_never_read_as_holder",
	    half_written_temporary_file_is_never_read_as_holder },
	{ NULL, NULL }
};

int
main(void)
{
	return contract_run("lockdir", &lockdir_fixture, tests);
}
