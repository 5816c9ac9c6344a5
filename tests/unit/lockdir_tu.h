/* SPDX-License-Identifier: MIT */
/* Helpers shared by the unit tests of the lock-directory store. */
#ifndef LOCKDIR_TU_H
#define LOCKDIR_TU_H

#include <stddef.h>

#include "lockstore.h"
#include "dir/lockstore_dir.h"

#define PATH_SIZE	4352	/* a directory plus any lock file name */

/* Opens DIR as a store or aborts the test. */
struct lockstore	*open_store(const char *dir, unsigned int flags);

/*
 * Runs lock (UNLOCK 0) or unlock of RESOURCE by CLIENT and fills ERR.  An
 * outcome other than WANT or ALSO fails the check at FILE:LINE.  Returns
 * the outcome.
 */
enum lockstore_status	 call(const char *file, int line,
			    struct lockstore *s, int unlock,
			    const char *resource, const char *client,
			    enum lockstore_status want,
			    enum lockstore_status also,
			    struct lockstore_error *err);

/* Checks the outcome and, unless MSG is NULL, the exact message. */
void	 expect(const char *file, int line, struct lockstore *s, int unlock,
	    const char *resource, const char *client,
	    enum lockstore_status want, const char *msg);

/* Checks a failure of kind WANT whose message starts with PREFIX. */
void	 expect_failure(const char *file, int line, struct lockstore *s,
	    int unlock, const char *resource, const char *client,
	    enum lockstore_status want, const char *prefix);

#define LOCK(s, r, c, st, msg) \
	expect(__FILE__, __LINE__, (s), 0, (r), (c), (st), (msg))
#define UNLOCK(s, r, c, st, msg) \
	expect(__FILE__, __LINE__, (s), 1, (r), (c), (st), (msg))
#define FAILS(s, u, r, c, st, prefix) \
	expect_failure(__FILE__, __LINE__, (s), (u), (r), (c), (st), (prefix))
#define INVALID(s, u, r, c) \
	FAILS((s), (u), (r), (c), LOCKSTORE_INVALID_STATE, \
	    "Invalid lock state: ")
/* Fails with status A or B. */
#define FAILS_AS_ONE_OF(s, u, r, c, a, b) \
	do {								\
		struct lockstore_error e_;				\
		call(__FILE__, __LINE__, (s), (u), (r), (c), (a), (b),	\
		    &e_);						\
	} while (0)

/* The message of a refused lock of a resource HOLDER holds; caller frees. */
char	*held_msg(const char *holder);

/* Copies the first line of the lock file of RESOURCE to BUF; 0 or -1. */
int	 read_holder(const char *dir, const char *resource, char *buf,
	    size_t size);

/* Makes DIR/NAME with CONTENT, as gocept.lockd or an operator would. */
void	 put_file(const char *dir, const char *name, const char *content);

/* Checks that DIR/NAME holds exactly CONTENT; a failure names FILE:LINE. */
void	 check_file(const char *file, int line, const char *dir,
	    const char *name, const char *content);

#define CHECK_FILE(dir, name, content) \
	check_file(__FILE__, __LINE__, (dir), (name), (content))

#endif /* LOCKDIR_TU_H */
