/* SPDX-License-Identifier: MIT */
/*
 * The gocept.lockd methods and their kin: lock, unlock, lock_token and
 * ping, each reachable from xmlrpc-c's registry and from the fast path.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>

#include "args.h"
#include "methods.h"
#include "reply.h"

/*
 * The core of lock(), lock_token() and unlock() (CALL, their fast-path
 * id), for both ways a call arrives: identity binding, the store, the
 * audit line.  The result (nil, or the token of lock_token), or NULL with
 * the fault in ENV.
 */
static xmlrpc_value *
store_call(xmlrpc_env *env, const struct rpc_call *ctx, const char *method,
    enum fastpath_method call, const char *resource, const char *client)
{
	struct lockstore	*store = ctx->rpc->store;
	struct lockstore_error	*err;
	enum lockstore_status	 st;
	unsigned long long	 token = 0;
	char			 msg[512], outcome[64];

	if (gate_act_as(env, ctx, method, resource, client) == -1)
		return NULL;
	if ((err = malloc(sizeof(*err))) == NULL) {
		reply_no_memory(env);
		return NULL;
	}
	/* Every grant takes a token; the audit line records it. */
	if (call == FASTPATH_UNLOCK)
		st = lockstore_unlock(store, resource, client, err);
	else
		st = lockstore_lock_token(store, resource, client, &token,
		    err);
	if (st == LOCKSTORE_OK && token != 0)
		snprintf(msg, sizeof(msg), "token %llu", token);
	reply_audit(ctx, method, resource, client, reply_outcome(st,
	    call == FASTPATH_UNLOCK ? "released" : "granted", outcome,
	    sizeof(outcome)), st == LOCKSTORE_OK ? (token != 0 ? msg : NULL) :
	    err->msg);
	if (st != LOCKSTORE_OK)
		xmlrpc_env_set_fault(env, reply_fault_code(st), err->msg);
	free(err);
	if (st != LOCKSTORE_OK)
		return NULL;
	return call == FASTPATH_LOCK_TOKEN ? reply_token(env, token) :
	    xmlrpc_nil_new(env);
}

/* lock(), lock_token() and unlock() from the registry. */
static xmlrpc_value *
registry_call(xmlrpc_env *env, xmlrpc_value *params, void *call_info,
    const char *method, enum fastpath_method call)
{
	xmlrpc_value	*v[2], *result = NULL;
	const char	*resource = NULL, *client = NULL;

	if (args_read(env, params, method, "2 string parameters (resource, "
	    "client)", 2, 2, v) == -1) {
		args_drop(v, 2);
		return NULL;
	}
	if (args_string(env, v[0], method, 1, "resource", &resource) == 0 &&
	    args_string(env, v[1], method, 2, "client", &client) == 0)
		result = store_call(env, call_info, method, call, resource,
		    client);
	args_drop(v, 2);
	free((char *)resource);
	free((char *)client);
	return result;
}

xmlrpc_value *
method_lock(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	return registry_call(env, params, call_info, LOCKD_METHOD_LOCK,
	    FASTPATH_LOCK);
}

xmlrpc_value *
method_lock_token(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	return registry_call(env, params, call_info, LOCKD_METHOD_LOCK_TOKEN,
	    FASTPATH_LOCK_TOKEN);
}

xmlrpc_value *
method_unlock(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	return registry_call(env, params, call_info, LOCKD_METHOD_UNLOCK,
	    FASTPATH_UNLOCK);
}

/* ping(): nil.  A health check that touches no lock: it measures what
 * HTTP and XML-RPC cost alone. */
xmlrpc_value *
method_ping(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	if (args_read(env, params, LOCKD_METHOD_PING, NULL, 0, 0, NULL) == -1)
		return NULL;
	return xmlrpc_nil_new(env);
}

/* The fast path's lock(), lock_token(), unlock() and ping(): the scanner
 * read the two strings (none for ping). */
xmlrpc_value *
method_lock_fast(xmlrpc_env *env, const struct rpc_call *call,
    const struct fastpath_call *fc)
{
	if (fc->method == FASTPATH_PING)
		return xmlrpc_nil_new(env);
	return store_call(env, call, fc->row->name, fc->method, fc->resource,
	    fc->client);
}
