/* SPDX-License-Identifier: MIT */
/* Helpers shared by the unit tests of the lock-directory store. */
#ifndef LOCKDIR_TU_H
#define LOCKDIR_TU_H

#include <stddef.h>

#include "lockstore.h"
#include "dir/lockstore_dir.h"
#include "store_contract.h"	/* LOCK, UNLOCK, FAILS, held_msg */

#define PATH_SIZE	4352	/* a directory plus any lock file name */

/* Opens DIR as a store or aborts the test. */
struct lockstore	*open_store(const char *dir, unsigned int flags);

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
