/* SPDX-License-Identifier: MIT */
/*
 * lockd: the network lock daemon.  main() reads as the startup order:
 * options and configuration; listener, store and service; detach,
 * pidfile, privileges; threads, run; clean up.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "backend.h"
#include "check.h"
#include "conf.h"
#include "daemon.h"
#include "expire.h"
#include "http.h"
#include "listen.h"
#include "lockstore.h"
#include "etcd/lockstore_etcd.h"
#include "log.h"
#include "pidfile.h"
#include "priv.h"
#include "reload.h"
#include "rpc.h"

#define MAX_OVERRIDES	32

/* Open files the daemon keeps beside its connections (see main()). */
#define NOFILE_FIXED	128

struct options {
	const char	*config;	/* NULL: the default file, if any */
	int		 foreground;
	int		 check;
	int		 config_allocated;	/* by realpath() */
	int		 noverrides;
	const char	*keys[MAX_OVERRIDES];
	const char	*values[MAX_OVERRIDES];
};

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: lockd [-fhnvV] [-c FILE] [-d DIR] [-l ADDR] [-p PORT] "
	    "[-P FILE]\n"
	    "             [-u USER] [--no-sync] [--backend dir|etcd]\n"
	    "             [--etcd-endpoints URL[,URL...]] [--etcd-prefix "
	    "PREFIX]\n"
	    "  -c, --config FILE   configuration file (default %s)\n"
	    "  -d, --lockdir DIR   lock directory (default %s)\n"
	    "  -f, --foreground    stay in the foreground, log to stderr\n"
	    "  -l, --listen ADDR   listen address (default 127.0.0.1)\n"
	    "  -p, --port PORT     TCP port, 0 for any free one (default %d)\n"
	    "  -P, --pidfile FILE  pidfile, written in the foreground only "
	    "when given\n"
	    "                      (default %s)\n"
	    "  -u, --user USER     user to run as when started as root "
	    "(default %s)\n"
	    "      --no-sync       do not fsync before answering: UNSAFE, "
	    "for tests only\n"
	    "      --backend dir|etcd  where the locks are kept (default "
	    "dir)\n"
	    "      --etcd-endpoints URL[,URL...]  the etcd cluster (backend "
	    "etcd)\n"
	    "      --etcd-prefix PREFIX  key prefix in etcd (default %s)\n"
	    "  -n, --check         check the configuration, print it, exit\n"
	    "  -v, --verbose       log debug messages\n"
	    "  -V, --version       print the version and exit\n"
	    "  -h, --help          print this help and exit\n",
	    CONF_DEFAULT_FILE, CONF_DEFAULT_LOCKDIR, LOCKD_DEFAULT_PORT,
	    CONF_DEFAULT_PIDFILE, LOCKD_USER, LOCKSTORE_ETCD_PREFIX);
}

static void
add_override(struct options *o, const char *key, const char *value)
{
	if (o->noverrides == MAX_OVERRIDES) {
		fprintf(stderr, "lockd: too many options\n");
		exit(2);
	}
	o->keys[o->noverrides] = key;
	o->values[o->noverrides++] = value;
}

