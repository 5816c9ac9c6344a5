/* SPDX-License-Identifier: MIT */
/*
 * The XML-RPC layer: lock/unlock methods that delegate to the store, fault
 * codes, introspection help, and the request check that refuses what the
 * bundled XML parser must never see.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>
#include <xmlrpc-c/server_abyss.h>

#include "access.h"
#include "log.h"
#include "rpc.h"

struct rpc {
	xmlrpc_registry		*registry;
	struct lockstore	*store;
	struct access		*access;	/* NULL: open to all */
	pthread_rwlock_t	 access_lock;	/* SIGHUP swaps access */
};

/* What a method learns about its caller (the registry's callInfo). */
struct call_ctx {
	TSession			*session;	/* NULL in fuzzing */
	const struct access_user	*user;		/* NULL: no auth */
};


static const char *
type_name(xmlrpc_type t)
{
	switch (t) {
	case XMLRPC_TYPE_INT:		return "int";
	case XMLRPC_TYPE_BOOL:		return "boolean";
	case XMLRPC_TYPE_DOUBLE:	return "double";
	case XMLRPC_TYPE_DATETIME:	return "dateTime";
	case XMLRPC_TYPE_STRING:	return "string";
	case XMLRPC_TYPE_BASE64:	return "base64";
	case XMLRPC_TYPE_ARRAY:		return "array";
	case XMLRPC_TYPE_STRUCT:	return "struct";
	case XMLRPC_TYPE_NIL:		return "nil";
	case XMLRPC_TYPE_I8:		return "i8";
	default:			return "unknown";
	}
}

/* The fault code for a store status. */
int
rpc_fault_code(enum lockstore_status st)
{
	switch (st) {
	case LOCKSTORE_HELD:		return RPC_FAULT_HELD;
	case LOCKSTORE_NOT_OWNER:	return RPC_FAULT_NOT_OWNER;
	case LOCKSTORE_NOT_LOCKED:	return RPC_FAULT_NOT_LOCKED;
	case LOCKSTORE_BAD_RESOURCE:	return RPC_FAULT_RESOURCE;
	case LOCKSTORE_BAD_CLIENT:	return RPC_FAULT_CLIENT;
	case LOCKSTORE_INVALID_STATE:	return RPC_FAULT_STATE;
	case LOCKSTORE_OK:
	case LOCKSTORE_STORAGE:
	default:			return RPC_FAULT_STORAGE;
	}
}

/* The peer of SESSION as "ip:port" for the audit line. */
static void
peer_name(void *session, char *buf, size_t size)
{
	struct abyss_unix_chaninfo	*ci = NULL;
	char				 ip[INET6_ADDRSTRLEN];

	snprintf(buf, size, "?");
	if (session == NULL)
		return;
	SessionGetChannelInfo(session, (void **)&ci);
	if (ci != NULL && ci->peerAddr.sa_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ci->peerAddr;

		if (inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip)) != NULL)
			snprintf(buf, size, "%s:%u", ip,
			    (unsigned)ntohs(s4->sin_port));
	} else if (ci != NULL && ci->peerAddr.sa_family == AF_INET6)
		snprintf(buf, size, "[ipv6]");
}

/*
 * Reads the two string parameters.  Checked here rather than by
 * xmlrpc_decompose_value so that every misuse gets lockd's own fault code
 * and a message naming the parameter.
 */
