/* SPDX-License-Identifier: MIT */
/*
 * lockd's configuration: "keyword value" lines, '#' comments, a sorted
 * keyword table, bounded numbers, every error reported as FILE:LINE.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "conf.h"
#include "etcd/lockstore_etcd.h"

/* CONF_SIZE: bytes into a long long; CONF_SIZE_INT: bytes into an int. */
enum conf_type { CONF_STRING, CONF_INT, CONF_BOOL, CONF_SIZE, CONF_SIZE_INT,
    CONF_BACKEND };

struct conf_key {
	const char	*name;
	enum conf_type	 type;
	size_t		 offset;
	long long	 min, max;
};

#define OFF(f)	offsetof(struct lockd_conf, f)

#define HISTORY_SIZE_MAX	(1LL << 30)

/* Sorted by name for bsearch. */
static const struct conf_key keys[] = {
	{ "allow", CONF_STRING, OFF(allow), 0, 0 },
	{ "auth-file", CONF_STRING, OFF(auth_file), 0, 0 },
	{ "backend", CONF_BACKEND, OFF(backend), 0, 0 },
	{ "break-lock", CONF_BOOL, OFF(break_lock), 0, 1 },
	{ "etcd-cacert", CONF_STRING, OFF(etcd_cacert), 0, 0 },
	{ "etcd-cert", CONF_STRING, OFF(etcd_cert), 0, 0 },
	{ "etcd-endpoints", CONF_STRING, OFF(etcd_endpoints), 0, 0 },
	{ "etcd-key", CONF_STRING, OFF(etcd_key), 0, 0 },
	{ "etcd-prefix", CONF_STRING, OFF(etcd_prefix), 0, 0 },
	{ "etcd-timeout", CONF_INT, OFF(etcd_timeout), 1, 600 },
	{ "history-size", CONF_SIZE, OFF(history_size), 0, HISTORY_SIZE_MAX },
	{ "keepalive-requests", CONF_INT, OFF(keepalive_requests), 1, 1000000 },
	{ "keepalive-timeout", CONF_INT, OFF(keepalive_timeout), 1, 3600 },
	{ "listen", CONF_STRING, OFF(listen), 0, 0 },
	{ "lock-delay", CONF_INT, OFF(lock_delay), 0, 3600 },
	{ "lockdir", CONF_STRING, OFF(lockdir), 0, 0 },
	{ "log", CONF_STRING, OFF(log), 0, 0 },
	{ "max-connections", CONF_INT, OFF(max_connections), 1, 4096 },
	{ "max-reply-size", CONF_SIZE_INT, OFF(max_reply_size), 65536,
	    1073741824 },
	{ "max-request-size", CONF_SIZE_INT, OFF(max_request_size), 1024,
	    16777216 },
	{ "max-ttl", CONF_INT, OFF(max_ttl), 0, 2592000 },
	{ "max-wait", CONF_INT, OFF(max_wait), 0, 86400 },
	{ "max-waiters", CONF_INT, OFF(max_waiters), 0, 4095 },
	{ "pidfile", CONF_STRING, OFF(pidfile), 0, 0 },
	{ "port", CONF_INT, OFF(port), 0, 65535 },
	{ "sync", CONF_BOOL, OFF(sync), 0, 1 },
	{ "timeout", CONF_INT, OFF(timeout), 1, 3600 },
	{ "user", CONF_STRING, OFF(user), 0, 0 },
	{ "verbose", CONF_BOOL, OFF(verbose), 0, 1 },
};

