/* SPDX-License-Identifier: MIT */
/*
 * The methods beyond gocept.lockd: acquire (waiting, leases, reacquiring),
 * renew, break_lock and history; and how a waiting request notices that
 * its client has gone away.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>
#include <xmlrpc-c/abyss.h>

#include "access.h"
#include "chan.h"
#include "log.h"
#include "rpc.h"

#define HISTORY_DEFAULT_LIMIT	100
#define REASON_MAX		1000	/* bytes of a break_lock reason */
#define MAX_PARAMS		4

/* A waiting acquire's view of its connection (the cancel test's state). */
struct waiter {
	struct rpc	*rpc;
	TSession	*session;
	int		 fd;		/* the connection; -1: not found */
	int		 looked;
};

static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Reads between NMIN and NMAX parameters of METHOD into V (NULL beyond
 * those given; the caller DECREFs the others).  USAGE lists them for the
 * fault.  The number given, or -1 with fault 10.
 */
static int
read_params(xmlrpc_env *env, xmlrpc_value *params, const char *method,
    const char *usage, int nmin, int nmax, xmlrpc_value **v)
{
	int	i, n;

	for (i = 0; i < nmax; i++)
		v[i] = NULL;
	n = xmlrpc_array_size(env, params);
	if (env->fault_occurred)
		return -1;
	if (n < nmin || n > nmax) {
		xmlrpc_env_set_fault_formatted(env, RPC_FAULT_PARAMS,
		    "%s takes %s, got %d", method, usage, n);
		return -1;
	}
	for (i = 0; i < n; i++) {
		xmlrpc_array_read_item(env, params, i, &v[i]);
		if (env->fault_occurred)
			return -1;
	}
	return n;
}

static void
drop_params(xmlrpc_value **v, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		if (v[i] != NULL)
			xmlrpc_DECREF(v[i]);
}

/* Parameter INDEX (NAME) of METHOD as a string in *OUT, for the caller to
 * free; 0, or -1 with fault 10. */
static int
param_string(xmlrpc_env *env, xmlrpc_value *v, const char *method,
    int index, const char *name, const char **out)
{
	if (xmlrpc_value_type(v) != XMLRPC_TYPE_STRING) {
		xmlrpc_env_set_fault_formatted(env, RPC_FAULT_PARAMS,
		    "%s: parameter %d (%s) must be a string, not %s", method,
		    index, name, rpc_type_name(xmlrpc_value_type(v)));
		return -1;
	}
	xmlrpc_read_string(env, v, out);
	if (env->fault_occurred) {
		xmlrpc_env_clean(env);
		xmlrpc_env_init(env);
		xmlrpc_env_set_fault_formatted(env, RPC_FAULT_PARAMS,
		    "%s: parameter %d (%s) is not a valid string", method,
		    index, name);
		return -1;
	}
	return 0;
}

/*
 * The options struct V, parameter INDEX of METHOD: it must be a struct
 * whose members are all among KNOWN ("a, b"), so that a misspelt option
 * is refused instead of silently ignored.  0, or -1 with fault 10.
 */
static int
check_options(xmlrpc_env *env, xmlrpc_value *v, const char *method,
    int index, const char *const *known, const char *list)
{
	xmlrpc_value	*key, *val;
	const char	*name;
	size_t		 k;
	int		 i, n, ok;

	if (xmlrpc_value_type(v) != XMLRPC_TYPE_STRUCT) {
		xmlrpc_env_set_fault_formatted(env, RPC_FAULT_PARAMS,
		    "%s: parameter %d (options) must be a struct, not %s",
		    method, index, rpc_type_name(xmlrpc_value_type(v)));
		return -1;
	}
	n = xmlrpc_struct_size(env, v);
	for (i = 0; i < n && !env->fault_occurred; i++) {
		xmlrpc_struct_read_member(env, v, (unsigned int)i, &key, &val);
		if (env->fault_occurred)
			break;
		xmlrpc_read_string(env, key, &name);
		xmlrpc_DECREF(key);
		xmlrpc_DECREF(val);
		if (env->fault_occurred)
			break;
		for (ok = 0, k = 0; known[k] != NULL; k++)
			ok |= strcmp(name, known[k]) == 0;
		if (!ok)
			xmlrpc_env_set_fault_formatted(env, RPC_FAULT_PARAMS,
			    "%s: unknown option '%.64s' (options are: %s)",
			    method, name, list);
		free((char *)name);
	}
	return env->fault_occurred ? -1 : 0;
}

