/* SPDX-License-Identifier: MIT */
/* lockd's configuration: defaults, the config file, command-line overrides. */
#ifndef CONF_H
#define CONF_H

#include <stdio.h>

#include "lockstore.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR	"/var"
#endif

#ifndef RUNSTATEDIR
#define RUNSTATEDIR	"/run"
#endif
#ifndef LOCKD_USER
#define LOCKD_USER	"lockd"
#endif

#define CONF_DEFAULT_FILE	SYSCONFDIR "/lockd.conf"
#define CONF_DEFAULT_LOCKDIR	LOCALSTATEDIR "/lib/lockd"
#define CONF_DEFAULT_PIDFILE	RUNSTATEDIR "/lockd/lockd.pid"
/* max-reply-size: the answer to one request (a multicall's in all). */
#define CONF_DEFAULT_MAX_REPLY	(16 << 20)

struct lockd_conf {
	char	*listen;		/* numeric address or host name */
	int	 port;			/* 0: the kernel picks one */
	char	*lockdir;
	int	 sync;			/* fsync before answering */
	int	 max_connections;
	int	 keepalive_timeout;	/* seconds idle between requests */
	int	 keepalive_requests;	/* requests per connection */
	int	 timeout;		/* seconds for reading a request */
	int	 max_request_size;	/* bytes */
	int	 max_reply_size;	/* bytes per request's answer */
	int	 verbose;		/* log debug messages */
	char	*user;			/* run as this user when started
					   as root */
	char	*pidfile;
	char	*log;			/* "syslog" or a file, once detached */
	char	*allow;			/* comma-separated networks, or NULL:
					   any peer */
	char	*auth_file;		/* users file, or NULL: no
					   authentication */
	int	 pidfile_set;		/* given explicitly: also written
					   in the foreground */
	/* The lock store's policy (struct lockstore_policy). */
	int	 lock_delay;		/* seconds after a break or expiry */
	int	 break_lock;		/* break_lock() allowed */
	long long history_size;		/* bytes per history segment; 0: off */
	int	 max_waiters;		/* acquire()s waiting at once */
	int	 max_wait;		/* seconds an acquire may wait */
	int	 max_ttl;		/* seconds of the longest lease */
	/* The lock store: the lock directory, or etcd (ETCD). */
	int	 backend;		/* CONF_BACKEND_* */
	char	*etcd_endpoints;	/* "URL[,URL...]", or NULL */
	char	*etcd_prefix;
	int	 etcd_timeout;		/* seconds per request */
	char	*etcd_cacert;		/* NULL: the system's CAs */
	char	*etcd_cert;		/* client certificate, or NULL */
	char	*etcd_key;		/* its key, or NULL */
};

#define CONF_BACKEND_DIR	0
#define CONF_BACKEND_ETCD	1

/* Receives one error of a configuration file, as "FILE:LINE: message". */
typedef void	(*conf_reporter)(const char *msg);

/* Sets every default; the one place defaults live. */
void	conf_defaults(struct lockd_conf *conf);

/*
 * Applies directive KEY with VALUE.  Returns 0, or -1 with a message for a
 * person in ERR (SIZE bytes).  Shared by the file parser and the options.
 */
int	conf_set(struct lockd_conf *conf, const char *key, const char *value,
	    char *err, size_t size);

/*
 * Reads PATH, handing each error as "PATH:LINE: message" to REPORT.
 * Returns the number of errors (0 on success), or -1 if PATH cannot be
 * read (errno set).
 */
int	conf_parse_file(struct lockd_conf *conf, const char *path,
	    conf_reporter report);

/* Like conf_parse_file, from the open stream FP; never -1. */
int	conf_parse_stream(struct lockd_conf *conf, FILE *fp, const char *path,
	    conf_reporter report);

/*
 * Checks what single directives cannot: max-waiters below
 * max-connections (every waiting request holds a connection and a thread);
 * for backend etcd, the endpoints and TLS files (readable now).
 * Each error goes to REPORT; returns their number.
 */
int	conf_check(const struct lockd_conf *conf, conf_reporter report);

/* The etcd backend's settings of CONF (pointing into CONF). */
struct lockstore_etcd_config;
void	conf_etcd(const struct lockd_conf *conf,
	    struct lockstore_etcd_config *cfg);

/* The lock store policy of CONF. */
void	conf_policy(const struct lockd_conf *conf,
	    struct lockstore_policy *policy);

/* Prints the effective configuration in config-file syntax. */
void	conf_print(FILE *fp, const struct lockd_conf *conf);

/* Frees what conf_defaults/conf_set allocated. */
void	conf_free(struct lockd_conf *conf);

#endif /* CONF_H */
