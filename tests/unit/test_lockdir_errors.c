/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the lock-directory store: storage errors, and files in
 * place of a lock file that are not lock files.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <CUnit/Basic.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lockdir_tu.h"
#include "dir/lockfile.h"
#include "lockstore.h"
#include "dir/fname.h"
#include "tu.h"

#define NOBODY		65534
#define SKIPPED		77	/* exit status of a child that cannot run */

/* In a child: checks that ST is WANT, else says why and returns 1. */
static int
child_status(int line, enum lockstore_status st, enum lockstore_status want,
    const struct lockstore_error *err)
{
	if (st == want)
		return 0;
	fprintf(stderr, "%s:%d: got %s (%s), expected %s\n", __FILE__, line,
	    lockstore_status_name(st), st == LOCKSTORE_OK ? "" : err->msg,
	    lockstore_status_name(want));
	return 1;
}

#define CHILD_STATUS(st, want, err)					\
	do {								\
		if (child_status(__LINE__, (st), (want), (err)))	\
			return 1;					\
	} while (0)
#define CHILD_CHECK(cond)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: %s\n", __FILE__,	\
			    __LINE__, #cond);				\
			return 1;					\
		}							\
	} while (0)

/* --- storage errors and lock files that are not lock files ------------- */

static void
lock_in_removed_directory_is_storage_error(void)
{
	struct lockstore	*s;
	char			*parent, dir[PATH_SIZE];

	CU_ASSERT_FATAL((parent = tu_tmpdir()) != NULL);
	CU_ASSERT_FATAL(tu_join(dir, sizeof(dir), parent, "locks") == 0);
	CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
	s = open_store(dir, 0);
	tu_rmtree(dir);		/* the journal of the open store with it */
	CU_ASSERT_FATAL(access(dir, F_OK) == -1);
	FAILS(s, 0, "vm1", "host7", LOCKSTORE_STORAGE,
	    "Storage error: ");
	FAILS(s, 0, "vm1", "host7", LOCKSTORE_STORAGE,
	    "Storage error: ");
	TU_ASSERT_INT_EQ(tu_count_entries(parent), 0);
	lockstore_close(s);
}

/* The read-only directory scenario; 0 if every check holds. */
static int
readonly_scenario(void *arg)
{
	const char		*dir = arg;
	struct lockstore	*s;
	struct lockstore_error	 err;
	enum lockstore_status	 st;

	st = lockstore_open_dir(&s, dir, 0, &err);
	if (st == LOCKSTORE_STORAGE && err.sys_errno == EACCES)
		return SKIPPED;		/* TMPDIR is closed to nobody */
	CHILD_STATUS(st, LOCKSTORE_OK, &err);
	CHILD_STATUS(lockstore_lock(s, "held", "h", &err), LOCKSTORE_OK,
	    &err);
	CHILD_CHECK(chmod(dir, 0500) == 0);
	CHILD_STATUS(lockstore_lock(s, "vm1", "c", &err), LOCKSTORE_STORAGE,
	    &err);
	CHILD_CHECK(err.sys_errno == EACCES);
	CHILD_CHECK(strncmp(err.msg, "Storage error: ", 15) == 0);
	/* A release that cannot be done is not reported done. */
	CHILD_STATUS(lockstore_unlock(s, "held", "h", &err), LOCKSTORE_STORAGE,
	    &err);
	CHILD_CHECK(chmod(dir, 0700) == 0);
	CHILD_STATUS(lockstore_lock(s, "held", "x", &err), LOCKSTORE_HELD,
	    &err);
	CHILD_CHECK(strcmp(err.msg, "Resource already locked by 'h'") == 0);
	CHILD_STATUS(lockstore_lock(s, "vm1", "c", &err), LOCKSTORE_OK, &err);
	lockstore_close(s);
	return 0;
}

/* The same, as user nobody: root is not stopped by permissions. */
static int
readonly_scenario_as_nobody(void *arg)
{
	const char	*dir = arg;

	if (chown(dir, NOBODY, NOBODY) == -1 || setgroups(0, NULL) == -1 ||
	    setgid(NOBODY) == -1 || setuid(NOBODY) == -1)
		return SKIPPED;
	return readonly_scenario(arg);
}

