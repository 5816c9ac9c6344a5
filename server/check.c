/* SPDX-License-Identifier: MIT */
/*
 * lockd --check beyond the file: does the service user exist, is the lock
 * directory there and usable.  The init script runs --check before every
 * start, so these messages say what to do.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "priv.h"

/* The user lockd becomes; 0 with *UID set (-1 if it does not exist). */
static int
check_user(const struct lockd_conf *conf, conf_reporter report, uid_t *uid)
{
	struct passwd	*pw;
	char		 msg[1024];

	*uid = (uid_t)-1;
	errno = 0;
	if ((pw = getpwnam(conf->user)) != NULL) {
		*uid = pw->pw_uid;
		return 0;
	}
	if (errno != 0 && errno != ENOENT && errno != ESRCH)
		snprintf(msg, sizeof(msg), "cannot look up user '%s': %s",
		    conf->user, strerror(errno));
	else
		snprintf(msg, sizeof(msg), "user '%s' does not exist: create "
		    "it with \"adduser --system --group --home %s %s\", or set "
		    "'user' in the configuration", conf->user, conf->lockdir,
		    conf->user);
	report(msg);
	return -1;
}

/* The lock directory as a start would check it, as user UID. */
static int
check_lockdir(const struct lockd_conf *conf, conf_reporter report, uid_t uid)
{
	struct stat	st;
	char		msg[1024];

	if (stat(conf->lockdir, &st) == -1 && errno == ENOENT) {
		snprintf(msg, sizeof(msg), "lock directory %s does not exist: "
		    "create it with \"install -d -o %s -g %s -m 0700 %s\"",
		    conf->lockdir, conf->user, conf->user, conf->lockdir);
		report(msg);
		return -1;
	}
	/* An unknown user was reported already: nothing to compare with. */
	if (uid == (uid_t)-1)
		return 0;
	if (priv_check_lockdir(conf->lockdir, uid, msg, sizeof(msg)) == -1) {
		report(msg);
		return -1;
	}
	return 0;
}

/* Checks the user and the lock directory of CONF; see check.h. */
int
check_host(const struct lockd_conf *conf, conf_reporter report)
{
	uid_t	uid;
	int	problems = 0;

	if (check_user(conf, report, &uid) == -1)
		problems++;
	/* As main() does: root becomes the user, anyone else stays. */
	if (geteuid() != 0 || strcmp(conf->user, "root") == 0)
		uid = geteuid();
	if (conf->backend == CONF_BACKEND_DIR &&
	    check_lockdir(conf, report, uid) == -1)
		problems++;
	return problems;
}