/*
 * A number of seconds V (int, i8 or double) from 0 to MAX_MS / 1000, in
 * *MS rounded up to the millisecond (so that a tiny TTL is still a
 * lease).  WHAT names it in the fault ("option 'wait'").
 */
static int
read_seconds(xmlrpc_env *env, xmlrpc_value *v, const char *method,
    const char *what, unsigned int max_ms, unsigned int *ms)
{
	xmlrpc_int64	i8;
	double		d = 0, x;
	int		i;

	switch (xmlrpc_value_type(v)) {
	case XMLRPC_TYPE_INT:
		xmlrpc_read_int(env, v, &i);
		d = i;
		break;
	case XMLRPC_TYPE_I8:
		xmlrpc_read_i8(env, v, &i8);
		d = (double)i8;
		break;
	case XMLRPC_TYPE_DOUBLE:
		xmlrpc_read_double(env, v, &d);
		break;
	default:
		xmlrpc_env_set_fault_formatted(env, RPC_FAULT_PARAMS,
		    "%s: %s must be a number of seconds (int or double), "
		    "not %s", method, what,
		    rpc_type_name(xmlrpc_value_type(v)));
		return -1;
	}
	if (env->fault_occurred)
		return -1;
	x = d * 1000.0;
	if (!isfinite(d) || d < 0 || x > (double)max_ms) {
		xmlrpc_env_set_fault_formatted(env, RPC_FAULT_PARAMS,
		    "%s: %s must be from 0 to %.10g seconds", method, what,
		    max_ms / 1000.0);
		return -1;
	}
	*ms = (unsigned int)x;
	if ((double)*ms < x)
		(*ms)++;
	return 0;
}

/* Optional member NAME of OPTS as seconds into *MS (left alone when
 * absent). */
static int
opt_seconds(xmlrpc_env *env, xmlrpc_value *opts, const char *method,
    const char *name, unsigned int max_ms, unsigned int *ms)
{
	xmlrpc_value	*v = NULL;
	char		 what[64];
	int		 r;

	xmlrpc_struct_find_value(env, opts, name, &v);
	if (env->fault_occurred || v == NULL)
		return env->fault_occurred ? -1 : 0;
	snprintf(what, sizeof(what), "option '%s'", name);
	r = read_seconds(env, v, method, what, max_ms, ms);
	xmlrpc_DECREF(v);
	return r;
}

/* OUT (SIZE bytes): the audit outcome of a refused call. */
static const char *
refusal(enum lockstore_status st, char *out, size_t size)
{
	snprintf(out, size, "%s (%s)", st == LOCKSTORE_STORAGE ||
	    st == LOCKSTORE_INVALID_STATE ? "error" : "refused",
	    lockstore_status_name(st));
	return out;
}

/* Sets the fault for a store status ST with message MSG. */
static void
store_fault(xmlrpc_env *env, const struct waiter *w, enum lockstore_status st,
    const char *msg)
{
	if (st == LOCKSTORE_CANCELLED)
		xmlrpc_env_set_fault(env, RPC_FAULT_STORAGE,
		    w != NULL && rpc_stopping(w->rpc) ? "Request cancelled: "
		    "lockd is stopping" : "Request cancelled: the client went "
		    "away");
	else
		xmlrpc_env_set_fault(env, rpc_fault_code(st), msg);
}

/* Fault 42 and its audit line when CALL may not act as CLIENT. */
static int
bind_identity(xmlrpc_env *env, const struct rpc_call *call,
    const char *method, const char *resource, const char *client)
{
	char	msg[600], c[300];

	if (rpc_may_act_as(call, client))
		return 0;
	snprintf(msg, sizeof(msg), "Not permitted: user '%s' may not act as "
	    "client '%s'", call->user_name, log_escape(c, sizeof(c), client));
	rpc_audit(call, method, resource, client, "denied", msg);
	xmlrpc_env_set_fault(env, ACCESS_FAULT_FORBIDDEN, msg);
	return -1;
}

