/* SPDX-License-Identifier: MIT */
/*
 * lockd's XML-RPC methods: the one table that names them (for xmlrpc-c's
 * registry and for the fast path alike), and the handlers of each family.
 */
#ifndef METHODS_H
#define METHODS_H

#include <stddef.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>

#include "fastpath.h"
#include "rpc.h"

/* A call the fast path took, answered without xmlrpc-c's parser: the
 * result, or NULL with a fault in ENV. */
typedef xmlrpc_value	*(*method_fast_fn)(xmlrpc_env *env,
			    const struct rpc_call *call,
			    const struct fastpath_call *fc);

/* One method: its registry entry and, for the hot calls, its fast path. */
struct method {
	const char		*name;
	xmlrpc_method2		 handler;	/* serverInfo: struct
						   rpc; callInfo: struct
						   rpc_call */
	const char		*signature;
	const char		*help;
	enum fastpath_method	 fast;		/* FASTPATH_NONE:
						   registry only */
	method_fast_fn		 fast_handler;
};

/* The methods, METHODS_COUNT of them. */
extern const struct method	methods_table[];
extern const size_t		methods_count;

/*
 * Adds every method of the table to REGISTRY with RPC_STACK_SIZE of
 * stack, through one dispatcher that keeps the reply budget (the handler
 * gets the call's struct rpc as serverInfo), and refuses system.shutdown.
 */
void	methods_register(xmlrpc_env *env, xmlrpc_registry *registry);

/* methods_lock.c: lock, unlock, lock_token, ping. */
xmlrpc_value	*method_lock(xmlrpc_env *, xmlrpc_value *, void *, void *);
xmlrpc_value	*method_unlock(xmlrpc_env *, xmlrpc_value *, void *,
		    void *);
xmlrpc_value	*method_lock_token(xmlrpc_env *, xmlrpc_value *, void *,
		    void *);
xmlrpc_value	*method_ping(xmlrpc_env *, xmlrpc_value *, void *, void *);
xmlrpc_value	*method_lock_fast(xmlrpc_env *, const struct rpc_call *,
		    const struct fastpath_call *);

/* methods_query.c: status, list, check. */
xmlrpc_value	*method_status(xmlrpc_env *, xmlrpc_value *, void *,
		    void *);
xmlrpc_value	*method_list(xmlrpc_env *, xmlrpc_value *, void *, void *);
xmlrpc_value	*method_check(xmlrpc_env *, xmlrpc_value *, void *, void *);

/* methods_lease.c: acquire, renew, break_lock, history. */
xmlrpc_value	*method_acquire(xmlrpc_env *, xmlrpc_value *, void *,
		    void *);
xmlrpc_value	*method_renew(xmlrpc_env *, xmlrpc_value *, void *, void *);
xmlrpc_value	*method_break_lock(xmlrpc_env *, xmlrpc_value *, void *,
		    void *);
xmlrpc_value	*method_history(xmlrpc_env *, xmlrpc_value *, void *,
		    void *);

#endif /* METHODS_H */
