/* SPDX-License-Identifier: MIT */
/*
 * The lock directory backend of the lock store: one file per held lock in
 * gocept.lockd's layout, shared by every process that opens the directory.
 */
#ifndef LOCKSTORE_DIR_H
#define LOCKSTORE_DIR_H

#include "lockstore.h"

/* Options for lockstore_open_dir(). */
#define LOCKSTORE_NOSYNC	0x1	/* skip fsync: UNSAFE, tests only */

/*
 * Opens the lock directory DIR, which must exist and be a directory.
 * Removes temporary files left behind by processes that no longer run.
 * Returns LOCKSTORE_OK and sets *storep (free with lockstore_close()), or
 * LOCKSTORE_STORAGE with err filled.
 */
enum lockstore_status	lockstore_open_dir(struct lockstore **storep,
			    const char *dir, unsigned int flags,
			    struct lockstore_error *err);

#endif /* LOCKSTORE_DIR_H */