/* The result of acquire() and renew(). */
static xmlrpc_value *
grant_value(xmlrpc_env *env, const struct lockstore_grant *g)
{
	xmlrpc_value	*st;

	st = xmlrpc_struct_new(env);
	if (env->fault_occurred)
		return NULL;
	rpc_struct_put(env, st, "token", xmlrpc_i8_new(env,
	    (xmlrpc_int64)g->token));
	rpc_struct_put(env, st, "reacquired", xmlrpc_bool_new(env,
	    g->reacquired != 0));
	if (g->since > 0)
		rpc_struct_put(env, st, "since", xmlrpc_datetime_new_sec(env,
		    (time_t)g->since));
	rpc_struct_put(env, st, "waited", xmlrpc_double_new(env,
	    g->waited_ms / 1000.0));
	if (g->ttl_ms > 0) {
		rpc_struct_put(env, st, "ttl", xmlrpc_double_new(env,
		    g->ttl_ms / 1000.0));
		rpc_struct_put(env, st, "expires", rpc_datetime_ms(env,
		    g->expires_ms, 0));
	}
	if (env->fault_occurred) {
		xmlrpc_DECREF(st);
		return NULL;
	}
	return st;
}

/*
 * Whether socket address GOT is WANT (WANTLEN bytes, possibly cut short
 * like Abyss's 16-byte peer address): same family, port and as much of
 * the address as WANT holds.  WILDCARD: an unspecified WANT address
 * matches any.
 */
static int
addr_match(const struct sockaddr_storage *got, const struct sockaddr *want,
    size_t wantlen, int wildcard)
{
	struct sockaddr_storage	 w;
	const struct sockaddr_in	*g4, *w4;
	const struct sockaddr_in6	*g6, *w6;
	size_t			 n;

	memset(&w, 0, sizeof(w));
	memcpy(&w, want, wantlen < sizeof(w) ? wantlen : sizeof(w));
	if (wantlen < offsetof(struct sockaddr_in, sin_addr) ||
	    got->ss_family != w.ss_family)
		return 0;
	if (w.ss_family == AF_INET) {
		g4 = (const struct sockaddr_in *)got;
		w4 = (const struct sockaddr_in *)&w;
		return g4->sin_port == w4->sin_port &&
		    ((wildcard && w4->sin_addr.s_addr == htonl(INADDR_ANY)) ||
		    g4->sin_addr.s_addr == w4->sin_addr.s_addr);
	}
	if (w.ss_family == AF_INET6) {
		g6 = (const struct sockaddr_in6 *)got;
		w6 = (const struct sockaddr_in6 *)&w;
		if (g6->sin6_port != w6->sin6_port)
			return 0;
		n = wantlen > offsetof(struct sockaddr_in6, sin6_addr) ?
		    wantlen - offsetof(struct sockaddr_in6, sin6_addr) : 0;
		if (n > sizeof(w6->sin6_addr))
			n = sizeof(w6->sin6_addr);
		if (wildcard && n == sizeof(w6->sin6_addr) &&
		    IN6_IS_ADDR_UNSPECIFIED(&w6->sin6_addr))
			return 1;
		return memcmp(&g6->sin6_addr, &w6->sin6_addr, n) == 0;
	}
	return 0;
}

/*
 * The descriptor of W's connection, or -1.  xmlrpc-c 1.33 does not tell
 * it, so the process's descriptors are searched for the one socket whose
 * peer is the session's peer and whose local end is the listener.  Runs
 * once per wait, only for requests that wait.
 */
