/* SPDX-License-Identifier: MIT */
/*
 * The methods beyond gocept.lockd: acquire (waiting, leases, reacquiring),
 * renew, break_lock and history.
 */
#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>
#include <xmlrpc-c/abyss.h>

#include "args.h"
#include "chan.h"
#include "clock.h"
#include "log.h"
#include "methods.h"
#include "reply.h"

#define HISTORY_DEFAULT_LIMIT	100

/* A waiting acquire's view of its connection (the cancel test's state). */
struct waiter {
	struct rpc	*rpc;
	TSession	*session;
	int		 fd;		/* the connection; -1: not found */
	int		 looked;
};

/* The result of acquire() and renew(). */
static xmlrpc_value *
grant_value(xmlrpc_env *env, const struct lockstore_grant *g)
{
	xmlrpc_value	*st;

	st = xmlrpc_struct_new(env);
	if (env->fault_occurred)
		return NULL;
	reply_put(env, st, "token", reply_token(env, g->token));
	reply_put(env, st, "reacquired", xmlrpc_bool_new(env,
	    g->reacquired != 0));
	if (g->since > 0)
		reply_put(env, st, "since", xmlrpc_datetime_new_sec(env,
		    (time_t)g->since));
	reply_put(env, st, "waited", xmlrpc_double_new(env,
	    g->waited_ms / 1000.0));
	if (g->ttl_ms > 0) {
		reply_put(env, st, "ttl", xmlrpc_double_new(env,
		    g->ttl_ms / 1000.0));
		reply_put(env, st, "expires", reply_datetime_ms(env,
		    g->expires_ms, 0));
	}
	if (env->fault_occurred) {
		xmlrpc_DECREF(st);
		return NULL;
	}
	return st;
}

/*
 * The cancel test of a waiting acquire, also run at its grant (one poll()
 * then): lockd is stopping, or the client's end of the connection is
 * closed.  A peer that only shut down its sending side counts as gone: TCP
 * cannot tell that from a close() until a reply is sent, and a grant to a
 * gone client would stay held.  A connection that cannot be found never
 * cancels; the wait is still bounded by its timeout.
 */