static void
parse_options(int argc, char *argv[], struct options *o)
{
	static const struct option longopts[] = {
		{ "backend", required_argument, NULL, 'B' },
		{ "check", no_argument, NULL, 'n' },
		{ "config", required_argument, NULL, 'c' },
		{ "etcd-endpoints", required_argument, NULL, 'E' },
		{ "etcd-prefix", required_argument, NULL, 'X' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "listen", required_argument, NULL, 'l' },
		{ "lockdir", required_argument, NULL, 'd' },
		{ "no-sync", no_argument, NULL, 'S' },
		{ "pidfile", required_argument, NULL, 'P' },
		{ "port", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, "c:d:fhl:np:P:u:vV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'B':
			add_override(o, "backend", optarg);
			break;
		case 'E':
			add_override(o, "etcd-endpoints", optarg);
			break;
		case 'X':
			add_override(o, "etcd-prefix", optarg);
			break;
		case 'c':
			o->config = optarg;
			break;
		case 'd':
			add_override(o, "lockdir", optarg);
			break;
		case 'f':
			o->foreground = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'l':
			add_override(o, "listen", optarg);
			break;
		case 'n':
			o->check = 1;
			break;
		case 'p':
			add_override(o, "port", optarg);
			break;
		case 'P':
			add_override(o, "pidfile", optarg);
			break;
		case 'S':
			add_override(o, "sync", "no");
			break;
		case 'u':
			add_override(o, "user", optarg);
			break;
		case 'v':
			add_override(o, "verbose", "yes");
			break;
		case 'V':
			printf("lockd %s\n", PACKAGE_VERSION);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "lockd: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		exit(2);
	}
}

static const struct options	*opts;	/* for reloading */

static void
report_stderr(const char *msg)
{
	fprintf(stderr, "lockd: %s\n", msg);
}

static void
report_log(const char *msg)
{
	log_warnx("%s", msg);
}

/* Defaults, then the file, then the command line; the number of errors. */
static int
build_conf(struct lockd_conf *conf, conf_reporter report)
{
	const char	*path = opts->config != NULL ? opts->config :
			    CONF_DEFAULT_FILE;
	char		 err[512], msg[600];
	int		 i, errors;

	conf_defaults(conf);
	errors = conf_parse_file(conf, path, report);
	if (errors == -1 && (opts->config != NULL || errno != ENOENT)) {
		snprintf(msg, sizeof(msg), "cannot read %s: %s", path,
		    strerror(errno));
		report(msg);
		return 1;
	}
	if (errors < 0)
		errors = 0;
	for (i = 0; i < opts->noverrides; i++)
		if (conf_set(conf, opts->keys[i], opts->values[i], err,
		    sizeof(err)) == -1) {
			report(err);
			errors++;
		}
	return errors + conf_check(conf, report);
}

static struct rpc		*rpc;		/* for reloading and stopping */
static const struct lockd_conf	*running;	/* what the server was
						   started with */

/* SIGTERM, SIGINT: waiting requests give up, then the server stops. */
static void
terminate(void)
{
	rpc_stop(rpc);
	http_terminate();
}

/*
 * The lock store policy of CONF, for the requests to come.  Every waiter
 * holds a connection: max-waiters stays below the connections actually
 * served (fewer than max-connections when open files are short).
 */
static void
apply_policy(const struct lockd_conf *conf, const char *when)
{
	struct lockstore_policy	p;

	conf_policy(conf, &p);
	if (p.max_waiters >= (unsigned int)running->max_connections) {
		log_warnx("%sonly %d connections are served: max-waiters "
		    "lowered from %u to %d", when, running->max_connections,
		    p.max_waiters, running->max_connections - 1);
		p.max_waiters = (unsigned int)running->max_connections - 1;
	}
	rpc_set_policy(rpc, &p, conf->break_lock);
	rpc->max_reply_size = (size_t)conf->max_reply_size;
	log_debug("%slock-delay %u ms, break-lock %s, history-size %lu, "
	    "max-waiters %u, max-wait %u ms, max-ttl %u ms", when,
	    p.lock_delay_ms, conf->break_lock ? "yes" : "no",
	    p.history_bytes, p.max_waiters, p.max_wait_ms, p.max_ttl_ms);
}

static int
reload_conf(struct lockd_conf *conf)
{
	return build_conf(conf, report_log);
}

/*
 * Serves until a signal; the exit status.  Only a signal may end the
 * loop: anything else is a failure that a supervisor must see
 * (Restart=on-failure).
 */
static int
serve(void)
{
	if (!http_run()) {
		log_warnx("the HTTP server stopped by itself (out of file "
		    "descriptors?); exiting with status 1");
		return 1;
	}
	log_info("stopped");
	return 0;
}

/*
 * SIGHUP: the lock store policy applies to the requests that follow; new
 * access rules replace the old ones only if they are valid.
 */
static int
reload_access(const struct lockd_conf *conf)
{
	struct access	*acc;
	char		 err[512];

	apply_policy(conf, "reload: ");
	log_info("reload: lock-delay, break-lock, history-size, max-waiters, "
	    "max-wait and max-ttl applied");
	if ((acc = access_new(conf, report_log, err, sizeof(err))) == NULL) {
		log_warnx("reload: %s; keeping the running access rules", err);
		return -1;
	}
	access_free(rpc_set_access(rpc, acc));
	return 0;
}

/*
 * -n: the users file and networks are part of the configuration too, and
 * the service user and lock directory must exist (check.c).
 * Returns the exit status.
 */
static int
check_only(struct lockd_conf *conf)
{
	struct access	*acc;
	char		 err[512];
	int		 status = 0;

	if ((acc = access_new(conf, report_stderr, err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "lockd: %s\n", err);
		status = 1;
	} else if (check_host(conf, report_stderr) > 0)
		status = 1;
	else
		conf_print(stdout, conf);
	access_free(acc);
	conf_free(conf);
	return status;
}

/*
 * Abyss needs a socket and a pipe per connection (3 descriptors), and
 * each request opens lock files: were descriptors to run out, Abyss's
 * accept loop would give up and the daemon stop.  So the slots are capped
 * to what the open-file limit can serve, beyond NOFILE_FIXED for the
 * daemon's own (logs, the lock directory, its history and token counter,
 * the waiters' inotify).
 */
static void
cap_connections(struct lockd_conf *conf)
{
	long	nofile;

	nofile = daemon_raise_nofile(4L * conf->max_connections +
	    NOFILE_FIXED);
	if (nofile == -1 || (nofile - NOFILE_FIXED) / 4 >=
	    conf->max_connections)
		return;
	log_warnx("only %ld open files allowed: serving %ld connections at "
	    "a time instead of max-connections %d", nofile,
	    nofile > NOFILE_FIXED + 4 ? (nofile - NOFILE_FIXED) / 4 : 1L,
	    conf->max_connections);
	conf->max_connections = nofile > NOFILE_FIXED + 4 ?
	    (int)((nofile - NOFILE_FIXED) / 4) : 1;
}

/* The daemon works in "/": SIGHUP must find a relative config again. */
static void
absolute_config(struct options *o)
{
	const char	*given = o->config;

	if (given == NULL || given[0] == '/')
		return;
	if ((o->config = realpath(given, NULL)) == NULL) {
		fprintf(stderr, "lockd: cannot read %s: %s\n", given,
		    strerror(errno));
		exit(1);
	}
	o->config_allocated = 1;
}

/*
 * Steps 3 to 5 of the startup: detach unless FOREGROUND, write the
 * pidfile when PIDFILE, and become UID and GID when DROP.
 */
static void
become_daemon(const struct lockd_conf *conf, int foreground, int pidfile,
    int drop, uid_t uid, gid_t gid)
{
	char	err[512];

	if (!foreground) {
		/* Opened first, so that a bad log path is still reported. */
		if (log_open(conf->log, drop ? uid : (uid_t)-1, gid) == -1)
			fatal("cannot open log %s", conf->log);
		if (daemon_detach() == -1)
			fatal("cannot detach");
	}
	if (pidfile && pidfile_write(conf->pidfile, drop ? uid : (uid_t)-1,
	    gid, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (drop && priv_drop(conf->user, uid, gid, err, sizeof(err)) == -1) {
		if (pidfile)
			pidfile_remove(conf->pidfile);
		fatalx("cannot become %s: %s", conf->user, err);
	}
	if (geteuid() == 0)
		log_warnx("running as root (user root is configured)");
}

int
main(int argc, char *argv[])
{
	static struct options	 o;
	struct lockd_conf	 conf;
	struct lockstore	*store;
	struct lockstore_error	 serr;
	struct access		*acc;
	struct expirer		*expirer;
	char			 url[128], err[512];
	uid_t			 uid;
	gid_t			 gid;
	int			 fd, errors, drop, pidfile, status = 0;

	/* 1. Options, configuration; log to stderr. */
	parse_options(argc, argv, &o);
	absolute_config(&o);
	opts = &o;
	if ((errors = build_conf(&conf, report_stderr)) > 0) {
		fprintf(stderr, "lockd: %d error%s in the configuration\n",
		    errors, errors == 1 ? "" : "s");
		conf_free(&conf);
		return 1;
	}
	if (o.check)
		return check_only(&conf);
	log_init(conf.verbose);

	/* Root hands the lock directory to the service user; anyone else
	 * runs as themselves. */
	drop = geteuid() == 0 && strcmp(conf.user, "root") != 0;
	uid = geteuid();
	gid = getegid();
	if (drop && priv_lookup(conf.user, &uid, &gid, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (backend_check(&conf, uid, err, sizeof(err)) == -1)
		fatalx("%s", err);
	pidfile = !o.foreground || conf.pidfile_set;
	if (pidfile && pidfile_check(conf.pidfile, err, sizeof(err)) == -1)
		fatalx("%s", err);
	cap_connections(&conf);

	/* 2. The listener, the store, the service over them. */
	if ((fd = listen_bind(conf.listen, conf.port, url, sizeof(url), err,
	    sizeof(err))) == -1)
		fatalx("%s", err);
	if (backend_open(&conf, &store, &serr) != LOCKSTORE_OK)
		fatalx("%s", serr.msg);
	if ((acc = access_new(&conf, report_stderr, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((rpc = rpc_new(store, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	running = &conf;
	apply_policy(&conf, "");
	rpc_set_access(rpc, acc);
	if (http_init(fd, &conf, rpc, err, sizeof(err)) == -1)
		fatalx("%s", err);
	/* Before the ready line: a supervisor may signal us right after. */
	if (daemon_signals(terminate, reload_request) == -1)
		fatal("cannot install signal handlers");
	fprintf(stderr, "lockd: listening on %s\n", url);
	fflush(stderr);

	/* 3.-5. Detach, pidfile, privileges. */
	become_daemon(&conf, o.foreground, pidfile, drop, uid, gid);
	if (backend_ready(&conf, store, url, &serr) == -1)
		fatalx("as user %s: %s", conf.user, serr.msg);

	/* 6. Threads after detaching and dropping root (fork() keeps
	 * none); run until a signal. */
	if (reload_start(&conf, reload_conf, reload_access) == -1)
		fatal("cannot start the reload thread");
	if ((expirer = expire_start(store)) == NULL)
		fatal("cannot start the lease expiry thread");
	status = serve();
	expire_stop(expirer);
	reload_stop();
	if (pidfile)
		pidfile_remove(conf.pidfile);
	http_free();
	rpc_free(rpc);
	lockstore_close(store);
	close(fd);
	conf_free(&conf);
	if (o.config_allocated)
		free((char *)o.config);
	return status;
}