static int
find_connection(const struct waiter *w)
{
	struct abyss_unix_chaninfo	*ci = NULL;
	struct sockaddr_storage		 peer, local;
	const struct sockaddr		*listener;
	struct dirent			*de;
	socklen_t			 len, llen;
	size_t				 plen;
	DIR				*d;
	char				*end;
	long				 n;
	int				 found = -1, matches = 0;

	if (w->session == NULL)
		return -1;
	/* lockd's own channels know their socket (chan.c). */
	if ((found = chan_session_fd(w->session)) != -1)
		return found;
	SessionGetChannelInfo(w->session, (void **)&ci);
	listener = rpc_listener(w->rpc, &llen);
	if (ci == NULL || llen == 0)
		return -1;
	plen = ci->peerAddrLen < sizeof(ci->peerAddr) ? ci->peerAddrLen :
	    sizeof(ci->peerAddr);
	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		errno = 0;
		n = strtol(de->d_name, &end, 10);
		if (errno != 0 || *end != '\0' || end == de->d_name ||
		    n < 0 || n > INT_MAX || n == dirfd(d))
			continue;
		len = sizeof(peer);
		if (getpeername((int)n, (struct sockaddr *)&peer, &len) == -1 ||
		    !addr_match(&peer, &ci->peerAddr, plen, 0))
			continue;
		len = sizeof(local);
		if (getsockname((int)n, (struct sockaddr *)&local, &len) ==
		    -1 || !addr_match(&local, listener, llen, 1))
			continue;
		found = (int)n;
		matches++;
	}
	closedir(d);
	/* Two candidates (a truncated IPv6 peer address): trust neither. */
	return matches == 1 ? found : -1;
}

/*
 * The cancel test of a waiting acquire: lockd is stopping, or the
 * client's end of the connection is closed.  A connection that cannot be
 * found never cancels; the wait is still bounded by its timeout.
 */