static int
get_params(xmlrpc_env *env, xmlrpc_value *params, const char *method,
    const char **resource, const char **client)
{
	static const char	*names[2] = { "resource", "client" };
	const char		**out[2] = { resource, client };
	xmlrpc_value		*v;
	int			 i, n;

	n = xmlrpc_array_size(env, params);
	if (env->fault_occurred)
		return -1;
	if (n != 2) {
		xmlrpc_env_set_fault_formatted(env, RPC_FAULT_PARAMS,
		    "%s takes 2 string parameters (resource, client), got %d",
		    method, n);
		return -1;
	}
	for (i = 0; i < 2; i++) {
		xmlrpc_array_read_item(env, params, i, &v);
		if (env->fault_occurred)
			return -1;
		if (xmlrpc_value_type(v) != XMLRPC_TYPE_STRING) {
			xmlrpc_env_set_fault_formatted(env, RPC_FAULT_PARAMS,
			    "%s: parameter %d (%s) must be a string, not %s",
			    method, i + 1, names[i],
			    type_name(xmlrpc_value_type(v)));
			xmlrpc_DECREF(v);
			return -1;
		}
		xmlrpc_read_string(env, v, out[i]);
		xmlrpc_DECREF(v);
		if (env->fault_occurred) {
			xmlrpc_env_clean(env);
			xmlrpc_env_init(env);
			xmlrpc_env_set_fault_formatted(env, RPC_FAULT_PARAMS,
			    "%s: parameter %d (%s) is not a valid string",
			    method, i + 1, names[i]);
			return -1;
		}
	}
	return 0;
}

/* Logs one audit line: who asked what from where, and the outcome. */
static void
audit(const struct call_ctx *ctx, const char *method, const char *resource,
    const char *client, const char *outcome, const char *msg)
{
	char	peer[64], r[512], c[512], u[256], m[1200];

	peer_name(ctx->session, peer, sizeof(peer));
	log_escape(r, sizeof(r), resource);
	log_escape(c, sizeof(c), client);
	if (ctx->user != NULL)
		log_escape(u, sizeof(u), access_user_name(ctx->user));
	log_info("%s '%s' client '%s' from %s%s%s%s: %s%s%s", method, r, c,
	    peer, ctx->user != NULL ? " user '" : "",
	    ctx->user != NULL ? u : "", ctx->user != NULL ? "'" : "", outcome,
	    msg != NULL ? ": " : "",
	    msg != NULL ? log_escape(m, sizeof(m), msg) : "");
}

static const char *
outcome_of(const char *method, enum lockstore_status st)
{
	switch (st) {
	case LOCKSTORE_OK:
		return method[0] == 'l' ? "granted" : "released";
	case LOCKSTORE_STORAGE:
		return "error (storage)";
	case LOCKSTORE_INVALID_STATE:
		return "error (invalid-state)";
	case LOCKSTORE_HELD:
		return "refused (held)";
	case LOCKSTORE_NOT_OWNER:
		return "refused (not-owner)";
	case LOCKSTORE_NOT_LOCKED:
		return "refused (not-locked)";
	case LOCKSTORE_BAD_RESOURCE:
		return "refused (bad-resource)";
	case LOCKSTORE_BAD_CLIENT:
		return "refused (bad-client)";
	}
	return "refused";
}

enum store_call { CALL_LOCK, CALL_LOCK_TOKEN, CALL_UNLOCK };

/*
 * lock(), lock_token() and unlock(): parameters in, store call, nil (or
 * the token) or a fault out.
 */
static xmlrpc_value *
call_store(xmlrpc_env *env, xmlrpc_value *params, struct rpc *rpc,
    const struct call_ctx *ctx, const char *method, enum store_call call)
{
	unsigned long long	 token = 0;
	struct lockstore_error	*err;
	enum lockstore_status	 st;
	const char		*resource = NULL, *client = NULL;
	char			 msg[512], c[300];

	if (get_params(env, params, method, &resource, &client) == -1) {
		free((char *)resource);
		return NULL;
	}
	/* Identity binding: one host cannot release another's lock by
	 * claiming its client name. */
	if (!access_may_act_as(ctx->user, client)) {
		snprintf(msg, sizeof(msg), "Not permitted: user '%s' may not "
		    "act as client '%s'", access_user_name(ctx->user),
		    log_escape(c, sizeof(c), client));
		audit(ctx, method, resource, client, "denied", msg);
		xmlrpc_env_set_fault(env, ACCESS_FAULT_FORBIDDEN, msg);
		goto out;
	}
	if ((err = malloc(sizeof(*err))) == NULL) {
		xmlrpc_env_set_fault(env, RPC_FAULT_STORAGE,
		    "Storage error: out of memory");
		goto out;
	}
	/* Every grant takes a token; the audit line records it. */
	if (call == CALL_UNLOCK)
		st = lockstore_unlock(rpc->store, resource, client, err);
	else
		st = lockstore_lock_token(rpc->store, resource, client, &token,
		    err);
	if (st == LOCKSTORE_OK && token != 0)
		snprintf(msg, sizeof(msg), "token %llu", token);
	audit(ctx, method, resource, client, outcome_of(method, st),
	    st == LOCKSTORE_OK ? (token != 0 ? msg : NULL) : err->msg);
	if (st != LOCKSTORE_OK)
		xmlrpc_env_set_fault(env, rpc_fault_code(st), err->msg);
	free(err);
out:
	free((char *)resource);
	free((char *)client);
	if (env->fault_occurred)
		return NULL;
	return call == CALL_LOCK_TOKEN ? xmlrpc_i8_new(env,
	    (xmlrpc_int64)token) : xmlrpc_nil_new(env);
}

