/* SPDX-License-Identifier: MIT */
/* Unit tests of the lock-directory store, through lockstore.h. */
#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <CUnit/Basic.h>
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lockfile.h"
#include "lockstore.h"
#include "name.h"
#include "tu.h"

#define PATH_SIZE	4352	/* a directory plus any lock file name */
#define LOOP_SECONDS	15.0	/* wall time bound of every stress loop */

#define RACE_CHILDREN	8
#define RACE_ROUNDS	50
#define CYCLE_CHILDREN	4
#define CYCLE_COUNT	200
#define CYCLE_RES	4
#define THREADS		16
#define THREAD_CYCLES	200
#define HOT_RES		2

#define NOBODY		65534
#define SKIPPED		77	/* exit status of a child that cannot run */

static const char held_prefix[] = "Resource already locked by '";

/* Opens DIR as a store or aborts the test. */
static struct lockstore *
open_store(const char *dir, unsigned int flags)
{
	struct lockstore	*s = NULL;
	struct lockstore_error	 err;

	TU_ASSERT_INT_EQ_FATAL(lockstore_open_dir(&s, dir, flags, &err),
	    LOCKSTORE_OK);
	CU_ASSERT_FATAL(s != NULL);
	return s;
}

/* Runs lock (UNLOCK 0) or unlock; checks the outcome as told by LINE. */
static enum lockstore_status
call(int line, struct lockstore *s, int unlock, const char *resource,
    const char *client, enum lockstore_status want,
    enum lockstore_status also, struct lockstore_error *err)
{
	enum lockstore_status	st;
	char			got[160];

	memset(err, 0, sizeof(*err));
	st = unlock ? lockstore_unlock(s, resource, client, err) :
	    lockstore_lock(s, resource, client, err);
	if (st == want || st == also) {
		CU_PASS("expected outcome");
		if (st != LOCKSTORE_OK)
			tu_check_int(err->status, st, 0, line, __FILE__,
			    "err.status");
		return st;
	}
	if (st == LOCKSTORE_OK)
		snprintf(got, sizeof(got), "ok");
	else
		snprintf(got, sizeof(got), "%s (%.120s)",
		    lockstore_status_name(st), err->msg);
	tu_check_str(got, lockstore_status_name(want), 0, line, __FILE__,
	    unlock ? "unlock" : "lock");
	return st;
}

/* Checks the outcome and, unless MSG is NULL, the exact message. */
static void
expect(int line, struct lockstore *s, int unlock, const char *resource,
    const char *client, enum lockstore_status want, const char *msg)
{
	struct lockstore_error	err;

	if (call(line, s, unlock, resource, client, want, want, &err) ==
	    want && msg != NULL)
		tu_check_str(err.msg, msg, 0, line, __FILE__, "message");
}

/* Checks a failure of kind WANT whose message starts with PREFIX. */
static void
expect_failure(int line, struct lockstore *s, int unlock,
    const char *resource, const char *client, enum lockstore_status want,
    const char *prefix)
{
	struct lockstore_error	err;
	size_t			n = strlen(prefix);

	if (call(line, s, unlock, resource, client, want, want, &err) != want)
		return;
	if (strncmp(err.msg, prefix, n) != 0 || strlen(err.msg) == n)
		tu_check_str(err.msg, prefix, 0, line, __FILE__,
		    "message prefix");
	if (want == LOCKSTORE_STORAGE)
		tu_check_int(err.sys_errno != 0, 1, 0, line, __FILE__,
		    "err.sys_errno != 0");
}

#define LOCK(s, r, c, st, msg)	expect(__LINE__, (s), 0, (r), (c), (st), (msg))
#define UNLOCK(s, r, c, st, msg) \
	expect(__LINE__, (s), 1, (r), (c), (st), (msg))
#define FAILS(s, u, r, c, st, prefix) \
	expect_failure(__LINE__, (s), (u), (r), (c), (st), (prefix))
#define INVALID(s, u, r, c) \
	FAILS((s), (u), (r), (c), LOCKSTORE_INVALID_STATE, \
	    "Invalid lock state: ")