/* Sets every default; the one place defaults live. */
void
conf_defaults(struct lockd_conf *conf)
{
	const struct lockstore_policy	def = LOCKSTORE_POLICY_DEFAULT;

	memset(conf, 0, sizeof(*conf));
	conf->listen = strdup("127.0.0.1");
	conf->port = LOCKD_DEFAULT_PORT;
	conf->lockdir = strdup(CONF_DEFAULT_LOCKDIR);
	conf->sync = 1;
	/* Enough slots that idle keep-alive clients cannot starve others:
	 * Abyss sleeps 2 s in its accept loop when every slot is taken. */
	conf->max_connections = 1024;
	conf->keepalive_timeout = 5;
	conf->keepalive_requests = 1000;
	conf->timeout = 10;
	conf->max_request_size = 65536;
	conf->max_reply_size = CONF_DEFAULT_MAX_REPLY;
	conf->user = strdup(LOCKD_USER);
	conf->pidfile = strdup(CONF_DEFAULT_PIDFILE);
	conf->log = strdup("syslog");
	/* The store's own defaults, so that the two cannot drift apart. */
	conf->lock_delay = (int)(def.lock_delay_ms / 1000);
	conf->history_size = (long long)def.history_bytes;
	conf->max_waiters = (int)def.max_waiters;
	conf->max_wait = (int)(def.max_wait_ms / 1000);
	conf->max_ttl = (int)(def.max_ttl_ms / 1000);
	conf->backend = CONF_BACKEND_DIR;
	conf->etcd_prefix = strdup(LOCKSTORE_ETCD_PREFIX);
	conf->etcd_timeout = LOCKSTORE_ETCD_TIMEOUT_MS / 1000;
	if (conf->listen == NULL || conf->lockdir == NULL ||
	    conf->user == NULL || conf->pidfile == NULL || conf->log == NULL ||
	    conf->etcd_prefix == NULL) {
		fputs("lockd: out of memory\n", stderr);
		exit(1);
	}
}

static int
compare_key(const void *a, const void *b)
{
	return strcmp(a, ((const struct conf_key *)b)->name);
}

