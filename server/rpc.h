/* SPDX-License-Identifier: MIT */
/*
 * The XML-RPC service: its state (store, registry, policy, access rules)
 * and what a method learns about its caller.
 */
#ifndef RPC_H
#define RPC_H

#include <signal.h>
#include <pthread.h>
#include <stddef.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>
#include <xmlrpc-c/abyss.h>

#include "lockstore.h"
#include "protocol.h"

/* Stack for a request thread: parsing the most deeply nested request the
 * size limit allows must not overflow it (XMLRPC-C.md, section 5). */
#define RPC_STACK_SIZE		(4u << 20)

struct access;
struct access_user;

/* The service; the request gate (gate.c) and the methods share it. */
struct rpc {
	xmlrpc_registry		*registry;
	struct lockstore	*store;
	struct access		*access;	/* NULL: open to all */
	pthread_rwlock_t	 access_lock;	/* SIGHUP swaps access */
	unsigned long		 generation;	/* of access, under the lock */
	volatile sig_atomic_t	 stopping;	/* rpc_stop(): waiting
						   requests give up */
	pthread_mutex_t		 policy_lock;
	struct lockstore_policy	 policy;
	int			 break_lock;
	int			 fastpath;	/* scan hot calls first */
	volatile size_t		 max_reply_size; /* max-reply-size */
};

/*
 * What a method learns about its caller: the registry's callInfo.  USER
 * points into the access rules, valid only while the request pins them
 * (see gate_unpin); the copies below stay valid throughout.
 */
struct rpc_call {
	struct rpc			*rpc;
	TSession			*session;	/* NULL in fuzzing */
	const struct access_user	*user;		/* NULL: no auth */
	int				 authenticated;	/* had a user */
	int				 admin;		/* role admin, or no
							   authentication */
	char				 user_name[256];
	unsigned long			 generation;	/* of the access rules
							   admitted under */
	int				 stale;		/* rules replaced during
							   a wait */
	const struct access_user	*unpinned_user;
	size_t				 reply_budget;	/* max-reply-size at
							   the start */
	size_t				 reply_size;	/* bytes of answer
							   counted so far, of
							   every call of a
							   multicall */
};

/* Builds the service over STORE; NULL with ERR filled on failure. */
struct rpc	*rpc_new(struct lockstore *store, char *err, size_t errsize);

/* Frees the registry and the access rules; accepts NULL.  Only after the
 * server stopped. */
void		 rpc_free(struct rpc *rpc);

/*
 * Applies POLICY to the store (lockstore_set_policy) and to the option
 * checks of the methods, and enables break_lock when BREAK_LOCK is set.
 * Safe while requests run (SIGHUP).
 */
void		 rpc_set_policy(struct rpc *rpc,
		    const struct lockstore_policy *policy, int break_lock);

/* The policy last set, and whether break_lock is enabled (*BREAK_LOCK). */
void		 rpc_get_policy(struct rpc *rpc,
		    struct lockstore_policy *policy, int *break_lock);

/*
 * Installs the access rules ACCESS (NULL: every peer, no authentication),
 * waiting for requests under the old rules to finish.  Returns the old
 * rules for the caller to free.
 */
struct access	*rpc_set_access(struct rpc *rpc, struct access *access);

/*
 * Switches the fast path (fastpath.c; on by default).  Off, every request
 * goes through xmlrpc-c: the differential tests and the benchmark compare
 * the two (LOCKD_FASTPATH=0, lockd.8).
 */
void		 rpc_set_fastpath(struct rpc *rpc, int on);

/* Makes waiting requests give up at once; async-signal-safe. */
void		 rpc_stop(struct rpc *rpc);

/*
 * Answers the request body XML (LEN bytes) from SESSION (may be NULL) with
 * a response or fault document in *OUT, which the caller frees with
 * XMLRPC_MEMBLOCK_FREE; sets ENV only when no response could be made.
 * The HTTP layer calls it for every request; so do the fuzz targets.
 * In gate.c.
 */
void		 rpc_process(xmlrpc_env *env, struct rpc *rpc, const char *xml,
		    size_t len, TSession *session, xmlrpc_mem_block **out);

/* Serves XML-RPC on SERVER at "/" and "/RPC2"; 0, or -1 with ERR.  In
 * gate.c. */
int		 rpc_attach(struct rpc *rpc, TServer *server, char *err,
		    size_t errsize);

/* Whether the peer of SESSION passes the "allow" list now (auth-file is
 * not consulted).  A NULL SESSION passes only when there is no list.  In
 * gate.c. */
int		 rpc_peer_allowed(struct rpc *rpc, TSession *session);

/*
 * Whether the caller of CALL may act as CLIENT (identity binding); if not,
 * fault 42 and an audit line for METHOD on RESOURCE.  0, or -1.  In
 * gate.c, like the two below.
 */
int		 gate_act_as(xmlrpc_env *env, const struct rpc_call *call,
		    const char *method, const char *resource,
		    const char *client);

/*
 * Lets go of the access rules for a long wait, so that a reload need not
 * wait for it; CALL->user becomes NULL (check identity before).
 * gate_repin takes them again; a request whose rules were replaced
 * meanwhile is treated as unauthenticated from then on.
 */
void		 gate_unpin(struct rpc_call *call);
void		 gate_repin(struct rpc_call *call);

#endif /* RPC_H */
