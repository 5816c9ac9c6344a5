/* SPDX-License-Identifier: MIT */
/*
 * SIGHUP: the signal handler only writes a byte to a pipe; this thread
 * reads it, loads the configuration anew and applies what can change
 * while lockd serves.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "reload.h"

static int			 pipefd[2] = { -1, -1 };
static pthread_t		 thread;
static struct lockd_conf	*live;
static reload_loader		 loader;
static reload_applier		 applier;

static void
note_change(const char *what, int changed)
{
	if (changed)
		log_warnx("reload: %s changed; restart lockd to apply it", what);
}

static void
reload(void)
{
	struct lockd_conf	next;
	char			*swap;
	int			errors;

	if (log_reopen() == -1)
		log_warn("reload: cannot reopen the log file");
	if ((errors = loader(&next)) > 0) {
		log_warnx("reload: %d error%s in the configuration; keeping "
		    "the running one", errors, errors == 1 ? "" : "s");
		conf_free(&next);
		return;
	}
	/* First, so that what follows reaches the new destination. */
	if (strcmp(next.log, live->log) != 0 && log_switch(next.log) == 0) {
		swap = live->log;
		live->log = next.log;
		next.log = swap;
	}
	note_change("listen", strcmp(next.listen, live->listen) != 0);
	note_change("port", next.port != live->port);
	note_change("lockdir", strcmp(next.lockdir, live->lockdir) != 0);
	note_change("sync", next.sync != live->sync);
	note_change("user", strcmp(next.user, live->user) != 0);
	note_change("pidfile", strcmp(next.pidfile, live->pidfile) != 0);
	note_change("max-connections",
	    next.max_connections != live->max_connections);
	note_change("keepalive-timeout",
	    next.keepalive_timeout != live->keepalive_timeout);
	note_change("keepalive-requests",
	    next.keepalive_requests != live->keepalive_requests);
	note_change("timeout", next.timeout != live->timeout);
	note_change("max-request-size",
	    next.max_request_size != live->max_request_size);
	note_change("backend", next.backend != live->backend);
	note_change("etcd-endpoints", (next.etcd_endpoints == NULL) !=
	    (live->etcd_endpoints == NULL) || (next.etcd_endpoints != NULL &&
	    strcmp(next.etcd_endpoints, live->etcd_endpoints) != 0));
	note_change("etcd-prefix",
	    strcmp(next.etcd_prefix, live->etcd_prefix) != 0);
	note_change("etcd-timeout", next.etcd_timeout != live->etcd_timeout);
	if (applier != NULL && applier(&next) == 0)
		log_info("reload: access rules (allow, auth-file) applied");
	live->verbose = next.verbose;
	log_set_verbose(live->verbose);
	log_info("reload: configuration re-read (verbose %s)",
	    live->verbose ? "yes" : "no");
	conf_free(&next);
}

static void *
run(void *arg)
{
	char	c;
	ssize_t	n;

	for (;;) {
		n = read(pipefd[0], &c, 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n != 1 || c == 'q')
			break;
		reload();
	}
	return NULL;
}

/* Starts the reload thread; see reload.h. */
int
reload_start(struct lockd_conf *running, reload_loader load,
    reload_applier apply)
{
	live = running;
	loader = load;
	applier = apply;
	if (pipe2(pipefd, O_CLOEXEC) == -1)
		return -1;
	if ((errno = pthread_create(&thread, NULL, run, NULL)) != 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		pipefd[0] = pipefd[1] = -1;
		return -1;
	}
	return 0;
}

/* Asks for a reload from a signal handler. */
void
reload_request(void)
{
	/* A full pipe means a reload is pending already. */
	if (pipefd[1] != -1 && write(pipefd[1], "r", 1) == -1) {
	}
}

/* Stops and joins the reload thread. */
void
reload_stop(void)
{
	if (pipefd[1] == -1)
		return;
	while (write(pipefd[1], "q", 1) == -1 && errno == EINTR)
		;
	pthread_join(thread, NULL);
	close(pipefd[0]);
	close(pipefd[1]);
	pipefd[0] = pipefd[1] = -1;
}