static xmlrpc_value *
method_lock(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	return call_store(env, params, server_info, call_info, "lock",
	    CALL_LOCK);
}

static xmlrpc_value *
method_lock_token(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	return call_store(env, params, server_info, call_info, "lock_token",
	    CALL_LOCK_TOKEN);
}

static xmlrpc_value *
method_unlock(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	return call_store(env, params, server_info, call_info, "unlock",
	    CALL_UNLOCK);
}

/* ping(): nil.  A health check that touches no lock: it measures what
 * HTTP and XML-RPC cost alone. */
static xmlrpc_value *
method_ping(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	if (xmlrpc_array_size(env, params) != 0 && !env->fault_occurred)
		xmlrpc_env_set_fault(env, RPC_FAULT_PARAMS,
		    "ping takes no parameters");
	return env->fault_occurred ? NULL : xmlrpc_nil_new(env);
}

static const char ping_help[] =
    "ping(): nil. Answers as soon as the request is parsed; touches no "
    "lock. For health checks. Faults: 10 when given parameters.";

static const char lock_help[] =
    "lock(resource, client): take the lock on RESOURCE for CLIENT. "
    "Returns nil once the lock is on disk. Faults: 1 \"Resource already "
    "locked by '<holder>'\" (also when CLIENT holds it), 10 bad parameters, "
    "11 bad resource name, 12 bad client name, 20 storage error, "
    "21 invalid lock state. See PROTOCOL.";

static const char lock_token_help[] =
    "lock_token(resource, client): lock(), returning the grant's fencing "
    "token (i8), greater than every token handed out before. Give it to "
    "the resource you protect; check(resource, client, token) tells "
    "whether it is still the current holding. Faults as lock. See "
    "PROTOCOL.";

static const char unlock_help[] =
    "unlock(resource, client): release RESOURCE if CLIENT holds it. "
    "Returns nil once the removal is on disk. Faults: 2 \"Resource locked "
    "by '<holder>' cannot be unlocked by '<client>'\", 3 \"Resource not "
    "locked\", 10 bad parameters, 11 bad resource name, 12 bad client name, "
    "20 storage error, 21 invalid lock state. See PROTOCOL.";

/* system.shutdown: lockd stops on SIGTERM only, never on a request. */
static void
refuse_shutdown(xmlrpc_env *env, void *context, const char *comment,
    void *call_info)
{
	xmlrpc_env_set_fault(env, XMLRPC_REQUEST_REFUSED_ERROR,
	    "Shutdown by client is disabled on this server.");
}