static int
waiter_gone(void *arg)
{
	struct waiter	*w = arg;
	struct pollfd	 pfd;

	if (rpc_stopping(w->rpc))
		return 1;
	if (!w->looked) {
		w->looked = 1;
		if ((w->fd = find_connection(w)) == -1)
			log_debug("acquire: the connection of a waiting "
			    "request was not found; it waits without "
			    "noticing a disconnect");
	}
	if (w->fd == -1)
		return 0;
	pfd.fd = w->fd;
	pfd.events = POLLRDHUP;
	pfd.revents = 0;
	return poll(&pfd, 1, 0) == 1 &&
	    (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static xmlrpc_value *
method_acquire(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	static const char *const	 known[] = { "wait", "ttl", NULL };
	struct rpc			*rpc = server_info;
	struct rpc_call			*call = call_info;
	struct lockstore_acquire_opts	 o;
	struct lockstore_policy		 pol;
	struct lockstore_grant		 g;
	struct lockstore_error		*err = NULL;
	struct waiter			 w = { rpc, call->session, -1, 0 };
	enum lockstore_status		 st;
	xmlrpc_value			*v[3], *result = NULL;
	const char			*resource = NULL, *client = NULL;
	char				 msg[1200], outcome[64];
	long long			 t0, waited;
	int				 brk;

	if (read_params(env, params, "acquire", "3 parameters "
	    "(resource, client, options)", 3, 3, v) == -1)
		return NULL;
	rpc_get_policy(rpc, &pol, &brk);
	memset(&o, 0, sizeof(o));
	if (param_string(env, v[0], "acquire", 1, "resource", &resource) ==
	    -1 || param_string(env, v[1], "acquire", 2, "client", &client) ==
	    -1 || check_options(env, v[2], "acquire", 3, known, "wait, ttl") ==
	    -1 || opt_seconds(env, v[2], "acquire", "wait", pol.max_wait_ms,
	    &o.wait_ms) == -1 || opt_seconds(env, v[2], "acquire", "ttl",
	    pol.max_ttl_ms, &o.ttl_ms) == -1 ||
	    bind_identity(env, call, "acquire", resource, client) == -1)
		goto out;
	if ((err = malloc(sizeof(*err))) == NULL) {
		xmlrpc_env_set_fault(env, RPC_FAULT_STORAGE,
		    "Storage error: out of memory");
		goto out;
	}
	o.cancelled = waiter_gone;
	o.cancel_arg = &w;
	memset(&g, 0, sizeof(g));
	/* A wait may last an hour: a reload must not wait for it. */
	if (o.wait_ms > 0)
		rpc_call_unpin(call);
	t0 = now_ms();
	st = lockstore_acquire(rpc_store(rpc), resource, client, &o, &g, err);
	waited = now_ms() - t0;
	if (o.wait_ms > 0)
		rpc_call_repin(call);
	if (st == LOCKSTORE_OK) {
		snprintf(msg, sizeof(msg), "token %llu, waited %u ms%s",
		    g.token, g.waited_ms, g.ttl_ms > 0 ? ", lease" : "");
		rpc_audit(call, "acquire", resource, client, g.reacquired ?
		    "reacquired" : "granted", msg);
		result = grant_value(env, &g);
	} else {
		snprintf(msg, sizeof(msg), "waited %lld ms: %.1100s", waited,
		    err->msg);
		rpc_audit(call, "acquire", resource, client,
		    refusal(st, outcome, sizeof(outcome)), msg);
		store_fault(env, &w, st, err->msg);
	}
out:
	drop_params(v, 3);
	free((char *)resource);
	free((char *)client);
	free(err);
	return result;
}

static xmlrpc_value *
method_renew(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	struct rpc		*rpc = server_info;
	struct rpc_call		*call = call_info;
	struct lockstore_policy	 pol;
	struct lockstore_grant	 g;
	struct lockstore_error	*err = NULL;
	enum lockstore_status	 st;
	xmlrpc_value		*v[4], *result = NULL;
	const char		*resource = NULL, *client = NULL;
	unsigned long long	 token;
	unsigned int		 ttl_ms = 0;
	char			 msg[200], outcome[64];
	int			 n, brk;

	if ((n = read_params(env, params, "renew", "3 or 4 parameters "
	    "(resource, client, token[, ttl])", 3, 4, v)) == -1)
		return NULL;
	rpc_get_policy(rpc, &pol, &brk);
	if (param_string(env, v[0], "renew", 1, "resource", &resource) == -1 ||
	    param_string(env, v[1], "renew", 2, "client", &client) == -1 ||
	    rpc_read_token(env, v[2], "renew", 3, "token", &token) == -1 ||
	    (n == 4 && read_seconds(env, v[3], "renew", "parameter 4 (ttl)",
	    pol.max_ttl_ms, &ttl_ms) == -1) ||
	    bind_identity(env, call, "renew", resource, client) == -1)
		goto out;
	if ((err = malloc(sizeof(*err))) == NULL) {
		xmlrpc_env_set_fault(env, RPC_FAULT_STORAGE,
		    "Storage error: out of memory");
		goto out;
	}
	memset(&g, 0, sizeof(g));
	st = lockstore_renew(rpc_store(rpc), resource, client, token, ttl_ms,
	    &g, err);
	if (st == LOCKSTORE_OK) {
		snprintf(msg, sizeof(msg), "token %llu, ttl %u ms", g.token,
		    g.ttl_ms);
		rpc_audit(call, "renew", resource, client, "renewed", msg);
		g.reacquired = 1;
		g.waited_ms = 0;
		result = grant_value(env, &g);
	} else {
		rpc_audit(call, "renew", resource, client,
		    refusal(st, outcome, sizeof(outcome)), err->msg);
		store_fault(env, NULL, st, err->msg);
	}
out:
	drop_params(v, 4);
	free((char *)resource);
	free((char *)client);
	free(err);
	return result;
}

/* Fault 10 unless REASON is 1 to REASON_MAX bytes without control
 * characters (it goes into the history and the log as it is). */
static int
check_reason(xmlrpc_env *env, const char *reason)
{
	const unsigned char	*p;
	size_t			 len = strlen(reason);

	if (len == 0 || len > REASON_MAX) {
		xmlrpc_env_set_fault_formatted(env, RPC_FAULT_PARAMS,
		    "break_lock: parameter 2 (reason) must be 1 to %d bytes, "
		    "not %zu", REASON_MAX, len);
		return -1;
	}
	for (p = (const unsigned char *)reason; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f) {
			xmlrpc_env_set_fault(env, RPC_FAULT_PARAMS,
			    "break_lock: parameter 2 (reason) must not contain "
			    "control characters");
			return -1;
		}
	return 0;
}

/*
 * Fault 43 unless CALL may break locks: "break-lock yes" is configured
 * and, with an auth-file, the user has role admin.
 */
static int
may_break(xmlrpc_env *env, struct rpc *rpc, const struct rpc_call *call,
    const char *resource)
{
	struct lockstore_policy	pol;
	char			msg[400];
	int			enabled;

	rpc_get_policy(rpc, &pol, &enabled);
	if (!enabled)
		snprintf(msg, sizeof(msg), "Not permitted: break_lock is "
		    "disabled on this server");
	else if (!call->admin)
		snprintf(msg, sizeof(msg), "Not permitted: user '%s' needs "
		    "role admin for break_lock", call->user_name);
	else
		return 0;
	rpc_audit(call, "break_lock", resource, NULL, "denied", msg);
	xmlrpc_env_set_fault(env, RPC_FAULT_NOT_PERMITTED, msg);
	return -1;
}

/* The result of break_lock(). */
static xmlrpc_value *
broken_value(xmlrpc_env *env, const char *resource,
    const struct lockstore_lock_info *b, unsigned long long new_token,
    long long delay_until_ms)
{
	xmlrpc_value	*st;

	st = xmlrpc_struct_new(env);
	if (env->fault_occurred)
		return NULL;
	rpc_struct_put(env, st, "resource", rpc_name_value(env, resource));
	rpc_struct_put(env, st, "holder", rpc_name_value(env, b->holder));
	if (b->since > 0)
		rpc_struct_put(env, st, "since", xmlrpc_datetime_new_sec(env,
		    (time_t)b->since));
	if (b->token != 0)
		rpc_struct_put(env, st, "token", xmlrpc_i8_new(env,
		    (xmlrpc_int64)b->token));
	rpc_struct_put(env, st, "new_token", xmlrpc_i8_new(env,
	    (xmlrpc_int64)new_token));
	if (delay_until_ms > 0)
		rpc_struct_put(env, st, "delay_until", rpc_datetime_ms(env,
		    delay_until_ms, 1));
	if (env->fault_occurred) {
		xmlrpc_DECREF(st);
		return NULL;
	}
	return st;
}

/* When the lock-delay the break of RESOURCE set ends (0: none known). */
static long long
delay_after_break(struct rpc *rpc, const char *resource,
    const struct lockstore_lock_info *broken)
{
	struct lockstore_lock_info	*info;
	struct lockstore_error		*err;
	long long			 until = 0;
	int				 held;

	if (broken->delay_until_ms > 0)
		return broken->delay_until_ms;
	info = calloc(1, sizeof(*info));
	err = malloc(sizeof(*err));
	if (info != NULL && err != NULL && lockstore_inspect(rpc_store(rpc),
	    resource, &held, info, err) == LOCKSTORE_OK && !held)
		until = info->delay_until_ms;
	free(info);
	free(err);
	return until;
}

static xmlrpc_value *
method_break_lock(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	struct rpc			*rpc = server_info;
	struct rpc_call			*call = call_info;
	struct lockstore_lock_info	*broken = NULL;
	struct lockstore_error		*err = NULL;
	enum lockstore_status		 st;
	unsigned long long		 new_token = 0;
	xmlrpc_value			*v[2], *result = NULL;
	const char			*resource = NULL, *reason = NULL;
	char				 by[256], peer[64], msg[1400], h[300];
	char				 outcome[64];

	if (read_params(env, params, "break_lock", "2 string parameters "
	    "(resource, reason)", 2, 2, v) == -1)
		return NULL;
	if (param_string(env, v[0], "break_lock", 1, "resource", &resource) ==
	    -1 || param_string(env, v[1], "break_lock", 2, "reason",
	    &reason) == -1 || may_break(env, rpc, call, resource) == -1 ||
	    check_reason(env, reason) == -1)
		goto out;
	broken = calloc(1, sizeof(*broken));
	err = malloc(sizeof(*err));
	if (broken == NULL || err == NULL) {
		xmlrpc_env_set_fault(env, RPC_FAULT_STORAGE,
		    "Storage error: out of memory");
		goto out;
	}
	rpc_peer_name(call->session, peer, sizeof(peer));
	if (call->authenticated)
		snprintf(by, sizeof(by), "user '%.180s' from %.60s",
		    call->user_name, peer);
	else
		snprintf(by, sizeof(by), "%s", peer);
	st = lockstore_break(rpc_store(rpc), resource, by, reason, broken,
	    &new_token, err);
	if (st == LOCKSTORE_OK) {
		snprintf(msg, sizeof(msg), "holder '%s' token %llu, new token "
		    "%llu, reason: %s", log_escape(h, sizeof(h),
		    broken->holder), broken->token, new_token, reason);
		rpc_audit(call, "break_lock", resource, NULL, "broken", msg);
		result = broken_value(env, resource, broken, new_token,
		    delay_after_break(rpc, resource, broken));
	} else {
		rpc_audit(call, "break_lock", resource, NULL,
		    refusal(st, outcome, sizeof(outcome)), err->msg);
		store_fault(env, NULL, st, err->msg);
	}
out:
	drop_params(v, 2);
	free((char *)resource);
	free((char *)reason);
	free(broken);
	free(err);
	return result;
}

struct history_ctx {
	xmlrpc_env	*env;
	xmlrpc_value	*entries;
};

static const char *
end_name(enum lockstore_end how)
{
	switch (how) {
	case LOCKSTORE_END_UNLOCK:	return "unlock";
	case LOCKSTORE_END_BREAK:	return "break";
	case LOCKSTORE_END_EXPIRY:	return "expiry";
	}
	return "unknown";
}

static int
add_entry(const struct lockstore_history_entry *e, void *arg)
{
	struct history_ctx	*c = arg;
	xmlrpc_env		*env = c->env;
	xmlrpc_value		*st;

	st = xmlrpc_struct_new(env);
	if (env->fault_occurred)
		return -1;
	rpc_struct_put(env, st, "resource", rpc_name_value(env, e->resource));
	rpc_struct_put(env, st, "holder", rpc_name_value(env, e->holder));
	if (e->token != 0)
		rpc_struct_put(env, st, "token", xmlrpc_i8_new(env,
		    (xmlrpc_int64)e->token));
	if (e->since > 0)
		rpc_struct_put(env, st, "since", xmlrpc_datetime_new_sec(env,
		    (time_t)e->since));
	rpc_struct_put(env, st, "until", rpc_datetime_ms(env, e->until_ms,
	    0));
	rpc_struct_put(env, st, "ended", xmlrpc_string_new(env,
	    end_name(e->how)));
	if (e->how == LOCKSTORE_END_BREAK) {
		rpc_struct_put(env, st, "by", rpc_name_value(env, e->by));
		rpc_struct_put(env, st, "reason", rpc_name_value(env,
		    e->reason));
	}
	if (!env->fault_occurred)
		xmlrpc_array_append_item(env, c->entries, st);
	xmlrpc_DECREF(st);
	return env->fault_occurred ? -1 : 0;
}

/* The "limit" member of history's OPTS into *LIMIT (default 100). */
static int
history_limit(xmlrpc_env *env, xmlrpc_value *opts, size_t *limit)
{
	static const char *const	 known[] = { "limit", NULL };

	*limit = HISTORY_DEFAULT_LIMIT;
	if (opts == NULL)
		return 0;
	if (check_options(env, opts, "history", 2, known, "limit") == -1)
		return -1;
	return rpc_opt_limit(env, opts, "history", HISTORY_DEFAULT_LIMIT,
	    LOCKSTORE_HISTORY_MAX, limit);
}

static xmlrpc_value *
method_history(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	struct rpc		*rpc = server_info;
	struct lockstore_error	*err = NULL;
	struct history_ctx	 c = { env, NULL };
	enum lockstore_status	 st;
	xmlrpc_value		*v[2], *result = NULL;
	const char		*resource = NULL;
	size_t			 limit;

	(void)call_info;
	if (read_params(env, params, "history", "1 or 2 parameters "
	    "(resource[, options])", 1, 2, v) == -1)
		return NULL;
	if (param_string(env, v[0], "history", 1, "resource", &resource) ==
	    -1 || history_limit(env, v[1], &limit) == -1)
		goto out;
	c.entries = xmlrpc_array_new(env);
	if (env->fault_occurred)
		goto out;
	if ((err = malloc(sizeof(*err))) == NULL) {
		xmlrpc_env_set_fault(env, RPC_FAULT_STORAGE,
		    "Storage error: out of memory");
		goto out;
	}
	st = lockstore_history(rpc_store(rpc), resource, limit, add_entry, &c,
	    err);
	if (env->fault_occurred)
		goto out;
	if (st != LOCKSTORE_OK) {
		store_fault(env, NULL, st, err->msg);
		goto out;
	}
	result = c.entries;
	c.entries = NULL;
out:
	if (c.entries != NULL)
		xmlrpc_DECREF(c.entries);
	drop_params(v, 2);
	free((char *)resource);
	free(err);
	return result;
}

static const char acquire_help[] =
    "acquire(resource, client, options): lock_token() with options, all "
    "optional: wait (seconds, int or double, up to max-wait: wait that "
    "long while RESOURCE is held or in lock-delay; waiters are served in "
    "arrival order), ttl (seconds, up to max-ttl: a lease that expires "
    "unless renewed). Returns {token, reacquired, since, waited, ttl, "
    "expires}; when CLIENT holds RESOURCE already, reacquired is true and "
    "the token stays. Faults: 1 held (also when the wait ran out), 4 "
    "lock-delay, 10 bad options, 11, 12, 20, 21, 42, 50 too many "
    "waiters. See PROTOCOL.";

static const char renew_help[] =
    "renew(resource, client, token[, ttl]): extend the lease CLIENT holds "
    "on RESOURCE under TOKEN (int, i8 or decimal string) to TTL seconds "
    "from now (absent or 0: its own TTL). Returns acquire()'s struct. "
    "Faults: 2 held by another client, 3 not held (also after expiry), "
    "5 stale token, 6 not a lease, 10, 11, 12, 20, 21, 42. See PROTOCOL.";

static const char break_lock_help[] =
    "break_lock(resource, reason): end whatever holding RESOURCE has, for "
    "an operator; REASON (1-1000 bytes, no control characters) goes into "
    "the history. Tokens handed out before become stale, and new takers "
    "wait out the lock-delay. Returns {resource, holder, since, token, "
    "new_token, delay_until}. Only with \"break-lock yes\" (and role "
    "admin with an auth-file), else fault 43. Faults: 3, 10, 11, 20, 21, "
    "43. See PROTOCOL.";

static const char history_help[] =
    "history(resource[, options]): the last ended holdings of RESOURCE, "
    "newest first, as [{resource, holder, token, since, until, ended, by, "
    "reason}]; ended is \"unlock\", \"break\" or \"expiry\"; by and reason "
    "for breaks only. Options: limit (1-1000, default 100). Faults: 10, "
    "11, 20. See PROTOCOL.";

/* Adds acquire(), renew(), break_lock() and history() to REGISTRY. */
void
rpc_features_register(xmlrpc_env *env, xmlrpc_registry *registry,
    struct rpc *rpc)
{
	struct xmlrpc_method_info3	methods[] = {
		{ "acquire", method_acquire, NULL, 0, "S:ssS", acquire_help },
		{ "renew", method_renew, NULL, 0, "S:ssI,S:ssi,S:sss,"
		    "S:ssIi,S:ssii,S:sssi,S:ssId,S:ssid,S:sssd", renew_help },
		{ "break_lock", method_break_lock, NULL, 0, "S:ss",
		    break_lock_help },
		{ "history", method_history, NULL, 0, "A:s,A:sS",
		    history_help },
	};
	size_t				i;

	for (i = 0; !env->fault_occurred &&
	    i < sizeof(methods) / sizeof(methods[0]); i++) {
		methods[i].serverInfo = rpc;
		xmlrpc_registry_add_method3(env, registry, &methods[i]);
	}
}
