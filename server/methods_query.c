/* SPDX-License-Identifier: MIT */
/*
 * The methods that say who holds what without changing anything: status,
 * list and check.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>

#include "args.h"
#include "methods.h"
#include "reply.h"

#define LIST_DEFAULT_LIMIT	1000

/* The status struct of one resource. */
static xmlrpc_value *
status_value(xmlrpc_env *env, const char *resource, int held,
    const struct lockstore_lock_info *info)
{
	xmlrpc_value	*st;

	st = xmlrpc_struct_new(env);
	if (env->fault_occurred)
		return NULL;
	reply_put(env, st, "resource", reply_name(env, resource));
	reply_put(env, st, "held", xmlrpc_bool_new(env, held));
	if (held)
		reply_put(env, st, "holder", reply_name(env, info->holder));
	if (held && info->since > 0)
		reply_put(env, st, "since", xmlrpc_datetime_new_sec(env,
		    (time_t)info->since));
	if (held && info->token != 0)
		reply_put(env, st, "token", reply_token(env, info->token));
	/* A lease ends no later than it says; a lock-delay no earlier. */
	if (held && info->ttl_ms > 0) {
		reply_put(env, st, "ttl", xmlrpc_double_new(env,
		    info->ttl_ms / 1000.0));
		reply_put(env, st, "expires", reply_datetime_ms(env,
		    info->expires_ms, 0));
	}
	if (!held && info->delay_until_ms > 0) {
		reply_put(env, st, "delay_until", reply_datetime_ms(env,
		    info->delay_until_ms, 1));
		reply_put(env, st, "delay_cause", xmlrpc_string_new(env,
		    info->delay_cause == LOCKSTORE_END_BREAK ? "break" :
		    "expiry"));
	}
	if (env->fault_occurred) {
		xmlrpc_DECREF(st);
		return NULL;
	}
	return st;
}

xmlrpc_value *
method_status(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	struct rpc			*rpc = server_info;
	struct lockstore_lock_info	*info = NULL;
	struct lockstore_error		*err = NULL;
	enum lockstore_status		 st;
	xmlrpc_value			*v[1], *result = NULL;
	const char			*resource = NULL;
	int				 held;

	if (args_read(env, params, LOCKD_METHOD_STATUS, "1 string parameter "
	    "(resource)", 1, 1, v) == -1 || args_string(env, v[0],
	    LOCKD_METHOD_STATUS, 1, "resource", &resource) == -1)
		goto out;
	/* Zeroed: a store may fill only what applies. */
	info = calloc(1, sizeof(*info));
	err = malloc(sizeof(*err));
	if (info == NULL || err == NULL)
		reply_no_memory(env);
	else if ((st = lockstore_inspect(rpc->store, resource, &held, info,
	    err)) != LOCKSTORE_OK)
		xmlrpc_env_set_fault(env, reply_fault_code(st), err->msg);
	else if (reply_charge(env, call_info, reply_text_size(resource) +
	    (held ? reply_text_size(info->holder) : 0)) == 0)
		result = status_value(env, resource, held, info);
out:
	args_drop(v, 1);
	free(info);
	free(err);
	free((char *)resource);
	return result;
}

struct list_ctx {
	xmlrpc_env	*env;
	struct rpc_call	*call;		/* the reply budget */
	xmlrpc_value	*locks;
};

static int
add_lock(const struct lockstore_lock_info *info, void *arg)
{
	struct list_ctx	*c = arg;
	xmlrpc_value	*v;

	if (reply_charge(c->env, c->call, REPLY_ENTRY_BYTES +
	    reply_text_size(info->resource) +
	    reply_text_size(info->holder)) == -1)
		return -1;
	v = status_value(c->env, info->resource, 1, info);
	if (c->env->fault_occurred)
		return -1;
	xmlrpc_array_append_item(c->env, c->locks, v);
	xmlrpc_DECREF(v);
	return c->env->fault_occurred ? -1 : 0;
}