/* Builds the method registry over STORE. */
struct rpc *
rpc_new(struct lockstore *store, char *err, size_t errsize)
{
	struct xmlrpc_method_info3	 methods[] = {
		{ "lock", method_lock, NULL, 0, "n:ss", lock_help },
		{ "unlock", method_unlock, NULL, 0, "n:ss", unlock_help },
		{ "lock_token", method_lock_token, NULL, 0, "I:ss",
		    lock_token_help },
		{ "ping", method_ping, NULL, 0, "n:", ping_help },
	};
	struct rpc			*rpc;
	xmlrpc_env			 env;
	size_t				 i;

	if ((rpc = calloc(1, sizeof(*rpc))) == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	rpc->store = store;
	pthread_rwlock_init(&rpc->access_lock, NULL);
	xmlrpc_env_init(&env);
	rpc->registry = xmlrpc_registry_new(&env);
	if (!env.fault_occurred)
		xmlrpc_registry_set_shutdown(rpc->registry, refuse_shutdown,
		    NULL);
	for (i = 0; !env.fault_occurred &&
	    i < sizeof(methods) / sizeof(methods[0]); i++) {
		methods[i].serverInfo = rpc;
		xmlrpc_registry_add_method3(&env, rpc->registry, &methods[i]);
	}
	if (!env.fault_occurred)
		rpc_inspect_register(&env, rpc->registry, store);
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

/* Answers the request with fault CODE and MSG instead of processing it. */
static void
refuse(xmlrpc_env *env, xmlrpc_mem_block **out, int code, const char *msg)
{
	xmlrpc_env	fault;

	*out = XMLRPC_MEMBLOCK_NEW(char, env, 0);
	if (env->fault_occurred)
		return;
	xmlrpc_env_init(&fault);
	xmlrpc_env_set_fault(&fault, code, msg);
	xmlrpc_serialize_fault(env, *out, &fault);
	xmlrpc_env_clean(&fault);
	if (env->fault_occurred) {
		XMLRPC_MEMBLOCK_FREE(char, *out);
		*out = NULL;
	}
}

static void	process_checked(xmlrpc_env *, struct rpc *, const char *,
		    size_t, struct call_ctx *, xmlrpc_mem_block **);

/*
 * Access control, before the XML parser sees anything: the peer must be
 * allowed and, with an auth-file, authenticated.  Returns 1 to go on, or 0
 * with a fault answer in *OUT.
 */
static int
admit(struct rpc *rpc, struct call_ctx *ctx, xmlrpc_env *env,
    xmlrpc_mem_block **out)
{
	struct abyss_unix_chaninfo	*ci = NULL;
	const struct sockaddr		*peer = NULL;
	const char			*authorization = NULL;
	char				 msg[256], who[64];
	size_t				 salen = 0;
	int				 code;

	if (ctx->session != NULL) {
		SessionGetChannelInfo(ctx->session, (void **)&ci);
		if (ci != NULL) {
			peer = &ci->peerAddr;
			salen = ci->peerAddrLen < sizeof(ci->peerAddr) ?
			    ci->peerAddrLen : sizeof(ci->peerAddr);
		}
		authorization = RequestHeaderValue(ctx->session,
		    "authorization");
	}
	code = access_check(rpc->access, peer, salen, authorization,
	    &ctx->user, msg, sizeof(msg));
	if (code == 0)
		return 1;
	peer_name(ctx->session, who, sizeof(who));
	log_info("request from %s: denied: %s", who, msg);
	refuse(env, out, code, msg);
	return 0;
}

/*
 * Whether every <i8> and <ex:i8> element holds a plain 64-bit integer.
 * xmlrpc-c 1.33 crashes the whole daemon (SIGSEGV while formatting its
 * own error message) on any other content, so such requests never reach
 * its parser.  Surrounding blanks and a sign are allowed; nothing else.
 */
static int
i8_values_ok(const char *xml, size_t len)
{
	static const char	*tags[] = { "<i8", "<ex:i8" };
	const char		*p, *end = xml + len, *q;
	unsigned long long	 v;
	size_t			 i, digits;
	int			 neg;

	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		for (p = xml; (p = memmem(p, (size_t)(end - p), tags[i],
		    strlen(tags[i]))) != NULL; p++) {
			q = p + strlen(tags[i]);
			if (q < end && *q != '>' && *q != '/' && *q != ' ' &&
			    *q != '\t' && *q != '\r' && *q != '\n')
				continue;	/* another element, like <i8x> */
			if (q >= end || *q != '>')
				return 0;	/* attributes or <i8/> */
			for (q++; q < end && strchr(" \t\r\n", *q) != NULL &&
			    *q != '\0'; q++)
				;
			neg = q < end && (*q == '-' || *q == '+') ?
			    (*q++ == '-') : 0;
			for (v = 0, digits = 0; q < end && *q >= '0' &&
			    *q <= '9'; q++, digits++) {
				if (digits == 19)
					return 0;
				v = v * 10 + (unsigned long long)(*q - '0');
			}
			if (digits == 0 ||
			    v > (neg ? 9223372036854775808ULL :
			    9223372036854775807ULL))
				return 0;
			for (; q < end && strchr(" \t\r\n", *q) != NULL &&
			    *q != '\0'; q++)
				;
			if (end - q < 2 || q[0] != '<' || q[1] != '/')
				return 0;
		}
	}
	return 1;
}

/* Answers one request body XML into *OUT (free with XMLRPC_MEMBLOCK_FREE). */
void
rpc_process(xmlrpc_env *env, struct rpc *rpc, const char *xml, size_t len,
    TSession *session, xmlrpc_mem_block **out)
{
	struct call_ctx	ctx = { session, NULL };

	pthread_rwlock_rdlock(&rpc->access_lock);
	if (rpc->access == NULL || admit(rpc, &ctx, env, out))
		process_checked(env, rpc, xml, len, &ctx, out);
	pthread_rwlock_unlock(&rpc->access_lock);
}

/*
 * The checks before parsing, then the registry.  The bundled 2001-era
 * expat expands internal entities without limit, so any DTD is refused; a
 * NUL byte means UTF-16 or UTF-32, in which "<!DOCTYPE" would slip past a
 * byte search, and no valid UTF-8 XML contains one.
 */
static void
process_checked(xmlrpc_env *env, struct rpc *rpc, const char *xml,
    size_t len, struct call_ctx *ctx, xmlrpc_mem_block **out)
{
	if (memchr(xml, '\0', len) != NULL) {
		refuse(env, out, RPC_FAULT_REFUSED, "Request refused: only "
		    "UTF-8 requests are accepted");
		return;
	}
	if (!i8_values_ok(xml, len)) {
		refuse(env, out, RPC_FAULT_REFUSED, "Request refused: an <i8> "
		    "value that is not a 64-bit integer");
		return;
	}
	if (memmem(xml, len, "<!DOCTYPE", 9) != NULL) {
		refuse(env, out, RPC_FAULT_REFUSED, "Request refused: "
		    "document type declarations (<!DOCTYPE>) are not accepted");
		return;
	}
	xmlrpc_registry_process_call2(env, rpc->registry, xml, len, ctx, out);
}

static void
process(xmlrpc_env *env, void *arg, const char *xml, size_t len,
    TSession *session, xmlrpc_mem_block **out)
{
	rpc_process(env, arg, xml, len, session, out);
}

/* Serves XML-RPC on SERVER at "/" and "/RPC2". */
int
rpc_attach(struct rpc *rpc, TServer *server, char *err, size_t errsize)
{
	static const char		*paths[] = { "/RPC2", "/" };
	xmlrpc_server_abyss_handler_parms parms;
	xmlrpc_env			 env;
	size_t				 i;

	xmlrpc_env_init(&env);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		memset(&parms, 0, sizeof(parms));
		parms.xml_processor = process;
		parms.xml_processor_arg = rpc;
		parms.xml_processor_max_stack = RPC_STACK_SIZE;
		parms.uri_path = paths[i];
		xmlrpc_server_abyss_set_handler3(&env, server, &parms,
		    XMLRPC_AHPSIZE(uri_path));
		if (env.fault_occurred) {
			snprintf(err, errsize, "cannot install the XML-RPC "
			    "handler for %s: %s", paths[i], env.fault_string);
			xmlrpc_env_clean(&env);
			return -1;
		}
	}
	xmlrpc_server_abyss_set_default_handler(server);
	xmlrpc_env_clean(&env);
	return 0;
}

/* Installs ACCESS (NULL: none); returns the previous rules to free. */
struct access *
rpc_set_access(struct rpc *rpc, struct access *access)
{
	struct access	*old;

	pthread_rwlock_wrlock(&rpc->access_lock);
	old = rpc->access;
	rpc->access = access;
	pthread_rwlock_unlock(&rpc->access_lock);
	return old;
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
	free(rpc);
}
