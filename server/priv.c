/* SPDX-License-Identifier: MIT */
/* Privileges: who lockd runs as, and whether its lock directory is safe. */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "priv.h"

/* Looks up USER. */
int
priv_lookup(const char *user, uid_t *uid, gid_t *gid, char *err,
    size_t errsize)
{
	struct passwd	*pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errsize, "unknown user '%s'%s%s (set 'user' in "
		    "the configuration or create the user)", user,
		    errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* Checks ownership and mode of the lock directory DIR. */
int
priv_check_lockdir(const char *dir, uid_t uid, char *err, size_t errsize)
{
	struct stat	st;

	if (stat(dir, &st) == -1) {
		snprintf(err, errsize, "cannot use lock directory %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errsize, "lock directory %s is not a directory",
		    dir);
		return -1;
	}
	if (st.st_uid != uid) {
		snprintf(err, errsize, "lock directory %s belongs to uid %ld, "
		    "not to uid %ld that lockd runs as (chown it)", dir,
		    (long)st.st_uid, (long)uid);
		return -1;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, errsize, "lock directory %s is writable by %s: "
		    "anyone who can write there can forge or remove locks "
		    "(chmod go-w it)", dir,
		    (st.st_mode & S_IWOTH) != 0 ? "everyone" : "its group");
		return -1;
	}
	return 0;
}

/* Drops root for good. */
int
priv_drop(const char *user, uid_t uid, gid_t gid, char *err, size_t errsize)
{
	if (setgroups(1, &gid) == -1) {
		snprintf(err, errsize, "setgroups: %s", strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) == -1) {
		snprintf(err, errsize, "setresgid(%ld): %s", (long)gid,
		    strerror(errno));
		return -1;
	}
	if (setresuid(uid, uid, uid) == -1) {
		snprintf(err, errsize, "setresuid(%ld): %s", (long)uid,
		    strerror(errno));
		return -1;
	}
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		snprintf(err, errsize, "could regain root after becoming %s",
		    user);
		return -1;
	}
	return 0;
}
