/* SPDX-License-Identifier: MIT */
/* The lock-directory backend: one file per held lock, gocept.lockd's layout. */
#ifndef LOCKDIR_H
#define LOCKDIR_H

#include "lockstore.h"

/* Prefix of the temporary files a lock is written to before it is linked. */
#define LOCKDIR_TMP_PREFIX	".tmp."

/* Seconds after which any temporary file is stale, whoever made it. */
#define LOCKDIR_TMP_STALE	600

#endif /* LOCKDIR_H */
