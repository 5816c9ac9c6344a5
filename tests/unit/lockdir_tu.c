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