static void
lock_in_read_only_directory_is_storage_error(void)
{
	char	*dir;
	int	 rc;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	if (geteuid() != 0)
		rc = tu_in_child(readonly_scenario, dir);
	else
		rc = tu_in_child(readonly_scenario_as_nobody, dir);
	if (rc == SKIPPED) {
		printf("(skipped: cannot run unprivileged) ");
		return;
	}
	TU_ASSERT_INT_EQ(rc, 0);
}

/* A holder whose lock file is longer than the token counter. */
#define LONG_HOLDER	"host-with-a-long-name-host-with-a-long-name-" \
	"host-with-a-long-name-host-with-a-long-name-host-with-a-long-name"

/* Lock with a file size limit too small for any lock file. */
static int
write_error_scenario(void *arg)
{
	const char		*dir = arg;
	struct lockstore	*s;
	struct lockstore_error	 err;
	struct rlimit		 rl, small;

	signal(SIGXFSZ, SIG_IGN);
	CHILD_CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0);
	CHILD_STATUS(lockstore_open_dir(&s, dir, 0, &err), LOCKSTORE_OK, &err);
	small = rl;
	/* Room for the token counter (105 bytes), not for the lock file. */
	small.rlim_cur = 112;
	CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
	CHILD_STATUS(lockstore_lock(s, "vm1", LONG_HOLDER, &err),
	    LOCKSTORE_STORAGE, &err);
	CHILD_CHECK(err.sys_errno == EFBIG);
	CHILD_CHECK(strncmp(err.msg, "Storage error: ", 15) == 0);
	/* Neither a lock nor a half-written temporary file remains. */
	CHILD_CHECK(tu_count_entries(dir) == 0);
	CHILD_STATUS(lockstore_unlock(s, "vm1", LONG_HOLDER, &err),
	    LOCKSTORE_NOT_LOCKED, &err);
	CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
	CHILD_STATUS(lockstore_lock(s, "vm1", LONG_HOLDER, &err),
	    LOCKSTORE_OK, &err);
	lockstore_close(s);
	return 0;
}

static void
failed_write_is_storage_error_and_leaves_no_file(void)
{
	char	*dir;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	TU_ASSERT_INT_EQ(tu_in_child(write_error_scenario, dir), 0);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 1);
}

static void
open_of_missing_directory_is_storage_error(void)
{
	struct lockstore	*s = (struct lockstore *)&s;
	struct lockstore_error	 err;
	char			*dir, path[PATH_SIZE];

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	CU_ASSERT_FATAL(tu_join(path, sizeof(path), dir, "missing") == 0);
	TU_ASSERT_INT_EQ(lockstore_open_dir(&s, path, 0, &err),
	    LOCKSTORE_STORAGE);
	CU_ASSERT(s == NULL);
	TU_ASSERT_INT_EQ(err.status, LOCKSTORE_STORAGE);
	TU_ASSERT_INT_EQ(err.sys_errno, ENOENT);
	CU_ASSERT(strncmp(err.msg, "Storage error: ", 15) == 0);
}

static void
open_of_regular_file_is_storage_error(void)
{
	struct lockstore	*s = (struct lockstore *)&s;
	struct lockstore_error	 err;
	char			*dir, path[PATH_SIZE];

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	put_file(dir, "file", "x");
	CU_ASSERT_FATAL(tu_join(path, sizeof(path), dir, "file") == 0);
	TU_ASSERT_INT_EQ(lockstore_open_dir(&s, path, 0, &err),
	    LOCKSTORE_STORAGE);
	CU_ASSERT(s == NULL);
	TU_ASSERT_INT_EQ(err.sys_errno, ENOTDIR);
	CU_ASSERT(strncmp(err.msg, "Storage error: ", 15) == 0);
	lockstore_close(NULL);
}

static void
directory_in_place_of_lock_file_is_invalid_state(void)
{
	struct lockstore	*s;
	char			*dir, path[PATH_SIZE];
	struct stat		 st;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	CU_ASSERT_FATAL(tu_join(path, sizeof(path), dir, "vm1.resource.lock")
	    == 0);
	CU_ASSERT_FATAL(mkdir(path, 0700) == 0);
	s = open_store(dir, LOCKSTORE_NOSYNC);
	INVALID(s, 0, "vm1", "host7");
	INVALID(s, 1, "vm1", "host7");
	CU_ASSERT(lstat(path, &st) == 0 && S_ISDIR(st.st_mode));
	TU_ASSERT_INT_EQ(tu_count_entries(path), 0);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 1);
	lockstore_close(s);
}