/* Fails with status A or B. */
#define FAILS_AS_ONE_OF(s, u, r, c, a, b) \
	do {								\
		struct lockstore_error	e_;				\
		call(__LINE__, (s), (u), (r), (c), (a), (b), &e_);	\
	} while (0)

/* The path of RESOURCE's lock file in DIR. */
static void
lock_path(char *buf, const char *dir, const char *resource)
{
	char	fname[NAME_FILE_SIZE];

	name_encode(resource, fname);
	CU_ASSERT_FATAL(tu_join(buf, PATH_SIZE, dir, fname) == 0);
}

static char *
held_msg(const char *holder)
{
	char	*m;

	if (asprintf(&m, "Resource already locked by '%s'", holder) == -1)
		abort();
	return m;
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

/* Copies the first line of the lock file of RESOURCE to BUF; 0 or -1. */
static int
read_holder(const char *dir, const char *resource, char *buf, size_t size)
{
	char	path[PATH_SIZE], fname[NAME_FILE_SIZE], *data, *nl;
	int	rc = -1;

	name_encode(resource, fname);
	if (tu_join(path, sizeof(path), dir, fname) == -1 ||
	    (data = tu_read_file(path, NULL)) == NULL)
		return -1;
	if ((nl = strchr(data, '\n')) != NULL)
		*nl = '\0';
	if (strlen(data) < size) {
		memcpy(buf, data, strlen(data) + 1);
		rc = 0;
	}
	free(data);
	return rc;
}

/* Makes DIR/NAME with CONTENT, as gocept.lockd or an operator would. */
static void
put_file(const char *dir, const char *name, const char *content)
{
	char	path[PATH_SIZE];

	CU_ASSERT_FATAL(tu_join(path, sizeof(path), dir, name) == 0);
	CU_ASSERT_FATAL(tu_write_file(path, content, strlen(content), 0644)
	    == 0);
}

/* Checks that DIR/NAME holds exactly CONTENT. */
static void
check_file(int line, const char *dir, const char *name, const char *content)
{
	char	path[PATH_SIZE], *data;

	CU_ASSERT_FATAL(tu_join(path, sizeof(path), dir, name) == 0);
	data = tu_read_file(path, NULL);
	tu_check_str(data, content, 0, line, __FILE__, name);
	free(data);
}

#define CHECK_FILE(dir, name, content) \
	check_file(__LINE__, (dir), (name), (content))

static int
exists(const char *dir, const char *name)
{
	char		path[PATH_SIZE];
	struct stat	st;

	if (tu_join(path, sizeof(path), dir, name) == -1)
		return -1;
	return lstat(path, &st) == 0;
}

/* In a child: checks that ST is WANT, else says why and returns 1. */
static int
child_status(int line, enum lockstore_status st, enum lockstore_status want,
    const struct lockstore_error *err)
{
	if (st == want)
		return 0;
	fprintf(stderr, "test_lockdir.c:%d: got %s (%s), expected %s\n", line,
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
			fprintf(stderr, "test_lockdir.c:%d: %s\n",	\
			    __LINE__, #cond);				\
			return 1;					\
		}							\
	} while (0)

/* --- the documented outcomes ------------------------------------------ */

static void
seed_scenario_gives_documented_outcomes_and_messages(void)
{
	struct lockstore	*s;
	char			*dir, before[64];

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	s = open_store(dir, 0);		/* durable: fsync as in production */
	LOCK(s, "vm1", "host1", LOCKSTORE_OK, NULL);
	LOCK(s, "vm1", "host2", LOCKSTORE_HELD,
	    "Resource already locked by 'host1'");
	/* The holder itself is refused too, as gocept.lockd did. */
	LOCK(s, "vm1", "host1", LOCKSTORE_HELD,
	    "Resource already locked by 'host1'");
	UNLOCK(s, "vm1", "host2", LOCKSTORE_NOT_OWNER,
	    "Resource locked by 'host1' cannot be unlocked by 'host2'");
	CU_ASSERT(read_holder(dir, "vm1", before, sizeof(before)) == 0);
	TU_ASSERT_STR_EQ(before, "host1");
	UNLOCK(s, "vm1", "host1", LOCKSTORE_OK, NULL);
	CU_ASSERT(exists(dir, "vm1.resource.lock") == 0);
	UNLOCK(s, "vm1", "host1", LOCKSTORE_NOT_LOCKED, "Resource not locked");
	UNLOCK(s, "vm1", "host2", LOCKSTORE_NOT_LOCKED, "Resource not locked");
	UNLOCK(s, "never", "host2", LOCKSTORE_NOT_LOCKED,
	    "Resource not locked");
	LOCK(s, "vm1", "host2", LOCKSTORE_OK, NULL);
	LOCK(s, "vm2", "host1", LOCKSTORE_OK, NULL);
	UNLOCK(s, "vm1", "host2", LOCKSTORE_OK, NULL);
	UNLOCK(s, "vm2", "host1", LOCKSTORE_OK, NULL);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 0);
	lockstore_close(s);
}

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
	CU_ASSERT_FATAL(rmdir(dir) == 0);
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
	small.rlim_cur = 8;
	CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
	CHILD_STATUS(lockstore_lock(s, "vm1", "host-with-a-long-name", &err),
	    LOCKSTORE_STORAGE, &err);
	CHILD_CHECK(err.sys_errno == EFBIG);
	CHILD_CHECK(strncmp(err.msg, "Storage error: ", 15) == 0);
	/* Neither a lock nor a half-written temporary file remains. */
	CHILD_CHECK(tu_count_entries(dir) == 0);
	CHILD_STATUS(lockstore_unlock(s, "vm1", "host-with-a-long-name", &err),
	    LOCKSTORE_NOT_LOCKED, &err);
	CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
	CHILD_STATUS(lockstore_lock(s, "vm1", "host-with-a-long-name", &err),
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

/* --- exclusion across processes and threads ---------------------------- */

/* What one racing child saw; small enough for one atomic pipe write. */
struct race_report {
	int	idx;
	int	status;
	char	msg[128];
};

/* A racing child: open, wait for the start signal, lock, report. */
static void
race_child(const char *dir, int idx, int start, int out)
{
	struct race_report	 rep;
	struct lockstore	*s;
	struct lockstore_error	 err;
	char			 me[32], c;

	alarm(TU_CHILD_TIMEOUT);
	memset(&rep, 0, sizeof(rep));
	rep.idx = idx;
	snprintf(me, sizeof(me), "child-%d", idx);
	if (lockstore_open_dir(&s, dir, LOCKSTORE_NOSYNC, &err) !=
	    LOCKSTORE_OK)
		_exit(1);
	while (read(start, &c, 1) == -1 && errno == EINTR)
		;
	rep.status = lockstore_lock(s, "hot", me, &err);
	if (rep.status != LOCKSTORE_OK)
		snprintf(rep.msg, sizeof(rep.msg), "%.*s",
		    (int)sizeof(rep.msg) - 1, err.msg);
	if (write(out, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
		_exit(1);
	lockstore_close(s);
	_exit(0);
}

/* One round; returns the number of problems found (and asserted). */
static int
race_round(struct lockstore *s, const char *dir)
{
	struct race_report	rep, reps[RACE_CHILDREN];
	pid_t			pids[RACE_CHILDREN];
	char			winner[32], holder[64], *m;
	int			start[2], out[2], i, n = 0, oks = 0;
	int			problems = 0;

	CU_ASSERT_FATAL(pipe(start) == 0 && pipe(out) == 0);
	fflush(stdout);
	for (i = 0; i < RACE_CHILDREN; i++) {
		if ((pids[i] = fork()) == 0) {
			close(start[1]);
			close(out[0]);
			race_child(dir, i, start[0], out[1]);
		}
		CU_ASSERT_FATAL(pids[i] > 0);
	}
	close(start[0]);
	close(out[1]);
	close(start[1]);	/* go */
	winner[0] = '\0';
	while (n < RACE_CHILDREN && read(out[0], &rep, sizeof(rep)) ==
	    (ssize_t)sizeof(rep)) {
		reps[n++] = rep;
		if (rep.status == LOCKSTORE_OK) {
			oks++;
			snprintf(winner, sizeof(winner), "child-%d", rep.idx);
		}
	}
	close(out[0]);
	for (i = 0; i < RACE_CHILDREN; i++)
		if (tu_wait(pids[i]) != 0)
			problems++;
	problems += (n != RACE_CHILDREN) + (oks != 1);
	TU_ASSERT_INT_EQ(n, RACE_CHILDREN);
	TU_ASSERT_INT_EQ(oks, 1);
	if (oks != 1)
		return problems + 1;
	m = held_msg(winner);
	for (i = 0; i < n; i++) {
		if (reps[i].status == LOCKSTORE_OK)
			continue;
		if (reps[i].status != LOCKSTORE_HELD ||
		    strcmp(reps[i].msg, m) != 0) {
			problems++;
			TU_ASSERT_STR_EQ(reps[i].msg, m);
		}
	}
	free(m);
	if (read_holder(dir, "hot", holder, sizeof(holder)) != 0 ||
	    strcmp(holder, winner) != 0) {
		problems++;
		TU_ASSERT_STR_EQ(holder, winner);
	}
	UNLOCK(s, "hot", winner, LOCKSTORE_OK, NULL);
	return problems;
}

static void
racing_processes_get_exactly_one_winner(void)
{
	struct lockstore	*s;
	char			*dir;
	double			 deadline;
	int			 round, problems = 0;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	s = open_store(dir, LOCKSTORE_NOSYNC);
	deadline = tu_now() + LOOP_SECONDS;
	for (round = 0; round < RACE_ROUNDS && problems == 0 &&
	    tu_now() < deadline; round++)
		problems += race_round(s, dir);
	TU_ASSERT_INT_EQ(problems, 0);
	CU_ASSERT(round >= 10);		/* enough rounds to mean something */
	/* No temporary file survives the losers. */
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 0);
	lockstore_close(s);
}

/* What a cycling child found, as its exit status. */
#define CYCLE_OK		0
#define CYCLE_TWO_HOLDERS	1
#define CYCLE_ERROR		2
#define CYCLE_NEVER_LOCKED	3

static const char *cycle_res[CYCLE_RES] = { "r0", "r/1", ".r2", "r3" };

/* One cycling child: lock, check the file is ours, unlock, again. */
static int
cycle_child(const char *dir, int idx)
{
	struct lockstore	*s;
	struct lockstore_error	 err;
	enum lockstore_status	 st;
	char			 me[32], holder[64];
	const char		*r;
	unsigned int		 seed = (unsigned int)idx * 7919u + 1;
	double			 deadline = tu_now() + LOOP_SECONDS;
	int			 i, oks = 0;

	snprintf(me, sizeof(me), "child-%d", idx);
	if (lockstore_open_dir(&s, dir, LOCKSTORE_NOSYNC, &err) !=
	    LOCKSTORE_OK)
		return CYCLE_ERROR;
	for (i = 0; i < CYCLE_COUNT && tu_now() < deadline; i++) {
		r = cycle_res[rand_r(&seed) % CYCLE_RES];
		st = lockstore_lock(s, r, me, &err);
		if (st == LOCKSTORE_HELD) {
			if (strncmp(err.msg, held_prefix,
			    sizeof(held_prefix) - 1) != 0)
				return CYCLE_ERROR;
			continue;
		}
		if (st != LOCKSTORE_OK) {
			fprintf(stderr, "%s: lock %s: %s\n", me, r, err.msg);
			return CYCLE_ERROR;
		}
		oks++;
		/* Ours until we let go: nobody else's name, never gone. */
		if (read_holder(dir, r, holder, sizeof(holder)) != 0 ||
		    strcmp(holder, me) != 0)
			return CYCLE_TWO_HOLDERS;
		sched_yield();
		if (read_holder(dir, r, holder, sizeof(holder)) != 0 ||
		    strcmp(holder, me) != 0)
			return CYCLE_TWO_HOLDERS;
		if ((st = lockstore_unlock(s, r, me, &err)) != LOCKSTORE_OK) {
			fprintf(stderr, "%s: unlock %s: %s\n", me, r, err.msg);
			return st == LOCKSTORE_NOT_OWNER ||
			    st == LOCKSTORE_NOT_LOCKED ? CYCLE_TWO_HOLDERS :
			    CYCLE_ERROR;
		}
	}
	lockstore_close(s);
	return oks > 0 ? CYCLE_OK : CYCLE_NEVER_LOCKED;
}

static void
cycling_processes_never_see_two_holders(void)
{
	char		*dir;
	int		 i;
	pid_t		 pids[CYCLE_CHILDREN];

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	fflush(stdout);
	for (i = 0; i < CYCLE_CHILDREN; i++) {
		if ((pids[i] = fork()) == 0) {
			alarm(TU_CHILD_TIMEOUT);
			_exit(cycle_child(dir, i));
		}
		CU_ASSERT_FATAL(pids[i] > 0);
	}
	for (i = 0; i < CYCLE_CHILDREN; i++)
		TU_ASSERT_INT_EQ(tu_wait(pids[i]), CYCLE_OK);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 0);
}

/* Shared by the threads of one test. */
struct hot {
	struct lockstore	*stores[2];
	const char		*dir;
	atomic_int		 holders[HOT_RES];
	atomic_int		 max_holders;
	atomic_int		 oks;
	atomic_int		 errors;
};

struct worker {
	struct hot	*hot;
	int		 idx;
	pthread_t	 tid;
};

static void *
hot_thread(void *arg)
{
	struct worker		*w = arg;
	struct hot		*h = w->hot;
	struct lockstore	*s = h->stores[w->idx % 2];
	struct lockstore_error	 err;
	enum lockstore_status	 st;
	static const char	*res[HOT_RES] = { "hot-a", "hot/b" };
	char			 me[32];
	double			 deadline = tu_now() + LOOP_SECONDS;
	int			 i, r, n, m;

	snprintf(me, sizeof(me), "thread-%d", w->idx);
	for (i = 0; i < THREAD_CYCLES && tu_now() < deadline; i++) {
		r = (i + w->idx) % HOT_RES;
		st = lockstore_lock(s, res[r], me, &err);
		if (st == LOCKSTORE_HELD)
			continue;
		if (st != LOCKSTORE_OK) {
			atomic_fetch_add(&h->errors, 1);
			continue;
		}
		atomic_fetch_add(&h->oks, 1);
		n = atomic_fetch_add(&h->holders[r], 1) + 1;
		m = atomic_load(&h->max_holders);
		while (n > m &&
		    !atomic_compare_exchange_weak(&h->max_holders, &m, n))
			;
		sched_yield();
		atomic_fetch_sub(&h->holders[r], 1);
		if (lockstore_unlock(s, res[r], me, &err) != LOCKSTORE_OK)
			atomic_fetch_add(&h->errors, 1);
	}
	return NULL;
}

static void
threads_on_hot_resources_never_exceed_one_holder(void)
{
	struct hot	h;
	struct worker	w[THREADS];
	char		*dir;
	int		 i;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	memset(&h, 0, sizeof(h));
	h.dir = dir;
	/* Threads share one store, and half of them a second one. */
	h.stores[0] = open_store(dir, LOCKSTORE_NOSYNC);
	h.stores[1] = open_store(dir, LOCKSTORE_NOSYNC);
	for (i = 0; i < THREADS; i++) {
		w[i].hot = &h;
		w[i].idx = i;
		CU_ASSERT_FATAL(pthread_create(&w[i].tid, NULL, hot_thread,
		    &w[i]) == 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(w[i].tid, NULL);
	TU_ASSERT_INT_EQ(atomic_load(&h.max_holders), 1);
	TU_ASSERT_INT_EQ(atomic_load(&h.errors), 0);
	CU_ASSERT(atomic_load(&h.oks) > 0);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 0);
	lockstore_close(h.stores[0]);
	lockstore_close(h.stores[1]);
}

static const struct tu_test tests[] = {
	{ "seed_scenario_gives_documented_outcomes_and_messages",
	    seed_scenario_gives_documented_outcomes_and_messages },
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
	{ "racing_processes_get_exactly_one_winner",
	    racing_processes_get_exactly_one_winner },
	{ "cycling_processes_never_see_two_holders",
	    cycling_processes_never_see_two_holders },
	{ "threads_on_hot_resources_never_exceed_one_holder",
	    threads_on_hot_resources_never_exceed_one_holder },
	{ NULL, NULL }
};

int
main(void)
{
	return tu_run("lockdir", tests);
}
