/* SPDX-License-Identifier: MIT */
/* The XML-RPC methods of lockd and the request checks in front of them. */
#ifndef RPC_H
#define RPC_H

#include <stddef.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>
#include <xmlrpc-c/abyss.h>

#include "lockstore.h"

/* Fault codes; PROTOCOL lists them with their messages. */
#define RPC_FAULT_HELD		1
#define RPC_FAULT_NOT_OWNER	2
#define RPC_FAULT_NOT_LOCKED	3
#define RPC_FAULT_PARAMS	10
#define RPC_FAULT_RESOURCE	11
#define RPC_FAULT_CLIENT	12
#define RPC_FAULT_STORAGE	20
#define RPC_FAULT_STATE		21
#define RPC_FAULT_REFUSED	30

/* Stack for a request thread: parsing the most deeply nested request the
 * size limit allows must not overflow it (XMLRPC-C.md, section 5). */
#define RPC_STACK_SIZE		(4u << 20)

struct rpc;

/* The fault code for a store status (PROTOCOL's table). */
int		 rpc_fault_code(enum lockstore_status st);

/* Adds status() and list() over STORE to REGISTRY (rpc_inspect.c). */
void		 rpc_inspect_register(xmlrpc_env *env,
		    xmlrpc_registry *registry, struct lockstore *store);

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

/* Frees the registry and the access rules; accepts NULL.  Only after the
 * server stopped. */
void		 rpc_free(struct rpc *rpc);

#endif /* RPC_H */
