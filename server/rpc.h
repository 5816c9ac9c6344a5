/* SPDX-License-Identifier: MIT */
/* The XML-RPC methods of lockd and the request checks in front of them. */
#ifndef RPC_H
#define RPC_H

#include <sys/socket.h>

#include <stddef.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>
#include <xmlrpc-c/abyss.h>

#include "lockstore.h"

/* Fault codes; PROTOCOL lists them with their messages. */
#define RPC_FAULT_HELD		1
#define RPC_FAULT_NOT_OWNER	2
#define RPC_FAULT_NOT_LOCKED	3
#define RPC_FAULT_DELAYED	4
#define RPC_FAULT_STALE_TOKEN	5
#define RPC_FAULT_NO_LEASE	6
#define RPC_FAULT_PARAMS	10
#define RPC_FAULT_RESOURCE	11
#define RPC_FAULT_CLIENT	12
#define RPC_FAULT_STORAGE	20
#define RPC_FAULT_STATE		21
#define RPC_FAULT_REFUSED	30
#define RPC_FAULT_NOT_PERMITTED	43	/* break_lock: disabled, not admin */
#define RPC_FAULT_WAITERS	50

/* Stack for a request thread: parsing the most deeply nested request the
 * size limit allows must not overflow it (XMLRPC-C.md, section 5). */
#define RPC_STACK_SIZE		(4u << 20)

struct rpc;
struct access_user;

/*
 * What a method learns about its caller: the registry's callInfo.  USER
 * points into the access rules, valid only while the request pins them
 * (see rpc_call_unpin); the copies below stay valid throughout.
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
};

/* The fault code for a store status (PROTOCOL's table). */
int		 rpc_fault_code(enum lockstore_status st);

/* Whether the caller of CALL may act as CLIENT (identity binding). */
int		 rpc_may_act_as(const struct rpc_call *call,
		    const char *client);

/* The XML-RPC name of type T ("int", "string", ...), for fault messages. */
const char	*rpc_type_name(xmlrpc_type t);

/* The peer of SESSION (may be NULL) as "ip:port", "?" if unknown. */
void		 rpc_peer_name(TSession *session, char *buf, size_t size);

/*
 * Logs one audit line: METHOD on RESOURCE for CLIENT (NULL: none) by the
 * caller of CALL, with OUTCOME and the detail MSG (may be NULL).  Every
 * name is escaped.
 */
void		 rpc_audit(const struct rpc_call *call, const char *method,
		    const char *resource, const char *client,
		    const char *outcome, const char *msg);

/*
 * Lets go of the access rules for a long wait, so that a reload need not
 * wait for it; CALL->user becomes NULL (check identity before).
 * rpc_call_repin takes them again; a request whose rules were replaced
 * meanwhile is treated as unauthenticated from then on.
 */
void		 rpc_call_unpin(struct rpc_call *call);
void		 rpc_call_repin(struct rpc_call *call);

/* Whether waiting requests should give up: rpc_stop() was called. */
int		 rpc_stopping(const struct rpc *rpc);

/* Makes waiting requests give up at once; async-signal-safe. */
void		 rpc_stop(struct rpc *rpc);

/*
 * Records the listening socket FD, whose address identifies a request's
 * connection among the process's descriptors (rpc_features.c); without
 * it a waiting request cannot notice that its client went away.
 */
void		 rpc_set_listener(struct rpc *rpc, int fd);

/* The address of the listener (*LEN 0 when unknown). */
const struct sockaddr *rpc_listener(const struct rpc *rpc, socklen_t *len);

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

/* A name as a string, or as base64 when an XML-RPC string cannot carry
 * it unchanged (PROTOCOL, "Names in answers"). */
xmlrpc_value	*rpc_name_value(xmlrpc_env *env, const char *s);

/* Sets KEY of struct ST to V and drops the reference to V; does nothing
 * (but the drop) once ENV holds a fault. */
void		 rpc_struct_put(xmlrpc_env *env, xmlrpc_value *st,
		    const char *key, xmlrpc_value *v);

/* A dateTime.iso8601 of the epoch milliseconds MS, rounded down (UP 0)
 * or up to the second. */
xmlrpc_value	*rpc_datetime_ms(xmlrpc_env *env, long long ms, int up);

/*
 * Reads a fencing token: an int, an i8 or a string of decimal digits.
 * METHOD, INDEX (1-based) and NAME word the fault 10.  0, or -1 with a
 * fault.
 */
int		 rpc_read_token(xmlrpc_env *env, xmlrpc_value *v,
		    const char *method, int index, const char *name,
		    unsigned long long *token);

/*
 * The "limit" member of METHOD's options struct OPTS into *LIMIT: DEF when
 * absent, else an int from 1 to MAX; -1 with fault 10 in ENV otherwise.
 */
int		 rpc_opt_limit(xmlrpc_env *env, xmlrpc_value *opts,
		    const char *method, size_t def, int max, size_t *limit);

/* Adds status(), list() and check() over STORE to REGISTRY
 * (rpc_inspect.c). */
void		 rpc_inspect_register(xmlrpc_env *env,
		    xmlrpc_registry *registry, struct lockstore *store);

/* Adds acquire(), renew(), break_lock() and history() (rpc_features.c). */
void		 rpc_features_register(xmlrpc_env *env,
		    xmlrpc_registry *registry, struct rpc *rpc);

/* Builds the method registry over STORE; NULL with ERR filled on failure. */
struct rpc	*rpc_new(struct lockstore *store, char *err, size_t errsize);

/* Serves XML-RPC on SERVER at "/" and "/RPC2"; 0, or -1 with ERR. */
int		 rpc_attach(struct rpc *rpc, TServer *server, char *err,
		    size_t errsize);

/*
 * Answers the request body XML (LEN bytes) from SESSION (may be NULL) with
 * a response or fault document in *OUT, which the caller frees with
 * XMLRPC_MEMBLOCK_FREE; sets ENV only when no response could be made.
 * The HTTP layer calls it for every request; so do the fuzz targets.
 */
void		 rpc_process(xmlrpc_env *env, struct rpc *rpc, const char *xml,
		    size_t len, TSession *session, xmlrpc_mem_block **out);

struct access;

/*
 * Installs the access rules ACCESS (NULL: every peer, no authentication),
 * waiting for requests under the old rules to finish.  Returns the old
 * rules for the caller to free.
 */
struct access	*rpc_set_access(struct rpc *rpc, struct access *access);

/* The store the methods work on. */
struct lockstore *rpc_store(struct rpc *rpc);

/* Whether the peer of SESSION passes the "allow" list now (auth-file is
 * not consulted).  A NULL SESSION passes only when there is no list. */
int		 rpc_peer_allowed(struct rpc *rpc, TSession *session);

/* Frees the registry and the access rules; accepts NULL.  Only after the
 * server stopped. */
void		 rpc_free(struct rpc *rpc);

#endif /* RPC_H */
