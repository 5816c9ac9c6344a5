/* SPDX-License-Identifier: MIT */
/*
 * lockd's configuration: "keyword value" lines, '#' comments, a sorted
 * keyword table, bounded numbers, every error reported as FILE:LINE.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "conf.h"

enum conf_type { CONF_STRING, CONF_INT, CONF_BOOL };

struct conf_key {
	const char	*name;
	enum conf_type	 type;
	size_t		 offset;
	long long	 min, max;
};

#define OFF(f)	offsetof(struct lockd_conf, f)

/* Sorted by name for bsearch. */
static const struct conf_key keys[] = {
	{ "allow", CONF_STRING, OFF(allow), 0, 0 },
	{ "auth-file", CONF_STRING, OFF(auth_file), 0, 0 },
	{ "keepalive-requests", CONF_INT, OFF(keepalive_requests), 1, 1000000 },
	{ "keepalive-timeout", CONF_INT, OFF(keepalive_timeout), 1, 3600 },
	{ "listen", CONF_STRING, OFF(listen), 0, 0 },
	{ "lockdir", CONF_STRING, OFF(lockdir), 0, 0 },
	{ "log", CONF_STRING, OFF(log), 0, 0 },
	{ "max-connections", CONF_INT, OFF(max_connections), 1, 4096 },
	{ "max-request-size", CONF_INT, OFF(max_request_size), 1024, 16777216 },
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
	conf->verbose = 0;
	conf->user = strdup(LOCKD_USER);
	conf->pidfile = strdup(CONF_DEFAULT_PIDFILE);
	conf->pidfile_set = 0;
	conf->log = strdup("syslog");
	if (conf->listen == NULL || conf->lockdir == NULL ||
	    conf->user == NULL || conf->pidfile == NULL || conf->log == NULL) {
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
	char			*s, **sp;
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
		    k->offset == OFF(auth_file)) && s[0] != '/') {
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

/* Prints the effective configuration in config-file syntax. */
void
conf_print(FILE *fp, const struct lockd_conf *conf)
{
	fprintf(fp, "listen %s\n", conf->listen);
	fprintf(fp, "port %d\n", conf->port);
	fprintf(fp, "lockdir %s\n", conf->lockdir);
	fprintf(fp, "sync %s\n", conf->sync ? "yes" : "no");
	fprintf(fp, "max-connections %d\n", conf->max_connections);
	fprintf(fp, "keepalive-timeout %d\n", conf->keepalive_timeout);
	fprintf(fp, "keepalive-requests %d\n", conf->keepalive_requests);
	fprintf(fp, "timeout %d\n", conf->timeout);
	fprintf(fp, "max-request-size %d\n", conf->max_request_size);
	fprintf(fp, "verbose %s\n", conf->verbose ? "yes" : "no");
	fprintf(fp, "user %s\n", conf->user);
	fprintf(fp, "pidfile %s\n", conf->pidfile);
	fprintf(fp, "log %s\n", conf->log);
	if (conf->allow != NULL)
		print_allow(fp, conf->allow);
	if (conf->auth_file != NULL)
		fprintf(fp, "auth-file %s\n", conf->auth_file);
}

/* Frees what conf_defaults/conf_set allocated. */
void
conf_free(struct lockd_conf *conf)
{
	free(conf->listen);
	free(conf->lockdir);
	free(conf->user);
	free(conf->pidfile);
	free(conf->log);
	free(conf->allow);
	free(conf->auth_file);
	conf->log = conf->allow = conf->auth_file = NULL;
	conf->listen = conf->lockdir = conf->user = conf->pidfile = NULL;
}
