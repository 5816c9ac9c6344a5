/* SPDX-License-Identifier: MIT */
/* The pidfile: written atomically, refused while another lockd runs. */
#ifndef PIDFILE_H
#define PIDFILE_H

#include <stddef.h>

#include <sys/types.h>

/* Refuses (-1 with ERR filled) when PATH names a lockd that still runs. */
int	pidfile_check(const char *path, char *err, size_t errsize);

/*
 * Writes our pid to PATH through PATH.tmp and rename(), after the same
 * check; a stale pidfile is replaced.  The file is given to OWNER (unless
 * it is (uid_t)-1) so that lockd can remove it after dropping root.
 */
int	pidfile_write(const char *path, uid_t owner, gid_t group, char *err,
	    size_t errsize);

/* Removes PATH if it still holds our pid. */
void	pidfile_remove(const char *path);

#endif /* PIDFILE_H */
