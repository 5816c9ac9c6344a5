/* SPDX-License-Identifier: MIT */
/*
 * The XML-RPC service's state: the store, the method registry built from
 * the method table, the policy and the access rules that SIGHUP replaces.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>

#include "access.h"
#include "conf.h"
#include "methods.h"
#include "rpc.h"

/* Builds the service over STORE. */
struct rpc *
rpc_new(struct lockstore *store, char *err, size_t errsize)
{
	const struct lockstore_policy	 def = LOCKSTORE_POLICY_DEFAULT;
	struct rpc			*rpc;
	xmlrpc_env			 env;

	if ((rpc = calloc(1, sizeof(*rpc))) == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	rpc->store = store;
	rpc->fastpath = 1;
	rpc->max_reply_size = CONF_DEFAULT_MAX_REPLY;
	pthread_rwlock_init(&rpc->access_lock, NULL);
	pthread_mutex_init(&rpc->policy_lock, NULL);
	rpc->policy = def;
	xmlrpc_env_init(&env);
	rpc->registry = xmlrpc_registry_new(&env);
	if (!env.fault_occurred)
		methods_register(&env, rpc->registry);
	if (env.fault_occurred) {
		snprintf(err, errsize, "cannot build the method registry: %s",
		    env.fault_string);
		xmlrpc_env_clean(&env);
		rpc_free(rpc);
		return NULL;
	}
	xmlrpc_env_clean(&env);
	return rpc;
}

/* Frees the registry and the access rules; accepts NULL. */
void
rpc_free(struct rpc *rpc)
{
	if (rpc == NULL)
		return;
	if (rpc->registry != NULL)
		xmlrpc_registry_free(rpc->registry);
	access_free(rpc->access);
	pthread_rwlock_destroy(&rpc->access_lock);
	pthread_mutex_destroy(&rpc->policy_lock);
	free(rpc);
}

/* Applies POLICY and the break_lock switch. */
void
rpc_set_policy(struct rpc *rpc, const struct lockstore_policy *policy,
    int break_lock)
{
	pthread_mutex_lock(&rpc->policy_lock);
	rpc->policy = *policy;
	rpc->break_lock = break_lock;
	lockstore_set_policy(rpc->store, policy);
	pthread_mutex_unlock(&rpc->policy_lock);
}

/* The policy last set and the break_lock switch. */
void
rpc_get_policy(struct rpc *rpc, struct lockstore_policy *policy,
    int *break_lock)
{
	pthread_mutex_lock(&rpc->policy_lock);
	*policy = rpc->policy;
	*break_lock = rpc->break_lock;
	pthread_mutex_unlock(&rpc->policy_lock);
}

/* Installs ACCESS (NULL: none); returns the previous rules to free. */
struct access *
rpc_set_access(struct rpc *rpc, struct access *access)
{
	struct access	*old;

	pthread_rwlock_wrlock(&rpc->access_lock);
	old = rpc->access;
	rpc->access = access;
	rpc->generation++;
	pthread_rwlock_unlock(&rpc->access_lock);
	return old;
}

/* Switches the fast path. */
void
rpc_set_fastpath(struct rpc *rpc, int on)
{
	rpc->fastpath = on;
}

/* Makes waiting requests give up; async-signal-safe. */
void
rpc_stop(struct rpc *rpc)
{
	if (rpc != NULL)
		rpc->stopping = 1;
}
