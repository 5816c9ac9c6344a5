/* SPDX-License-Identifier: MIT */
/* Privileges: who lockd runs as, and whether its lock directory is safe. */
#ifndef PRIV_H
#define PRIV_H

#include <sys/types.h>

#include <stddef.h>

/* Looks up USER; 0 with *uid and *gid set, or -1 with ERR filled. */
int	priv_lookup(const char *user, uid_t *uid, gid_t *gid, char *err,
	    size_t errsize);

/*
 * Refuses (-1 with ERR) a lock directory that is not a directory, is not
 * owned by UID, or is writable by group or others: anyone who can write
 * there can forge or delete locks.
 */
int	priv_check_lockdir(const char *dir, uid_t uid, char *err,
	    size_t errsize);

/*
 * Becomes USER (UID, GID) for good: supplementary groups, then gid, then
 * uid, each checked, and verifies that root cannot be regained.
 */
int	priv_drop(const char *user, uid_t uid, gid_t gid, char *err,
	    size_t errsize);

#endif /* PRIV_H */