static int
waiter_gone(void *arg)
{
	struct waiter	*w = arg;
	struct pollfd	 pfd;

	if (w->rpc->stopping)
		return 1;
	if (!w->looked) {
		w->looked = 1;
		if ((w->fd = chan_session_fd(w->session)) == -1)
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

xmlrpc_value *
method_acquire(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	static const char *const	 known[] = { "wait", "ttl", NULL };
	static const char		*m = LOCKD_METHOD_ACQUIRE;
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

	if (args_read(env, params, m, "3 parameters (resource, client, "
	    "options)", 3, 3, v) == -1)
		return NULL;
	rpc_get_policy(rpc, &pol, &brk);
	memset(&o, 0, sizeof(o));
	if (args_string(env, v[0], m, 1, "resource", &resource) == -1 ||
	    args_string(env, v[1], m, 2, "client", &client) == -1 ||
	    args_options(env, v[2], m, 3, known, "wait, ttl") == -1 ||
	    args_opt_seconds(env, v[2], m, "wait", pol.max_wait_ms,
	    &o.wait_ms) == -1 ||
	    args_opt_seconds(env, v[2], m, "ttl", pol.max_ttl_ms,
	    &o.ttl_ms) == -1 ||
	    gate_act_as(env, call, m, resource, client) == -1)
		goto out;
	if ((err = malloc(sizeof(*err))) == NULL) {
		reply_no_memory(env);
		goto out;
	}
	o.cancelled = waiter_gone;
	o.cancel_arg = &w;
	memset(&g, 0, sizeof(g));
	/* A wait may last an hour: a reload must not wait for it. */
	if (o.wait_ms > 0)
		gate_unpin(call);
	t0 = clock_mono_ms();
	st = lockstore_acquire(rpc->store, resource, client, &o, &g, err);
	waited = clock_mono_ms() - t0;
	if (o.wait_ms > 0)
		gate_repin(call);
	if (st == LOCKSTORE_OK) {
		snprintf(msg, sizeof(msg), "token %llu, waited %u ms%s",
		    g.token, g.waited_ms, g.ttl_ms > 0 ? ", lease" : "");
		reply_audit(call, m, resource, client, g.reacquired ?
		    "reacquired" : "granted", msg);
		result = grant_value(env, &g);
	} else {
		snprintf(msg, sizeof(msg), "waited %lld ms: %.1100s", waited,
		    err->msg);
		reply_audit(call, m, resource, client, reply_outcome(st, NULL,
		    outcome, sizeof(outcome)), msg);
		reply_store_fault(env, rpc, st, err->msg);
	}
out:
	args_drop(v, 3);
	free((char *)resource);
	free((char *)client);
	free(err);
	return result;
}

xmlrpc_value *
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

	if ((n = args_read(env, params, "renew", "3 or 4 parameters "
	    "(resource, client, token[, ttl])", 3, 4, v)) == -1)
		return NULL;
	rpc_get_policy(rpc, &pol, &brk);
	if (args_string(env, v[0], "renew", 1, "resource", &resource) == -1 ||
	    args_string(env, v[1], "renew", 2, "client", &client) == -1 ||
	    args_token(env, v[2], "renew", 3, "token", &token) == -1 ||
	    (n == 4 && args_seconds(env, v[3], "renew", "parameter 4 (ttl)",
	    pol.max_ttl_ms, &ttl_ms) == -1) ||
	    gate_act_as(env, call, "renew", resource, client) == -1)
		goto out;
	if ((err = malloc(sizeof(*err))) == NULL) {
		reply_no_memory(env);
		goto out;
	}
	memset(&g, 0, sizeof(g));
	st = lockstore_renew(rpc->store, resource, client, token, ttl_ms,
	    &g, err);
	if (st == LOCKSTORE_OK) {
		snprintf(msg, sizeof(msg), "token %llu, ttl %u ms", g.token,
		    g.ttl_ms);
		reply_audit(call, "renew", resource, client, "renewed", msg);
		g.reacquired = 1;
		g.waited_ms = 0;
		result = grant_value(env, &g);
	} else {
		reply_audit(call, "renew", resource, client,
		    reply_outcome(st, NULL, outcome, sizeof(outcome)),
		    err->msg);
		reply_store_fault(env, rpc, st, err->msg);
	}
out:
	args_drop(v, 4);
	free((char *)resource);
	free((char *)client);
	free(err);
	return result;
}

/* Fault 10 unless REASON is 1 to LOCKSTORE_REASON_MAX bytes without
 * control characters (it goes into the history and the log as it is). */
static int
check_reason(xmlrpc_env *env, const char *reason)
{
	const unsigned char	*p;
	size_t			 len = strlen(reason);

	if (len == 0 || len > LOCKSTORE_REASON_MAX) {
		xmlrpc_env_set_fault_formatted(env, LOCKD_FAULT_PARAMS,
		    "break_lock: parameter 2 (reason) must be 1 to %d bytes, "
		    "not %zu", LOCKSTORE_REASON_MAX, len);
		return -1;
	}
	for (p = (const unsigned char *)reason; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f) {
			xmlrpc_env_set_fault(env, LOCKD_FAULT_PARAMS,
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
	reply_audit(call, "break_lock", resource, NULL, "denied", msg);
	xmlrpc_env_set_fault(env, LOCKD_FAULT_NOT_PERMITTED, msg);
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
	reply_put(env, st, "resource", reply_name(env, resource));
	reply_put(env, st, "holder", reply_name(env, b->holder));
	if (b->since > 0)
		reply_put(env, st, "since", xmlrpc_datetime_new_sec(env,
		    (time_t)b->since));
	if (b->token != 0)
		reply_put(env, st, "token", reply_token(env, b->token));
	reply_put(env, st, "new_token", reply_token(env, new_token));
	if (delay_until_ms > 0)
		reply_put(env, st, "delay_until", reply_datetime_ms(env,
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
	if (info != NULL && err != NULL && lockstore_inspect(rpc->store,
	    resource, &held, info, err) == LOCKSTORE_OK && !held)
		until = info->delay_until_ms;
	free(info);
	free(err);
	return until;
}

xmlrpc_value *
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

	if (args_read(env, params, "break_lock", "2 string parameters "
	    "(resource, reason)", 2, 2, v) == -1)
		return NULL;
	if (args_string(env, v[0], "break_lock", 1, "resource", &resource) ==
	    -1 || args_string(env, v[1], "break_lock", 2, "reason",
	    &reason) == -1 || may_break(env, rpc, call, resource) == -1 ||
	    check_reason(env, reason) == -1)
		goto out;
	broken = calloc(1, sizeof(*broken));
	err = malloc(sizeof(*err));
	if (broken == NULL || err == NULL) {
		reply_no_memory(env);
		goto out;
	}
	reply_peer_name(call->session, peer, sizeof(peer));
	if (call->authenticated)
		snprintf(by, sizeof(by), "user '%.180s' from %.60s",
		    call->user_name, peer);
	else
		snprintf(by, sizeof(by), "%s", peer);
	st = lockstore_break(rpc->store, resource, by, reason, broken,
	    &new_token, err);
	if (st == LOCKSTORE_OK) {
		snprintf(msg, sizeof(msg), "holder '%s' token %llu, new token "
		    "%llu, reason: %s", log_escape(h, sizeof(h),
		    broken->holder), broken->token, new_token, reason);
		reply_audit(call, "break_lock", resource, NULL, "broken", msg);
		/* Counted, never refused: the break happened. */
		call->reply_size += reply_text_size(resource) +
		    reply_text_size(broken->holder);
		result = broken_value(env, resource, broken, new_token,
		    delay_after_break(rpc, resource, broken));
	} else {
		reply_audit(call, "break_lock", resource, NULL,
		    reply_outcome(st, NULL, outcome, sizeof(outcome)),
		    err->msg);
		reply_store_fault(env, rpc, st, err->msg);
	}
out:
	args_drop(v, 2);
	free((char *)resource);
	free((char *)reason);
	free(broken);
	free(err);
	return result;
}

struct history_ctx {
	xmlrpc_env	*env;
	struct rpc_call	*call;		/* the reply budget */
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

	if (reply_charge(env, c->call, REPLY_ENTRY_BYTES +
	    reply_text_size(e->resource) + reply_text_size(e->holder) +
	    (e->how == LOCKSTORE_END_BREAK ? reply_text_size(e->by) +
	    reply_text_size(e->reason) : 0)) == -1)
		return -1;
	st = xmlrpc_struct_new(env);
	if (env->fault_occurred)
		return -1;
	reply_put(env, st, "resource", reply_name(env, e->resource));
	reply_put(env, st, "holder", reply_name(env, e->holder));
	if (e->token != 0)
		reply_put(env, st, "token", reply_token(env, e->token));
	if (e->since > 0)
		reply_put(env, st, "since", xmlrpc_datetime_new_sec(env,
		    (time_t)e->since));
	reply_put(env, st, "until", reply_datetime_ms(env, e->until_ms,
	    0));
	reply_put(env, st, "ended", xmlrpc_string_new(env,
	    end_name(e->how)));
	if (e->how == LOCKSTORE_END_BREAK) {
		reply_put(env, st, "by", reply_name(env, e->by));
		reply_put(env, st, "reason", reply_name(env,
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
	if (args_options(env, opts, "history", 2, known, "limit") == -1)
		return -1;
	return args_opt_limit(env, opts, "history", HISTORY_DEFAULT_LIMIT,
	    LOCKSTORE_HISTORY_MAX, limit);
}

xmlrpc_value *
method_history(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	struct rpc		*rpc = server_info;
	struct lockstore_error	*err = NULL;
	struct history_ctx	 c = { env, call_info, NULL };
	enum lockstore_status	 st;
	xmlrpc_value		*v[2], *result = NULL;
	const char		*resource = NULL;
	size_t			 limit;

	if (args_read(env, params, "history", "1 or 2 parameters "
	    "(resource[, options])", 1, 2, v) == -1)
		return NULL;
	if (args_string(env, v[0], "history", 1, "resource", &resource) ==
	    -1 || history_limit(env, v[1], &limit) == -1)
		goto out;
	c.entries = xmlrpc_array_new(env);
	if (env->fault_occurred)
		goto out;
	if ((err = malloc(sizeof(*err))) == NULL) {
		reply_no_memory(env);
		goto out;
	}
	st = lockstore_history(rpc->store, resource, limit, add_entry, &c,
	    err);
	if (env->fault_occurred)
		goto out;
	if (st != LOCKSTORE_OK) {
		reply_store_fault(env, rpc, st, err->msg);
		goto out;
	}
	result = c.entries;
	c.entries = NULL;
out:
	if (c.entries != NULL)
		xmlrpc_DECREF(c.entries);
	args_drop(v, 2);
	free((char *)resource);
	free(err);
	return result;
}