static void
symlink_in_place_of_lock_file_is_invalid_state_and_target_untouched(void)
{
	struct lockstore	*s;
	char			*parent, dir[PATH_SIZE], link1[PATH_SIZE];
	char			 link2[PATH_SIZE], victim[PATH_SIZE];
	char			 missing[PATH_SIZE];
	struct stat		 st;

	CU_ASSERT_FATAL((parent = tu_tmpdir()) != NULL);
	CU_ASSERT_FATAL(tu_join(dir, sizeof(dir), parent, "locks") == 0);
	CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
	put_file(parent, "victim", "victim\n");
	CU_ASSERT_FATAL(tu_join(victim, sizeof(victim), parent, "victim") == 0);
	CU_ASSERT_FATAL(tu_join(missing, sizeof(missing), parent, "missing")
	    == 0);
	CU_ASSERT_FATAL(tu_join(link1, sizeof(link1), dir,
	    "vm1.resource.lock") == 0);
	CU_ASSERT_FATAL(tu_join(link2, sizeof(link2), dir,
	    "vm2.resource.lock") == 0);
	CU_ASSERT_FATAL(symlink(victim, link1) == 0);
	CU_ASSERT_FATAL(symlink(missing, link2) == 0);
	s = open_store(dir, LOCKSTORE_NOSYNC);
	INVALID(s, 0, "vm1", "host7");
	INVALID(s, 1, "vm1", "victim");
	INVALID(s, 0, "vm2", "host7");
	INVALID(s, 1, "vm2", "host7");
	CHECK_FILE(parent, "victim", "victim\n");
	CU_ASSERT(lstat(link1, &st) == 0 && S_ISLNK(st.st_mode));
	CU_ASSERT(lstat(link2, &st) == 0 && S_ISLNK(st.st_mode));
	CU_ASSERT(lstat(missing, &st) == -1 && errno == ENOENT);
	TU_ASSERT_INT_EQ(tu_count_entries(parent), 2);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 2);
	lockstore_close(s);
}

static int
fifo_scenario(void *arg)
{
	const char		*dir = arg;
	struct lockstore	*s;
	struct lockstore_error	 err;

	CHILD_STATUS(lockstore_open_dir(&s, dir, LOCKSTORE_NOSYNC, &err),
	    LOCKSTORE_OK, &err);
	CHILD_STATUS(lockstore_lock(s, "vm1", "host7", &err),
	    LOCKSTORE_INVALID_STATE, &err);
	CHILD_STATUS(lockstore_unlock(s, "vm1", "host7", &err),
	    LOCKSTORE_INVALID_STATE, &err);
	CHILD_CHECK(strncmp(err.msg, "Invalid lock state: ", 20) == 0);
	lockstore_close(s);
	return 0;
}

static void
fifo_in_place_of_lock_file_is_invalid_state_without_hanging(void)
{
	char		*dir, path[PATH_SIZE];
	struct stat	 st;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	CU_ASSERT_FATAL(tu_join(path, sizeof(path), dir, "vm1.resource.lock")
	    == 0);
	CU_ASSERT_FATAL(mkfifo(path, 0600) == 0);
	/* A hang ends with the child's alarm (status 128 + SIGALRM). */
	TU_ASSERT_INT_EQ(tu_in_child(fifo_scenario, dir), 0);
	CU_ASSERT(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode));
}

static void
hashed_name_collision_is_invalid_state(void)
{
	struct lockstore	*s;
	char			*dir, *r, *other, fname[NAME_FILE_SIZE];
	char			 content[LOCKFILE_MAX];

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	r = tu_repeat('x', LOCKSTORE_NAME_MAX);
	other = tu_repeat('y', LOCKSTORE_NAME_MAX);
	TU_ASSERT_INT_EQ_FATAL(name_encode(r, fname), NAME_HASHED);
	/* A file at R's hashed name that records another resource. */
	CU_ASSERT_FATAL(lockfile_format(content, sizeof(content), other,
	    "other", 1) > 0);
	put_file(dir, fname, content);
	s = open_store(dir, LOCKSTORE_NOSYNC);
	INVALID(s, 0, r, "host7");
	INVALID(s, 1, r, "other");
	CHECK_FILE(dir, fname, content);
	/* A hashed name without the resource recorded cannot be trusted. */
	put_file(dir, fname, "other\n");
	INVALID(s, 0, r, "host7");
	INVALID(s, 1, r, "other");
	CHECK_FILE(dir, fname, "other\n");
	lockstore_close(s);
	free(other);
	free(r);
}