static int
parse_int(const char *s, long long min, long long max, long long *out)
{
	char		*end;
	long long	 v;

	if (*s == '\0' || *s == ' ' || *s == '+')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * A byte count from MIN to MAX with an optional K, M or G suffix (powers
 * of 1024, either case).
 */
static int
parse_size(const char *s, long long min, long long max, long long *out)
{
	char		 digits[32];
	size_t		 n = strlen(s);
	long long	 v, unit = 1;

	if (n == 0 || n >= sizeof(digits))
		return -1;
	memcpy(digits, s, n + 1);
	switch (digits[n - 1]) {
	case 'K': case 'k':
		unit = 1LL << 10;
		break;
	case 'M': case 'm':
		unit = 1LL << 20;
		break;
	case 'G': case 'g':
		unit = 1LL << 30;
		break;
	}
	if (unit != 1)
		digits[n - 1] = '\0';
	if (parse_int(digits, 0, max / unit, &v) == -1 || v * unit < min)
		return -1;
	*out = v * unit;
	return 0;
}

/* V as lockd.conf would say it: in the largest exact K, M or G unit. */
static const char *
size_text(char *buf, size_t size, long long v)
{
	static const char	units[] = "GMK";
	int			i;

	for (i = 0; i < 3; i++)
		if (v != 0 && v % (1LL << (30 - 10 * i)) == 0) {
			snprintf(buf, size, "%lld%c", v >> (30 - 10 * i),
			    units[i]);
			return buf;
		}
	snprintf(buf, size, "%lld", v);
	return buf;
}

/*
 * "allow NET[,NET...]": each line adds to the list, and every network is
 * checked here so that --check reports it with its line number.
 */
static int
add_allow(struct lockd_conf *conf, const char *value, char *err, size_t size)
{
	struct cidr	 c;
	char		*copy, *p, *tok, *joined, e[256];
	size_t		 len;

	if ((copy = strdup(value)) == NULL) {
		snprintf(err, size, "out of memory");
		return -1;
	}
	for (p = copy; (tok = strsep(&p, ", \t")) != NULL;) {
		if (*tok == '\0')
			continue;
		if (cidr_parse(tok, &c, e, sizeof(e)) == -1) {
			snprintf(err, size, "allow: %s", e);
			free(copy);
			return -1;
		}
	}
	free(copy);
	len = (conf->allow != NULL ? strlen(conf->allow) + 1 : 0) +
	    strlen(value) + 1;
	if ((joined = malloc(len)) == NULL) {
		snprintf(err, size, "out of memory");
		return -1;
	}
	snprintf(joined, len, "%s%s%s", conf->allow != NULL ? conf->allow : "",
	    conf->allow != NULL ? "," : "", value);
	for (p = joined; *p != '\0'; p++)
		if (*p == ' ' || *p == '\t')
			*p = ',';
	free(conf->allow);
	conf->allow = joined;
	return 0;
}

/* Applies directive KEY with VALUE; see conf.h. */
int
conf_set(struct lockd_conf *conf, const char *key, const char *value,
    char *err, size_t size)
{
	const struct conf_key	*k;
	char			*s, **sp, lo[24], hi[24];
	long long		 v;

	k = bsearch(key, keys, sizeof(keys) / sizeof(keys[0]), sizeof(keys[0]),
	    compare_key);
	if (k == NULL) {
		snprintf(err, size, "unknown keyword '%s'", key);
		return -1;
	}
	switch (k->type) {
	case CONF_STRING:
		if (*value == '\0') {
			snprintf(err, size, "%s needs a value", key);
			return -1;
		}
		if (k->offset == OFF(allow))
			return add_allow(conf, value, err, size);
		if ((s = strdup(value)) == NULL) {
			snprintf(err, size, "out of memory");
			return -1;
		}
		sp = (char **)((char *)conf + k->offset);
		free(*sp);
		*sp = s;
		if (k->offset == OFF(pidfile))
			conf->pidfile_set = 1;
		/* The daemon works in "/", so relative paths would move. */
		if (k->offset == OFF(log) && strcmp(s, "syslog") != 0 &&
		    s[0] != '/') {
			snprintf(err, size, "log must be syslog or an absolute "
			    "file path, not '%s'", s);
			return -1;
		}
		if ((k->offset == OFF(pidfile) ||
		    k->offset == OFF(auth_file) ||
		    k->offset == OFF(etcd_cacert) ||
		    k->offset == OFF(etcd_cert) ||
		    k->offset == OFF(etcd_key)) && s[0] != '/') {
			snprintf(err, size, "%s must be an absolute path, "
			    "not '%s'", key, s);
			return -1;
		}
		return 0;
	case CONF_INT:
		if (parse_int(value, k->min, k->max, &v) == -1) {
			snprintf(err, size, "%s must be a whole number from "
			    "%lld to %lld, not '%s'", key, k->min, k->max,
			    value);
			return -1;
		}
		*(int *)((char *)conf + k->offset) = (int)v;
		return 0;
	case CONF_SIZE:
	case CONF_SIZE_INT:
		if (parse_size(value, k->min, k->max, &v) == -1) {
			snprintf(err, size, "%s must be a number of bytes from "
			    "%s to %s (with a K, M or G suffix or none), not "
			    "'%s'", key, size_text(lo, sizeof(lo), k->min),
			    size_text(hi, sizeof(hi), k->max), value);
			return -1;
		}
		if (k->type == CONF_SIZE_INT)
			*(int *)((char *)conf + k->offset) = (int)v;
		else
			*(long long *)((char *)conf + k->offset) = v;
		return 0;
	case CONF_BOOL:
		if (strcmp(value, "yes") == 0)
			v = 1;
		else if (strcmp(value, "no") == 0)
			v = 0;
		else {
			snprintf(err, size, "%s must be yes or no, not '%s'",
			    key, value);
			return -1;
		}
		*(int *)((char *)conf + k->offset) = (int)v;
		return 0;
	case CONF_BACKEND:
		if (strcmp(value, "dir") == 0)
			conf->backend = CONF_BACKEND_DIR;
		else if (strcmp(value, "etcd") == 0)
			conf->backend = CONF_BACKEND_ETCD;
		else {
			snprintf(err, size, "backend must be dir or etcd, not "
			    "'%s'", value);
			return -1;
		}
		return 0;
	}
	snprintf(err, size, "internal error: keyword type");
	return -1;
}

/* Splits LINE in place into keyword and value; 0 for a blank line. */
static int
split_line(char *line, char **key, char **value)
{
	char	*p, *end;

	for (p = line; *p != '\0'; p++)
		if (*p == '#' && (p == line || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
	end = line + strlen(line);
	while (end > line && strchr(" \t\r\n", end[-1]) != NULL)
		*--end = '\0';
	p = line + strspn(line, " \t");
	if (*p == '\0')
		return 0;
	*key = p;
	p += strcspn(p, " \t");
	if (*p != '\0') {
		*p++ = '\0';
		p += strspn(p, " \t");
	}
	*value = p;
	return 1;
}

/* Reads configuration lines from FP, named PATH in messages. */
int
conf_parse_stream(struct lockd_conf *conf, FILE *fp, const char *path,
    conf_reporter report)
{
	char	 line[4096], err[512], msg[1024], *key, *value;
	int	 lineno = 0, errors = 0;

	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			snprintf(msg, sizeof(msg), "%s:%d: line too long", path,
			    lineno);
			report(msg);
			errors++;
			while (fgets(line, sizeof(line), fp) != NULL &&
			    strchr(line, '\n') == NULL)
				;
			continue;
		}
		if (!split_line(line, &key, &value))
			continue;
		if (conf_set(conf, key, value, err, sizeof(err)) == -1) {
			snprintf(msg, sizeof(msg), "%s:%d: %s", path, lineno,
			    err);
			report(msg);
			errors++;
		}
	}
	if (ferror(fp)) {
		snprintf(msg, sizeof(msg), "%s: read error", path);
		report(msg);
		errors++;
	}
	return errors;
}

/* Reads PATH; see conf.h. */
int
conf_parse_file(struct lockd_conf *conf, const char *path,
    conf_reporter report)
{
	FILE	*fp;
	int	 errors;

	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	errors = conf_parse_stream(conf, fp, path, report);
	fclose(fp);
	return errors;
}

/* One "allow" line per network, so that no printed line is too long to
 * be read back. */
static void
print_allow(FILE *fp, const char *list)
{
	const char	*p = list;
	size_t		 n;

	while (*p != '\0') {
		n = strcspn(p, ",");
		if (n > 0)
			fprintf(fp, "allow %.*s\n", (int)n, p);
		p += n;
		if (*p == ',')
			p++;
	}
}

/* The etcd backend's settings of CONF. */
void
conf_etcd(const struct lockd_conf *conf, struct lockstore_etcd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->endpoints = conf->etcd_endpoints;
	cfg->prefix = conf->etcd_prefix;
	cfg->timeout_ms = (unsigned int)conf->etcd_timeout * 1000u;
	cfg->cacert = conf->etcd_cacert;
	cfg->cert = conf->etcd_cert;
	cfg->key = conf->etcd_key;
}

/* Checks across directives; the number of errors reported. */
int
conf_check(const struct lockd_conf *conf, conf_reporter report)
{
	struct lockstore_etcd_config	cfg;
	struct lockstore_error		err;
	char				msg[LOCKSTORE_MSG_MAX + 64];
	int				errors = 0;

	if (conf->max_waiters >= conf->max_connections) {
		snprintf(msg, sizeof(msg), "max-waiters %d must be less than "
		    "max-connections %d: every waiting request holds a "
		    "connection", conf->max_waiters, conf->max_connections);
		report(msg);
		errors++;
	}
	if (conf->backend == CONF_BACKEND_ETCD) {
		conf_etcd(conf, &cfg);
		if (cfg.endpoints == NULL) {
			report("backend etcd needs etcd-endpoints "
			    "URL[,URL...]");
			errors++;
		} else if (lockstore_etcd_check(&cfg, &err) != LOCKSTORE_OK) {
			snprintf(msg, sizeof(msg), "%s", err.msg);
			report(msg);
			errors++;
		}
	}
	return errors;
}

/* The lock store policy of CONF. */
void
conf_policy(const struct lockd_conf *conf, struct lockstore_policy *policy)
{
	policy->lock_delay_ms = (unsigned int)conf->lock_delay * 1000u;
	policy->max_waiters = (unsigned int)conf->max_waiters;
	policy->max_wait_ms = (unsigned int)conf->max_wait * 1000u;
	policy->max_ttl_ms = (unsigned int)conf->max_ttl * 1000u;
	policy->history_bytes = (unsigned long)conf->history_size;
}

/* Prints the effective configuration in config-file syntax. */
void
conf_print(FILE *fp, const struct lockd_conf *conf)
{
	char	buf[24];

	fprintf(fp, "listen %s\n", conf->listen);
	fprintf(fp, "port %d\n", conf->port);
	fprintf(fp, "lockdir %s\n", conf->lockdir);
	fprintf(fp, "sync %s\n", conf->sync ? "yes" : "no");
	fprintf(fp, "max-connections %d\n", conf->max_connections);
	fprintf(fp, "keepalive-timeout %d\n", conf->keepalive_timeout);
	fprintf(fp, "keepalive-requests %d\n", conf->keepalive_requests);
	fprintf(fp, "timeout %d\n", conf->timeout);
	fprintf(fp, "max-request-size %d\n", conf->max_request_size);
	fprintf(fp, "max-reply-size %d\n", conf->max_reply_size);
	fprintf(fp, "verbose %s\n", conf->verbose ? "yes" : "no");
	fprintf(fp, "user %s\n", conf->user);
	fprintf(fp, "pidfile %s\n", conf->pidfile);
	fprintf(fp, "log %s\n", conf->log);
	fprintf(fp, "lock-delay %d\n", conf->lock_delay);
	fprintf(fp, "break-lock %s\n", conf->break_lock ? "yes" : "no");
	fprintf(fp, "history-size %s\n", size_text(buf, sizeof(buf),
	    conf->history_size));
	fprintf(fp, "max-waiters %d\n", conf->max_waiters);
	fprintf(fp, "max-wait %d\n", conf->max_wait);
	fprintf(fp, "max-ttl %d\n", conf->max_ttl);
	if (conf->allow != NULL)
		print_allow(fp, conf->allow);
	if (conf->auth_file != NULL)
		fprintf(fp, "auth-file %s\n", conf->auth_file);
	fprintf(fp, "backend %s\n", conf->backend == CONF_BACKEND_ETCD ?
	    "etcd" : "dir");
	if (conf->etcd_endpoints != NULL)
		fprintf(fp, "etcd-endpoints %s\n", conf->etcd_endpoints);
	fprintf(fp, "etcd-prefix %s\n", conf->etcd_prefix);
	fprintf(fp, "etcd-timeout %d\n", conf->etcd_timeout);
	if (conf->etcd_cacert != NULL)
		fprintf(fp, "etcd-cacert %s\n", conf->etcd_cacert);
	if (conf->etcd_cert != NULL)
		fprintf(fp, "etcd-cert %s\n", conf->etcd_cert);
	if (conf->etcd_key != NULL)
		fprintf(fp, "etcd-key %s\n", conf->etcd_key);
}

/* Frees what conf_defaults/conf_set allocated. */
void
conf_free(struct lockd_conf *conf)
{
	char	**sp;
	size_t	  i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].type == CONF_STRING) {
			sp = (char **)((char *)conf + keys[i].offset);
			free(*sp);
			*sp = NULL;
		}
}
