/* SPDX-License-Identifier: MIT */
/* Helpers shared by the unit tests of the lock-directory store. */
#include "config.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockdir_tu.h"
#include "lockstore.h"
#include "dir/fname.h"
#include "tu.h"

/* Opens DIR as a store or aborts the test. */
struct lockstore *
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
enum lockstore_status
call(const char *file, int line, struct lockstore *s, int unlock,
    const char *resource, const char *client, enum lockstore_status want,
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
			tu_check_int(err->status, st, 0, line, file,
			    "err.status");
		return st;
	}
	if (st == LOCKSTORE_OK)
		snprintf(got, sizeof(got), "ok");
	else
		snprintf(got, sizeof(got), "%s (%.120s)",
		    lockstore_status_name(st), err->msg);
	tu_check_str(got, lockstore_status_name(want), 0, line, file,
	    unlock ? "unlock" : "lock");
	return st;
}

/* Checks the outcome and, unless MSG is NULL, the exact message. */
void
expect(const char *file, int line, struct lockstore *s, int unlock,
    const char *resource, const char *client, enum lockstore_status want,
    const char *msg)
{
	struct lockstore_error	err;

	if (call(file, line, s, unlock, resource, client, want, want, &err) ==
	    want && msg != NULL)
		tu_check_str(err.msg, msg, 0, line, file, "message");
}

/* Checks a failure of kind WANT whose message starts with PREFIX. */
void
expect_failure(const char *file, int line, struct lockstore *s, int unlock,
    const char *resource, const char *client, enum lockstore_status want,
    const char *prefix)
{
	struct lockstore_error	err;
	size_t			n = strlen(prefix);

	if (call(file, line, s, unlock, resource, client, want, want, &err) !=
	    want)
		return;
	if (strncmp(err.msg, prefix, n) != 0 || strlen(err.msg) == n)
		tu_check_str(err.msg, prefix, 0, line, file,
		    "message prefix");
	if (want == LOCKSTORE_STORAGE)
		tu_check_int(err.sys_errno != 0, 1, 0, line, file,
		    "err.sys_errno != 0");
}

/* The message of a refused lock of a resource HOLDER holds. */
char *
held_msg(const char *holder)
{
	char	*m;

	if (asprintf(&m, "Resource already locked by '%s'", holder) == -1)
		abort();
	return m;
}

/* Copies the first line of the lock file of RESOURCE to BUF; 0 or -1. */
int
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
void
put_file(const char *dir, const char *name, const char *content)
{
	char	path[PATH_SIZE];

	CU_ASSERT_FATAL(tu_join(path, sizeof(path), dir, name) == 0);
	CU_ASSERT_FATAL(tu_write_file(path, content, strlen(content), 0644)
	    == 0);
}

/* Checks that DIR/NAME holds exactly CONTENT. */
void
check_file(const char *file, int line, const char *dir, const char *name,
    const char *content)
{
	char	path[PATH_SIZE], *data;

	CU_ASSERT_FATAL(tu_join(path, sizeof(path), dir, name) == 0);
	data = tu_read_file(path, NULL);
	tu_check_str(data, content, 0, line, file, name);
	free(data);
}