static void
lock_file_recording_another_resource_is_invalid_state(void)
{
	struct lockstore	*s;
	char			*dir, content[LOCKFILE_MAX];

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	CU_ASSERT_FATAL(lockfile_format(content, sizeof(content), "zzz",
	    "other", 1) > 0);
	put_file(dir, "vm1.resource.lock", content);
	put_file(dir, "a%2Fb.resource.lock", content);
	s = open_store(dir, LOCKSTORE_NOSYNC);
	INVALID(s, 0, "vm1", "host7");
	INVALID(s, 1, "vm1", "other");
	INVALID(s, 0, "a/b", "host7");
	INVALID(s, 1, "a/b", "other");
	CHECK_FILE(dir, "vm1.resource.lock", content);
	CHECK_FILE(dir, "a%2Fb.resource.lock", content);
	lockstore_close(s);
}

static void
unparseable_lock_file_is_invalid_state(void)
{
	struct lockstore	*s;
	char			*dir, *big;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	big = tu_repeat('h', LOCKSTORE_NAME_MAX + 100);
	put_file(dir, "vm1.resource.lock", big);
	put_file(dir, "vm2.resource.lock", "host7\nresource vm%zz\n");
	s = open_store(dir, LOCKSTORE_NOSYNC);
	INVALID(s, 0, "vm1", "host7");
	INVALID(s, 1, "vm1", "host7");
	INVALID(s, 0, "vm2", "x");
	INVALID(s, 1, "vm2", "host7");
	CHECK_FILE(dir, "vm1.resource.lock", big);
	lockstore_close(s);
	free(big);
}

static void
status_names_are_distinct_lowercase_words(void)
{
	const char	*names[LOCKSTORE_INVALID_STATE + 1];
	const char	*p;
	int		 i, j;

	for (i = LOCKSTORE_OK; i <= LOCKSTORE_INVALID_STATE; i++) {
		names[i] = lockstore_status_name((enum lockstore_status)i);
		CU_ASSERT_FATAL(names[i] != NULL && names[i][0] != '\0');
		for (p = names[i]; *p != '\0'; p++)
			CU_ASSERT((*p >= 'a' && *p <= 'z') || *p == '-' ||
			    *p == '_');
		for (j = 0; j < i; j++)
			CU_ASSERT(strcmp(names[i], names[j]) != 0);
	}
	TU_ASSERT_STR_EQ(lockstore_status_name(LOCKSTORE_OK), "ok");
	TU_ASSERT_STR_EQ(lockstore_status_name(LOCKSTORE_HELD), "held");
	TU_ASSERT_STR_EQ(lockstore_status_name(LOCKSTORE_STORAGE), "storage");
}

static const struct tu_test tests[] = {
	{ "lock_in_removed_directory_is_storage_error",
	    lock_in_removed_directory_is_storage_error },
	{ "lock_in_read_only_directory_is_storage_error",
	    lock_in_read_only_directory_is_storage_error },
	{ "failed_write_is_storage_error_and_leaves_no_file",
	    failed_write_is_storage_error_and_leaves_no_file },
	{ "open_of_missing_directory_is_storage_error",
	    open_of_missing_directory_is_storage_error },
	{ "open_of_regular_file_is_storage_error",
	    open_of_regular_file_is_storage_error },
	{ "directory_in_place_of_lock_file_is_invalid_state",
	    directory_in_place_of_lock_file_is_invalid_state },
	{ "symlink_in_place_of_lock_file_is_invalid_state_and_target_untouched",
	    symlink_in_place_of_lock_file_is_invalid_state_and_target_untouched
	},
	{ "fifo_in_place_of_lock_file_is_invalid_state_without_hanging",
	    fifo_in_place_of_lock_file_is_invalid_state_without_hanging },
	{ "hashed_name_collision_is_invalid_state",
	    hashed_name_collision_is_invalid_state },
	{ "lock_file_recording_another_resource_is_invalid_state",
	    lock_file_recording_another_resource_is_invalid_state },
	{ "unparseable_lock_file_is_invalid_state",
	    unparseable_lock_file_is_invalid_state },
	{ "status_names_are_distinct_lowercase_words",
	    status_names_are_distinct_lowercase_words },
	{ NULL, NULL }
};

int
main(void)
{
	return tu_run("lockdir_errors", tests);
}