/* The options of list() into Q; the strings are the caller's to free. */
static int
list_query(xmlrpc_env *env, xmlrpc_value *opts, struct lockstore_list_query *q)
{
	static const char	*m = LOCKD_METHOD_LIST;

	if (args_options(env, opts, m, 1, NULL, NULL) == -1 ||
	    args_opt_string(env, opts, m, "prefix", &q->prefix) == -1 ||
	    args_opt_string(env, opts, m, "holder", &q->holder) == -1 ||
	    args_opt_string(env, opts, m, "after", &q->after) == -1)
		return -1;
	return args_opt_limit(env, opts, m, LIST_DEFAULT_LIMIT,
	    LOCKSTORE_LIST_MAX, &q->limit);
}

xmlrpc_value *
method_list(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	struct rpc			*rpc = server_info;
	struct lockstore_list_query	 q;
	struct lockstore_error		*err = NULL;
	struct list_ctx			 c = { env, call_info, NULL };
	enum lockstore_status		 st;
	xmlrpc_value			*v[1], *result = NULL;
	char				 next[LOCKSTORE_CURSOR_SIZE];

	memset(&q, 0, sizeof(q));
	if (args_read(env, params, LOCKD_METHOD_LIST, "1 struct parameter "
	    "(options; {} for none)", 1, 1, v) == -1 ||
	    list_query(env, v[0], &q) == -1)
		goto out;
	c.locks = xmlrpc_array_new(env);
	if (env->fault_occurred)
		goto out;
	if ((err = malloc(sizeof(*err))) == NULL) {
		reply_no_memory(env);
		goto out;
	}
	st = lockstore_list(rpc->store, &q, add_lock, &c, next, err);
	if (env->fault_occurred)
		goto out;
	if (st != LOCKSTORE_OK) {
		/* A bad cursor or limit is a bad parameter here. */
		xmlrpc_env_set_fault(env, st == LOCKSTORE_BAD_RESOURCE ?
		    LOCKD_FAULT_PARAMS : reply_fault_code(st), err->msg);
		goto out;
	}
	result = xmlrpc_struct_new(env);
	if (env->fault_occurred)
		goto out;
	xmlrpc_struct_set_value(env, result, "locks", c.locks);
	reply_put(env, result, "next", xmlrpc_string_new(env, next));
	if (env->fault_occurred) {
		xmlrpc_DECREF(result);
		result = NULL;
	}
out:
	if (c.locks != NULL)
		xmlrpc_DECREF(c.locks);
	args_drop(v, 1);
	free((char *)q.prefix);
	free((char *)q.holder);
	free((char *)q.after);
	free(err);
	return result;
}

xmlrpc_value *
method_check(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	static const char	*m = LOCKD_METHOD_CHECK;
	struct rpc		*rpc = server_info;
	struct lockstore_error	*err = NULL;
	enum lockstore_status	 st;
	xmlrpc_value		*v[3], *result = NULL;
	const char		*resource = NULL, *client = NULL;
	unsigned long long	 token;
	int			 valid;

	if (args_read(env, params, m, "3 parameters (resource, client, "
	    "token)", 3, 3, v) == -1 ||
	    args_string(env, v[0], m, 1, "resource", &resource) == -1 ||
	    args_string(env, v[1], m, 2, "client", &client) == -1 ||
	    args_token(env, v[2], m, 3, "token", &token) == -1)
		goto out;
	if ((err = malloc(sizeof(*err))) == NULL) {
		reply_no_memory(env);
		goto out;
	}
	st = lockstore_check(rpc->store, resource, client, token, &valid, err);
	if (st != LOCKSTORE_OK)
		xmlrpc_env_set_fault(env, reply_fault_code(st), err->msg);
	else
		result = xmlrpc_bool_new(env, valid);
out:
	args_drop(v, 3);
	free((char *)resource);
	free((char *)client);
	free(err);
	return result;
}
